"""The capacity plan as a picture (SVG, written by hand: no plotting library in the CI image).

Left: the measured steps on one pod (served req/s and p95 against the offered rate). Right: req/s
the Deployment serves against its pod count, at the sustainable rate and at the HPA's CPU target,
with the target, the peak and the plan's min/max replicas marked.
"""
from __future__ import annotations

from html import escape

from ci.capacity.plan import Plan, Point

WIDTH, HEIGHT, PANEL_W, PANEL_H, MARGIN = 900, 380, 340, 260, 60
GOOD, BROKEN, LINE, TARGET, MUTED = "#1b7f3b", "#c62828", "#1f4e99", "#e08a00", "#888"


class _Panel:
    """Maps data to pixels inside one panel and collects its SVG elements."""

    def __init__(self, left: float, x_max: float, y_max: float, title: str, x_label: str, y_label: str) -> None:
        self.left, self.top = left, MARGIN
        self.x_max, self.y_max = x_max or 1, y_max or 1
        self.parts = [
            f'<text x="{left + PANEL_W / 2}" y="{self.top - 20}" text-anchor="middle" font-weight="bold">'
            f"{escape(title)}</text>",
            f'<rect x="{left}" y="{self.top}" width="{PANEL_W}" height="{PANEL_H}" fill="none" stroke="{MUTED}"/>',
            f'<text x="{left + PANEL_W / 2}" y="{self.top + PANEL_H + 40}" text-anchor="middle">'
            f"{escape(x_label)}</text>",
            f'<text x="{left - 45}" y="{self.top + PANEL_H / 2}" text-anchor="middle" '
            f'transform="rotate(-90 {left - 45} {self.top + PANEL_H / 2})">{escape(y_label)}</text>']
        for i in range(5):
            x_value, y_value = self.x_max * i / 4, self.y_max * i / 4
            self.parts.append(f'<text x="{self.x(x_value)}" y="{self.top + PANEL_H + 16}" text-anchor="middle" '
                              f'font-size="11">{x_value:.4g}</text>')
            self.parts.append(f'<text x="{left - 6}" y="{self.y(y_value) + 4}" text-anchor="end" '
                              f'font-size="11">{y_value:.4g}</text>')

    def x(self, value: float) -> float:
        return round(self.left + PANEL_W * min(value, self.x_max) / self.x_max, 1)

    def y(self, value: float) -> float:
        return round(self.top + PANEL_H * (1 - min(value, self.y_max) / self.y_max), 1)

    def line(self, points: list[tuple[float, float]], colour: str, dashed: bool = False) -> None:
        path = " ".join(f"{self.x(a)},{self.y(b)}" for a, b in points)
        dash = ' stroke-dasharray="6 4"' if dashed else ""
        self.parts.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"{dash}/>')

    def dot(self, a: float, b: float, colour: str) -> None:
        self.parts.append(f'<circle cx="{self.x(a)}" cy="{self.y(b)}" r="4" fill="{colour}"/>')

    def label(self, a: float, b: float, text: str, colour: str) -> None:
        self.parts.append(f'<text x="{self.x(a) + 4}" y="{self.y(b) - 5}" font-size="11" fill="{colour}">'
                          f"{escape(text)}</text>")


def svg(plan: Plan, points: tuple[Point, ...], latency_target_ms: float) -> str:
    """The picture as an SVG document."""
    offered_max = max((p.offered_rps for p in points), default=plan.sustainable_rps) * 1.1
    steps = _Panel(MARGIN + 10, offered_max, offered_max, "one pod: the measured steps", "offered req/s",
                   "served req/s (dots), p95 ms (scaled)")
    p95_scale = offered_max / max([latency_target_ms * 2, *(p.p95_ms for p in points)])
    steps.line([(0, 0), (offered_max, offered_max)], MUTED, dashed=True)
    for point in points:
        steps.dot(point.offered_rps, point.achieved_rps, GOOD if point.sustainable else BROKEN)
        steps.dot(point.offered_rps, point.p95_ms * p95_scale, MUTED)
    steps.line([(0, latency_target_ms * p95_scale), (offered_max, latency_target_ms * p95_scale)], TARGET, True)
    steps.label(0, latency_target_ms * p95_scale, f"p95 threshold {latency_target_ms:g} ms", TARGET)
    steps.label(plan.sustainable_rps, plan.sustainable_rps, f"sustainable {plan.sustainable_rps:g}", GOOD)

    pods_max = plan.max_replicas + max(2, plan.max_replicas // 5)
    fleet = _Panel(MARGIN + PANEL_W + 150, pods_max, pods_max * plan.sustainable_rps, "the Deployment",
                   "pods", "req/s")
    fleet.line([(0, 0), (pods_max, pods_max * plan.sustainable_rps)], GOOD)
    fleet.line([(0, 0), (pods_max, pods_max * plan.per_pod_rps)], LINE)
    fleet.label(pods_max * 0.55, pods_max * 0.55 * plan.sustainable_rps, "at the sustainable rate", GOOD)
    fleet.label(pods_max * 0.7, pods_max * 0.7 * plan.per_pod_rps - plan.sustainable_rps, "at the HPA target",
                LINE)
    for rate, name in ((plan.target_rps, "target"), (plan.peak_rps, "peak")):
        fleet.line([(0, rate), (pods_max, rate)], TARGET, dashed=True)
        fleet.label(0, rate, f"{name} {rate:g} req/s", TARGET)
    for pods, name in ((plan.min_replicas, "min"), (plan.max_replicas, "max")):
        fleet.dot(pods, pods * plan.per_pod_rps, LINE)
        fleet.label(pods, pods * plan.per_pod_rps, f"{name} {pods}", LINE)
    body = "\n".join(steps.parts + fleet.parts)
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'font-family="sans-serif" font-size="13">\n<rect width="100%" height="100%" fill="white"/>\n'
            f"{body}\n</svg>\n")

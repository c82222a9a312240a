"""Check a capacity plan by replaying a day of load against the HPA's own algorithm.

A day-shaped request rate (two peaks, minute resolution) drives a model of the HPA controller:
every sync period desired = ceil(current x utilisation / target), skipped within the tolerance,
unready pods counted as idle when scaling up, the scale-up and scale-down stabilisation windows and
rate policies of the manifest's `behavior` (Kubernetes' defaults when it has none), min/max
replicas; a new pod serves only after its start-up time. Each pod's CPU and p95 latency at its
share of the load come from the measured steps, interpolated between them; beyond the highest
measured rate a pod is taken to be over the latency target. Why a model and not the real
controller: a day in a few milliseconds, and the same curve for every plan.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ci.capacity.plan import Plan, Point, cpu_at, interpolate

SYNC_S = 15  # --horizontal-pod-autoscaler-sync-period
TOLERANCE = 0.1
DEFAULT_STARTUP_S = 30.0  # image pulled, model loaded, readiness probe passed
MINUTES_PER_DAY = 24 * 60
NIGHT = 0.3  # the trough, as a share of the target rate


@dataclass(frozen=True)
class Policy:
    kind: str  # Pods or Percent
    value: int
    period_s: int


@dataclass(frozen=True)
class Rules:
    stabilization_s: int
    policies: tuple[Policy, ...]
    select: str = "Max"  # Max, Min or Disabled


# Kubernetes' defaults for autoscaling/v2 without `behavior`.
DEFAULT_UP = Rules(0, (Policy("Percent", 100, 15), Policy("Pods", 4, 15)))
DEFAULT_DOWN = Rules(300, (Policy("Percent", 100, 15),))


@dataclass(frozen=True)
class Behavior:
    up: Rules = DEFAULT_UP
    down: Rules = DEFAULT_DOWN

    @classmethod
    def from_spec(cls, behavior: dict | None) -> Behavior:
        """From an autoscaling/v2 HPA's `spec.behavior` (missing parts take Kubernetes' defaults)."""
        def rules(spec: dict | None, default: Rules) -> Rules:
            if not spec:
                return default
            policies = tuple(Policy(p["type"], int(p["value"]), int(p["periodSeconds"]))
                             for p in spec.get("policies") or []) or default.policies
            return Rules(int(spec.get("stabilizationWindowSeconds", default.stabilization_s)), policies,
                         spec.get("selectPolicy", "Max"))
        behavior = behavior or {}
        return cls(rules(behavior.get("scaleUp"), DEFAULT_UP), rules(behavior.get("scaleDown"), DEFAULT_DOWN))


@dataclass
class SimResult:
    minutes_over: int  # minutes in which some sync saw the pods' p95 above the target
    over: list[int]  # those minutes, from midnight
    max_pods: int
    pod_hours: float
    timeline: list[tuple[int, float, int, float]] = field(default_factory=list)  # minute, rps, ready pods, p95

    def to_dict(self) -> dict:
        return {"minutes_over": self.minutes_over, "over": self.over, "max_pods": self.max_pods,
                "pod_hours": round(self.pod_hours, 1)}


def day_curve(target_rps: float, peak_factor: float, minutes: int = MINUTES_PER_DAY) -> list[float]:
    """Requests/s per minute: a night trough, a morning peak at the target (10:30) and an evening peak
    at target x peak factor (20:00)."""
    def bump(hour: float, centre: float, width: float) -> float:
        return math.exp(-0.5 * ((hour - centre) / width) ** 2)
    curve = []
    for minute in range(minutes):
        hour = minute / 60
        shape = NIGHT + (1 - NIGHT) * bump(hour, 10.5, 2.0) + (peak_factor - NIGHT) * bump(hour, 20.0, 1.5)
        curve.append(target_rps * shape)
    return curve


def p95_at(points: tuple[Point, ...], rps: float) -> float:
    """A pod's p95 at `rps` between the measured steps; infinite beyond the highest one."""
    measured = sorted((p.achieved_rps, p.p95_ms) for p in points if p.achieved_rps > 0)
    if not measured or rps > measured[-1][0]:
        return math.inf
    xs = [x for x, _ in measured]
    return interpolate(rps, xs, [y for _, y in measured]) if rps >= xs[0] else measured[0][1]


def _limit(rules: Rules, events: list[tuple[float, int]], now: float, current: int, up: bool) -> int:
    """The furthest the policies let the replica count move from `current` now."""
    if rules.select == "Disabled":
        return current
    limits = []
    for policy in rules.policies:
        moved = sum(delta for at, delta in events if now - at < policy.period_s and (delta > 0) == up)
        start = current - moved
        if up:
            limits.append(start + policy.value if policy.kind == "Pods"
                          else math.ceil(start * (1 + policy.value / 100)))
        else:
            limits.append(start - policy.value if policy.kind == "Pods"
                          else math.ceil(start * (1 - policy.value / 100)))
    pick = max if (rules.select == "Max") == up else min
    return pick(limits)


@dataclass
class _Hpa:
    """The controller's state between syncs."""
    plan: Plan
    behavior: Behavior
    points: tuple[Point, ...]
    cpu_limit: float | None
    recommendations: list[tuple[float, int]] = field(default_factory=list)
    events: list[tuple[float, int]] = field(default_factory=list)

    def desired(self, now: float, rps: float, ready: int, starting: int) -> int:
        current = ready + starting
        target = self.plan.hpa_target_utilization / 100
        utilization = cpu_at(self.points, rps / max(ready, 1), self.cpu_limit) / self.plan.cpu_request
        ratio = utilization / target
        wanted = current
        if abs(ratio - 1) > TOLERANCE:
            wanted = math.ceil(ratio * ready)
            if starting and ratio > 1:  # pods not ready yet count as idle when scaling up
                ratio = utilization * ready / (target * current)
                wanted = current if ratio <= 1 + TOLERANCE else math.ceil(ratio * current)
        self.recommendations.append((now, wanted))
        window = max(self.behavior.up.stabilization_s, self.behavior.down.stabilization_s)
        self.recommendations = [(at, r) for at, r in self.recommendations if now - at <= window]
        up_floor = min(r for at, r in self.recommendations if now - at <= self.behavior.up.stabilization_s)
        down_ceiling = max(r for at, r in self.recommendations if now - at <= self.behavior.down.stabilization_s)
        if up_floor > current:
            wanted = min(up_floor, _limit(self.behavior.up, self.events, now, current, up=True))
        elif down_ceiling < current:
            wanted = max(down_ceiling, _limit(self.behavior.down, self.events, now, current, up=False))
        else:
            wanted = current
        wanted = min(max(wanted, self.plan.min_replicas), self.plan.max_replicas)
        if wanted != current:
            self.events.append((now, wanted - current))
        return wanted


def simulate(curve: list[float], plan: Plan, points: tuple[Point, ...], *, latency_target_ms: float,
             behavior: Behavior | None = None, cpu_limit: float | None = None,
             startup_s: float = DEFAULT_STARTUP_S, sync_s: int = SYNC_S) -> SimResult:
    """Replay `curve` (req/s per minute) against the plan's HPA; minutes over the latency target."""
    hpa = _Hpa(plan, behavior or Behavior(), points, cpu_limit)
    ready_at: list[float] = [0.0] * min(max(plan.min_replicas, math.ceil(curve[0] / plan.per_pod_rps)),
                                        plan.max_replicas)
    over, timeline, pod_seconds, max_pods = set(), [], 0.0, len(ready_at)
    for tick in range(len(curve) * 60 // sync_s):
        now = tick * sync_s
        minute = now // 60
        rps = curve[minute]
        ready = sum(1 for at in ready_at if at <= now)
        starting = len(ready_at) - ready
        p95 = p95_at(points, rps / ready) if ready else math.inf
        if p95 > latency_target_ms:
            over.add(minute)
        if now % 60 == 0:
            timeline.append((minute, round(rps, 1), ready, p95))
        wanted = hpa.desired(now, rps, ready, starting)
        if wanted > len(ready_at):
            ready_at += [now + startup_s] * (wanted - len(ready_at))
        elif wanted < len(ready_at):
            ready_at = sorted(ready_at)[:wanted]  # the newest (unready) pods go first
        pod_seconds += len(ready_at) * sync_s
        max_pods = max(max_pods, len(ready_at))
    return SimResult(len(over), sorted(over), max_pods, pod_seconds / 3600, timeline)

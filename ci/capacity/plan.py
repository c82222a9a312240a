"""A capacity plan from one measured pod: replicas, HPA bounds and CPU target, PodDisruptionBudget and
rollout surge for a target request rate.

The inputs are what the latency gate's step load measured on one pod with the manifests' CPU and
memory limits (`ci.gates.capacity_search`): the highest sustainable rate per pod, and the CPU each
step used. Why CPU: the HPA scales on CPU utilisation (relative to the pod's CPU *request*), so its
target is chosen where a pod serves at most the sustainable rate even at the top of the HPA's
tolerance band. The target rate must be met at all times (never waiting for a scale-up); the peak
(target x peak factor) is what the HPA scales up to.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

from ci.errors import ConfigError

DEFAULT_PEAK_FACTOR = 1.5
DEFAULT_HEADROOM = 0.2  # of the sustainable rate, kept free for the spike the HPA has not seen yet
DEFAULT_PODS_PER_NODE = 1  # pods spread one per node; pass the real figure for packed nodes
HPA_TOLERANCE = 0.1  # the controller's default (--horizontal-pod-autoscaler-tolerance)
ROLLOUT_ROUND = 0.25  # a rollout replaces a quarter of the pods per round (Kubernetes' default 25 %)
FLAT_CPU = 0.2  # CPU at the sustainable rate below this share of the limit: CPU is a weak signal


@dataclass(frozen=True)
class Point:
    """One step of the step load on one pod."""
    offered_rps: float
    achieved_rps: float
    p95_ms: float
    p99_ms: float
    error_rate: float
    cpu_cores: float | None
    sustainable: bool


@dataclass(frozen=True)
class Measured:
    """What the step load found on one pod, and that pod's CPU request and limit (cores)."""
    points: tuple[Point, ...]
    sustainable_rps: float
    cpu_cores: float  # at the sustainable rate
    cpu_request: float
    cpu_limit: float | None = None

    @classmethod
    def from_report(cls, capacity: dict) -> Measured:
        """From the `capacity` section of latency.json."""
        try:
            points = tuple(Point(**p) for p in capacity["points"])
            return cls(points, float(capacity["sustainable_rps"]), float(capacity["cpu_cores"] or 0),
                       float(capacity["pod"]["cpu_request"]), capacity["pod"].get("cpu_limit"))
        except (KeyError, TypeError) as exc:
            raise ConfigError(f"the capacity section of the latency report lacks {exc}: re-run "
                              "`python -m ci gate latency --capacity` (LATENCY_CAPACITY=true)") from exc


@dataclass(frozen=True)
class Plan:
    target_rps: float
    peak_rps: float
    sustainable_rps: float  # per pod, measured
    cpu_at_sustainable: float  # cores
    cpu_request: float  # cores
    headroom: float
    pods_per_node: int
    per_pod_rps: float  # what a pod serves when the HPA holds it at its CPU target
    hpa_target_utilization: int  # percent of the CPU request
    replicas: int  # for the target rate at the HPA's CPU target
    min_replicas: int
    max_replicas: int
    pdb_min_available: int  # pods that serve the target at the sustainable rate
    pdb_max_unavailable: int  # at min_replicas
    rollout_max_surge: int
    rollout_max_unavailable: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def rows(self) -> list[tuple[str, str, str]]:
        """(what, value, why) for the printed table and docs/capacity.md."""
        return [
            ("sustainable rate per pod", f"{self.sustainable_rps:g} req/s",
             f"measured, at {self.cpu_at_sustainable:.2f} CPU cores"),
            ("per-pod rate at the HPA target", f"{self.per_pod_rps:.1f} req/s",
             f"{self.headroom:.0%} headroom and the HPA's {HPA_TOLERANCE:.0%} tolerance below the sustainable rate"),
            ("HPA target CPU utilisation", f"{self.hpa_target_utilization}%",
             f"of the {self.cpu_request:g}-core request"),
            ("replicas for the target", str(self.replicas), f"{self.target_rps:g} req/s / per-pod rate"),
            ("HPA minReplicas", str(self.min_replicas),
             f"the target without a scale-up; a drain of one node ({self.pods_per_node} pod(s)) keeps it met"),
            ("HPA maxReplicas", str(self.max_replicas), f"the peak, {self.peak_rps:g} req/s"),
            ("PDB minAvailable", str(self.pdb_min_available), "pods that serve the target at the sustainable rate"),
            ("PDB maxUnavailable (at minReplicas)", str(self.pdb_max_unavailable), "the same budget, counted down"),
            ("rollout maxUnavailable", str(self.rollout_max_unavailable),
             "old pods gone at once while the rest still serve the target"),
            ("rollout maxSurge", str(self.rollout_max_surge),
             f"new pods at once, so a round replaces ~{ROLLOUT_ROUND:.0%} of minReplicas"),
        ]


def interpolate(x: float, xs: list[float], ys: list[float]) -> float:
    """Piecewise linear through (xs, ys) (xs increasing), extended along the end segments."""
    if len(xs) == 1:
        return ys[0]
    i = 1
    while i < len(xs) - 1 and x > xs[i]:
        i += 1
    x0, x1, y0, y1 = xs[i - 1], xs[i], ys[i - 1], ys[i]
    return y0 if x1 == x0 else y0 + (y1 - y0) * (x - x0) / (x1 - x0)


def cpu_curve(points: tuple[Point, ...]) -> tuple[list[float], list[float]]:
    """(rps, cores) from (0, 0) through the measured steps, made non-decreasing: measurement noise on a
    shared runner must not make a pod look cheaper at a higher rate."""
    measured = sorted((p.achieved_rps, p.cpu_cores) for p in points if p.cpu_cores is not None and p.achieved_rps > 0)
    xs, ys = [0.0], [0.0]
    for rps, cores in measured:
        if rps > xs[-1]:
            xs.append(rps)
            ys.append(max(cores, ys[-1]))
    return xs, ys


def cpu_at(points: tuple[Point, ...], rps: float, limit: float | None = None) -> float:
    """Cores a pod uses at `rps` (never above its limit)."""
    xs, ys = cpu_curve(points)
    cores = max(0.0, interpolate(rps, xs, ys))
    return min(cores, limit) if limit else cores


def rps_at_cpu(points: tuple[Point, ...], cores: float) -> float:
    """The rate at which a pod uses `cores` (the inverse of `cpu_at` on its rising part)."""
    xs, ys = cpu_curve(points)
    rising_x, rising_y = [xs[0]], [ys[0]]
    for x, y in zip(xs[1:], ys[1:], strict=True):
        if y > rising_y[-1]:
            rising_x.append(x)
            rising_y.append(y)
    return max(0.0, interpolate(cores, rising_y, rising_x))


def _check(measured: Measured, target_rps: float, peak_factor: float, headroom: float, pods_per_node: int) -> None:
    if target_rps <= 0:
        raise ConfigError(f"--target-rps {target_rps:g}: give the request rate to serve, above 0")
    if peak_factor < 1:
        raise ConfigError(f"--peak-factor {peak_factor:g}: the peak is the target times a factor >= 1")
    if not 0 <= headroom < 1:
        raise ConfigError(f"--headroom {headroom:g}: a share of the sustainable rate, from 0 up to (not) 1")
    if pods_per_node < 1:
        raise ConfigError(f"--pods-per-node {pods_per_node}: at least 1")
    if measured.sustainable_rps <= 0:
        raise ConfigError("the step load found no sustainable rate: no step held the thresholds; look at "
                          "the steps in latency.json (a busy runner, or thresholds this model cannot meet)")
    if measured.cpu_request <= 0:
        raise ConfigError("the pod has no CPU request: the HPA's CPU utilisation is relative to it; set "
                          "resources.requests.cpu in the Deployment")


def plan(measured: Measured, target_rps: float, *, peak_factor: float = DEFAULT_PEAK_FACTOR,
         headroom: float = DEFAULT_HEADROOM, pods_per_node: int = DEFAULT_PODS_PER_NODE) -> Plan:
    """The plan for `target_rps` (met at all times, during a node drain and a deploy too) and its peak."""
    _check(measured, target_rps, peak_factor, headroom, pods_per_node)
    sustainable, points, request = measured.sustainable_rps, measured.points, measured.cpu_request
    warnings = []
    cpu_sustainable = measured.cpu_cores or cpu_at(points, sustainable)
    # A pod held at the target may drift up to (1 + tolerance) x target before the HPA acts.
    target_cores = min(cpu_at(points, sustainable * (1 - headroom)), cpu_sustainable / (1 + HPA_TOLERANCE))
    utilization = max(1, math.floor(100 * target_cores / request))
    per_pod = min(rps_at_cpu(points, utilization * request / 100), sustainable)
    if per_pod <= 0:
        raise ConfigError("the measured CPU does not rise with the rate: CPU cannot drive the HPA for this "
                          "model (look at the steps' cpu_cores in latency.json)")
    if measured.cpu_limit and cpu_sustainable < FLAT_CPU * measured.cpu_limit:
        warnings.append(f"at the sustainable rate a pod uses {cpu_sustainable:.2f} of {measured.cpu_limit:g} CPU "
                        "cores: it is limited by something else (latency, I/O), so CPU is a weak HPA signal")
    replicas = math.ceil(target_rps / per_pod)
    needed = math.ceil(target_rps / sustainable)  # the floor: every pod at its sustainable rate
    min_replicas = max(2, replicas, needed + pods_per_node)
    max_replicas = max(min_replicas, math.ceil(target_rps * peak_factor / per_pod))
    spare = min_replicas - needed
    per_round = max(1, math.ceil(ROLLOUT_ROUND * min_replicas))
    unavailable = min(spare, per_round)
    return Plan(target_rps=target_rps, peak_rps=target_rps * peak_factor, sustainable_rps=sustainable,
                cpu_at_sustainable=round(cpu_sustainable, 3), cpu_request=request, headroom=headroom,
                pods_per_node=pods_per_node, per_pod_rps=round(per_pod, 2), hpa_target_utilization=utilization,
                replicas=replicas, min_replicas=min_replicas, max_replicas=max_replicas, pdb_min_available=needed,
                pdb_max_unavailable=spare, rollout_max_surge=max(per_round - unavailable, 0 if unavailable else 1),
                rollout_max_unavailable=unavailable, warnings=warnings)


def table(plan_: Plan) -> str:
    """The plan as a Markdown table (printed by the command, pasted into docs/capacity.md)."""
    lines = [f"Capacity plan for {plan_.target_rps:g} req/s (peak {plan_.peak_rps:g} req/s)", "",
             "| | value | why |", "| --- | --- | --- |"]
    lines += [f"| {what} | {value} | {why} |" for what, value, why in plan_.rows()]
    return "\n".join(lines + [f"warning: {w}" for w in plan_.warnings])

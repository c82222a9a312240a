"""`python -m ci capacity`'s logic: the measured pod (latency.json's `capacity` section) and the manifests'
pod and HPA in; the plan, a day's simulation against it, capacity.json and capacity.svg out."""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from ci import outputs
from ci.capacity import plan as capacity
from ci.capacity import plot as capacity_plot
from ci.capacity import sim as capacity_sim
from ci.capacity.pod_shape import PodShape
from ci.errors import ConfigError


@dataclass(frozen=True)
class CapacityReport:
    plan: capacity.Plan
    simulation: capacity_sim.SimResult
    latency_target_ms: float
    files: tuple[Path, ...]

    def text(self) -> str:
        sim = self.simulation
        return "\n".join([capacity.table(self.plan), "",
                          f"a day replayed against the HPA (two peaks, the evening one at {self.plan.peak_rps:g} "
                          f"req/s): {sim.minutes_over} minute(s) over the p95 target of {self.latency_target_ms:g} ms; "
                          f"at most {sim.max_pods} pods, {sim.pod_hours:.0f} pod-hours"])


def measured_pod(latency_json: Path) -> tuple[dict, float]:
    """The `capacity` section of latency.json and the p95 threshold it was measured against."""
    try:
        report = json.loads(Path(latency_json).read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"{latency_json} does not exist: run `python -m ci gate latency --capacity` first "
                          "(LATENCY_CAPACITY=true), or point --from at its latency.json") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{latency_json} is not JSON ({exc}): give the latency gate's latency.json") from exc
    if not isinstance(report, dict) or "capacity" not in report:
        raise ConfigError(f"{latency_json} has no capacity section: the latency gate ran without --capacity "
                          "(set LATENCY_CAPACITY=true)")
    return report["capacity"], float((report.get("thresholds") or {}).get("p95_ms", 100.0))


def capacity_report(latency_json: Path, pod: PodShape, target_rps: float, output_dir: Path, *,
                    peak_factor: float = capacity.DEFAULT_PEAK_FACTOR, headroom: float = capacity.DEFAULT_HEADROOM,
                    pods_per_node: int = capacity.DEFAULT_PODS_PER_NODE,
                    startup_s: float = capacity_sim.DEFAULT_STARTUP_S) -> CapacityReport:
    """Plan for `target_rps` with the measured pod, the CPU request of `pod` and its HPA's behaviour."""
    section, p95_target = measured_pod(latency_json)
    measured = replace(capacity.Measured.from_report(section), cpu_request=pod.cpu_request)
    the_plan = capacity.plan(measured, target_rps, peak_factor=peak_factor, headroom=headroom,
                             pods_per_node=pods_per_node)
    behavior = capacity_sim.Behavior.from_spec((pod.hpa or {}).get("behavior"))
    sim = capacity_sim.simulate(capacity_sim.day_curve(target_rps, peak_factor), the_plan, measured.points,
                                latency_target_ms=p95_target, behavior=behavior, cpu_limit=measured.cpu_limit,
                                startup_s=startup_s)
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    picture = output_dir / "capacity.svg"
    picture.write_text(capacity_plot.svg(the_plan, measured.points, p95_target))
    data = outputs.write_json(output_dir / "capacity.json", {
        "plan": the_plan.to_dict(), "simulation": {**sim.to_dict(), "startup_s": startup_s,
                                                   "latency_target_ms": p95_target, "behavior": behavior},
        "measured": section, "picture": str(picture)})
    return CapacityReport(the_plan, sim, p95_target, (data, picture))

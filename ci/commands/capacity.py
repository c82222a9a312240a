"""`python -m ci capacity`: the capacity plan for a target rate from the latency gate's measured pod."""
from __future__ import annotations

from pathlib import Path

import click

from ci.capacity import plan as capacity
from ci.capacity import pod_shape
from ci.capacity import sim as capacity_sim
from ci.capacity.report import capacity_report
from ci.commands import options


@click.command("capacity")
@click.option("--target-rps", envvar="CAPACITY_TARGET_RPS", type=float, required=True, show_envvar=True,
              help="Requests/s the service must serve at all times (during a node drain and a deploy too).")
@click.option("--peak-factor", envvar="CAPACITY_PEAK_FACTOR", type=float, default=capacity.DEFAULT_PEAK_FACTOR,
              show_default=True, show_envvar=True, help="The peak is the target times this; the HPA scales up to it.")
@click.option("--headroom", envvar="CAPACITY_HEADROOM", type=float, default=capacity.DEFAULT_HEADROOM,
              show_default=True, show_envvar=True,
              help="Share of the sustainable rate a pod keeps free at the HPA's CPU target.")
@click.option("--pods-per-node", envvar="CAPACITY_PODS_PER_NODE", type=int, default=capacity.DEFAULT_PODS_PER_NODE,
              show_default=True, show_envvar=True, help="Pods one node drain takes away at once.")
@click.option("--startup-seconds", envvar="CAPACITY_STARTUP_SECONDS", type=click.FloatRange(min=0),
              default=capacity_sim.DEFAULT_STARTUP_S, show_default=True, show_envvar=True,
              help="A new pod's time to ready, in the simulation.")
@click.option("--from", "latency_json", envvar="CAPACITY_FROM", default="reports/latency.json", show_default=True,
              show_envvar=True, type=click.Path(dir_okay=False, path_type=Path),
              help="latency.json of `python -m ci gate latency --capacity`.")
@options.capacity_manifests
@options.output_dir
def capacity_command(target_rps, peak_factor, headroom, pods_per_node, startup_seconds, latency_json,
                     capacity_manifests, output_dir) -> None:
    """Turn the sustainable rate per pod (measured by `gate latency --capacity`) into a plan: replicas
    for the target with headroom, HPA minReplicas/maxReplicas and CPU target, the PodDisruptionBudget
    and the rollout surge that keep the target met; check it by replaying a day of load against the
    HPA (minutes over the p95 target). Writes capacity.json and capacity.svg."""
    report = capacity_report(latency_json, pod_shape.read(capacity_manifests), target_rps, Path(output_dir),
                             peak_factor=peak_factor, headroom=headroom, pods_per_node=pods_per_node,
                             startup_s=startup_seconds)
    click.echo(report.text())
    for path in report.files:
        click.echo(f"wrote {path}")

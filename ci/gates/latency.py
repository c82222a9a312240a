"""Latency gate: the candidate under a fixed Locust load must meet the p95, p99, error-rate and
throughput thresholds (`ci.loadtest.measure`, shared with the scheduled load test). Optionally it also
finds the candidate's capacity: a step load on one container with the pod's CPU and memory limits
(`ci.gates.capacity_search`), reported beside the verdict, never part of it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from ci.capacity.plan import Point
from ci.capacity.pod_shape import PodShape
from ci.gates import capacity_search
from ci.gates.candidate import running
from ci.gates.result import GateResult
from ci.loadtest.measure import Load, Thresholds, measure, report_details
from ci.registry.model_meta import ModelMeta
from ci.tools import podman

GATE = "latency"


def latency_gate(url: str, meta: ModelMeta, load: Load, thresholds: Thresholds, reports_dir: Path,
                 context: dict | None = None) -> GateResult:
    """Measure `url` with requests built from the candidate's serving input example (Locust's HTML
    report: latency.html)."""
    result = measure(url, meta.serving_example, load, thresholds, reports_dir, GATE)
    return GateResult(GATE, result.checks, result.summary(),
                      {**report_details(result, load, thresholds, reports_dir, GATE), "model": meta.source,
                       **(context or {})}, seconds=result.seconds)


def capacity(image: str, meta: ModelMeta, thresholds: Thresholds, steps: capacity_search.Steps, batch_sizes: str,
             pod: PodShape, *, cli: str = podman.DEFAULT_CLI,
             progress: Callable[[Point], None] = lambda point: None) -> dict:
    """Step-load `image` run with the pod's CPU and memory limits; the `capacity` report section."""
    with running(image, cli=cli, cpus=pod.cpu_limit, memory=pod.memory_limit) as (base, name):
        points = capacity_search.search(base, meta.serving_example, thresholds, steps, batch_sizes,
                                        lambda: podman.cpu_seconds(name, cli=cli), progress)
    return capacity_search.report(points, steps, pod.to_dict())


def with_capacity(result: GateResult, section: dict) -> GateResult:
    """The gate's result with the capacity section in latency.json and the sustainable rate on the tag."""
    return replace(result, summary={**result.summary, "capacity_rps": section["sustainable_rps"]},
                   report={**result.report, "capacity": section})

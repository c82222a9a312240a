"""Latency gate: the candidate under a fixed Locust load must meet the p95, p99, error-rate and
throughput thresholds (`ci.load_measure`, shared with the scheduled load test)."""
from __future__ import annotations

from pathlib import Path

from ci.gates.result import GateResult
from ci.load_measure import Load, Thresholds, measure, report_details
from ci.model_meta import ModelMeta

GATE = "latency"


def latency_gate(url: str, meta: ModelMeta, load: Load, thresholds: Thresholds, reports_dir: Path,
                 context: dict | None = None) -> GateResult:
    """Measure `url` with requests built from the candidate's serving input example (Locust's HTML
    report: latency.html)."""
    result = measure(url, meta.serving_example, load, thresholds, reports_dir, GATE)
    return GateResult(GATE, result.checks, result.summary(),
                      {**report_details(result, load, thresholds, reports_dir, GATE), "model": meta.source,
                       **(context or {})}, seconds=result.seconds)

"""Latency gate: the candidate under a fixed Locust load must meet the p95, p99, error-rate and
throughput thresholds. The verdict is recorded on the model version, where `promote` reads it."""
from __future__ import annotations

from pathlib import Path

from ci import loadtest
from ci.model_meta import ModelMeta

GATE = "latency"


def run_latency_gate(url: str, meta: ModelMeta, load: loadtest.Load, thresholds: loadtest.Thresholds,
                     reports_dir: Path, context: dict | None = None) -> loadtest.LoadResult:
    """Measure `url` with requests built from the candidate's serving input example; writes
    latency-junit.xml, latency.html and latency.json."""
    return loadtest.measure(url, meta.serving_example, load, thresholds, reports_dir, GATE,
                            context={"model": meta.source, **(context or {})})


def summary(result: loadtest.LoadResult) -> dict:
    """What goes into the model-version tag: the figures and the verdict, not the paths."""
    stats = result.stats
    return {"passed": result.passed, "p95_ms": stats.p95_ms, "p99_ms": stats.p99_ms,
            "error_rate": round(stats.error_rate, 6), "rps": round(stats.rps, 2), "requests": stats.requests}

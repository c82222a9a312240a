"""Prometheus metrics, correct across Gunicorn workers (prometheus-client multiprocess mode).

The entry point sets PROMETHEUS_MULTIPROC_DIR (under /tmp) before this module is imported:
prometheus-client picks its value store at import. Without it (tests in one process) the metrics
live in the app's own registry.
"""
from __future__ import annotations

import os

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: N811, F401 - re-exported
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_enabled() -> bool:
    return bool(os.environ.get(MULTIPROC_ENV))


class Metrics:
    """The service's metrics, registered in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.requests = Counter("service_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=registry)
        self.latency = Histogram("service_request_duration_seconds",
                                 "Latency of non-probe requests, by route", ["route"],
                                 buckets=LATENCY_BUCKETS, registry=registry)
        self.rows = Counter("service_rows_predicted", "Rows the model predicted", registry=registry)
        self.batch_rows = Histogram("service_batch_size_rows", "Rows per predict call (one request "
                                    "unless micro-batching is on)", buckets=BATCH_BUCKETS, registry=registry)
        self.batch_requests = Histogram("service_batch_size_requests", "Requests per predict call",
                                        buckets=BATCH_BUCKETS, registry=registry)
        self.model_errors = Counter("service_model_errors", "Exceptions raised by the model",
                                    registry=registry)
        self.load_seconds = Gauge("service_model_load_seconds", "Seconds the model took to load",
                                  multiprocess_mode="max", registry=registry)
        self.model_info = Gauge("service_model_info", "The served model (value 1)",
                                ["name", "version", "run_id"], multiprocess_mode="max", registry=registry)

    def exposition(self) -> bytes:
        """The text format: merged over every worker's files in multiprocess mode."""
        if multiprocess_enabled():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry)
        return generate_latest(self.registry)


def mark_worker_dead(pid: int) -> None:
    """Gunicorn child_exit hook: drop a dead worker's live gauges."""
    if multiprocess_enabled():
        multiprocess.mark_process_dead(pid)

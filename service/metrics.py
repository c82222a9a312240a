"""Prometheus metrics, correct across Gunicorn workers (prometheus-client multiprocess mode).

The entry point sets PROMETHEUS_MULTIPROC_DIR (under /tmp) before this module is imported:
prometheus-client picks its value store at import. Without it (tests in one process) the metrics
live in the app's own registry.
"""
from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST as CONTENT_TYPE  # noqa: F401 - re-exported
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Predicted values per numeric output, for the canary analysis (ci/progressive/canary_analysis.py compares the
# canary's distribution with stable's). Fixed buckets keep the cardinality bounded: fine over
# [0, 1] (scores, probabilities), decades beyond it (regression outputs, either sign).
PREDICTION_BUCKETS = (-1000.0, -100.0, -10.0, -1.0, *(i / 20 for i in range(21)), 2.0, 5.0, 10.0, 100.0, 1000.0)
# |candidate - stable| of a numeric output under shadow traffic (service.shadow), absolute and relative:
# 0, then 1-2-5 steps per decade from 1e-9 to 1e3 (quantiles read from them to within a step)
DIFFERENCE_BUCKETS = (0.0, *(m * 10.0 ** e for e in range(-9, 3) for m in (1, 2, 5)), 1000.0)
MAX_OUTPUTS = 8  # numeric outputs observed per model; the others are not (one series set each)
MAX_VALUES = 256  # values observed per output and predict call: a huge batch costs no more


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
        self.timed_out = Counter("service_requests_timed_out", "Requests answered 503 at the deadline "
                                 "(SERVICE_REQUEST_TIMEOUT_SECONDS), by stage: queued (overload) or predicting "
                                 "(the model's call was interrupted)", ["stage"], registry=registry)
        self.model_errors = Counter("service_model_errors", "Exceptions raised by the model",
                                    registry=registry)
        self.load_seconds = Gauge("service_model_load_seconds", "Seconds the model took to load",
                                  multiprocess_mode="max", registry=registry)
        self.predictions = Histogram("service_prediction_value", "Predicted values of each numeric output "
                                     "(at most MAX_OUTPUTS outputs, MAX_VALUES values a call)", ["output"],
                                     buckets=PREDICTION_BUCKETS, registry=registry)
        self.model_info = Gauge("service_model_info", "The served model (value 1)",
                                ["name", "version", "run_id"], multiprocess_mode="max", registry=registry)
        self.shadow_requests = Counter("service_shadow_requests", "Live requests copied to the shadow candidate, "
                                       "by outcome: compared, refused (4xx), failed (5xx, timeout, no "
                                       "connection), mismatched (another row count), dropped (too many on "
                                       "their way)", ["outcome"], registry=registry)
        self.shadow_rows = Counter("service_shadow_rows", "Rows whose answers were compared with the shadow "
                                   "candidate's", registry=registry)
        self.shadow_rows_changed = Counter("service_shadow_rows_changed", "Compared rows whose output changed "
                                           "(a class, or a number beyond the answer's precision); output=\"*\": "
                                           "any output", ["output"], registry=registry)
        self.shadow_difference = Histogram("service_shadow_difference", "Difference of a numeric output, "
                                           "candidate against stable, per compared row", ["output", "kind"],
                                           buckets=DIFFERENCE_BUCKETS, registry=registry)
        self._children: dict[tuple[Any, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, kept: labels() checks and locks on every call (~1.5 us a request),
        the child it returns is the same each time."""
        key = (metric, values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def observe_predictions(self, predictions: Any) -> None:
        """Each numeric output's values into `service_prediction_value{output=...}`; an output shape
        it cannot read (ragged lists, objects) is left out, never failing the request."""
        try:
            outputs = list(numeric_outputs(predictions))
        except (TypeError, ValueError):
            return
        for output, values in outputs:
            histogram = self.child(self.predictions, output)
            for value in values:
                histogram.observe(value)

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


def numeric_outputs(predictions: Any) -> Iterator[tuple[str, list[float]]]:
    """(output name, finite values) of the numeric outputs of what a pyfunc returned: a DataFrame's
    numeric columns, a Series, a 1-D (output "0") or 2-D (one output per column) array or list, or a
    dict of those. Strings, NaN and infinities are left out; names are the model's own."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, list) and predictions and isinstance(predictions[0], dict):
        predictions = pd.DataFrame.from_records(predictions[:MAX_VALUES])
    if isinstance(predictions, pd.DataFrame):
        columns = {str(name): predictions[name].to_numpy() for name in predictions.columns[:MAX_OUTPUTS]}
    elif isinstance(predictions, dict):
        columns = {str(name): np.asarray(value) for name, value in list(predictions.items())[:MAX_OUTPUTS]}
    else:
        array = np.asarray(predictions.to_numpy() if isinstance(predictions, pd.Series) else predictions)
        if array.ndim == 2:
            columns = {str(i): array[:, i] for i in range(min(array.shape[1], MAX_OUTPUTS))}
        else:
            columns = {"0": array.reshape(-1)}
    for name, column in columns.items():
        if column.dtype.kind not in "iuf" or column.ndim != 1:
            continue
        values = [float(v) for v in column[:MAX_VALUES].tolist() if math.isfinite(v)]
        if values:
            yield name, values

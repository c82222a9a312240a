"""The per-output prediction histograms the canary analysis compares: which outputs, which values."""
from __future__ import annotations

import numpy as np
import pandas as pd
from prometheus_client.parser import text_string_to_metric_families

from service.metrics import MAX_OUTPUTS, MAX_VALUES, Metrics, numeric_outputs


def test_a_frame_gives_its_numeric_columns_only() -> None:
    frame = pd.DataFrame({"score": [0.1, 0.9], "risk_level": ["low", "high"], "n": [1, 2]})
    assert dict(numeric_outputs(frame)) == {"score": [0.1, 0.9], "n": [1.0, 2.0]}


def test_arrays_series_dicts_and_records() -> None:
    assert dict(numeric_outputs(np.array([1.0, 2.0]))) == {"0": [1.0, 2.0]}
    assert dict(numeric_outputs(np.array([[1.0, 2.0], [3.0, 4.0]]))) == {"0": [1.0, 3.0], "1": [2.0, 4.0]}
    assert dict(numeric_outputs(pd.Series([0.5]))) == {"0": [0.5]}
    assert dict(numeric_outputs({"a": [1, 2], "b": ["x"]})) == {"a": [1.0, 2.0]}
    assert dict(numeric_outputs([{"score": 0.2, "level": "low"}])) == {"score": [0.2]}


def test_nan_strings_and_bounds() -> None:
    assert dict(numeric_outputs([float("nan"), 1.0, float("inf")])) == {"0": [1.0]}
    assert dict(numeric_outputs(["a", "b"])) == {}
    wide = pd.DataFrame({f"c{i}": [1.0] for i in range(MAX_OUTPUTS + 3)})
    assert len(dict(numeric_outputs(wide))) == MAX_OUTPUTS
    assert len(dict(numeric_outputs(np.zeros(MAX_VALUES * 2)))["0"]) == MAX_VALUES


def test_observed_into_the_histogram_and_unreadable_shapes_ignored() -> None:
    metrics = Metrics()
    metrics.observe_predictions(pd.DataFrame({"score": [0.12, 0.12, 0.97]}))
    metrics.observe_predictions([[1, 2], [3]])  # ragged: not observed, no exception
    families = {f.name: f for f in text_string_to_metric_families(metrics.exposition().decode())}
    samples = families["service_prediction_value"].samples
    count = next(s for s in samples if s.name.endswith("_count") and s.labels["output"] == "score")
    assert count.value == 3
    low = next(s for s in samples if s.name.endswith("_bucket") and s.labels["le"] == "0.15")
    assert low.value == 2

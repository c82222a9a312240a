"""Tiny pyfunc models for the gate tests, saved to directories the real service can serve.

`predict` behaviour is chosen by `model_config`: `sleep_ms` delays every call (fails a latency
threshold); `fail_after_calls` raises after that many calls (with WARM_UP_CALLS the service's
warm-up predictions succeed, so it turns ready, then every request is a 500).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, Schema

from service.batch_proof import PROOF_FILE

PIP_REQUIREMENTS = ["mlflow==3.17.2", "pandas==3.1.1"]
# Predictions the service makes before it turns ready: the master's priming one, then each worker's
# warm-up (the worker counts on from its forked copy of the model).
WARM_UP_CALLS = 2


class ScoreModel(mlflow.pyfunc.PythonModel):
    """score = a * 2 + b, per row; row-wise, so batched and unbatched answers are equal."""

    calls = 0

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        config = context.model_config or {}
        self.calls += 1
        if "fail_after_calls" in config and self.calls > config["fail_after_calls"]:
            raise RuntimeError("this fixture model fails after its warm-up")
        if config.get("sleep_ms"):
            time.sleep(config["sleep_ms"] / 1000)
        return pd.DataFrame({"score": model_input["a"].astype("float64") * 2 + model_input["b"]})


def example() -> pd.DataFrame:
    return pd.DataFrame({"a": [1.5, 2.0, -3.25, 10.0], "b": pd.Series([1, 2, 3, 4], dtype="int64"),
                         "c": pd.Series(["x", "y", "z", "x"], dtype=object)})


def base_inputs() -> list[ColSpec]:
    return [ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("string", "c")]


def save(path: Path, *, inputs: list[ColSpec] | None = None, outputs: list[ColSpec] | None = None,
         input_example: pd.DataFrame | None = None, **config) -> Path:
    """Save a ScoreModel with a signature (default a:double, b:long, c:string -> score:double)."""
    outputs = outputs or [ColSpec("double", "score")]
    signature = ModelSignature(Schema(inputs or base_inputs()), Schema(outputs))
    mlflow.pyfunc.save_model(str(path), python_model=ScoreModel(), signature=signature,
                             input_example=example() if input_example is None else input_example,
                             pip_requirements=PIP_REQUIREMENTS, model_config=config or None)
    if "fail_after_calls" in config:
        # As an image's build-time proof would leave it: a start-up proof would spend the calls the
        # warm-up is allowed, and the service would never become ready.
        (Path(path) / PROOF_FILE).write_text(json.dumps({"batched": False, "reason": "fixture model"}))
    return Path(path)

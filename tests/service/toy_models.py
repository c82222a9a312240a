"""Tiny custom pyfunc models for what the example models cannot show: dict and DataFrame
outputs, float32 answers, answers that depend on the batch, a row short, a model that raises
(with the input in its message, as careless models do) and one as slow as it is told."""
from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from mlflow.models import infer_signature

EXAMPLE = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})


class DictModel(mlflow.pyfunc.PythonModel):
    """Returns one dict for the whole batch: it cannot be split by rows."""

    def predict(self, context, model_input, params=None):
        return {"total": float(model_input["x"].sum()), "labels": list(model_input["label"])}


class FrameModel(mlflow.pyfunc.PythonModel):
    """Doubles x; raises with the row in its message when a label is 'boom'."""

    def predict(self, context, model_input, params=None):
        if (model_input["label"] == "boom").any():
            raise ValueError(f"cannot score {model_input.to_dict(orient='records')}")
        return pd.DataFrame({"double": model_input["x"] * 2, "label": model_input["label"]})


class BatchStatsModel(mlflow.pyfunc.PythonModel):
    """Centres x on the mean of the call's rows: its answer for a row depends on its batch."""

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"centred": model_input["x"] - model_input["x"].mean()})


class RowAtATimeModel(mlflow.pyfunc.PythonModel):
    """Answers one row at a time and raises on more: batching would only add failed calls."""

    def predict(self, context, model_input, params=None):
        if len(model_input) > 1:
            raise ValueError("one row at a time")
        return pd.DataFrame({"double": model_input["x"] * 2})


class DropsARowModel(mlflow.pyfunc.PythonModel):
    """Answers every row but the last of a call of several rows: predictions misaligned with the rows."""

    def predict(self, context, model_input, params=None):
        rows = model_input if len(model_input) == 1 else model_input.iloc[:-1]
        return pd.DataFrame({"double": rows["x"] * 2})


class Float32Model(mlflow.pyfunc.PythonModel):
    """Answers as ONNX and PyTorch models do: a dict of float32 arrays (7 significant digits)."""

    def predict(self, context, model_input, params=None):
        import numpy as np

        score = 1 / (1 + np.exp(-model_input["x"].to_numpy(dtype=np.float32) / np.float32(3)))
        return {"probabilities": np.stack([1 - score, score], axis=1).astype(np.float32),
                "label": (score > 0.5).astype(np.int64)}


class SleepsModel(mlflow.pyfunc.PythonModel):
    """Sleeps x / 100 seconds (the call's largest x), then doubles x: a model as slow, or as hung, as
    a request asks."""

    def predict(self, context, model_input, params=None):
        import time

        time.sleep(float(model_input["x"].max()) / 100)
        return pd.DataFrame({"double": model_input["x"] * 2})


class ScoresModel(mlflow.pyfunc.PythonModel):
    """A class and a score per row (label 1 when x > 5, score x / 10); a later version that changes
    every `every`-th row (x a multiple of it): its class flipped and its score moved by `shift`. Each
    call sleeps `delay` seconds (a candidate slower than stable)."""

    def __init__(self, every: int = 0, shift: float = 0.0, delay: float = 0.0) -> None:
        self.every, self.shift, self.delay = every, shift, delay

    def predict(self, context, model_input, params=None):
        import time

        time.sleep(self.delay)
        x = model_input["x"]
        label, score = (x > 5).astype("int64"), x / 10
        if self.every:
            changed = (x % self.every) == 0
            label, score = label.where(~changed, 1 - label), score.where(~changed, score + self.shift)
        return pd.DataFrame({"label": label, "score": score})


def save(model: mlflow.pyfunc.PythonModel, path: Path) -> Path:
    output = model.predict(None, EXAMPLE.iloc[:1])  # one row: every toy model answers that
    mlflow.pyfunc.save_model(str(path), python_model=model, input_example=EXAMPLE,
                             signature=infer_signature(EXAMPLE, None if isinstance(output, dict) else output),
                             pip_requirements=["mlflow==3.17.2"])
    return path

"""A model version and the next one, as the shadow tests deploy them: a class and a score per row;
the next version changes every `every`-th row (its class flipped, its score moved by `shift`).
Logged with this file as code, so the image unpickles it without the tests."""
from __future__ import annotations

import mlflow.pyfunc
import pandas as pd


class Scores(mlflow.pyfunc.PythonModel):
    def __init__(self, every: int = 0, shift: float = 0.0) -> None:
        self.every, self.shift = every, shift

    def predict(self, context, model_input, params=None):
        x = model_input["x"]
        label, score = (x > 5).astype("int64"), x / 10
        if self.every:
            changed = (x % self.every) == 0
            label, score = label.where(~changed, 1 - label), score.where(~changed, score + self.shift)
        return pd.DataFrame({"label": label, "score": score})

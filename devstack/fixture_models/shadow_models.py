"""Versions of one model as the shadow and canary tests deploy them: a class and a score per row; a
later version changes every `every`-th row (its class flipped, its score moved by `shift`), raises on
rows whose x is a multiple of `raise_every`, scales every score by `scale`, or takes `delay` seconds
longer to predict. Logged with this file as code, so the image unpickles it without the tests."""
from __future__ import annotations

import time

import mlflow.pyfunc
import pandas as pd


class Scores(mlflow.pyfunc.PythonModel):
    def __init__(self, every: int = 0, shift: float = 0.0, raise_every: int = 0, scale: float = 1.0,
                 delay: float = 0.0) -> None:
        self.every, self.shift, self.raise_every, self.scale = every, shift, raise_every, scale
        self.delay = delay

    def predict(self, context, model_input, params=None):
        if self.delay:
            time.sleep(self.delay)
        x = model_input["x"]
        if self.raise_every and ((x % self.raise_every) == 0).any():
            raise ValueError("this version fails on some rows")
        label, score = (x > 5).astype("int64"), x / 10 * self.scale
        if self.every:
            changed = (x % self.every) == 0
            label, score = label.where(~changed, 1 - label), score.where(~changed, score + self.shift)
        return pd.DataFrame({"label": label, "score": score})

"""The credit-risk pyfunc wrapper: a preprocessor and an estimator, scored into a risk level.

This module is shipped with the model through `code_paths` and imported by the name
`credit_risk_wrapper` at serving time, so it must not import anything from this repository.
"""
from __future__ import annotations

import joblib
import mlflow.pyfunc
import numpy as np
import pandas as pd

RISK_LEVELS = ("low", "medium", "high")
MEDIUM_FROM = 0.3
HIGH_FROM = 0.6


def risk_level(scores: np.ndarray) -> np.ndarray:
    return np.select([scores >= HIGH_FROM, scores >= MEDIUM_FROM], ["high", "medium"], default="low")


class CreditRiskModel(mlflow.pyfunc.PythonModel):
    """Returns, per applicant, the probability of default (`score`) and a `risk_level`."""

    def load_context(self, context):
        self.preprocessor = joblib.load(context.artifacts["preprocessor"])
        self.estimator = joblib.load(context.artifacts["estimator"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:
        features = self.preprocessor.transform(model_input)
        scores = self.estimator.predict_proba(features)[:, 1]
        return pd.DataFrame({"score": scores.astype("float64"), "risk_level": risk_level(scores)})

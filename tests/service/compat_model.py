"""Tiny models saved by whatever MLflow runs this (Python 3.9+): the compatibility tests' subjects.

`python tests/service/compat_model.py DIR` saves the sklearn one to DIR and prints, as JSON, the
request bodies and the answers the model itself gives to them (the smoke test's expectations).
"""
from __future__ import annotations

import json
import sys

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.models import infer_signature

EXAMPLE = pd.DataFrame({"age": [35.0, 52.0, 23.0, 61.0], "income": [42.0, 88.5, 19.0, 120.0],
                        "city": ["a", "b", "a", "c"]})
FEATURES = ["age", "income"]


class EchoModel(mlflow.pyfunc.PythonModel):
    """Doubles `age`, keeps `city`: a custom pyfunc that returns a DataFrame."""

    def predict(self, context, model_input, params=None):
        return pd.DataFrame({"double": model_input["age"] * 2, "city": model_input["city"]})


def _pip_requirements() -> list[str]:
    return [f"mlflow=={mlflow.__version__}"]


def save_sklearn(path: str) -> str:
    """A logistic regression on two float columns, with signature and input example (cloudpickle:
    no skops needed on MLflow 3)."""
    import mlflow.sklearn
    from sklearn.linear_model import LogisticRegression

    frame = EXAMPLE[FEATURES]
    model = LogisticRegression().fit(frame, np.array([0, 1, 0, 1]))
    kwargs = {"serialization_format": "cloudpickle"}
    mlflow.sklearn.save_model(model, path, signature=infer_signature(frame, model.predict(frame)),
                              input_example=frame.head(2), pip_requirements=_pip_requirements(), **kwargs)
    return path


def save_pyfunc(path: str, with_example: bool = True) -> str:
    model = EchoModel()
    mlflow.pyfunc.save_model(path, python_model=model, signature=infer_signature(EXAMPLE, model.predict(None, EXAMPLE)),
                             input_example=EXAMPLE.head(2) if with_example else None,
                             pip_requirements=_pip_requirements())
    return path


def main(path: str) -> None:
    save_sklearn(path)
    frame = EXAMPLE[FEATURES]
    expected = mlflow.pyfunc.load_model(path).predict(frame)
    print(json.dumps({
        "mlflow_version": mlflow.__version__,
        "json_body": json.dumps({"dataframe_split": {"columns": FEATURES, "data": frame.values.tolist()}}),
        "csv_body": frame.to_csv(index=False),
        "predictions": np.asarray(expected).tolist(),
    }))


if __name__ == "__main__":
    main(sys.argv[1])

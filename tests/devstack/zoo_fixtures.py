"""The model zoo fixtures (harness: devstack/model_zoo.py, devstack/model_envs.py).

- `zoo`: the session's zoo on `mlflow_sqlite`; `zoo.get(keys)` trains and registers the models not yet
  registered in this session (all of them when `keys` is None) and returns {key: ModelRef}, so a
  module that needs three models does not wait for eleven.
  A ModelRef has `.name`, `.version`, `.model_uri`, `.python_minor`, `.python_version`,
  `.mlflow_version`, `.env` (the model environment it was trained in, whose `.python` loads it again).
- `CLASSIC`, `NEURAL`: the zoo's two halves (keys of devstack.model_zoo.ZOO).
Environments are created once and cached across runs; a missing interpreter or an unreachable index
raises InfraError: a test that needs the zoo fails, it never skips.
"""
from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest

from devstack.model_zoo import ZOO, ModelRef, train_all

# The zoo's two halves, each trained, registered, built and deployed in a worker of its own
# (tests/parallel.py): the classic flavors, and what a deep-learning team brings.
CLASSIC = ["sklearn", "xgboost", "lightgbm", "catboost", "onnx", "tensor", "params", "legacy-wrapper"]
NEURAL = ["torch", "torch-env-sklearn", "large"]


class Zoo:
    def __init__(self, tracking_uri: str) -> None:
        self.tracking_uri = tracking_uri
        self.registered: dict[str, ModelRef] = {}
        self.lock = threading.Lock()

    def get(self, keys: Iterable[str] | None = None) -> dict[str, ModelRef]:
        keys = list(keys or ZOO)
        with self.lock:
            missing = [key for key in keys if key not in self.registered]
            if missing:
                self.registered.update(train_all(self.tracking_uri, missing))
        return {key: self.registered[key] for key in keys}


@pytest.fixture(scope="session")
def zoo(mlflow_sqlite) -> Zoo:
    return Zoo(mlflow_sqlite.url)

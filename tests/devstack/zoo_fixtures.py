"""The model zoo fixture (harness: devstack/model_zoo.py, devstack/model_envs.py).

- `model_zoo`: {key: ModelRef} with every zoo model registered once per session on `mlflow_sqlite`
  (`.name`, `.version`, `.model_uri`, `.python_minor`, `.python_version`, `.mlflow_version`, `.env`:
  the model environment it was trained in, whose `.python` can load it again). Keys: sklearn, xgboost,
  lightgbm, tensor, params, legacy-wrapper (devstack.model_zoo.ZOO says what each is).
Environments are created once and cached across runs; a missing interpreter or an unreachable index
raises InfraError: a test that needs the zoo fails, it never skips.
"""
from __future__ import annotations

import pytest

from devstack.model_zoo import ModelRef, train_all


@pytest.fixture(scope="session")
def model_zoo(mlflow_sqlite) -> dict[str, ModelRef]:
    return train_all(mlflow_sqlite.url)

"""Fixtures for the `ci` tests: one tiny logged model per MLflow server (both backends)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.registry_helpers import IMAGE_MATCHING_REQUIREMENTS, LoggedModel, log_tiny_model


@pytest.fixture(scope="session")
def logged_model(mlflow_server) -> LoggedModel:
    """Per backend: a tiny pyfunc whose requirements match the service image's pins."""
    return log_tiny_model(mlflow_server, IMAGE_MATCHING_REQUIREMENTS)


@pytest.fixture
def out_dir(tmp_path) -> Path:
    return tmp_path / "reports"

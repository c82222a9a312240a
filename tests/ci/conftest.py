"""Fixtures for the `ci` tests: one tiny logged model per MLflow server (both backends)."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.ci.registry_helpers import IMAGE_MATCHING_REQUIREMENTS, LoggedModel, log_tiny_model

_LOGGED: dict[str, LoggedModel] = {}


def _logged(server) -> LoggedModel:
    if server.url not in _LOGGED:
        _LOGGED[server.url] = log_tiny_model(server, IMAGE_MATCHING_REQUIREMENTS)
    return _LOGGED[server.url]


@pytest.fixture(scope="session")
def logged_model(mlflow_server) -> LoggedModel:
    """Per backend: a tiny pyfunc whose requirements match the service image's pins."""
    return _logged(mlflow_server)


@pytest.fixture(scope="session")
def sqlite_model(mlflow_sqlite) -> LoggedModel:
    """The same, on the sqlite server only (tests that put a proxy in front of it)."""
    return _logged(mlflow_sqlite)


@pytest.fixture
def out_dir(tmp_path) -> Path:
    return tmp_path / "reports"

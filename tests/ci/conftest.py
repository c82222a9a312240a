"""Fixtures for the `ci` tests: one tiny logged model per MLflow server (both backends), and for the
build tests the credit-risk example as a `ModelRef` and a tiny service directory to build."""
from __future__ import annotations

from pathlib import Path

import pytest

from ci.registry.model_ref import ModelRef
from tests.ci.registry_helpers import IMAGE_MATCHING_REQUIREMENTS, LoggedModel, log_tiny_model

_LOGGED: dict[str, LoggedModel] = {}
# Stands in for service/Dockerfile where a test pins build mechanics (context, tags, digests, auth).
TINY_DOCKERFILE = """\
FROM python:3.11-slim
ARG MODEL_VERSION
RUN echo "${MODEL_VERSION}" > /model-version
ARG VCS_REF
LABEL org.opencontainers.image.revision="${VCS_REF}"
COPY build/model /opt/model
COPY service /opt/service
CMD ["python", "-c", "print(open('/model-version').read().strip())"]
"""


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


@pytest.fixture()
def tiny_service(tmp_path: Path) -> Path:
    service = tmp_path / "service"
    service.mkdir()
    (service / "Dockerfile").write_text(TINY_DOCKERFILE)
    (service / "app.py").write_text("print('tiny')\n")
    return service


@pytest.fixture(scope="module")
def model(credit_risk_versions) -> ModelRef:
    """The credit-risk pyfunc example (registered on the sqlite server) as a build input."""
    version = credit_risk_versions["pyfunc"]
    return ModelRef(version.name, version.version, version.run_id)

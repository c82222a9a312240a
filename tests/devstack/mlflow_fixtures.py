"""MLflow fixtures: real `mlflow server` processes (sqlite and PostgreSQL backends) and the
credit-risk example registered into them."""
from __future__ import annotations

import pytest

from devstack.mlflow_server import MlflowServer
from devstack.postgres import Postgres


@pytest.fixture(scope="session")
def mlflow_sqlite(tmp_path_factory):
    """A session-wide MLflow server on sqlite; tests use unique model names to stay independent."""
    with MlflowServer(tmp_path_factory.mktemp("mlflow-sqlite")) as server:
        yield server


@pytest.fixture(scope="session")
def postgres():
    server = Postgres().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def mlflow_postgres(tmp_path_factory, postgres):
    with MlflowServer(tmp_path_factory.mktemp("mlflow-pg"), backend_uri=postgres.uri) as server:
        yield server


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
def mlflow_server(request):
    """Both backends: a test using this runs once against each."""
    return request.getfixturevalue(f"mlflow_{request.param}")


@pytest.fixture(scope="session")
def credit_risk_versions(mlflow_sqlite):
    """Both example models registered once (alias @production and stage Production) on sqlite."""
    from examples.credit_risk.train import train_and_register

    return {flavor: train_and_register(mlflow_sqlite.url, flavor) for flavor in ("pyfunc", "sklearn")}

"""Helpers for the registry tests: a tiny logged model reused for every registered model a test
creates (`create_model_version` of its source, so no test trains), the CLI as a subprocess, and
direct writes of a version's registration status."""
from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from devstack.mlflow_server import MlflowServer, client_env

REPO = Path(__file__).resolve().parents[2]
COMMIT_SHA = "0123456789abcdef0123456789abcdef01234567"
# The service image's pins for the packages a pickle depends on (see preflight's LOAD_BREAKING).
IMAGE_MATCHING_REQUIREMENTS = ["mlflow==3.17.2", "cloudpickle==3.1.3", "numpy==2.4.6", "pandas==3.1.1",
                               "scikit-learn==1.9.1"]


@dataclass
class LoggedModel:
    server: MlflowServer
    source: str
    run_id: str
    model_id: str

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.server.url)

    def register(self, versions: int = 1, prefix: str = "t") -> str:
        """A new registered model with `versions` READY versions of this logged model."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        client = self.client()
        client.create_registered_model(name)
        for _ in range(versions):
            client.create_model_version(name, self.source, self.run_id, model_id=self.model_id)
        return name


def log_tiny_model(server: MlflowServer, pip_requirements: list[str]) -> LoggedModel:
    import mlflow
    import mlflow.pyfunc
    from mlflow.models import infer_signature

    class Echo(mlflow.pyfunc.PythonModel):
        def predict(self, context, model_input):
            return model_input[["x"]] * 2

    example = pd.DataFrame({"x": [1.0, 2.0], "label": ["a", "b"]})
    mlflow.set_tracking_uri(server.url)
    mlflow.set_experiment("ci-tests")
    with mlflow.start_run() as run:
        info = mlflow.pyfunc.log_model(name="model", python_model=Echo(), pip_requirements=pip_requirements,
                                       signature=infer_signature(example, example[["x"]]))
    return LoggedModel(server, info.model_uri, run.info.run_id, info.model_id)


def ci_env(server: MlflowServer, **extra: str) -> dict[str, str]:
    env = client_env(server)
    for name in ("MLFLOW_TRACKING_TOKEN", "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD",
                 "MODEL_SELECTOR", "CI_PIPELINE_URL", "GITLAB_USER_LOGIN", "GITLAB_USER_NAME"):
        env.pop(name, None)
    env.update({"CI_COMMIT_SHA": COMMIT_SHA, **extra})
    return env


def run_ci(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """The real entry point, as a pipeline job runs it (from the repository root)."""
    return subprocess.run([sys.executable, "-m", "ci", *args], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=timeout)


def set_version_status(server: MlflowServer, name: str, version: str, status: str) -> None:
    """Write a version's registration status straight into the server's backend database.

    MLflow's SQL store creates versions READY; registries that copy artifacts first (Databricks,
    Unity Catalog) report PENDING_REGISTRATION meanwhile. The server reads the status from this
    table on every request, so the CLI sees exactly what such a registry would return.
    """
    import sqlalchemy

    engine = sqlalchemy.create_engine(server.backend_uri)
    try:
        with engine.begin() as conn:
            conn.execute(sqlalchemy.text(
                "UPDATE model_versions SET status = :s WHERE name = :n AND version = :v"),
                {"s": status, "n": name, "v": int(version)})
    finally:
        engine.dispose()

"""Service fixtures: the two example models (trained and registered once on the real MLflow
server, then downloaded to a local directory like the image build does), loaded models, and
in-process apps."""
from __future__ import annotations

from pathlib import Path

import mlflow
import pytest
from fastapi.testclient import TestClient

from devstack.model_servers import ServerProcess, start_mlflow_serve, start_service
from devstack.procs import wait_until
from service.app import create_app
from service.loading import LoadedModel, load_model
from service.settings import Settings
from tests.service.toy_models import Float32Model
from tests.service.toy_models import save as save_toy_model

FLAVORS = ("pyfunc", "sklearn")


@pytest.fixture(scope="session")
def model_dirs(credit_risk_versions, mlflow_sqlite, tmp_path_factory) -> dict[str, Path]:
    """flavor -> a local MLflow model directory (what the image bakes in at /opt/model); and "float32",
    a toy model answering with float32 arrays."""
    root = tmp_path_factory.mktemp("models")
    dirs = {}
    for flavor, version in credit_risk_versions.items():
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{version.name}/{version.version}", tracking_uri=mlflow_sqlite.url,
            dst_path=str(root / flavor))
        dirs[flavor] = Path(local)
    dirs["float32"] = save_toy_model(Float32Model(), root / "float32")  # answers as ONNX and PyTorch do
    return dirs


@pytest.fixture(scope="session")
def loaded_models(model_dirs) -> dict[str, LoadedModel]:
    return {flavor: load_model(Settings(model_uri=str(path))) for flavor, path in model_dirs.items()}


@pytest.fixture(scope="session")
def make_client(loaded_models):
    """Build an in-process client for a flavor with settings overrides; waits for readiness."""
    opened: list[TestClient] = []

    def make(flavor: str = "sklearn", **overrides) -> TestClient:
        settings = Settings(model_uri=str(flavor), **overrides)
        app = create_app(settings, loaded_models[flavor], image_tag="t1", image_digest="sha256:d1")
        client = TestClient(app)
        client.__enter__()
        opened.append(client)
        wait_until(lambda: client.get("/readyz").status_code == 200, 30, "in-process app readiness")
        return client

    yield make
    for client in opened:
        client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def model_servers(model_dirs, tmp_path_factory):
    """Real servers on the example models, each started on first use and shared by the session:
    `model_servers("service", "sklearn", batching_enabled=True)`, `model_servers("mlflow", "pyfunc")`.
    One worker each: the tests compare answers, not throughput."""
    started: dict[tuple, ServerProcess] = {}

    def get(kind: str, flavor: str = "sklearn", **settings: object) -> ServerProcess:
        key = (kind, flavor, tuple(sorted(settings.items())))
        if key not in started:
            logs = tmp_path_factory.mktemp(f"{kind}-{flavor}")
            started[key] = (start_mlflow_serve(model_dirs[flavor], logs / "mlflow.log") if kind == "mlflow"
                            else start_service(model_dirs[flavor], logs / "service.log", workers=1, **settings))
        return started[key]

    yield get
    for server in started.values():
        server.stop()


@pytest.fixture(scope="session")
def client(make_client) -> TestClient:
    return make_client("sklearn")


@pytest.fixture(scope="session")
def pyfunc_client(make_client) -> TestClient:
    return make_client("pyfunc")


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory) -> dict[str, LoadedModel]:
    """'dict', 'frame', 'batch-stats', 'row-at-a-time' and 'drops-a-row' custom pyfunc models saved to
    disk and loaded like any other."""
    from tests.service import toy_models

    root = tmp_path_factory.mktemp("toy")
    return {name: load_model(Settings(model_uri=str(toy_models.save(model, root / name))))
            for name, model in (("dict", toy_models.DictModel()), ("frame", toy_models.FrameModel()),
                                ("batch-stats", toy_models.BatchStatsModel()),
                                ("row-at-a-time", toy_models.RowAtATimeModel()),
                                ("drops-a-row", toy_models.DropsARowModel()))}

"""A registered model version's files on local disk: what the image bakes in and the load gate reads."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from ci.clients.artifact_store import store_errors
from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed
from ci.redact import redact
from ci.registry.model_ref import ModelRef


def download_model(model: ModelRef, tracking_uri: str, destination: Path) -> Path:
    """Download `models:/name/version` into `destination` (which must not exist yet), from the store its
    download URI names (so a direct S3 store's failure names that store)."""
    import mlflow.artifacts
    from mlflow.exceptions import MlflowException

    uri = MlflowApi(tracking_uri).download_uri(model.name, model.version)
    destination.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="model-", dir=destination.parent) as tmp:
        try:
            with store_errors(uri):
                local = mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tmp,
                                                            tracking_uri=tracking_uri)
        except MlflowException as exc:
            raise CheckFailed(f"cannot download model {model.name} version {model.version} from "
                              f"{redact(tracking_uri)}: {redact(exc.message)}. Check the version exists and the "
                              "MLFLOW_TRACKING_* credentials.") from exc
        shutil.move(local, destination)
    if not (destination / "MLmodel").is_file():
        raise CheckFailed(f"model {model.name} version {model.version} has no MLmodel file: "
                          "it is not an MLflow model")
    return destination

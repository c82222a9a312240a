"""Load the model once (in the Gunicorn master, before fork) and work out who it is.

A `models:/name@alias` or `models:/name/Stage` URI is resolved to a version number first and that
exact version is loaded, so what /version reports is what was loaded even if the alias moves.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass

import mlflow.pyfunc

from service.mlflow_compat import get_model_version_from_model_uri, load_serving_input_example, model_run_id
from service.settings import Settings

logger = logging.getLogger("service")


@dataclass(frozen=True)
class ModelIdentity:
    name: str | None
    version: str | None
    run_id: str | None
    source: str
    signature_digest: str | None


@dataclass
class LoadedModel:
    """The pyfunc model, its identity, its serving input example (JSON), how long loading took and
    the local directory it was loaded from (where the image's batching proof is)."""

    pyfunc: mlflow.pyfunc.PyFuncModel
    identity: ModelIdentity
    serving_example: str | None
    load_seconds: float
    directory: str | None = None


def _resolve_registry_uri(uri: str) -> tuple[str, str | None, str | None]:
    """`models:/name@alias` / `models:/name/Stage` -> (`models:/name/N`, name, N); others unchanged."""
    if not uri.startswith("models:/"):
        return uri, None, None
    version = get_model_version_from_model_uri(uri)
    return f"models:/{version.name}/{version.version}", version.name, str(version.version)


def signature_digest(model: mlflow.pyfunc.PyFuncModel) -> str | None:
    """sha256 of the signature's canonical JSON: two images serve the same contract iff equal."""
    signature = model.metadata.signature
    if signature is None:
        return None
    canonical = json.dumps(signature.to_dict(), sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def _serving_example(model: mlflow.pyfunc.PyFuncModel, local_path: str) -> str | None:
    try:
        return load_serving_input_example(model.metadata, local_path)
    except Exception:  # noqa: BLE001 - a model without a usable example is served without warm-up
        logger.warning("the model has no usable serving input example; readiness skips warm-up")
        return None


def load_model(settings: Settings) -> LoadedModel:
    """Load `settings.model_uri`; identity from settings (image build) first, else from MLflow."""
    started = time.perf_counter()
    uri, registry_name, registry_version = _resolve_registry_uri(settings.model_uri)
    local_path = uri if os.path.isdir(uri) else mlflow.artifacts.download_artifacts(uri)
    model = mlflow.pyfunc.load_model(local_path)
    identity = ModelIdentity(
        name=settings.model_name or registry_name,
        version=settings.model_version or registry_version,
        run_id=settings.model_run_id or model_run_id(model.metadata),
        source=uri,
        signature_digest=signature_digest(model),
    )
    loaded = LoadedModel(model, identity, _serving_example(model, local_path), time.perf_counter() - started,
                         local_path)
    logger.info("model loaded", extra={"model_source": uri, "model_name": identity.name,
                                       "model_version": identity.version,
                                       "load_seconds": round(loaded.load_seconds, 3)})
    return loaded

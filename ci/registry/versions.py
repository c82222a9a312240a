"""Looking up registered models and versions, with errors that say what to do, and waiting for a
version that is still registering."""
from __future__ import annotations

import logging
import time

from ci.clients.mlflow_api import MlflowApi, NotFound
from ci.errors import CheckFailed

log = logging.getLogger("ci.registry")

READY, PENDING = "READY", "PENDING_REGISTRATION"
REGISTRATION_TIMEOUT_S = 300.0


def client(api: MlflowApi | None) -> MlflowApi:
    """`api`, or one built from MLFLOW_TRACKING_URI."""
    return api if api is not None else MlflowApi.from_env()


def registered_model(api: MlflowApi, name: str):
    try:
        return api.registered_model(name)
    except NotFound:
        raise CheckFailed(f"registered model {name!r} not found on {api.safe_url}: check MODEL_NAME "
                          "(names are case-sensitive) or register a version first") from None


def version_or_fail(api: MlflowApi, name: str, version: str, why: str = ""):
    try:
        return api.model_version(name, version)
    except NotFound:
        raise CheckFailed(f"{name!r} has no version {version}{why}: choose an existing version "
                          "(see the model's page in the MLflow UI)") from None


def no_versions_hint(api: MlflowApi, name: str) -> str | None:
    if not api.versions(name):
        return f"registered model {name!r} has no versions: register one, then run the pipeline again"
    return None


def wait_until_ready(api: MlflowApi, mv, timeout: float = REGISTRATION_TIMEOUT_S, poll: float = 1.0):
    """A version still PENDING_REGISTRATION is polled until READY, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while mv.status == PENDING:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CheckFailed(f"{mv.name!r} version {mv.version} is still registering after {timeout:.0f}s "
                              "(status PENDING_REGISTRATION): retry the job when registration has "
                              "finished, or raise MODEL_REGISTRATION_TIMEOUT")
        log.info("%r version %s is still registering; waiting (%.0fs left)", mv.name, mv.version, remaining)
        time.sleep(min(poll, remaining))
        mv = api.model_version(mv.name, mv.version)
    if mv.status != READY:
        detail = f": {mv.status_message}" if mv.status_message else ""
        raise CheckFailed(f"{mv.name!r} version {mv.version} is not usable: status {mv.status}{detail}. "
                          "Register the model again.")
    return mv

"""Smoke the live Service after a rollout: a prediction on the model's input example and /version
naming the new model version, through the API server's service proxy (what a CI job outside the
cluster can reach without kube-proxy, DNS or an Ingress).

Why several /version answers: the proxy picks one endpoint per request, and for a moment after the
rollout completes an old pod in its preStop delay may still be an endpoint. The check passes once
`consecutive` answers in a row name the new version, and fails at `timeout`. Bodies are never
printed: only status codes and the version seen.
"""
from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from ci.clients.kube import Kube
from ci.errors import ConfigError

log = logging.getLogger("ci.deploy")


@dataclass(frozen=True)
class Smoke:
    service: str
    port: str  # the Service port's name or number
    body: bytes  # the request for /invocations (MLflow's serving input example)
    timeout: float = 60.0
    consecutive: int = 3


def request_body(smoke_input: Path | None, model_name: str, model_version: str) -> bytes:
    """The request the smoke sends: a file, or the version's serving input example from MLflow."""
    if smoke_input is not None:
        return smoke_input.read_bytes()
    tracking_uri = os.environ.get("MLFLOW_TRACKING_URI")
    if not tracking_uri:
        raise ConfigError("the smoke test needs the input example: set MLFLOW_TRACKING_URI, pass "
                          "--smoke-input FILE, or --no-smoke")
    from ci.clients.mlflow_api import MlflowApi
    from ci.registry import model_meta

    meta = model_meta.from_registry(MlflowApi(tracking_uri), model_name, model_version)
    if meta.serving_example is None:
        raise ConfigError(f"{meta.source} has no serving input example: log the model with `input_example=`, "
                          "pass --smoke-input FILE, or --no-smoke")
    return json.dumps(meta.serving_example).encode()


def request_bodies(path: Path, variable: str) -> tuple[bytes, ...]:
    """The request bodies of a JSON-lines file (one /invocations body a line) that `variable` names."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except ValueError:
            raise ConfigError(f"{path} line {number} is not JSON: give one /invocations request body per line "
                              f"({variable})") from None
    if not lines:
        raise ConfigError(f"{path} holds no request: give one /invocations request body per line ({variable})")
    return tuple(line.encode() for line in lines)


def smoke(kube: Kube, check: Smoke, expected_version: str) -> dict:
    """{"ok": bool, "version": last seen, "prediction_status": int, "error": why}."""
    deadline = time.monotonic() + check.timeout
    streak, seen, error = 0, None, "no answer"
    while streak < check.consecutive:
        if time.monotonic() > deadline:
            return {"ok": False, "version": seen,
                    "error": f"smoke on service {check.service}: {error} after {check.timeout:.0f}s"}
        status, body = kube.proxy("GET", check.service, check.port, "version")
        seen = _version(body) if status == 200 else None
        if seen == expected_version:
            streak += 1
            continue
        streak = 0
        error = (f"/version answered {status}" if status != 200
                 else f"/version names model version {seen}, expected {expected_version}")
        time.sleep(1)
    status, body = kube.proxy("POST", check.service, check.port, "invocations", body=check.body)
    if status != 200 or "predictions" not in _json(body):
        return {"ok": False, "version": seen, "prediction_status": status,
                "error": f"prediction on the input example answered {status} without predictions"}
    log.info("smoke: /version names model version %s, prediction on the input example answered %d",
             seen, status)
    return {"ok": True, "version": seen, "prediction_status": status}


def _json(body: bytes) -> dict:
    try:
        value = json.loads(body)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _version(body: bytes) -> str | None:
    version = _json(body).get("model_version")
    return None if version is None else str(version)

"""The one seam around `MlflowClient`: every registry call of `ci/` goes through `MlflowApi`.

Why a seam: MLflow's own HTTP retries (7 attempts, backoff factor 2, 120 s timeout) keep a CI job
hanging for minutes when the tracking server is down. Here MLflow makes exactly one attempt per
call and this module retries transient failures (5xx, connection errors, timeouts) with a short
backoff inside a fixed budget, never 4xx, so "server down" fails in seconds naming the URL.
Credentials (MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_USERNAME/PASSWORD) are read by MLflow itself;
every message that leaves this module is passed through `redact`.
"""
from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from ci.clients.artifact_store import reading
from ci.errors import CheckFailed, ConfigError
from ci.redact import redact
from ci.tracing import step

log = logging.getLogger("ci.mlflow")

REQUEST_TIMEOUT_S = 2  # per connect/read; MLFLOW_HTTP_REQUEST_TIMEOUT overrides it
RETRY_BUDGET_S = 6.0  # a retry starts only if it can time out within this: with ~3 s of process
#                       start-up (imports), a dead or hung server fails a job in < 10 s
BACKOFF_S = (0.25, 0.5, 1.0, 2.0)
T = TypeVar("T")


class NotFound(CheckFailed):
    """The registry answered 404 / RESOURCE_DOES_NOT_EXIST; callers turn it into a precise message."""


@contextlib.contextmanager
def _one_attempt(timeout: float) -> Iterator[None]:
    """MLflow reads its HTTP settings from the environment at call time: one attempt, a short
    timeout, for this call only (other MLflow use in the same process keeps its own settings)."""
    saved = {name: os.environ.get(name) for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES",
                                                     "MLFLOW_HTTP_REQUEST_TIMEOUT")}
    os.environ.update(MLFLOW_HTTP_REQUEST_MAX_RETRIES="0", MLFLOW_HTTP_REQUEST_TIMEOUT=str(int(timeout)))
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _is_transient(exc: Exception) -> bool:
    """5xx and transport failures are worth retrying; MLflow reports the latter as INTERNAL_ERROR."""
    from mlflow.exceptions import MlflowException

    if isinstance(exc, MlflowException):
        return exc.get_http_status_code() >= 500
    return isinstance(exc, (ConnectionError, TimeoutError, OSError))


class MlflowApi:
    """MLflow tracking + registry client with bounded retries and actionable errors."""

    def __init__(self, tracking_uri: str) -> None:
        if not tracking_uri:
            raise ConfigError("no MLflow tracking server: set MLFLOW_TRACKING_URI or --tracking-uri")
        os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
        from mlflow.tracking import MlflowClient

        self.url = tracking_uri
        self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)

    @classmethod
    def from_env(cls) -> MlflowApi:
        return cls(os.environ.get("MLFLOW_TRACKING_URI", ""))

    @property
    def safe_url(self) -> str:
        return redact(self.url)

    def call(self, what: str, fn: Callable[..., T], *args, **kwargs) -> T:
        """Run `fn` with retries; `what` names the operation in error messages."""
        start = time.monotonic()
        attempt = 0
        timeout = float(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or REQUEST_TIMEOUT_S)
        while True:
            try:
                with step(f"mlflow: {what}"), _one_attempt(timeout), warnings.catch_warnings():
                    warnings.simplefilter("ignore", FutureWarning)  # stage APIs warn on every call
                    return fn(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - classified below, re-raised as CiError
                if not _is_transient(exc):
                    raise self._translate(what, exc) from None
                delay = BACKOFF_S[min(attempt, len(BACKOFF_S) - 1)]
                attempt += 1
                elapsed = time.monotonic() - start
                if elapsed + delay + timeout > RETRY_BUDGET_S:
                    raise CheckFailed(
                        f"MLflow tracking server {self.safe_url} is not answering ({what}: "
                        f"{_short(exc)}; {attempt} attempts in {elapsed:.1f}s). Check that it is up "
                        "and that MLFLOW_TRACKING_URI is right.") from None
                log.debug("%s failed (%s), retry %d in %.2fs", what, redact(_short(exc)), attempt, delay)
                time.sleep(delay)

    def _translate(self, what: str, exc: Exception) -> Exception:
        from mlflow.exceptions import MlflowException

        if not isinstance(exc, MlflowException):
            return exc
        status = exc.get_http_status_code()
        message = f"{what} on {self.safe_url}: {_short(exc)}"
        if status in (401, 403):
            return ConfigError(f"{message}. The tracking server refused the credentials: set "
                               "MLFLOW_TRACKING_TOKEN or MLFLOW_TRACKING_USERNAME/PASSWORD.")
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or status == 404:
            return NotFound(message)
        return CheckFailed(message)

    # -- the calls ci/ uses, one line each so the surface stays visible --------------------------
    def registered_model(self, name: str):
        return self.call(f"get registered model {name!r}", self.client.get_registered_model, name)

    def model_version(self, name: str, version: str):
        return self.call(f"get {name!r} version {version}", self.client.get_model_version, name, version)

    def latest_in_stage(self, name: str, stage: str):
        return self.call(f"get {name!r} versions in stage {stage}",
                         self.client.get_latest_versions, name, [stage])

    def versions(self, name: str, max_results: int = 1):
        return self.call(f"search versions of {name!r}", self.client.search_model_versions,
                         f"name = '{name}'", max_results=max_results)

    def download_uri(self, name: str, version: str) -> str:
        return self.call(f"get download URI of {name!r} version {version}",
                         self.client.get_model_version_download_uri, name, version)

    def set_alias(self, name: str, alias: str, version: str) -> None:
        self.call(f"set alias @{alias} of {name!r}", self.client.set_registered_model_alias,
                  name, alias, version)

    def transition_stage(self, name: str, version: str, stage: str) -> None:
        self.call(f"move {name!r} version {version} to stage {stage}",
                  self.client.transition_model_version_stage, name, version, stage,
                  archive_existing_versions=True)

    def set_version_tag(self, name: str, version: str, key: str, value: str) -> None:
        self.call(f"tag {name!r} version {version}", self.client.set_model_version_tag,
                  name, version, key, value)

    def set_model_tag(self, name: str, key: str, value: str) -> None:
        self.call(f"tag {name!r}", self.client.set_registered_model_tag, name, key, value)

    def search_models(self):
        return self.call("list registered models", self.client.search_registered_models, max_results=1)

    def server_version(self) -> str:
        from mlflow.utils.credentials import get_default_host_creds
        from mlflow.utils.rest_utils import http_request

        def get() -> str:
            response = http_request(get_default_host_creds(self.url), "/version", "GET")
            response.raise_for_status()
            return response.text.strip()

        return self.call("get server version", get)

    def read_model_files(self, model_uri: str, names: tuple[str, ...]) -> dict[str, str]:
        """The text of those of `names` that exist at the top of the model directory `model_uri`."""
        from mlflow.artifacts import download_artifacts, list_artifacts

        listed = self.call(f"list {model_uri}", reading(model_uri, list_artifacts), artifact_uri=model_uri,
                           tracking_uri=self.url)
        present = {Path(info.path).name for info in listed or [] if not info.is_dir}
        texts = {}
        with tempfile.TemporaryDirectory() as tmp:
            for name in (n for n in names if n in present):
                path = self.call(f"download {model_uri}/{name}", reading(model_uri, download_artifacts),
                                 artifact_uri=f"{model_uri}/{name}", dst_path=tmp, tracking_uri=self.url)
                texts[name] = Path(path).read_text()
        return texts


def _short(exc: Exception) -> str:
    """One line for an exception: MLflow wraps transport errors in long urllib3 chains."""
    text = str(exc).strip() or type(exc).__name__
    for marker, short in (("Connection refused", "connection refused"), ("timed out", "timed out"),
                          ("Name or service not known", "unknown host")):
        if marker in text:
            return short
    return redact(text.splitlines()[0][:300])

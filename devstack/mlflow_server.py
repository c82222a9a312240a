"""A real `mlflow server` (tracking + Model Registry + artifact proxy) on 127.0.0.1.

Backends: sqlite (the embedded default, also used by `make demo`) and PostgreSQL (the
production-shaped one, see `postgres.py`). Artifacts are served by the server itself
(`--serve-artifacts`, to a local directory or `artifacts_destination`, e.g. an S3 bucket), so clients
need no access to the store; or, with `default_artifact_root`, clients read and write that store
themselves (`--no-serve-artifacts`, the server never touches it).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from devstack.procs import ManagedProcess, free_port, http_ok, wait_until

START_TIMEOUT = 300.0  # seen: 159 s for one start on a 2-core machine at load 30-120


class MlflowServer:
    def __init__(self, workdir: Path, backend_uri: str | None = None, port: int | None = None, *,
                 artifacts_destination: str | None = None, default_artifact_root: str | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        """`env`: the server's own extra environment (an S3 store's endpoint and keys when it proxies one)."""
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.backend_uri = backend_uri or f"sqlite:///{self.workdir / 'mlflow.db'}"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.artifacts_destination = artifacts_destination or str(self.workdir / "artifacts")
        self.default_artifact_root = default_artifact_root
        self.env = dict(env or {})
        self.process: ManagedProcess | None = None

    def _artifact_args(self) -> list[str]:
        if self.default_artifact_root:  # clients go to the store directly
            return ["--default-artifact-root", self.default_artifact_root, "--no-serve-artifacts"]
        return ["--artifacts-destination", self.artifacts_destination, "--serve-artifacts"]

    def start(self, timeout: float = START_TIMEOUT) -> MlflowServer:
        return self.launch().wait_ready(timeout)

    def launch(self) -> MlflowServer:
        """Spawn the server without waiting: several start at once, then `wait_ready` on each."""
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        argv = [
            str(mlflow_bin), "server",
            "--backend-store-uri", self.backend_uri,
            *self._artifact_args(),
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1",
        ]
        # MLflow >= 3.5 starts a pool of huey job consumers (~180 MB each, ~1.3 GB a server) for
        # server-side jobs (prompt optimisation, scorers) that the registry never uses.
        env = {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1",
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **self.env}
        self.process = ManagedProcess(argv, self.workdir / "mlflow-server.log", env=env, cwd=self.workdir)
        return self

    def wait_ready(self, timeout: float = START_TIMEOUT) -> MlflowServer:
        wait_until(lambda: http_ok(f"{self.url}/health"), timeout, f"mlflow server on {self.url}",
                   process=self.process)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None

    def restart(self) -> None:
        """Stop and start again on the same port and backend (for outage tests)."""
        self.stop()
        self.start()

    def __enter__(self) -> MlflowServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def client_env(server: MlflowServer) -> dict[str, str]:
    """Environment for a child process (e.g. `python -m ci`) that talks to `server`."""
    return {**os.environ, "MLFLOW_TRACKING_URI": server.url, "MLFLOW_DISABLE_TELEMETRY": "true"}

"""A real `mlflow server` (tracking + Model Registry + artifact proxy) on 127.0.0.1.

Backends: sqlite (the embedded default, also used by `make demo`) and PostgreSQL (the
production-shaped one, see `postgres.py`). Artifacts are served by the server itself
(`--serve-artifacts`), so clients need no access to the artifact directory.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from devstack.procs import ManagedProcess, free_port, http_ok, wait_until

START_TIMEOUT = 90.0


class MlflowServer:
    def __init__(self, workdir: Path, backend_uri: str | None = None, port: int | None = None) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.backend_uri = backend_uri or f"sqlite:///{self.workdir / 'mlflow.db'}"
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: ManagedProcess | None = None

    def start(self) -> MlflowServer:
        mlflow_bin = Path(sys.executable).with_name("mlflow")
        argv = [
            str(mlflow_bin), "server",
            "--backend-store-uri", self.backend_uri,
            "--artifacts-destination", str(self.workdir / "artifacts"),
            "--serve-artifacts",
            "--host", "127.0.0.1", "--port", str(self.port),
            "--workers", "1",
        ]
        # MLflow >= 3.5 starts a pool of huey job consumers (~180 MB each, ~1.3 GB a server) for
        # server-side jobs (prompt optimisation, scorers) that the registry never uses.
        env = {"MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONUNBUFFERED": "1",
               "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
        self.process = ManagedProcess(argv, self.workdir / "mlflow-server.log", env=env, cwd=self.workdir)
        wait_until(lambda: self.process.alive() and http_ok(f"{self.url}/health"), START_TIMEOUT,
                   f"mlflow server on {self.url}", log=self.process.log)
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

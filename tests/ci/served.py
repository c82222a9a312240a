"""Run the real model server (`python -m service`, Gunicorn) on 127.0.0.1 for a gate test."""
from __future__ import annotations

import contextlib
import sys
from pathlib import Path

from devstack.procs import ManagedProcess, free_port, http_ok, wait_until

REPO = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 120.0


@contextlib.contextmanager
def serving(model_uri: str | Path, workdir: Path, env: dict[str, str] | None = None, **settings: str):
    """Yield the base URL of the service serving `model_uri`; `SERVICE_*` settings by keyword, other
    variables (MLFLOW_TRACKING_URI) in `env`."""
    port = free_port()
    env = {**(env or {}), "SERVICE_MODEL_URI": str(model_uri), "SERVICE_HOST": "127.0.0.1",
           "SERVICE_PORT": str(port),
           "SERVICE_WORKERS": "1", "PROMETHEUS_MULTIPROC_DIR": str(workdir / f"metrics-{port}"),
           **{f"SERVICE_{key.upper()}": value for key, value in settings.items()}}
    (workdir / f"metrics-{port}").mkdir(parents=True, exist_ok=True)
    process = ManagedProcess([sys.executable, "-m", "service"], workdir / f"service-{port}.log", env=env,
                             cwd=REPO)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: process.alive() and http_ok(f"{url}/readyz"), READY_TIMEOUT_S,
                   f"service for {model_uri} on {url}", log=process.log)
        yield url
    finally:
        process.stop()

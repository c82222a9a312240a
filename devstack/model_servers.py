"""Real model-server processes for the service tests and the benchmarks: this service (`python -m
service`, Gunicorn), `mlflow models serve` and MLServer on the same model, on 127.0.0.1 and free ports."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from devstack.procs import ManagedProcess, free_port, free_ports, http_ok, wait_until

REPO = Path(__file__).resolve().parents[1]
START_TIMEOUT = 120.0


class ServerProcess:
    """A started server: `url`, `process`, and seconds from start to ready (`ready_seconds`)."""

    def __init__(self, argv: list[str], log: Path, env: dict[str, str], ready_path: str, port: int,
                 cwd: Path = REPO) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        started = time.monotonic()
        self.process = ManagedProcess(argv, log, env={"PYTHONUNBUFFERED": "1", **env}, cwd=cwd)
        wait_until(lambda: self._ready(ready_path), START_TIMEOUT, f"{argv[1:3]} on {self.url}",
                   interval=0.05, log=log)
        self.ready_seconds = time.monotonic() - started

    def _ready(self, path: str) -> bool:
        if not self.process.alive():
            raise RuntimeError(f"server exited:\n{self.process.log_tail()}")
        return http_ok(self.url + path)

    def stop(self, grace: float = 30.0) -> None:
        self.process.stop(grace=grace)


def start_service(model_dir: Path, log: Path, workers: int = 2, env: dict[str, str] | None = None,
                  module: str = "service", source: Path = REPO, **settings: object) -> ServerProcess:
    """`python -m <module>` (this service, or an app served by its entry point) run from `source`
    (another checkout's `service/` to compare with), with these SERVICE_* settings."""
    port = free_port()
    env = {**(env or {}), "SERVICE_MODEL_URI": str(model_dir), "SERVICE_HOST": "127.0.0.1",
           "SERVICE_PORT": str(port),
           "SERVICE_WORKERS": str(workers), "MLFLOW_DISABLE_TELEMETRY": "true",
           **{f"SERVICE_{key.upper()}": str(value) for key, value in settings.items()}}
    return ServerProcess([sys.executable, "-m", module], log, env, "/readyz", port, cwd=source)


def start_mlflow_serve(model_dir: Path, log: Path, workers: int | None = None) -> ServerProcess:
    port = free_port()
    argv = [str(Path(sys.executable).with_name("mlflow")), "models", "serve", "-m", str(model_dir),
            "--env-manager", "local", "-h", "127.0.0.1", "-p", str(port)]
    if workers:
        argv += ["--workers", str(workers)]
    # it execs `uvicorn` from PATH: the venv's bin must come first
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return ServerProcess(argv, log, {"MLFLOW_DISABLE_TELEMETRY": "true", "PATH": path}, "/ping", port)


def start_mlserver(model_dir: Path, log: Path, workers: int = 2, max_batch_size: int = 0,
                   max_batch_time: float = 0.0) -> ServerProcess:
    """MLServer with its MLflow runtime (`devstack.model_envs.MLSERVER`) serving `model_dir` as
    model "model": `workers` inference processes behind one HTTP process, adaptive batching of V2
    `infer` requests when `max_batch_size` > 1 (MLflow's `/invocations` is a custom handler, never
    batched). Its settings files go in a directory beside `log`."""
    from devstack.model_envs import MLSERVER, ensure_env

    env = ensure_env(MLSERVER)
    settings = log.with_name(log.stem + "-mlserver")
    settings.mkdir()
    port, grpc_port, metrics_port = free_ports(3)
    (settings / "settings.json").write_text(json.dumps({
        "host": "127.0.0.1", "http_port": port, "grpc_port": grpc_port, "metrics_port": metrics_port,
        "parallel_workers": workers, "debug": False, "metrics_dir": str(settings / "metrics"),
        "environments_dir": str(settings / "envs")}))  # both default to the working directory
    (settings / "model-settings.json").write_text(json.dumps({
        "name": "model", "implementation": "mlserver_mlflow.MLflowRuntime",
        "parameters": {"uri": str(model_dir)}, "max_batch_size": max_batch_size, "max_batch_time": max_batch_time}))
    return ServerProcess([str(env.path / "bin" / "mlserver"), "start", str(settings)], log,
                         {"MLFLOW_DISABLE_TELEMETRY": "true"}, "/v2/models/model/ready", port)


def extract_service(ref: str, work: Path) -> Path:
    """The `service/` package of git revision `ref`, in a directory to start it from."""
    target = work / f"service-{ref.replace('/', '-')}"
    target.mkdir()
    archive = subprocess.run(["git", "-C", str(REPO), "archive", ref, "service"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target

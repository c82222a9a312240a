"""`make demo`: the credit-risk model from training to a served endpoint, all on 127.0.0.1.

1. starts a real `mlflow server` (sqlite + local artifact store under the cache directory),
2. trains the example model and registers a new version with alias `@production` and the legacy
   stage `Production`,
3. serves `models:/credit-risk@production` with this project's service (Gunicorn + FastAPI),
4. prints a working `curl` line and keeps serving until Ctrl-C (`--once`: check and exit).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import urllib.request
from pathlib import Path

from devstack.mlflow_server import MlflowServer
from devstack.procs import CACHE_DIR, ManagedProcess, free_port, http_ok, wait_until
from examples.credit_risk.data import input_example
from examples.credit_risk.train import MODEL_NAMES, train_and_register

SERVICE_READY_TIMEOUT = 120.0


def example_payload() -> dict:
    return {"dataframe_split": json.loads(input_example().to_json(orient="split", index=False))}


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(),  # noqa: S310 - loopback only
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
        return json.load(response)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--once", action="store_true", help="check one prediction, then stop everything")
    parser.add_argument("--port", type=int, default=0, help="service port (default: a free one)")
    parser.add_argument("--workdir", type=Path, default=CACHE_DIR / "demo")
    args = parser.parse_args(argv)

    mlflow_server = MlflowServer(args.workdir / "mlflow").start()
    service = None
    try:
        print(f"MLflow server:     {mlflow_server.url}  (UI and Model Registry)")
        version = train_and_register(mlflow_server.url, "pyfunc")
        print(f"registered model:  {version.name} version {version.version} -> @production, stage Production")

        port = args.port or free_port()
        env = {
            "MLFLOW_TRACKING_URI": mlflow_server.url,
            "SERVICE_MODEL_URI": f"models:/{MODEL_NAMES['pyfunc']}@production",
            "SERVICE_HOST": "127.0.0.1",
            "SERVICE_PORT": str(port),
            "PROMETHEUS_MULTIPROC_DIR": str(args.workdir / "metrics"),
        }
        service = ManagedProcess([sys.executable, "-m", "service"], args.workdir / "service.log", env=env,
                                 cwd=Path(__file__).resolve().parents[1])
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: service.alive() and http_ok(f"{url}/readyz"), SERVICE_READY_TIMEOUT,
                   f"service on {url}", log=service.log)
        body = json.dumps(example_payload())
        answer = post_json(f"{url}/invocations", example_payload())
        print(f"service:           {url}  (/readyz /version /metrics /docs)")
        print("try it:\n")
        print(f"  curl -s {url}/invocations -H 'Content-Type: application/json' -d '{body}'\n")
        print(f"answer:            {json.dumps(answer)}")
        if args.once:
            return 0
        print("serving; Ctrl-C to stop")
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()
        return 0
    finally:
        if service is not None:
            service.stop()
        mlflow_server.stop()


if __name__ == "__main__":
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    raise SystemExit(main())

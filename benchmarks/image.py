"""Benchmark (not a test): our image against `mlflow models generate-dockerfile` for the same model,
both built by buildah on the same stand-in base, side by side.

    $VENV/bin/python -m benchmarks.image [--runs 3]

Prints build time cold (empty layer cache) and warm (a new model version, service unchanged), image
size unpacked and compressed (what a node pulls), and container start-to-ready (median of runs).
Needs what `make test` bootstraps; uses the harness's registry and MLflow server on 127.0.0.1.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from ci.image.build import build
from ci.registry.model_ref import ModelRef
from ci.tools import podman, tail
from devstack.mlflow_server import MlflowServer
from devstack.oci import BASE_IMAGE_REPO, ContainerTools, seed_storage
from devstack.oci_registry import OciRegistry
from devstack.procs import InfraError, free_port, http_ok

MLFLOW_BASE = "library/python:3.11.7-slim"  # what generate-dockerfile writes for this Python
MLFLOW_PORT = 8080  # fixed inside MLflow's image (nginx)


def timed(fn) -> tuple[float, object]:
    started = time.monotonic()
    value = fn()
    return time.monotonic() - started, value


def compressed_mb(tools: ContainerTools, image: str) -> float:
    raw = tools.run("skopeo", "--registries-conf", str(tools.registries_conf), "inspect", "--raw",
                    f"docker://{image}").stdout
    return sum(layer["size"] for layer in json.loads(raw)["layers"]) / 1e6


@contextlib.contextmanager
def ready_container(tools: ContainerTools, image: str, port: int, probe: str, environment: dict,
                    timeout: float = 300) -> Iterator[tuple[str, float]]:
    """`podman run` until the first 200 from `probe`: yields the container's name and the seconds that
    took; InfraError with the log tail if the container exits first. Removed afterwards."""
    name = f"bench-{free_port()}"
    started = time.monotonic()
    podman.run_detached(image, name=name, environment=environment, read_only=False, env=tools.env)
    try:
        while not http_ok(f"http://127.0.0.1:{port}{probe}"):
            if not podman.state(name, env=tools.env).running:
                raise InfraError(f"{image} exited before {probe} answered:\n"
                                 f"{tail(podman.logs(name, env=tools.env), 5)}")
            if time.monotonic() - started > timeout:
                raise InfraError(f"{image}: {probe} did not answer within {timeout:.0f} s")
            time.sleep(0.1)
        yield name, time.monotonic() - started
    finally:
        podman.remove(name, env=tools.env)


def start_to_ready(tools: ContainerTools, image: str, port: int, probe: str, environment: dict) -> float:
    """`podman run` to the first 200 from `probe`."""
    with ready_container(tools, image, port, probe, environment) as (_, seconds):
        return seconds


def _mlflow_build(tools: ContainerTools, tracking_uri: str, model: ModelRef, image: str, work: Path) -> float:
    out = work / f"mlflow-{model.version}"
    mlflow_cli = str(Path(sys.executable).with_name("mlflow"))
    uri = f"models:/{model.name}/{model.version}"
    subprocess.run([mlflow_cli, "models", "generate-dockerfile", "-m", uri, "-d", str(out),
                    "--env-manager", "local"], check=True, capture_output=True,
                   env={**os.environ, "MLFLOW_TRACKING_URI": tracking_uri})
    seconds, _ = timed(lambda: tools.run("buildah", "bud", "--layers", "-t", image, str(out), timeout=3600))
    tools.run("buildah", "push", image)
    return seconds


@contextlib.contextmanager
def bench_stack(prefix: str) -> Iterator[tuple[Path, OciRegistry, ContainerTools, MlflowServer]]:
    """A private registry (seeded with the stand-in bases), builder tools trusting it and an MLflow
    server, in a temporary directory; all stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        work = Path(tmp)
        registry = OciRegistry(work / "registry", seed=seed_storage()).start()
        tools = ContainerTools(work / "tools")
        tools.trust(registry.address)
        server = MlflowServer(work / "mlflow").start()
        try:
            yield work, registry, tools, server
        finally:
            server.stop()
            tools.close()
            registry.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="start-to-ready repetitions (median)")
    args = parser.parse_args(argv)
    from examples.credit_risk.train import train_and_register

    with bench_stack("bench-image-") as (work, registry, tools, server):
        tools.run("skopeo", "--registries-conf", str(tools.registries_conf), "copy",
                  f"docker://{registry.address}/{BASE_IMAGE_REPO}", f"docker://{registry.address}/{MLFLOW_BASE}")
        versions = [train_and_register(server.url, "sklearn", seed=seed) for seed in (7, 8)]
        models = [ModelRef(v.name, str(v.version), v.run_id) for v in versions]
        repo = f"{registry.address}/bench"
        ours = [build(m, repository=f"{repo}/ours", commit="bench000", tracking_uri=server.url,
                      env=tools.env) for m in models]
        theirs = [_mlflow_build(tools, server.url, m, f"{repo}/mlflow:v{m.version}", work)
                  for m in models]
        our_image, their_image = f"{repo}/ours:{ours[1].tag}", f"{repo}/mlflow:v{models[1].version}"
        port = free_port()
        our_ready = [start_to_ready(tools, our_image, port, "/readyz",
                                     {"SERVICE_PORT": str(port), "SERVICE_HOST": "127.0.0.1"})
                     for _ in range(args.runs)]
        their_ready = [start_to_ready(tools, their_image, MLFLOW_PORT, "/ping", {})
                       for _ in range(args.runs)]
        rows = [
            ("build cold (s)", ours[0].seconds, theirs[0]),
            ("build warm, new model version (s)", ours[1].seconds, theirs[1]),
            ("image unpacked (MB)", podman.image_size(our_image, env=tools.env) / 1e6,
             podman.image_size(their_image, env=tools.env) / 1e6),
            ("image compressed (MB)", compressed_mb(tools, our_image),
             compressed_mb(tools, their_image)),
            (f"start-to-ready, median of {args.runs} (s)", statistics.median(our_ready),
             statistics.median(their_ready)),
        ]
        print(f"{'':40} {'pyfunc-deploy':>14} {'mlflow gen-df':>14} {'ratio':>7}")
        for label, mine, other in rows:
            print(f"{label:40} {mine:14.1f} {other:14.1f} {mine / other:7.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

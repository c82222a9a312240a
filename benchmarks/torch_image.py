"""Benchmark (not a test): the zoo's PyTorch model built three ways, side by side.

    $VENV/bin/python -m benchmarks.torch_image [--runs 1] [--sides cpu,cuda,mlflow]

One `mlflow.pytorch` model (devstack/zoo/torch_model.py, trained with torch's CPU build in the zoo's
py311-torch-cpu environment), two versions (seeds 7 and 8), as `benchmarks.zoo_build` builds a family:
- `cpu`: our image (`ci.image.build.build`) of the model as logged, requirement `torch==2.13.0+cpu`, with
  `PIP_EXTRA_INDEX_URL` naming a PyTorch CPU index (devstack/package_index.py: a local PEP 503 index
  holding the CPU wheel that lies on this machine), which reaches pip as a build secret, as in a job;
- `cuda`: our image of the same model logged with `torch==2.13.0`, PyPI's name for it (what a team gets
  when it strips `+cpu`, or logs where PyPI's torch is installed), built with no torch index: pip
  installs PyPI's Linux torch, the CUDA build, and its `nvidia-*`, `cuda-*` and `triton` wheels. The
  trainer logs it so when `ZOO_TORCH_REQUIREMENT=torch==2.13.0` is set (same code, seed, weights; only
  the requirement line differs); the build's own machinery (`IMAGE_DROP_REQUIREMENTS`) can only drop a
  requirement, not rename one. Preflight refuses only pins that name a CUDA build (`+cu…`): this one
  passes it, and the build is not given any hint;
- `mlflow`: `mlflow models generate-dockerfile` of the `cpu` model, edited as `benchmarks.zoo_build`
  edits it (its FROM line, its MLflow pin, the CA bundle), plus one line after FROM:
  `ENV PIP_EXTRA_INDEX_URL=` the same CPU index, the least invasive way to let its model-dependency step
  (`pip install -r requirements.txt`) find `torch==2.13.0+cpu` (an ENV, so the URL stays in the image's
  configuration; fine for a benchmark). An image that does not build is a row saying why.

Each side in a builder storage of its own (an empty layer cache and pip cache): cold build of version
1, rebuild for version 2, image size unpacked and compressed, start-to-ready of version 2
(`benchmarks.zoo_build`'s figures), then memory as `benchmarks.memory` measures it: the PSS of the
container's process tree serving with 1 worker and with 4 (our service: preloaded Gunicorn workers;
MLflow's: nginx and `uvicorn --workers`, each worker loading the model), after `wrk` has sent 2 s of
1-row predictions at 16 connections (every worker has predicted); per added worker is (PSS with 4 -
PSS with 1) / 3. Last, the size of torch and its CUDA/triton wheels as installed in the image.
The CUDA side needs ~20 GB of disk while it runs (wheels in pip's cache mount, the unpacked layer,
the pushed copy): it is skipped, saying so, below MIN_FREE_GB free. All of it lives in a temporary
directory removed at the end.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import psutil

from benchmarks.image import MLFLOW_PORT, ready_container
from benchmarks.wrk_load import WRK_SCRIPT, pss_mb, wrk
from benchmarks.zoo_build import ROWS, Side, ours, theirs
from ci.registry.model_ref import ModelRef, moving_tags
from devstack.mlflow_server import MlflowServer
from devstack.model_zoo import ModelRef as ZooRef
from devstack.model_zoo import train
from devstack.oci import ContainerTools, seed_storage
from devstack.oci_registry import OciRegistry
from devstack.package_index import PackageIndex, local_wheel
from devstack.procs import InfraError, free_port

SIDES = {"cpu": "ours, CPU index", "cuda": "ours, PyPI default (CUDA)", "mlflow": "generate-dockerfile, CPU index"}
CPU_WHEEL = "torch-2.13.0+cpu-cp311-*.whl"
CUDA_REQUIREMENT = "torch==2.13.0"  # the zoo's pin without `+cpu`: PyPI's Linux wheel is the CUDA build
MIN_FREE_GB = 35  # before the CUDA side: ~20 GB while it runs, and the machine keeps > 15 GB
BODY = json.dumps({"inputs": [[41.0, 52000.0, 0.6, 5.0]]})  # one row of the zoo's (-1, 4) float32 signature
WORKERS = 4  # benchmarks.memory's figure: PSS with 1 and with 4 workers
# The size of torch and what PyPI's torch pulls in for CUDA, by distribution, as installed in the image.
WHEEL_SIZES = """
import importlib.metadata as md, json, os, re
sizes = {}
for dist in md.distributions():
    name = dist.metadata["Name"].lower()
    if re.fullmatch(r"torch|triton|nvidia-.*|cuda-.*", name):
        paths = (str(f.locate()) for f in dist.files or [])
        sizes[name] = sum(os.path.getsize(p) for p in paths if os.path.isfile(p)) / 1e6
print(json.dumps(sizes))
"""


@dataclass
class TorchSide(Side):
    pss_one: float | None = None  # PSS of the container serving with 1 worker (MB)
    pss_added: float | None = None  # PSS per worker added, from 1 to WORKERS (MB)
    torch_mb: float | None = None  # torch + triton + nvidia-* + cuda-* distributions installed (MB)
    wheels: dict | None = None  # the same, per distribution


EXTRA_ROWS = (("PSS, container with 1 worker (MB)", "pss_one"), (f"PSS per added worker, 1 to {WORKERS} (MB)",
                                                                  "pss_added"),
              ("torch + its CUDA/triton wheels, installed (MB)", "torch_mb"))


@dataclass(frozen=True)
class Serving:
    """How an image serves: the readiness path and the environment that sets the port and workers."""

    port: int
    probe: str
    environment: Callable[[int], dict[str, str]]  # workers -> the container's environment


def our_serving() -> Serving:
    port = free_port()
    return Serving(port, "/readyz", lambda workers: {"SERVICE_PORT": str(port), "SERVICE_HOST": "127.0.0.1",
                                                     "SERVICE_WORKERS": str(workers)})


def mlflow_serving() -> Serving:
    return Serving(MLFLOW_PORT, "/ping", lambda workers: {"MLFLOW_MODELS_WORKERS": str(workers)})


@contextlib.contextmanager
def running(tools: ContainerTools, image: str, serving: Serving, workers: int) -> Iterator[int]:
    """The image serving with `workers` workers, ready; yields the host PID of the container's first process."""
    with ready_container(tools, image, serving.port, serving.probe, serving.environment(workers),
                         timeout=600) as (name, _):
        yield int(tools.run("podman", "inspect", "--format", "{{.State.Pid}}", name).stdout.strip())


def predict_once(url: str) -> str:
    request = urllib.request.Request(f"{url}/invocations", data=BODY.encode(),  # noqa: S310 - loopback only
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310 - loopback only
        return response.read().decode()[:200]


def container_pss(tools: ContainerTools, image: str, serving: Serving, workers: int, script: Path) -> float:
    """PSS (MB) of the container's process tree after every worker has predicted (benchmarks.memory's way)."""
    with running(tools, image, serving, workers) as pid:
        url = f"http://127.0.0.1:{serving.port}"
        print(f"  {workers} worker(s): first answer {predict_once(url)}", file=sys.stderr, flush=True)
        result = wrk(url, 16, 2, script)
        if result["errors"] or result["non2xx"] or not result["requests"]:
            raise InfraError(f"{image}: warm-up predictions failed: {result}")
        return pss_mb(SimpleNamespace(process=psutil.Process(pid)))  # serving.pss_mb reads .process.pid


def wheel_sizes(tools: ContainerTools, image: str) -> dict[str, float]:
    out = tools.run("podman", "run", "--rm", "--network", "host", "--entrypoint", "python", image,
                    "-c", WHEEL_SIZES).stdout
    return json.loads(out.strip().splitlines()[-1])


def add_memory(tools: ContainerTools, image: str, serving: Serving, side: Side, script: Path) -> TorchSide:
    """`side` with the memory and wheel figures of `image` (left empty if it never served)."""
    result = TorchSide(**asdict(side))
    if side.ready is None:
        return result
    try:
        one = container_pss(tools, image, serving, 1, script)
        many = container_pss(tools, image, serving, WORKERS, script)
        result.pss_one, result.pss_added = one, (many - one) / (WORKERS - 1)
        result.wheels = wheel_sizes(tools, image)
        result.torch_mb = sum(result.wheels.values())
    except InfraError as exc:
        result.error = str(exc).splitlines()[-1][:160]
    return result


def free_gb() -> float:
    return shutil.disk_usage(tempfile.gettempdir()).free / 1e9


def measure_side(key: str, work: Path, registry: OciRegistry, server: MlflowServer, refs: list[ZooRef],
                 index: PackageIndex | None, runs: int, script: Path) -> TorchSide:
    tools = ContainerTools(work / f"tools-{key}")  # its own storage: an empty layer cache and pip cache
    tools.trust(registry.address)
    try:
        if key == "mlflow":
            side = theirs(tools, registry.address, server.url, refs, runs, work,
                          extra_env={"PIP_EXTRA_INDEX_URL": index.url})
            return add_memory(tools, f"{registry.address}/bench/mlflow:v{refs[-1].version}", mlflow_serving(),
                              side, script)
        side = ours(tools, registry.address, server.url, refs, runs,
                    env={"PIP_EXTRA_INDEX_URL": index.url} if index else None)
        last = ModelRef(refs[-1].name, refs[-1].version, refs[-1].run_id)
        return add_memory(tools, f"{registry.address}/bench/ours:{moving_tags(last)[0]}", our_serving(), side,
                          script)
    finally:
        tools.close()


def _cell(value: float | None, side: TorchSide | None) -> str:
    if side is None:
        return "not run"
    return f"{value:,.1f}" if value is not None else f"failed: {side.error}"


def _ratio(a: TorchSide | None, b: TorchSide | None, field: str) -> str:
    x, y = (getattr(s, field) if s is not None else None for s in (a, b))
    return f"{x / y:.2f}" if x is not None and y else ""


def table(results: dict[str, TorchSide]) -> str:
    cpu, cuda, peer = (results.get(key) for key in SIDES)
    lines = [f"| figure | {' | '.join(SIDES.values())} | CPU / CUDA | ours CPU / generate-dockerfile |",
             "| --- | ---: | ---: | ---: | ---: | ---: |"]
    for row, field in (*ROWS, *EXTRA_ROWS):
        cells = " | ".join(_cell(getattr(s, field) if s else None, s) for s in (cpu, cuda, peer))
        lines.append(f"| {row} | {cells} | {_ratio(cpu, cuda, field)} | {_ratio(cpu, peer, field)} |")
    return "\n".join(lines)


def wheel_lines(results: dict[str, TorchSide]) -> str:
    lines = []
    for key, side in results.items():
        if side.wheels:
            biggest = sorted(side.wheels.items(), key=lambda item: -item[1])
            lines.append(f"{SIDES[key]}: " + ", ".join(f"{name} {mb:,.0f} MB" for name, mb in biggest))
    return "\n".join(lines)


def parse_sides(text: str) -> list[str]:
    sides = [s.strip() for s in text.split(",") if s.strip()]
    unknown = set(sides) - set(SIDES)
    if unknown or not sides:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(SIDES)} (got {text!r})")
    return sides


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1, help="start-to-ready repetitions (median)")
    parser.add_argument("--sides", type=parse_sides, default=list(SIDES),
                        help=f"comma-separated subset of {', '.join(SIDES)} (default: all, the CUDA one last)")
    args = parser.parse_args(argv)
    order = [key for key in ("cpu", "mlflow", "cuda") if key in args.sides]
    with tempfile.TemporaryDirectory(prefix="bench-torch-") as tmp:
        work = Path(tmp)
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT % BODY)
        registry = OciRegistry(work / "registry", seed=seed_storage()).start()
        server = MlflowServer(work / "mlflow").start(timeout=300)
        os.environ["MLFLOW_TRACKING_URI"] = server.url  # as in a CI job: mlflow's registry client reads it
        index = PackageIndex(work / "torch-index").add(local_wheel(CPU_WHEEL)).start()
        results: dict[str, TorchSide] = {}
        try:
            refs = {}
            if {"cpu", "mlflow"} & set(order):
                refs["cpu"] = [train("torch", server.url, "bench-torch", seed=seed) for seed in (7, 8)]
                refs["mlflow"] = refs["cpu"]
            if "cuda" in order:
                with mock.patch.dict(os.environ, {"ZOO_TORCH_REQUIREMENT": CUDA_REQUIREMENT}):
                    refs["cuda"] = [train("torch", server.url, "bench-torch-cuda", seed=seed) for seed in (7, 8)]
            for key in order:
                if key == "cuda" and free_gb() < MIN_FREE_GB:
                    results[key] = TorchSide(*[None] * 5, error=f"skipped: {free_gb():.0f} GB free, "
                                                                f"the CUDA side needs {MIN_FREE_GB}")
                else:
                    print(f"{SIDES[key]}: building ({free_gb():.0f} GB free)", file=sys.stderr, flush=True)
                    results[key] = measure_side(key, work, registry, server, refs[key],
                                                None if key == "cuda" else index, args.runs, script)
                print(table(results), flush=True)  # as it goes: a side takes minutes
            print(wheel_lines(results))
            runs = f", start-to-ready median of {args.runs}" if args.runs > 1 else ""
            print(f"\nmodel {refs[order[0]][0].python_minor} / MLflow {refs[order[0]][0].mlflow_version}{runs}")
            print(table(results))
        finally:
            index.stop()
            server.stop()
            registry.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

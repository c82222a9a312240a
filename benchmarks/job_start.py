"""Benchmark (not a test): how long a pipeline job takes from the start of a fresh job container
to its first `python -m ci` line, before (a bare python:3.11-slim that pip-installs the development
requirements.txt, as every job did) and after (the pipeline image, nothing to install), side by side.

    $VENV/bin/python -m benchmarks.job_start [--runs 3]

Both run with podman on the stand-in python:3.11-slim from a local registry (127.0.0.1), with no pip
cache, as a job on a fresh runner. "before" downloads its wheels into the container first (pip
download, then the same install from them) so the download size is measured; PyPI (or the pip index
this machine is configured with) must be reachable from the container. The "after" image's
compressed size is what a runner pulls once and then caches.
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from ci.image import job_image as pipeline_image
from ci.project import REPO_ROOT
from devstack import pipeline_image as cached_image
from devstack.oci import BASE_IMAGE_REPO, ContainerTools, seed_storage
from devstack.oci_registry import OciRegistry

BEFORE = ("pip download --quiet --dest /wheels -r /src/requirements.txt"
          " && du -sb /wheels | cut -f1 > /src/.download-bytes"
          " && pip install --quiet --no-index --find-links /wheels -r /src/requirements.txt"
          " && cd /src && python -m ci --help >/dev/null")
AFTER = "cd /tmp && python -m ci --help >/dev/null"


def _job(tools: ContainerTools, image: str, script: str, mount: Path | None = None) -> float:
    """Seconds from `podman run` to the end of the first `python -m ci` command in a fresh container."""
    volume = ["--volume", f"{mount}:/src"] if mount else []
    started = time.monotonic()
    tools.run("podman", "run", "--rm", "--network", "host", "--env", "PIP_NO_CACHE_DIR=1",
              "--env", "PIP_DISABLE_PIP_VERSION_CHECK=1", *volume, image, "sh", "-c", script, timeout=3600)
    return time.monotonic() - started


def _compressed_mb(tools: ContainerTools, image: str) -> float:
    raw = tools.run("skopeo", "--registries-conf", str(tools.registries_conf), "inspect", "--raw",
                    f"docker://{image}").stdout
    return sum(layer["size"] for layer in json.loads(raw)["layers"]) / 1e6


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.job_start", description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-job-start-") as tmp:
        work = Path(tmp)
        registry = OciRegistry(work / "registry", seed=seed_storage()).start()
        tools = ContainerTools(work / "containers")
        try:
            tools.trust(registry.address)
            base = f"{registry.address}/{BASE_IMAGE_REPO}"
            after_image, _ = cached_image.ensure(registry.address, tools)  # built once per inputs hash
            tools.run("podman", "pull", "--quiet", base)
            tools.run("podman", "pull", "--quiet", after_image)  # both images local: time the job, not the pull
            source = work / "src"
            source.mkdir()
            for relative in ("requirements.txt", *map(str, pipeline_image.input_files())):
                (source / relative).parent.mkdir(parents=True, exist_ok=True)
                (source / relative).write_bytes((REPO_ROOT / relative).read_bytes())
            before, after = [], []
            for _ in range(args.runs):  # alternate, so drift of a shared machine hits both alike
                before.append(_job(tools, base, BEFORE, source))
                after.append(_job(tools, after_image, AFTER))
            download_mb = int((source / ".download-bytes").read_text()) / 1e6
            rows = [("before: python:3.11-slim + pip install -r requirements.txt", statistics.median(before),
                     f"{download_mb:.0f} MB downloaded by every job"),
                    ("after: pipeline image", statistics.median(after),
                     f"0 MB; image {_compressed_mb(tools, after_image):.0f} MB compressed, pulled once per runner")]
            print(f"job start -> first `python -m ci` line, median of {args.runs} fresh containers:")
            for label, seconds, download in rows:
                print(f"  {label:<62} {seconds:8.1f} s   {download}")
            print(f"  ratio: {statistics.median(before) / statistics.median(after):.0f}x")
        finally:
            tools.close()
            registry.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

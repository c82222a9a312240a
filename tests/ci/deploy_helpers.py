"""Helpers of the deploy tests: an edited copy of the overlay, `ci deploy` as a separate process
(what two racing jobs are), and reading objects back from the cluster."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import yaml

from ci.clients.kube import Kube
from devstack.cluster import Cluster

REPO = Path(__file__).resolve().parents[2]
NAME = "pyfunc-model"


def edited_overlay(tmp_path: Path, *, deployment_ops: list[dict] = (), hpa_ops: list[dict] = (),
                   drop: tuple[str, ...] = ()) -> Path:
    """A copy of manifests/ whose staging overlay adds JSON patches; `drop` removes base resources."""
    root = tmp_path / "manifests"
    shutil.copytree(REPO / "manifests", root)
    base = root / "base" / "kustomization.yaml"
    kustomization = yaml.safe_load(base.read_text())
    kustomization["resources"] = [r for r in kustomization["resources"] if r not in drop]
    base.write_text(yaml.safe_dump(kustomization))
    staging = root / "overlays" / "staging" / "kustomization.yaml"
    kustomization = yaml.safe_load(staging.read_text())
    for kind, ops in (("Deployment", deployment_ops), ("HorizontalPodAutoscaler", hpa_ops)):
        if ops:
            kustomization["patches"].append({"target": {"kind": kind, "name": NAME}, "patch": json.dumps(list(ops))})
    staging.write_text(yaml.safe_dump(kustomization))
    return staging.parent


@dataclass
class Run:
    """One `python -m ci deploy` process."""

    name: str
    process: subprocess.Popen
    out: Path
    ended: float = 0.0

    @property
    def stderr(self) -> str:
        return (self.out / "stderr.txt").read_text()

    def report(self) -> dict:
        path = self.out / "deploy.json"
        return json.loads(path.read_text()) if path.exists() else {}


def start_deploy(cluster: Cluster, namespace: str, overlay: Path, image: str, version: str, out: Path,
                 smoke_input: Path, job_url: str, *extra: str) -> Run:
    out.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ci", "deploy", "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
            "--manifests", str(overlay), "--image", image, "--model-name", "fake-model", "--model-version", version,
            "--smoke-input", str(smoke_input), "--smoke-timeout", "10", "--readiness-timeout", "30",
            "--timeout", "150", "--output-dir", str(out), *extra]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_"))}
    env |= {"CI_JOB_URL": job_url, "PYTHONUNBUFFERED": "1"}
    with open(out / "stderr.txt", "wb") as stderr:
        process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    return Run(job_url, process, out)


def finish(*runs: Run, timeout: float = 300) -> list[Run]:
    """Wait for every run; the runs in the order they ended."""
    deadline = time.monotonic() + timeout
    while any(r.process.poll() is None for r in runs):
        for run in runs:
            if run.process.poll() is not None and not run.ended:
                run.ended = time.monotonic()
        if time.monotonic() > deadline:
            for run in runs:
                if run.process.poll() is None:
                    run.process.kill()
            raise AssertionError(f"deploys still running after {timeout}s")
        time.sleep(0.1)
    for run in runs:
        run.ended = run.ended or time.monotonic()
    return sorted(runs, key=lambda r: r.ended)


def get(cluster: Cluster, namespace: str, api_version: str, kind: str, name: str = NAME) -> dict | None:
    with cluster.api_client() as api_client:
        return Kube(api_client, namespace).get_object(api_version, kind, name)

"""Undo benchmark (not a test): `ci deploy`'s fail-fast undo against `kubectl rollout status
--timeout=300s` followed by `kubectl rollout undo`, on the same failures, on the real test cluster.

    $VENV/bin/python -m benchmarks.undo [--readiness-timeout 30]

For each failure (a tag that does not exist, a container that exits on start, one that never turns
ready) two namespaces get version 1 from the staging overlay; then one gets the broken image from
`ci deploy` and the other from `kubectl set image` + `rollout status` + `rollout undo`. The
evidence time in the kubectl namespace is taken by the same pod watcher `ci deploy` uses, polling
alongside. Prints seconds from the first evidence to a completed undo (target: < 60 s).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

from ci.clients.kube import Kube
from ci.deploy import rolling as deploy
from ci.deploy import rollout
from devstack.cluster import Cluster
from devstack.fake_model_images import load_fake_images

OVERLAY = Path(__file__).resolve().parent.parent / "manifests" / "overlays" / "staging"
NAME = "pyfunc-model"
CASES = {"missing tag": "missing", "exits on start": "crash", "never ready": "never-ready"}


def namespace_with_v1(cluster: Cluster, images: dict[str, str], limits: deploy.Limits) -> Kube:
    from kubernetes import client

    name = f"bench-{uuid.uuid4().hex[:8]}"
    api_client = cluster.api_client()
    client.CoreV1Api(api_client).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    core, kube = client.CoreV1Api(api_client), Kube(api_client, name)
    while not (kube.call("read", core.read_namespaced_service_account, "default", name) or {}).get("secrets"):
        time.sleep(0.5)  # v1.20 refuses pods until the default account's token exists
    result = deploy.deploy(kube, target(name, images["v1"], "1"), limits, None)
    assert result.ok, result.message
    return kube


def target(namespace: str, image: str, version: str) -> deploy.Target:
    return deploy.Target(namespace, NAME, NAME, image, "fake-model", version, overlay=OVERLAY)


def ours(kube: Kube, image: str, limits: deploy.Limits) -> tuple[float, float]:
    result = deploy.deploy(kube, target(kube.namespace, image, "9"), limits, None)
    assert not result.ok and result.undo.startswith("back on"), result.message
    return result.evidence_seconds, result.undo_seconds


def kubectl_way(cluster: Cluster, kube: Kube, image: str, limits: deploy.Limits) -> tuple[float, float, float]:
    """(evidence seen, rollout status returned, undo complete), seconds after `set image`."""
    env = {**os.environ, **cluster.env}
    kubectl = ["kubectl", "-n", kube.namespace]
    seen: list[float] = []
    started = time.monotonic()
    subprocess.run([*kubectl, "set", "image", f"deployment/{NAME}", f"{NAME}={image}"], env=env, check=True,
                   capture_output=True)

    def watch() -> None:
        watcher = rollout.Watch(limits.readiness, limits.max_restarts)
        while not seen:
            dep = kube.deployment(NAME)
            if rollout.observed(dep) and watcher.evidence(deploy.new_pods(kube, dep), time.monotonic()):
                seen.append(time.monotonic() - started)
            time.sleep(limits.poll)
    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    subprocess.run([*kubectl, "rollout", "status", f"deployment/{NAME}", "--timeout=300s"], env=env,
                   capture_output=True)
    returned = time.monotonic() - started
    subprocess.run([*kubectl, "rollout", "undo", f"deployment/{NAME}"], env=env, check=True, capture_output=True)
    subprocess.run([*kubectl, "rollout", "status", f"deployment/{NAME}", "--timeout=300s"], env=env, check=True,
                   capture_output=True)
    done = time.monotonic() - started
    thread.join(timeout=5)
    return (seen[0] if seen else float("nan")), returned, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readiness-timeout", type=float, default=30.0)
    args = parser.parse_args()
    limits = deploy.Limits(timeout=600, readiness=args.readiness_timeout)
    cluster = Cluster().start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            images = load_fake_images(cluster, Path(tmp))
        rows: dict[str, list[float]] = {}
        baseline: dict[str, tuple[float, float, float]] = {}
        spaces = {case: (namespace_with_v1(cluster, images, limits), namespace_with_v1(cluster, images, limits))
                  for case in CASES}
        threads = [threading.Thread(target=lambda c=case: baseline.__setitem__(
            c, kubectl_way(cluster, spaces[c][1], images[CASES[c]], limits))) for case in CASES]
        for thread in threads:  # the kubectl runs mostly wait for the deadline: run them together
            thread.start()
        for case, image in CASES.items():
            rows[case] = list(ours(spaces[case][0], images[image], limits))
        for thread in threads:
            thread.join()
    finally:
        cluster.stop()
    print(f"\nprogressDeadlineSeconds from {OVERLAY.relative_to(OVERLAY.parents[2])}; readiness limit "
          f"{args.readiness_timeout:.0f}s. Seconds; 'evidence' = after the image was set.")
    print(f"{'failure':<16} | {'ci deploy: evidence':>19} {'undo done after it':>18} | "
          f"{'kubectl: evidence':>17} {'status returned':>15} {'undo done after evidence':>24}")
    for case in CASES:
        evidence, undo_after = rows[case]
        seen, returned, done = baseline[case]
        print(f"{case:<16} | {evidence:>19.1f} {undo_after:>18.1f} | {seen:>17.1f} {returned:>15.1f} "
              f"{done - seen:>24.1f}")


if __name__ == "__main__":
    main()

"""Each pod's own /metrics and requests to one pod, through the API server's pod proxy.

Why not Prometheus: a plain cluster may have none, and the canary must tell its pods from stable's;
the API server reaches every pod by name without kube-proxy, DNS or an Ingress (what a CI job
outside the cluster can do). Bodies are never logged.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from ci.clients.kube import Kube
from ci.errors import CheckFailed
from ci.progressive.metrics_text import Figures

log = logging.getLogger("ci.deploy")
DEFAULT_PORT = 8080
SCRAPE_TIMEOUT = 10.0
REQUEST_TIMEOUT = 30.0
# Where an analysis reads its figures: (kube, pods, container, figures) -> pod name -> cumulative figures.
MetricsSource = Callable[[Kube, Iterable[dict], str, Figures], dict[str, Any]]


def port(pod: dict, container: str) -> int:
    """The container's first port (the manifests name it `http`), else the service's default."""
    for spec in pod["spec"]["containers"]:
        if spec["name"] == container and spec.get("ports"):
            return spec["ports"][0]["containerPort"]
    return DEFAULT_PORT


def ready(pods: Iterable[dict]) -> list[dict]:
    """Pods that are Ready and not terminating: the ones the Service sends traffic to."""
    return [pod for pod in pods if not pod["metadata"].get("deletionTimestamp") and any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod.get("status", {}).get("conditions") or [])]


def scrape(kube: Kube, pods: Iterable[dict], container: str, figures: Figures) -> dict[str, Any]:
    """Pod name -> its `figures` now (parsed from its /metrics); a pod that does not answer is left out
    (logged), so a pod going away between listing and scraping does not fail the analysis."""
    found = {}
    for pod in pods:
        name = pod["metadata"]["name"]
        try:
            status, body = kube.proxy("GET", name, str(port(pod, container)), "metrics", kind="pods",
                                      timeout=SCRAPE_TIMEOUT)
        except CheckFailed as exc:
            log.warning("pod %s: /metrics not read: %s", name, exc)
            continue
        if status != 200:
            log.warning("pod %s: /metrics answered %d", name, status)
            continue
        found[name] = figures.parse(body.decode(errors="replace"))
    return found


def send(kube: Kube, pods: list[dict], container: str, bodies: list[bytes], count: int,
         concurrency: int = 4) -> dict[int, int]:
    """`count` POST /invocations spread over `pods` (round robin, `bodies` in turn); HTTP status ->
    how many answered it (0: no answer)."""
    if not pods or count <= 0:
        return {}

    def one(i: int) -> int:
        pod = pods[i % len(pods)]
        try:
            status, _ = kube.proxy("POST", pod["metadata"]["name"], str(port(pod, container)), "invocations",
                                   body=bodies[i % len(bodies)], kind="pods", timeout=REQUEST_TIMEOUT)
        except CheckFailed:
            return 0
        return status

    statuses: dict[int, int] = {}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        for status in pool.map(one, range(count)):
            statuses[status] = statuses.get(status, 0) + 1
    return statuses

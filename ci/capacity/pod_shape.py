"""One pod as the manifests shape it: CPU request and limit, memory limit, the time its startup probe
allows, and the HPA that scales it.

The load gate runs the candidate with this pod's limits and waits as long as its startup probe does
(a model that loads only with more memory or time fails there, not in the rollout); the latency gate's
capacity search measures one pod; `python -m ci capacity` plans with its request (the HPA's
utilisation is relative to it) and its HPA's `behavior`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kubernetes.utils.quantity import parse_quantity

from ci.deploy.rollout import startup_allowance
from ci.errors import ConfigError
from ci.tools import kubectl


@dataclass(frozen=True)
class PodShape:
    cpu_request: float  # cores
    cpu_limit: float | None
    memory_limit: int | None  # bytes
    hpa: dict | None  # the spec of the HPA that scales the Deployment
    startup_seconds: float | None = None  # what the startup probe waits before the kubelet restarts the pod

    def to_dict(self) -> dict:
        return {"cpu_request": self.cpu_request, "cpu_limit": self.cpu_limit, "memory_limit": self.memory_limit}


def _quantity(value, what: str) -> float | None:
    if value is None:
        return None
    try:
        return float(parse_quantity(value))
    except ValueError as exc:
        raise ConfigError(f"{what} {value!r} is not a Kubernetes quantity (e.g. 500m, 1, 1Gi)") from exc


def from_objects(objects: list[dict], deployment: str | None = None) -> PodShape:
    """The shape of `deployment` (the only Deployment when None) and its HPA among rendered objects."""
    found = [o for o in objects if o.get("kind") == "Deployment"
             and (deployment is None or o["metadata"]["name"] == deployment)]
    if len(found) != 1:
        names = [o["metadata"]["name"] for o in objects if o.get("kind") == "Deployment"]
        raise ConfigError(f"the manifests render Deployments {names}: name the one to plan for "
                          "(KUBE_DEPLOYMENT)" if found or names else "the manifests render no Deployment")
    dep = found[0]
    container = dep["spec"]["template"]["spec"]["containers"][0]
    resources = container.get("resources") or {}
    requests, limits = resources.get("requests") or {}, resources.get("limits") or {}
    cpu_request = _quantity(requests.get("cpu") or limits.get("cpu"), "resources.requests.cpu")
    if not cpu_request:
        raise ConfigError(f"Deployment {dep['metadata']['name']} has no CPU request: the HPA's utilisation is "
                          "relative to it; set resources.requests.cpu")
    memory = _quantity(limits.get("memory"), "resources.limits.memory")
    hpas = [o for o in objects if o.get("kind") == "HorizontalPodAutoscaler"
            and o["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"]]
    return PodShape(cpu_request, _quantity(limits.get("cpu"), "resources.limits.cpu"),
                    None if memory is None else int(memory), hpas[0]["spec"] if hpas else None,
                    float(startup_allowance(probe)[0]) if (probe := container.get("startupProbe")) else None)


def read(manifests: Path, deployment: str | None = None) -> PodShape:
    """Render the kustomize overlay `manifests` (as `ci deploy` does) and read the pod's shape."""
    return from_objects(kubectl.kustomize(Path(manifests)), deployment)

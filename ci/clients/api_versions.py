"""An object in the newest API version a cluster serves for its kind, when it does not serve the one
the manifests are written in.

The manifests are written in current versions (autoscaling/v2, policy/v1); an older API server
(the v1.20 test cluster) serves earlier ones. Each kind lists its versions newest first, with what
changes in the object on the way down: policy/v1beta1 and autoscaling/v2beta2 take the same fields;
autoscaling/v1 has only a CPU utilisation target and no `behavior` (it is dropped, with a warning).
"""
from __future__ import annotations

import copy
import logging

from ci.errors import ConfigError

log = logging.getLogger("ci.clients.kube")
NEWEST_FIRST = {("autoscaling", "HorizontalPodAutoscaler"): ("v2", "v2beta2", "v1"),
                ("policy", "PodDisruptionBudget"): ("v1", "v1beta1")}


def fallback(api_version: str, kind: str, served: set[str]) -> str | None:
    """The newest version of `kind`'s group below `api_version` that the cluster serves ("group/version"),
    None when the kind has no known fallback or none is served."""
    group, _, version = api_version.rpartition("/")
    order = NEWEST_FIRST.get((group, kind), ())
    below = order[order.index(version) + 1:] if version in order else ()
    return next((f"{group}/{v}" for v in below if f"{group}/{v}" in served), None)


def convert(obj: dict, api_version: str) -> dict:
    """`obj` rewritten for `api_version` (a copy)."""
    obj = copy.deepcopy(obj)
    if obj["kind"] == "HorizontalPodAutoscaler" and api_version == "autoscaling/v1" \
            and obj["apiVersion"] != "autoscaling/v1":
        obj["spec"] = hpa_v1_spec(obj["spec"], obj["metadata"]["name"])
    obj["apiVersion"] = api_version
    return obj


def hpa_v1_spec(spec: dict, name: str) -> dict:
    """An autoscaling/v2 HPA spec as autoscaling/v1 takes it: CPU utilisation only, no behaviour."""
    metrics = spec.get("metrics") or []
    cpu = [m for m in metrics if m.get("type") == "Resource" and m["resource"]["name"] == "cpu"
           and m["resource"]["target"].get("type") == "Utilization"]
    if len(metrics) > len(cpu) or len(cpu) > 1:
        raise ConfigError(f"HorizontalPodAutoscaler {name} scales on more than CPU utilisation, which "
                          "autoscaling/v1 cannot express, and this cluster serves neither autoscaling/v2 nor "
                          "v2beta2: keep only the CPU utilisation metric, or upgrade the cluster")
    if spec.get("behavior"):
        log.warning("HorizontalPodAutoscaler %s: autoscaling/v1 has no `behavior`: the cluster's default "
                    "scale-up and scale-down rates apply", name)
    v1 = {key: spec[key] for key in ("scaleTargetRef", "minReplicas", "maxReplicas") if key in spec}
    if cpu:
        v1["targetCPUUtilizationPercentage"] = cpu[0]["resource"]["target"]["averageUtilization"]
    return v1

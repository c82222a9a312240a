"""The shadow step's Kubernetes objects: a `<deployment>-shadow` Deployment made from the live stable
one that no Service selects, and the ConfigMap the stable pods read their copy targets from.

Why its own labels and no Service: the stable Service selects on the stable pods' labels, and a pod
that carries them gets user traffic; the shadow pods carry only the track label and the name of the
Deployment they shadow. The stable pods reach them by pod IP (`service.shadow` sends to each URL in
turn), which needs neither kube-proxy nor cluster DNS. The ConfigMap is the one the stable pod
template mounts as the volume named `shadow` (manifests/base/deployment.yaml): written while the step
runs, emptied after it, so the stable pods change what they do without a restart.
"""
from __future__ import annotations

import copy
import json

from ci.deploy.fields import Target
from ci.errors import ConfigError
from ci.progressive.canary_objects import TRACK_LABEL, derived

SUFFIX = "-shadow"
SHADOW = "shadow"
SHADOW_OF = "pyfunc-deploy.io/shadow-of"
VOLUME = "shadow"  # the stable pod template's volume holding the copy targets
CONFIG_KEY = "shadow.json"
# The service settings that make a pod copy requests (service/settings.py): a shadow copies nothing.
COPY_SETTINGS = ("SERVICE_SHADOW_CONFIG", "SERVICE_SHADOW_URL")


def name(deployment: str) -> str:
    return deployment + SUFFIX


def pods_selector(deployment: str) -> str:
    return f"{TRACK_LABEL}={SHADOW},{SHADOW_OF}={deployment}"


def manifest(stable: dict, target: Target, count: int = 1) -> dict:
    """The shadow Deployment: stable's live spec with the new image and `count` replicas, its pods
    labelled only as the shadow of `target.deployment` (no Service selects them), no copies of its own."""
    spec = copy.deepcopy(stable["spec"])
    spec.pop("paused", None)
    spec["replicas"] = count
    labels = {TRACK_LABEL: SHADOW, SHADOW_OF: target.deployment}
    spec["selector"] = {"matchLabels": dict(labels)}
    template = spec["template"]
    template.setdefault("metadata", {})["labels"] = dict(labels)
    pod = template["spec"]
    pod["volumes"] = [volume for volume in pod.get("volumes") or [] if volume.get("name") != VOLUME]
    for container in pod.get("containers") or []:
        container["volumeMounts"] = [m for m in container.get("volumeMounts") or [] if m.get("name") != VOLUME]
        container["env"] = [e for e in container.get("env") or [] if e.get("name") not in COPY_SETTINGS]
    return derived(stable, name(target.deployment), labels, spec, target)


def config_map_name(stable: dict) -> str:
    """The ConfigMap behind the stable pod template's `shadow` volume."""
    for volume in stable["spec"]["template"]["spec"].get("volumes") or []:
        if volume.get("name") == VOLUME and volume.get("configMap", {}).get("name"):
            return volume["configMap"]["name"]
    raise ConfigError(f"deployment {stable['metadata']['name']} has no volume named {VOLUME!r} from a ConfigMap: "
                      "its pods cannot be told where to copy requests. Add the shipped manifests' shadow volume, "
                      "mount and SERVICE_SHADOW_CONFIG (manifests/base/deployment.yaml) and deploy once")


def config_map(config_name: str, urls: list[str], sample_rate: float) -> dict:
    """The ConfigMap the stable pods read (no URLs: no copies)."""
    data = {"urls": urls, "sample_rate": sample_rate} if urls else {"urls": []}
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": config_name},
            "data": {CONFIG_KEY: json.dumps(data)}}


def pod_urls(pods: list[dict], port: int) -> list[str]:
    return [f"http://{pod['status']['podIP']}:{port}" for pod in pods if (pod.get("status") or {}).get("podIP")]

"""The canary's Kubernetes objects: a `<deployment>-canary` Deployment made from the live stable one,
the selectors that tell the two sides' pods apart, its size per step and the manual decision.

Why a second Deployment and not a second ReplicaSet or a mesh: it needs nothing installed in the
cluster, the Service (which selects on the stable Deployment's pod labels, a subset of the canary's)
sends it a share of traffic equal to its share of ready pods, and deleting it is a complete abort:
the stable Deployment is never written until the promotion.
"""
from __future__ import annotations

import copy
import math

from ci.deploy.apply import FOR_DEPLOYMENT, MANAGED_BY
from ci.deploy.fields import Target, set_fields
from ci.errors import ConfigError

SUFFIX = "-canary"
TRACK_LABEL = "pyfunc-deploy.io/track"
CANARY = "canary"
# Set on the canary Deployment by `ci canary promote|abort` (the pipeline's manual jobs); read by the
# running canary between polls.
DECISION_KEY = "pyfunc-deploy.io/canary-decision"
DECISIONS = ("promote", "abort")
# Fields of the live object the API server owns: never copied into the canary.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                   "ownerReferences")


def name(deployment: str) -> str:
    return deployment + SUFFIX


def parse_steps(text: str) -> tuple[int, ...]:
    """"10,50,100" -> (10, 50, 100): rising percentages of the stable replica count, the last 100 or less."""
    try:
        steps = tuple(int(part) for part in text.replace(" ", "").split(",") if part)
    except ValueError:
        steps = ()
    if not steps or any(not 0 < s <= 100 for s in steps) or list(steps) != sorted(set(steps)):
        raise ConfigError(f"canary steps {text!r}: give rising percentages of the stable replica count "
                          "between 1 and 100, comma-separated, e.g. CANARY_STEPS=10,50,100")
    return steps


def replicas(stable_replicas: int, percent: int) -> int:
    """Canary pods for a step: `percent` of stable's, at least one."""
    return max(1, math.ceil(stable_replicas * percent / 100))


def manifest(stable: dict, target: Target, count: int) -> dict:
    """The canary Deployment: stable's live spec with the new image, the model's labels and
    annotations, `count` replicas and the track label added to its selector and pod labels (so its
    pods stay out of stable's selector-by-template-hash and are found apart)."""
    spec = copy.deepcopy(stable["spec"])
    spec.pop("paused", None)
    spec["replicas"] = count
    spec["selector"] = {"matchLabels": {**spec["selector"].get("matchLabels", {}), TRACK_LABEL: CANARY}}
    if stable["spec"]["selector"].get("matchExpressions"):
        spec["selector"]["matchExpressions"] = stable["spec"]["selector"]["matchExpressions"]
    template = spec["template"]
    template.setdefault("metadata", {})["labels"] = {**template["metadata"].get("labels", {}), TRACK_LABEL: CANARY}
    return derived(stable, name(target.deployment), {TRACK_LABEL: CANARY}, spec, target)


def derived(stable: dict, new_name: str, labels: dict[str, str], spec: dict, target: Target) -> dict:
    """A Deployment `new_name` beside the live `stable` one: its metadata without what the API server
    owns, the overlay's ownership labels (a promotion's apply must not report it as stale, or prune it)
    and the rollout's annotations, plus `labels`; `spec`; the model's fields of `target`."""
    metadata = {k: v for k, v in stable["metadata"].items() if k not in SERVER_METADATA}
    metadata["name"] = new_name
    metadata["labels"] = {**{k: v for k, v in (metadata.get("labels") or {}).items()
                             if k not in (MANAGED_BY, FOR_DEPLOYMENT)}, **labels}
    metadata["annotations"] = {k: v for k, v in (metadata.get("annotations") or {}).items()
                               if not k.startswith(("deployment.kubernetes.io/", "kubectl.kubernetes.io/"))}
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec}
    set_fields(deployment, target)
    return deployment


def stable_pods_selector(stable: dict) -> str:
    """Stable's own pods: its selector without the canary's."""
    labels = stable["spec"]["selector"].get("matchLabels", {})
    return ",".join([*(f"{k}={v}" for k, v in labels.items()), f"{TRACK_LABEL}!={CANARY}"])


def canary_pods_selector(stable: dict) -> str:
    labels = stable["spec"]["selector"].get("matchLabels", {})
    return ",".join([*(f"{k}={v}" for k, v in labels.items()), f"{TRACK_LABEL}={CANARY}"])


def decision(canary: dict | None) -> str | None:
    """"promote" or "abort" when someone asked for it on the canary Deployment."""
    value = ((canary or {}).get("metadata", {}).get("annotations") or {}).get(DECISION_KEY)
    return value if value in DECISIONS else None


def decision_patch(choice: str) -> list[dict]:
    if choice not in DECISIONS:
        raise ConfigError(f"canary decision {choice!r}: use one of {', '.join(DECISIONS)}")
    return [{"op": "add", "path": "/metadata/annotations/" + DECISION_KEY.replace("/", "~1"), "value": choice}]

"""Render the overlay and server-side apply all of it on every deploy; what changed; what is stale.

Every deploy renders the kustomize overlay, sets the image and annotations on its Deployment,
labels every object as managed by this tool for this Deployment, and applies them all with
server-side apply (field manager `pyfunc-deploy`, conflicts forced: the overlay is the truth).
Kubernetes 1.20 serves server-side apply as beta, on by default; it is GA from 1.22. Objects
carrying the labels that the overlay no longer renders are reported, and deleted only with
`--prune`.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from ci.deploy import diffs
from ci.deploy.fields import Target, set_fields
from ci.errors import ConfigError
from ci.tools import kubectl

log = logging.getLogger("ci.deploy")
MANAGED_BY = "app.kubernetes.io/managed-by"
FOR_DEPLOYMENT = "pyfunc-deploy.io/deployment"
# Kinds searched for stale objects besides the rendered ones (what an overlay usually holds).
PRUNABLE = (("v1", "ConfigMap"), ("v1", "Service"), ("v1", "ServiceAccount"), ("apps/v1", "Deployment"),
            ("autoscaling/v2", "HorizontalPodAutoscaler"), ("policy/v1", "PodDisruptionBudget"),
            ("networking.k8s.io/v1", "Ingress"), ("networking.k8s.io/v1", "NetworkPolicy"))
# Not part of an object's desired state: left out of the changes report.
IGNORED = ("metadata.managedFields", "metadata.resourceVersion", "metadata.generation", "metadata.uid",
           "metadata.creationTimestamp", "metadata.selfLink", "status", "spec.replicas",
           "metadata.annotations.deployment.kubernetes.io/revision")


@dataclass
class Applied:
    deployment: dict  # as the server answered the apply
    deployment_changes: list[str] = field(default_factory=list)  # spec and metadata, before -> after
    objects: dict[str, list[str]] = field(default_factory=dict)  # "Kind/name" -> its changes ([]: unchanged)
    stale: list[str] = field(default_factory=list)  # labelled, no longer rendered ("Kind/name")
    pruned: list[str] = field(default_factory=list)


def labels(target: Target) -> dict[str, str]:
    return {MANAGED_BY: "pyfunc-deploy", FOR_DEPLOYMENT: target.deployment}


def selector(target: Target) -> str:
    return ",".join(f"{k}={v}" for k, v in labels(target).items())


def render(target: Target) -> list[dict]:
    """The overlay's objects with the image, annotations and ownership labels set."""
    objects = kubectl.kustomize(target.overlay)
    deployments = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == target.deployment]
    if not deployments:
        raise ConfigError(f"{target.overlay} renders no Deployment named {target.deployment} (KUBE_DEPLOYMENT)")
    set_fields(deployments[0], target)
    for obj in objects:
        obj["metadata"]["labels"] = {**(obj["metadata"].get("labels") or {}), **labels(target)}
    return objects


def comparable(obj: dict | None) -> dict:
    """The object without server bookkeeping (IGNORED paths)."""
    if obj is None:
        return {}
    flat = diffs.flatten(obj)
    return {path: value for path, value in flat.items()
            if not any(path == p or path.startswith(p + ".") or path.startswith(p + "[") for p in IGNORED)}


def changes(before: dict | None, after: dict) -> list[str]:
    return diffs.changes(comparable(before), comparable(after))


def keep_autoscaled_replicas(objects: list[dict], target: Target, current: dict | None) -> None:
    """An autoscaled Deployment keeps its live replica count: applying the overlay's `replicas` on every
    deploy would scale it back to that number in the middle of the traffic the HPA scaled it for."""
    autoscaled = any(o["kind"] == "HorizontalPodAutoscaler"
                     and (o.get("spec") or {}).get("scaleTargetRef", {}).get("name") == target.deployment
                     for o in objects)
    live = ((current or {}).get("spec") or {}).get("replicas")
    if not autoscaled or live is None:
        return
    for obj in objects:
        if obj["kind"] == "Deployment" and obj["metadata"]["name"] == target.deployment:
            obj.setdefault("spec", {})["replicas"] = live


def apply_all(kube, target: Target, objects: list[dict], current: dict | None) -> Applied:
    """Apply every rendered object (the Deployment last, so a rollout starts only once its Service,
    account and budget are in place); report what each apply changed; find stale objects."""
    keep_autoscaled_replicas(objects, target, current)
    ordered = sorted(objects, key=lambda o: o["kind"] == "Deployment" and o["metadata"]["name"] == target.deployment)
    result = Applied(deployment={})
    for obj in ordered:
        key = f"{obj['kind']}/{obj['metadata']['name']}"
        is_target = obj["kind"] == "Deployment" and obj["metadata"]["name"] == target.deployment
        before = current if is_target else kube.get_object(obj["apiVersion"], obj["kind"], obj["metadata"]["name"])
        after = kube.apply_object(obj)
        if is_target:
            result.deployment = after
            result.deployment_changes = changes(before, after)
        else:
            result.objects[key] = ["created"] if before is None else changes(before, after)
    log.info("applied %s (server-side apply, field manager pyfunc-deploy)", ", ".join(
        [*result.objects, f"Deployment/{target.deployment}"]))
    for key, lines in result.objects.items():
        if lines:
            log.info("  %s: %s", key, "; ".join(lines[:10]))
    result.stale = stale(kube, target, ordered)
    if result.stale and target.prune:
        for key in result.stale:
            api_version, kind, name = key.split(" ", 1)[0], *key.split(" ", 1)[1].split("/", 1)
            kube.delete_object(api_version, kind, name)
            result.pruned.append(f"{kind}/{name}")
        log.warning("pruned (--prune): %s", ", ".join(result.pruned))
    elif result.stale:
        log.warning("no longer rendered by %s, left in place (delete with --prune): %s", target.overlay,
                    ", ".join(k.split(" ", 1)[1] for k in result.stale))
    result.stale = [k.split(" ", 1)[1] for k in result.stale]
    return result


def stale(kube, target: Target, rendered: list[dict]) -> list[str]:
    """"apiVersion Kind/name" of labelled objects (this tool's, for this Deployment) not rendered now."""
    wanted = {(o["kind"], o["metadata"]["name"]) for o in rendered}
    kinds = {kind: api_version for api_version, kind in PRUNABLE}
    kinds |= {o["kind"]: o["apiVersion"] for o in rendered}
    found = []
    for kind, api_version in sorted(kinds.items()):
        for obj in kube.labelled(api_version, kind, selector(target)):
            if (kind, obj["metadata"]["name"]) not in wanted:
                found.append(f"{api_version} {kind}/{obj['metadata']['name']}")
    return found

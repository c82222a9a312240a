"""Roll a new image out to a Deployment, watch it with fail-fast evidence, undo it when it fails.

What `kubectl set image` + `kubectl rollout status` + `kubectl rollout undo` do, in one step that
knows why a rollout failed within seconds (an unpullable image, a crash loop, a pod that never turns
ready) instead of at the progress deadline, prints the pods' events and logs, and smokes the live
Service (a prediction and /version) before it calls the deploy good. Returns a `DeployResult`; the
CLI turns a failed one into exit 1.
"""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ci import job, rollout
from ci.errors import CheckFailed, ConfigError
from ci.kube import Kube
from ci.outputs import write_json
from ci.project import OVERLAYS_DIR
from ci.smoke import Smoke, smoke
from ci.tools import kubectl

log = logging.getLogger("ci.deploy")

CHANGE_CAUSE = "kubernetes.io/change-cause"
MODEL_NAME_KEY = "pyfunc-deploy.io/model-name"
MODEL_VERSION_KEY = "pyfunc-deploy.io/model-version"
PIPELINE_KEY = "pyfunc-deploy.io/pipeline-url"
# Pod-template annotations the manifests hand to the container (downward API) as IMAGE_TAG and
# IMAGE_DIGEST, so every pod's /version names the exact image it runs.
IMAGE_TAG_KEY = "pyfunc-deploy.io/image-tag"
IMAGE_DIGEST_KEY = "pyfunc-deploy.io/image-digest"
LOG_LINES = 20
EVENTS_SHOWN = 10


@dataclass(frozen=True)
class Target:
    namespace: str
    deployment: str
    container: str
    image: str
    model_name: str
    model_version: str
    pipeline_url: str = ""
    image_tag: str = ""
    overlay: Path | None = None  # applied when the Deployment does not exist yet


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0
    readiness: float = 120.0  # a started container may stay unready this long
    max_restarts: int = 2
    poll: float = 1.0


@dataclass
class DeployResult:
    ok: bool
    message: str
    revision: int = 0
    created: bool = False
    failure: str | None = None  # the evidence, one line
    evidence_seconds: float | None = None  # from setting the image to the first failure evidence
    undo: str | None = None  # what the undo did, one line
    undo_seconds: float | None = None  # from the evidence to the completed undo
    seconds: float = 0.0
    smoke: dict = field(default_factory=dict)


def default_overlay(manifests: Path | None) -> Path | None:
    """`manifests`, else manifests/overlays/$CI_ENVIRONMENT_NAME when that directory exists."""
    if manifests is not None:
        return manifests
    environment = job.environment()
    candidate = OVERLAYS_DIR / environment
    return candidate if environment and candidate.is_dir() else None


def deploy_and_report(kube: Kube, target: Target, limits: Limits, smoke_check: Smoke | None,
                      output_dir: Path) -> tuple[DeployResult, Path]:
    """`deploy`, then deploy.json and GitLab's deployment record (bookkeeping: never fails the deploy)."""
    result = deploy(kube, target, limits, smoke_check)
    report = write_json(Path(output_dir) / "deploy.json", {**asdict(result), "image": target.image,
                                                           "namespace": target.namespace,
                                                           "deployment": target.deployment})
    job.record_deployment(target.namespace, result.ok)
    return result, report


def deploy(kube: Kube, target: Target, limits: Limits, smoke_check: Smoke | None) -> DeployResult:
    """Set the image (creating the Deployment from the overlay the first time), watch, smoke, undo."""
    started = time.monotonic()
    current = kube.deployment(target.deployment)
    created = current is None
    if created:
        current = _create(kube, target)
    else:
        busy = rollout.in_progress(current)
        if busy:
            raise CheckFailed(f"deployment {target.deployment} in {target.namespace}: {busy}. Wait for it to "
                              "finish, or undo it (kubectl rollout undo) and re-run this job")
        current = kube.patch_deployment(target.deployment, set_image_patch(current, target))
    log.info("deployment %s/%s: image %s (model %s v%s)%s", target.namespace, target.deployment, target.image,
             target.model_name, target.model_version, " - created from " + str(target.overlay) if created else "")
    evidence = wait(kube, target.deployment, current["metadata"]["generation"], limits, started)
    seen = time.monotonic()
    result = DeployResult(ok=evidence is None, message="", created=created)
    if evidence is None:
        smoke_result = smoke(kube, smoke_check, target.model_version) if smoke_check else {"skipped": True}
        result.smoke = smoke_result
        if smoke_result.get("ok", True):
            result.revision = rollout.revision(kube.deployment(target.deployment))
            result.message = f"rolled out revision {result.revision} in {time.monotonic() - started:.1f}s"
            result.seconds = round(time.monotonic() - started, 2)
            return result
        evidence, seen = rollout.Evidence("SmokeFailed", smoke_result["error"]), time.monotonic()
    else:
        show_evidence(kube, evidence)
    result.ok = False
    result.failure, result.evidence_seconds = str(evidence), round(seen - started, 2)
    result.undo = undo(kube, target.deployment, limits)
    result.undo_seconds = round(time.monotonic() - seen, 2)
    result.seconds = round(time.monotonic() - started, 2)
    result.message = (f"rollout of {target.image} failed after {result.evidence_seconds:.1f}s: {evidence}\n"
                      f"undo: {result.undo} ({result.undo_seconds:.1f}s after the evidence)")
    return result


def _create(kube: Kube, target: Target) -> dict:
    """First deploy: apply the overlay with the image already set (no placeholder rollout)."""
    if target.overlay is None:
        raise ConfigError(f"deployment {target.deployment} does not exist in {target.namespace}: pass "
                          "--manifests (a kustomize overlay) to create it")
    objects = kubectl.kustomize(target.overlay)
    deployments = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == target.deployment]
    if not deployments:
        raise ConfigError(f"{target.overlay} renders no Deployment named {target.deployment} (KUBE_DEPLOYMENT)")
    _set_fields(deployments[0], target)
    log.info("applied %s", ", ".join(kube.apply(objects)))
    return kube.deployment(target.deployment)


def _merged(obj: dict, section: str, extra: dict[str, str]) -> dict[str, str]:
    return {**(obj.get("metadata", {}).get(section) or {}), **extra}


def _model_keys(target: Target) -> dict[str, str]:
    return {MODEL_NAME_KEY: target.model_name, MODEL_VERSION_KEY: target.model_version}


def _pod_annotations(template: dict, target: Target) -> dict[str, str]:
    digest = target.image.rpartition("@")[2] if "@" in target.image else ""
    return _merged(template, "annotations", {**_model_keys(target), IMAGE_TAG_KEY: target.image_tag,
                                             IMAGE_DIGEST_KEY: digest})


def _deployment_annotations(deployment: dict, target: Target) -> dict[str, str]:
    cause = f"ci deploy: {target.model_name} v{target.model_version} {target.image}"
    extra = {CHANGE_CAUSE: cause + (f" {target.pipeline_url}" if target.pipeline_url else ""),
             MODEL_VERSION_KEY: target.model_version}
    if target.pipeline_url:
        extra[PIPELINE_KEY] = target.pipeline_url
    return _merged(deployment, "annotations", extra)


def _container_index(deployment: dict, target: Target) -> int:
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    if target.container not in names:
        raise ConfigError(f"deployment {target.deployment} has no container {target.container!r} "
                          f"(it has {', '.join(names)}): set --container")
    return names.index(target.container)


def _set_fields(deployment: dict, target: Target) -> None:
    """Image, labels and annotations on a rendered Deployment (the first deploy)."""
    template = deployment["spec"]["template"]
    template["spec"]["containers"][_container_index(deployment, target)]["image"] = target.image
    deployment["metadata"]["annotations"] = _deployment_annotations(deployment, target)
    template.setdefault("metadata", {})["labels"] = _merged(template, "labels", _model_keys(target))
    template["metadata"]["annotations"] = _pod_annotations(template, target)


def set_image_patch(deployment: dict, target: Target) -> list[dict]:
    """What `kubectl set image` (+ change-cause and the model's labels/annotations) changes, guarded
    by the resourceVersion that was checked for a rollout in progress."""
    template = deployment["spec"]["template"]
    index = _container_index(deployment, target)
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": deployment["metadata"]["resourceVersion"]},
        {"op": "replace", "path": f"/spec/template/spec/containers/{index}/image", "value": target.image},
        {"op": "add", "path": "/metadata/annotations", "value": _deployment_annotations(deployment, target)},
        {"op": "add", "path": "/spec/template/metadata/labels", "value": _merged(template, "labels",
                                                                                 _model_keys(target))},
        {"op": "add", "path": "/spec/template/metadata/annotations", "value": _pod_annotations(template, target)},
    ]


def wait(kube: Kube, name: str, generation: int, limits: Limits, started: float) -> rollout.Evidence | None:
    """Poll until the rollout completes (None) or fails (the evidence); a progress line per change."""
    watch = rollout.Watch(readiness_limit=limits.readiness, max_restarts=limits.max_restarts)
    last_line = None
    while True:
        now = time.monotonic()
        deployment = kube.deployment(name)
        if deployment is None:
            return rollout.Evidence("Deleted", f"deployment {name} was deleted during the rollout")
        if deployment["metadata"]["generation"] >= generation and rollout.observed(deployment):
            line = rollout.progress_line(deployment)
            if line != last_line:
                log.info("%s: %s", name, line)
                last_line = line
            if rollout.complete(deployment):
                return None
            evidence = rollout.deadline_exceeded(deployment) or watch.evidence(new_pods(kube, deployment), now)
            if evidence:
                return evidence
        if now - started > limits.timeout:
            return rollout.Evidence("Timeout", f"not complete after {limits.timeout:.0f}s ({last_line})")
        time.sleep(limits.poll)


def new_pods(kube: Kube, deployment: dict) -> list[dict]:
    replicasets = rollout.owned(kube.replicasets(_selector(deployment)), deployment)
    newest = rollout.newest(replicasets, deployment)
    if newest is None:
        return []
    pod_hash = newest["metadata"]["labels"][rollout.HASH_LABEL]
    return kube.pods(f"{_selector(deployment)},{rollout.HASH_LABEL}={pod_hash}")


def _selector(deployment: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in deployment["spec"]["selector"]["matchLabels"].items())


def show_evidence(kube: Kube, evidence: rollout.Evidence) -> None:
    """The failing pod's events and its container's last log lines, to the job log."""
    log.error("rollout failed: %s", evidence)
    if not evidence.pod:
        return
    for event in kube.events("Pod", evidence.pod)[-EVENTS_SHOWN:]:
        log.error("  event %s %s: %s", event.get("type"), event.get("reason"), (event.get("message") or "")[:300])
    text = kube.log_tail(evidence.pod, evidence.container, LOG_LINES, previous=evidence.previous_log)
    for line in text.splitlines()[-LOG_LINES:]:
        log.error("  log %s: %s", evidence.container, line[:500])


def undo(kube: Kube, name: str, limits: Limits) -> str:
    """`kubectl rollout undo`, then wait for it; a one-line outcome."""
    deployment = kube.deployment(name)
    patch = rollout.undo_patch(deployment, kube.replicasets(_selector(deployment)))
    if patch is None:
        return "no previous revision to undo to (first deploy): the Deployment is left as it is"
    operations, to_revision = patch
    undone = kube.patch_deployment(name, operations)
    log.info("%s: undoing to revision %d", name, to_revision)
    evidence = wait(kube, name, undone["metadata"]["generation"], limits, time.monotonic())
    if evidence:
        show_evidence(kube, evidence)
        return f"undo to revision {to_revision} did not complete: {evidence}"
    return f"back on revision {to_revision} (now revision {rollout.revision(kube.deployment(name))})"

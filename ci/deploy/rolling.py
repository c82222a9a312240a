"""Roll a new image out to a Deployment under its lock, watch it with fail-fast evidence, undo it when it fails.

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

from ci import job
from ci.clients.kube import ApiUnreachable, Kube
from ci.deploy import apply as deploy_apply
from ci.deploy import lock as deploy_lock
from ci.deploy import rollout
from ci.deploy.fields import Target, set_image_patch
from ci.deploy.rollout_owner import Owned, changed_under
from ci.deploy.smoke import Smoke, smoke
from ci.errors import CheckFailed, ConfigError
from ci.outputs import write_json
from ci.project import OVERLAYS_DIR
from ci.tracing import step

__all__ = ["DeployResult", "Limits", "Target", "deploy", "deploy_and_report", "roll_out", "set_image_patch", "undo",
           "wait"]
CHANGED_UNDER = "ChangedUnder"

log = logging.getLogger("ci.deploy")

LOG_LINES = 20
EVENTS_SHOWN = 10


@dataclass(frozen=True)
class Limits:
    timeout: float = 600.0
    readiness: float = 120.0  # a started container may stay unready this long
    max_restarts: int = 2
    poll: float = 1.0
    lock_timeout: float = 600.0  # wait this long for another deploy's Lease, then refuse


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
    changes: dict = field(default_factory=dict)  # what this deploy changed: deployment, objects, stale, pruned
    lock: dict = field(default_factory=dict)  # the Lease: holder, seconds waited, for whom


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
    """Under the Deployment's Lease: apply the overlay (or set the image), watch, smoke, undo."""
    with deploy_lock.locked(kube, target.deployment, limits.lock_timeout) as held:
        result = roll_out(kube, target, limits, smoke_check)
        result.lock = held.record()
        return result


def _write(kube: Kube, target: Target, current: dict | None) -> tuple[dict, dict]:
    """The deploy's own write: (the Deployment as written, the changes report)."""
    if target.overlay is not None:
        applied = deploy_apply.apply_all(kube, target, deploy_apply.render(target), current)
        return applied.deployment, {"deployment": applied.deployment_changes,
                                    "objects": {k: v for k, v in applied.objects.items() if v},
                                    "stale": applied.stale, "pruned": applied.pruned}
    if current is None:
        raise ConfigError(f"deployment {target.deployment} does not exist in {target.namespace}: pass "
                          "--manifests (a kustomize overlay) to create it")
    written = kube.patch_deployment(target.deployment, set_image_patch(current, target))
    return written, {"deployment": deploy_apply.changes(current, written)}


def roll_out(kube: Kube, target: Target, limits: Limits, smoke_check: Smoke | None) -> DeployResult:
    """The deploy itself (the caller holds the lock): write, watch, smoke, undo on failure."""
    started = time.monotonic()
    current = kube.deployment(target.deployment)
    created = current is None
    if not created:
        busy = rollout.in_progress(current)
        if busy:
            raise CheckFailed(f"deployment {target.deployment} in {target.namespace}: {busy}. Wait for it to "
                              "finish, or undo it (kubectl rollout undo) and re-run this job")
    with step("deploy: apply", **{"k8s.namespace.name": target.namespace, "k8s.deployment.name": target.deployment,
                                  "container.image.name": target.image}):
        written, changes = _write(kube, target, current)
    owned = Owned.of(written)
    template_changed = created or current["spec"]["template"] != written["spec"]["template"]
    log.info("deployment %s/%s: image %s (model %s v%s)%s", target.namespace, target.deployment, target.image,
             target.model_name, target.model_version, " - created from " + str(target.overlay) if created
             else "" if template_changed else " - pod template unchanged")
    with step("deploy: watch the rollout"):
        evidence = wait(kube, target.deployment, owned.generation, limits, started, owned=owned)
    seen = time.monotonic()
    result = DeployResult(ok=evidence is None, message="", created=created, changes=changes)
    if evidence is None:
        with step("deploy: smoke"):
            smoke_result = smoke(kube, smoke_check, target.model_version) if smoke_check else {"skipped": True}
        result.smoke = smoke_result
        live = kube.deployment(target.deployment)
        moved = changed_under(owned, live)
        if moved:
            evidence, seen = rollout.Evidence(CHANGED_UNDER, moved), time.monotonic()
        elif smoke_result.get("ok", True):
            result.revision = rollout.revision(live)
            result.message = f"rolled out revision {result.revision} in {time.monotonic() - started:.1f}s"
            result.seconds = round(time.monotonic() - started, 2)
            return result
        else:
            evidence, seen = rollout.Evidence("SmokeFailed", smoke_result["error"]), time.monotonic()
    show_evidence(kube, evidence)
    result.ok = False
    result.failure, result.evidence_seconds = str(evidence), round(seen - started, 2)
    if evidence.reason == CHANGED_UNDER:
        result.undo = "not undone: the Deployment is someone else's now (their change is left as it is)"
    elif not template_changed:
        result.undo = "nothing to undo: this deploy did not change the pod template"
    else:
        with step("deploy: undo"):
            result.undo = undo(kube, target.deployment, limits)
    result.undo_seconds = round(time.monotonic() - seen, 2)
    result.seconds = round(time.monotonic() - started, 2)
    result.message = (f"rollout of {target.image} failed after {result.evidence_seconds:.1f}s: {evidence}\n"
                      f"undo: {result.undo} ({result.undo_seconds:.1f}s after the evidence)")
    return result


OUTAGE_BACKOFF_MAX = 10.0  # seconds between polls of an API server that does not answer


def live_stable(kube: Kube, target: Target, beside: str) -> dict:
    """The live Deployment a canary or a shadow (`beside`) runs beside: it must exist and not be rolling out."""
    stable = kube.deployment(target.deployment)
    if stable is None:
        raise ConfigError(f"deployment {target.deployment} does not exist in {target.namespace}: a {beside} is "
                          "compared with a running stable version; deploy once with DEPLOY_STRATEGY=rolling")
    busy = rollout.in_progress(stable)
    if busy:
        raise CheckFailed(f"deployment {target.deployment} in {target.namespace}: {busy}. Wait for it to finish")
    return stable


def wait(kube: Kube, name: str, generation: int, limits: Limits, started: float,
         owned: Owned | None = None) -> rollout.Evidence | None:
    """Poll until the rollout completes (None) or fails (the evidence); a progress line per change.
    With `owned`, a pod template changed by someone else ends the watch (ChangedUnder). An API server
    that stops answering (restarted, failed over) is polled again with backoff until the rollout's
    deadline, and the time it was away is not counted against a pod's readiness."""
    watch = rollout.Watch(readiness_limit=limits.readiness, max_restarts=limits.max_restarts)
    last_line, down_since, pause = None, None, limits.poll
    while True:
        now = time.monotonic()
        try:
            done, evidence, line = _poll(kube, name, generation, watch, owned, now)
        except ApiUnreachable as exc:
            down_since = down_since or now
            watch.unready_since.clear()  # its absence is no pod's time unready
            if now - started > limits.timeout:
                return rollout.Evidence("Unreachable", f"{exc}; it has not answered for {now - down_since:.0f}s "
                                        f"and the rollout's {limits.timeout:.0f}s are over: its outcome is unknown")
            log.warning("the API server does not answer (%.0fs): watching again in %.0fs, until the rollout's "
                        "deadline", now - down_since, pause)
            time.sleep(pause)
            pause = min(pause * 2, OUTAGE_BACKOFF_MAX)
            continue
        if down_since is not None:
            log.info("the API server answers again after %.0fs", now - down_since)
            down_since, pause = None, limits.poll
        if line is not None and line != last_line:
            log.info("%s: %s", name, line)
            last_line = line
        if done or evidence:
            return evidence
        if now - started > limits.timeout:
            return rollout.Evidence("Timeout", f"not complete after {limits.timeout:.0f}s ({last_line})")
        time.sleep(limits.poll)


def _poll(kube: Kube, name: str, generation: int, watch: rollout.Watch, owned: Owned | None,
          now: float) -> tuple[bool, rollout.Evidence | None, str | None]:
    """One look at the rollout: (complete, evidence of failure, progress line)."""
    deployment = kube.deployment(name)
    if deployment is None:
        return False, rollout.Evidence("Deleted", f"deployment {name} was deleted during the rollout"), None
    moved = changed_under(owned, deployment) if owned else None
    if moved:
        return False, rollout.Evidence(CHANGED_UNDER, moved), None
    if not (deployment["metadata"]["generation"] >= generation and rollout.observed(deployment)):
        return False, None, None
    line = rollout.progress_line(deployment)
    if rollout.complete(deployment):
        return True, None, line
    pods = new_pods(kube, deployment)
    evidence = rollout.deadline_exceeded(deployment) or startup_evidence(kube, pods) or watch.evidence(pods, now)
    if evidence and evidence.reason == "ImagePullBackOff" and evidence.pod:
        evidence = rollout.pull_evidence(evidence, kube.events("Pod", evidence.pod))
    return False, evidence, line


def startup_evidence(kube: Kube, pods: list[dict]) -> rollout.Evidence | None:
    """A container restarted for its failed startup probe (read from the events of starting pods)."""
    for pod in pods:
        if rollout.starting(pod):
            found = rollout.startup_evidence(pod, kube.events("Pod", pod["metadata"]["name"]))
            if found:
                return found
    return None


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
    owned = Owned.of(undone) if "spec" in undone else None
    evidence = wait(kube, name, undone["metadata"]["generation"], limits, time.monotonic(), owned=owned)
    if evidence:
        show_evidence(kube, evidence)
        return f"undo to revision {to_revision} did not complete: {evidence}"
    return f"back on revision {to_revision} (now revision {rollout.revision(kube.deployment(name))})"

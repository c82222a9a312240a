"""Reading a rollout from the API server's objects: is it done, is one in progress, what failed.

Pure functions over the JSON dicts `ci.clients.kube` returns, so they are exact about Kubernetes' fields and
testable without a cluster. Why not `kubectl rollout status`: it reports a crash-looping or
unpullable image only at `progressDeadlineSeconds`; the new ReplicaSet's pods show it in seconds.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
# Never copied from a ReplicaSet on undo; kubectl's `annotationsToSkip`.
UNDO_SKIPPED_ANNOTATIONS = frozenset({
    "kubectl.kubernetes.io/last-applied-configuration", REVISION,
    "deployment.kubernetes.io/revision-history", "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas", "deprecated.deployment.rollback.to"})
# Waiting reasons that do not go away by waiting longer.
FATAL_WAITING = frozenset({"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull",
                           "CrashLoopBackOff", "CreateContainerConfigError", "CreateContainerError",
                           "RunContainerError"})


PULL_FAILED = frozenset({"ErrImagePull", "ImagePullBackOff"})
# Words of a container runtime's pull error when the registry refused the credentials (none, or wrong).
REFUSED = ("401", "403", "unauthorized", "forbidden", "denied", "authoriz", "authenticat", "credentials")


def pull_hint(reason: str, message: str) -> str:
    """What to check when the kubelet's pull failed, read from the runtime's message ("" for another
    reason, or a message that says neither)."""
    text = message.lower()
    if reason not in PULL_FAILED:
        return ""
    if any(word in text for word in REFUSED):
        return ("the registry refused the pull: the pods need a pull secret that can read this image "
                "(imagePullSecrets on the pod template or its ServiceAccount; docs/deploy-account.md#pull-secrets). ")
    if "not found" in text or "manifest unknown" in text:
        return "the registry has no such image or tag: check it was pushed, to this registry. "
    return ""


def pull_evidence(evidence: Evidence, events: list[dict]) -> Evidence:
    """An image pull back-off says only "Back-off pulling image": the kubelet's last failed pull (its
    pod's events, oldest first) says what the registry answered."""
    failed = [event.get("message") or "" for event in events
              if event.get("reason") == "Failed" and "failed to pull" in (event.get("message") or "").lower()]
    if evidence.reason != "ImagePullBackOff" or not failed:
        return evidence
    return replace(evidence, detail=pull_hint("ErrImagePull", failed[-1]) + failed[-1][:300])


@dataclass(frozen=True)
class Evidence:
    """Why a rollout is failed, about which pod and container (None: the Deployment itself)."""

    reason: str
    detail: str
    pod: str | None = None
    container: str | None = None
    previous_log: bool = False  # the failing container already restarted: its last run has the log

    def __str__(self) -> str:
        where = f"pod {self.pod} container {self.container}: " if self.pod else ""
        return f"{self.reason}: {where}{self.detail}"


@dataclass
class Watch:
    """What a watcher remembers between polls: when each container was first seen started but unready."""

    readiness_limit: float
    max_restarts: int
    unready_since: dict[str, float] = field(default_factory=dict)

    def evidence(self, pods: list[dict], now: float) -> Evidence | None:
        for pod in pods:
            if pod["metadata"].get("deletionTimestamp"):
                continue
            for status in pod.get("status", {}).get("containerStatuses") or []:
                found = self._container(pod["metadata"]["name"], status, now)
                if found:
                    return found
        return None

    def _container(self, pod: str, status: dict, now: float) -> Evidence | None:
        name, state, last = status["name"], status.get("state", {}), status.get("lastState", {})
        waiting = state.get("waiting") or {}
        restarts = status.get("restartCount", 0)
        for terminated in (state.get("terminated"), last.get("terminated")):
            if terminated and terminated.get("reason") == "OOMKilled":
                return Evidence("OOMKilled", "the container ran out of memory: raise the memory limit",
                                pod, name, previous_log=bool(last.get("terminated")))
        if waiting.get("reason") in FATAL_WAITING:
            message = waiting.get("message") or ""
            return Evidence(waiting["reason"], pull_hint(waiting["reason"], message) + message[:300], pod, name,
                            previous_log=restarts > 0)
        if restarts > self.max_restarts:
            exit_code = (last.get("terminated") or {}).get("exitCode")
            return Evidence("Restarts", f"{restarts} restarts (limit {self.max_restarts}), last exit code "
                            f"{exit_code}", pod, name, previous_log=True)
        key = f"{pod}/{name}"
        if state.get("running") and status.get("started", True) and not status.get("ready"):
            since = self.unready_since.setdefault(key, now)
            if now - since > self.readiness_limit:
                return Evidence("NotReady", f"started but not ready for {now - since:.0f}s (limit "
                                f"{self.readiness_limit:.0f}s): the readiness probe keeps failing", pod, name)
        else:
            self.unready_since.pop(key, None)
        return None


def revision(obj: dict) -> int:
    return int((obj["metadata"].get("annotations") or {}).get(REVISION, "0"))


def condition(deployment: dict, kind: str) -> dict:
    return next((c for c in deployment.get("status", {}).get("conditions") or [] if c["type"] == kind), {})


def deadline_exceeded(deployment: dict) -> Evidence | None:
    progressing = condition(deployment, "Progressing")
    if progressing.get("reason") == "ProgressDeadlineExceeded":
        return Evidence("ProgressDeadlineExceeded", progressing.get("message", ""))
    return None


def counts(deployment: dict) -> tuple[int, int, int, int, int]:
    """(wanted, updated, ready, available, total) replicas."""
    spec, status = deployment["spec"], deployment.get("status", {})
    return (spec.get("replicas", 1), status.get("updatedReplicas", 0), status.get("readyReplicas", 0),
            status.get("availableReplicas", 0), status.get("replicas", 0))


def progress_line(deployment: dict) -> str:
    wanted, updated, ready, available, total = counts(deployment)
    old = total - updated
    return (f"{updated}/{wanted} updated, {ready}/{wanted} ready, {available} available"
            + (f", {old} old" if old > 0 else ""))


def observed(deployment: dict) -> bool:
    return deployment.get("status", {}).get("observedGeneration", 0) >= deployment["metadata"]["generation"]


def complete(deployment: dict) -> bool:
    """Updated, ready and available replicas match the spec, no old ones left, generation observed."""
    wanted, updated, ready, available, total = counts(deployment)
    return observed(deployment) and updated == wanted == ready == available == total


def in_progress(deployment: dict) -> str | None:
    """Why another rollout is still running, or None."""
    if deployment["spec"].get("paused"):
        return "the Deployment is paused (kubectl rollout resume)"
    if not complete(deployment):
        return f"its rollout is not complete ({progress_line(deployment)})"
    return None


def owned(replicasets: list[dict], deployment: dict) -> list[dict]:
    uid = deployment["metadata"]["uid"]
    return [rs for rs in replicasets if any(o.get("uid") == uid for o in rs["metadata"].get("ownerReferences") or [])]


def newest(replicasets: list[dict], deployment: dict) -> dict | None:
    """The ReplicaSet of the Deployment's current revision."""
    current = revision(deployment)
    return next((rs for rs in replicasets if revision(rs) == current), None)


def undo_patch(deployment: dict, replicasets: list[dict]) -> tuple[list[dict], int] | None:
    """The JSON patch `kubectl rollout undo` sends: the previous revision's pod template without its
    pod-template-hash, and that ReplicaSet's annotations (kubectl's skip list kept from the
    Deployment). None when there is no previous revision."""
    mine = sorted(owned(replicasets, deployment), key=revision)
    current = revision(deployment)
    previous = [rs for rs in mine if revision(rs) < current]
    if not previous:
        return None
    source = previous[-1]
    template = copy.deepcopy(source["spec"]["template"])
    template.get("metadata", {}).get("labels", {}).pop(HASH_LABEL, None)
    kept = deployment["metadata"].get("annotations") or {}
    annotations = {k: v for k, v in kept.items() if k in UNDO_SKIPPED_ANNOTATIONS}
    annotations |= {k: v for k, v in (source["metadata"].get("annotations") or {}).items()
                    if k not in UNDO_SKIPPED_ANNOTATIONS}
    return ([{"op": "replace", "path": "/spec/template", "value": template},
             {"op": "replace", "path": "/metadata/annotations", "value": annotations}], revision(source))


STARTUP_KILLED = "failed startup probe"
STARTUP_FAILED = "Startup probe failed"


def startup_allowance(probe: dict) -> tuple[float, str]:
    """Seconds a startupProbe lets a container take to start, and the formula with its numbers
    (Kubernetes' defaults for unset fields: periodSeconds 10, failureThreshold 3, initialDelaySeconds 0)."""
    period, threshold = probe.get("periodSeconds", 10), probe.get("failureThreshold", 3)
    delay = probe.get("initialDelaySeconds", 0)
    return (threshold * period + delay,
            f"failureThreshold {threshold} x periodSeconds {period} + initialDelaySeconds {delay}")


def _about(event: dict, container: str, only: bool) -> bool:
    path = (event.get("involvedObject") or {}).get("fieldPath") or ""
    return path == f"spec.containers{{{container}}}" or (not path and only)


def startup_evidence(pod: dict, events: list[dict]) -> Evidence | None:
    """A container of `pod` failed its startup probe: the kubelet says it "failed startup probe, will
    be restarted", or the probe has failed failureThreshold times (the kubelet's own decision: from
    then on it stops probing and restarts the container; a 1.20 kubelet does so only at its next
    periodic pod sync, up to a minute or more later). The cause and the fix, at once."""
    containers = [c for c in pod.get("spec", {}).get("containers") or [] if c.get("startupProbe")]
    for container in containers:
        name, only = container["name"], len(pod["spec"]["containers"]) == 1
        mine = [e for e in events if _about(e, name, only)]
        killed = [e for e in mine if STARTUP_KILLED in (e.get("message") or "")]
        failures = [e for e in mine if (e.get("message") or "").startswith(STARTUP_FAILED)]
        allowed, formula = startup_allowance(container["startupProbe"])
        threshold = container["startupProbe"].get("failureThreshold", 3)
        failed = sum(e.get("count") or 1 for e in failures)
        if not killed and failed < threshold:
            continue
        what = ("the kubelet restarted the container" if killed else
                f"its startup probe failed {failed} times (failureThreshold {threshold}): the kubelet restarts it")
        last = failures[-1]["message"][len(STARTUP_FAILED):].strip(" :")[:200] if failures else ""
        return Evidence("StartupProbe",
                        f"the model needs more than {allowed:g}s to load and the startup probe allows {allowed:g}s "
                        f"({formula}); {what}" + (f" (last probe: {last})" if last else "")
                        + ". Raise the startupProbe's failureThreshold (manifests) or speed up load_context",
                        pod["metadata"]["name"], name, previous_log=bool(killed))
    return None


def starting(pod: dict) -> bool:
    """A container of the pod has not passed its startup probe yet, or was restarted: its events
    may explain why (read them only for such pods)."""
    statuses = pod.get("status", {}).get("containerStatuses") or []
    return any(not s.get("started", False) or s.get("restartCount", 0) > 0 for s in statuses) or not statuses

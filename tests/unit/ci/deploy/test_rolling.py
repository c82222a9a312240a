"""ci/deploy/rolling.py: the set-image patch, and the wait/undo loops driven by a fake `Kube` (no cluster)."""
from __future__ import annotations

import time

import pytest

from ci.clients.kube import ApiUnreachable
from ci.deploy.rolling import Limits, Target, set_image_patch, undo, wait
from ci.deploy.rollout import HASH_LABEL, REVISION
from ci.errors import ConfigError

UID = "uid-1"
TARGET = Target(namespace="ns", deployment="web", container="model", image="reg/web@sha256:abc",
                model_name="credit", model_version="4", image_tag="credit-v4-deadbeef")
FAST = Limits(timeout=30, readiness=60, max_restarts=1, poll=0)


def deployment(*, generation=2, observed=2, updated=1, ready=1, available=1, total=1, rev=2, conditions=(),
               annotations=None, template_meta=None, containers=("model",)) -> dict:
    return {"metadata": {"name": "web", "uid": UID, "generation": generation, "resourceVersion": "981",
                         "annotations": {REVISION: str(rev), **(annotations or {})}},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web", "tier": "model"}},
                     "template": {"metadata": template_meta if template_meta is not None else {},
                                  "spec": {"containers": [{"name": n, "image": "old"} for n in containers]}}},
            "status": {"observedGeneration": observed, "updatedReplicas": updated, "readyReplicas": ready,
                       "availableReplicas": available, "replicas": total, "conditions": list(conditions)}}


def replicaset(rev: int) -> dict:
    labels = {"app": "web", HASH_LABEL: f"h{rev}"}
    return {"metadata": {"name": f"web-{rev}", "ownerReferences": [{"uid": UID}], "labels": labels,
                         "annotations": {REVISION: str(rev)}},
            "spec": {"template": {"metadata": {"labels": dict(labels)},
                                  "spec": {"containers": [{"name": "model", "image": f"img:v{rev}"}]}}}}


class FakeKube:
    """Answers `deployment()` from a script (the last answer repeats; an exception is raised) and records
    every call."""

    def __init__(self, deployments: list[dict | None], replicasets=(), pods=()):
        self.script = list(deployments)
        self._replicasets, self._pods = list(replicasets), list(pods)
        self.calls: list[tuple] = []

    def deployment(self, name):
        self.calls.append(("deployment", name))
        answer = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def replicasets(self, selector):
        self.calls.append(("replicasets", selector))
        return self._replicasets

    def pods(self, selector):
        self.calls.append(("pods", selector))
        return self._pods

    def patch_deployment(self, name, operations):
        self.calls.append(("patch", name, operations))
        return {"metadata": {"generation": 3}}

    def events(self, kind, name):
        return [{"type": "Warning", "reason": "BackOff", "message": "restarting"}]

    def log_tail(self, pod, container, lines, previous):
        self.calls.append(("log_tail", pod, container, previous))
        return "Traceback\nboom"


# -- set image --------------------------------------------------------------------------------

@pytest.mark.parametrize(("target", "existing", "index", "deployment_annotations", "pod_annotations"), [
    pytest.param(TARGET, {}, 0,
                 {REVISION: "2", "kubernetes.io/change-cause": "ci deploy: credit v4 reg/web@sha256:abc",
                  "pyfunc-deploy.io/model-version": "4"},
                 {"pyfunc-deploy.io/model-name": "credit", "pyfunc-deploy.io/model-version": "4",
                  "pyfunc-deploy.io/image-tag": "credit-v4-deadbeef", "pyfunc-deploy.io/image-digest": "sha256:abc"},
                 id="digest-reference"),
    pytest.param(Target("ns", "web", "model", "reg/web:credit-v4", "credit", "4",
                        pipeline_url="https://gitlab/p/1"), {"team": "risk"}, 1,
                 {REVISION: "2", "kubernetes.io/change-cause": "ci deploy: credit v4 reg/web:credit-v4 "
                                                               "https://gitlab/p/1",
                  "pyfunc-deploy.io/model-version": "4", "pyfunc-deploy.io/pipeline-url": "https://gitlab/p/1"},
                 {"team": "risk", "pyfunc-deploy.io/model-name": "credit", "pyfunc-deploy.io/model-version": "4",
                  "pyfunc-deploy.io/image-tag": "", "pyfunc-deploy.io/image-digest": ""},
                 id="tag-reference-with-pipeline-second-container"),
])
def test_set_image_patch(target, existing, index, deployment_annotations, pod_annotations):
    containers = ("model",) if index == 0 else ("proxy", "model")
    current = deployment(template_meta={"labels": {"app": "web"}, "annotations": existing}, containers=containers)
    assert set_image_patch(current, target) == [
        {"op": "test", "path": "/metadata/resourceVersion", "value": "981"},
        {"op": "replace", "path": f"/spec/template/spec/containers/{index}/image", "value": target.image},
        {"op": "add", "path": "/metadata/annotations", "value": deployment_annotations},
        {"op": "add", "path": "/spec/template/metadata/labels",
         "value": {"app": "web", "pyfunc-deploy.io/model-name": "credit", "pyfunc-deploy.io/model-version": "4"}},
        {"op": "add", "path": "/spec/template/metadata/annotations", "value": pod_annotations},
    ]


def test_set_image_patch_names_the_containers_when_the_one_asked_for_is_missing():
    with pytest.raises(ConfigError, match=r"deployment web has no container 'model' \(it has app, proxy\)"):
        set_image_patch(deployment(containers=("app", "proxy")), TARGET)


# -- wait --------------------------------------------------------------------------------------

def crashing_pod() -> dict:
    return {"metadata": {"name": "web-h2-x"},
            "status": {"containerStatuses": [{"name": "model", "restartCount": 2, "ready": False,
                                              "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "m"}},
                                              "lastState": {"terminated": {"exitCode": 1}}}]}}


@pytest.mark.parametrize(("script", "pods", "expected"), [
    pytest.param([deployment(updated=0, total=2), deployment()], [], None, id="completes-on-the-second-poll"),
    pytest.param([deployment(observed=1, updated=0), deployment()], [], None, id="waits-for-the-generation"),
    pytest.param([None], [], "Deleted: deployment web was deleted during the rollout", id="deleted"),
    pytest.param([deployment(ready=0, available=0, conditions=[
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "web-2 has timed out"}])],
                 [], "ProgressDeadlineExceeded: web-2 has timed out", id="deadline"),
    pytest.param([deployment(ready=0, available=0)], [crashing_pod()],
                 "CrashLoopBackOff: pod web-h2-x container model: m", id="crash-loop-in-new-pods"),
])
def test_wait(script, pods, expected):
    kube = FakeKube(script, replicasets=[replicaset(1), replicaset(2)], pods=pods)
    evidence = wait(kube, "web", 2, FAST, time.monotonic())
    assert (str(evidence) if evidence else None) == expected


def unready_pod() -> dict:
    return {"metadata": {"name": "web-h2-y"},
            "status": {"containerStatuses": [{"name": "model", "restartCount": 0, "ready": False, "started": True,
                                              "state": {"running": {"startedAt": "2026-12-06T19:00:00Z"}}}]}}


DOWN = ApiUnreachable("cannot reach the Kubernetes API server at https://k8s:6443 to read deployment web: "
                      "MaxRetryError: connection refused")


def test_an_api_server_away_mid_rollout_is_watched_again_and_its_absence_is_no_pods_unready_time():
    """0.3 s away, a pod unready before it left, readiness limit 0.25 s: the rollout completes."""
    unready = deployment(ready=0, available=0)
    kube = FakeKube([unready, DOWN, DOWN, unready, deployment()], replicasets=[replicaset(2)], pods=[unready_pod()])
    assert wait(kube, "web", 2, Limits(timeout=30, readiness=0.25, max_restarts=1, poll=0.1), time.monotonic()) is None
    assert [call for call in kube.calls if call[0] == "deployment"] == [("deployment", "web")] * 5


def test_an_api_server_away_past_the_rollouts_deadline_leaves_the_outcome_unknown():
    kube = FakeKube([deployment(ready=0, available=0), DOWN])
    evidence = wait(kube, "web", 2, Limits(timeout=0.3, poll=0.05), time.monotonic())
    assert str(evidence).startswith("Unreachable: cannot reach the Kubernetes API server at https://k8s:6443")
    assert "and the rollout's 0s are over: its outcome is unknown" in str(evidence)


def test_wait_lists_pods_of_the_newest_replicaset_only():
    kube = FakeKube([deployment(ready=0, available=0)], replicasets=[replicaset(1), replicaset(2)],
                    pods=[crashing_pod()])
    wait(kube, "web", 2, FAST, time.monotonic())
    assert ("replicasets", "app=web,tier=model") in kube.calls
    assert ("pods", f"app=web,tier=model,{HASH_LABEL}=h2") in kube.calls


def test_wait_times_out_with_the_last_progress_line():
    kube = FakeKube([deployment(ready=0, available=0)], replicasets=[replicaset(2)])
    evidence = wait(kube, "web", 2, Limits(timeout=5, poll=0), time.monotonic() - 6)
    assert str(evidence) == "Timeout: not complete after 5s (1/1 updated, 0/1 ready, 0 available)"


# -- undo --------------------------------------------------------------------------------------

def test_undo_without_a_previous_revision_leaves_the_deployment():
    kube = FakeKube([deployment(rev=1)], replicasets=[replicaset(1)])
    assert undo(kube, "web", FAST) == ("no previous revision to undo to (first deploy): the Deployment is "
                                       "left as it is")
    assert not [call for call in kube.calls if call[0] == "patch"]


def test_undo_patches_back_and_waits_for_the_rollout():
    failed = deployment(rev=3, ready=0, available=0)
    back = deployment(rev=4, generation=3, observed=3)
    kube = FakeKube([failed, back], replicasets=[replicaset(1), replicaset(2), replicaset(3)])
    assert undo(kube, "web", FAST) == "back on revision 2 (now revision 4)"
    (patch,) = [call for call in kube.calls if call[0] == "patch"]
    assert patch[2][0]["value"]["spec"]["containers"][0]["image"] == "img:v2"


def test_undo_that_fails_says_why():
    failed = deployment(rev=3, ready=0, available=0)
    kube = FakeKube([failed, deployment(rev=4, generation=3, observed=3, ready=0, available=0)],
                    replicasets=[replicaset(2), replicaset(3), replicaset(4)], pods=[crashing_pod()])
    crashing = crashing_pod()
    crashing["metadata"]["name"] = "web-h4-x"
    kube._pods = [crashing]
    assert undo(kube, "web", FAST) == ("undo to revision 2 did not complete: CrashLoopBackOff: pod web-h4-x "
                                       "container model: m")
    assert ("log_tail", "web-h4-x", "model", True) in kube.calls

"""ci/deploy/rollout.py: rollout state, fail-fast evidence and the undo patch, from API-server JSON dicts."""
from __future__ import annotations

import copy

import pytest

from ci.deploy.rollout import (
    HASH_LABEL,
    REVISION,
    Evidence,
    Watch,
    complete,
    counts,
    deadline_exceeded,
    in_progress,
    newest,
    observed,
    owned,
    progress_line,
    pull_evidence,
    pull_hint,
    revision,
    undo_patch,
)

UID = "uid-deploy"


def pod(*statuses: dict, name: str = "web-abc", deleting: bool = False) -> dict:
    metadata = {"name": name, **({"deletionTimestamp": "2024-01-01T00:00:00Z"} if deleting else {})}
    return {"metadata": metadata, "status": {"containerStatuses": list(statuses)}}


def container(name: str = "model", *, state: dict | None = None, last: dict | None = None, restarts: int = 0,
              ready: bool = False, started: bool | None = None) -> dict:
    status = {"name": name, "state": state or {}, "lastState": last or {}, "restartCount": restarts, "ready": ready}
    if started is not None:
        status["started"] = started
    return status


def waiting(reason: str, message: str = "") -> dict:
    return {"waiting": {"reason": reason, "message": message}}


def terminated(reason: str, exit_code: int = 1) -> dict:
    return {"terminated": {"reason": reason, "exitCode": exit_code}}


RUNNING = {"running": {"startedAt": "2024-01-01T00:00:00Z"}}


def deployment(*, replicas=2, updated=2, ready=2, available=2, total=2, generation=3, observed_generation=3,
               paused=False, rev=3, conditions=(), annotations=None) -> dict:
    spec = {"replicas": replicas, **({"paused": True} if paused else {})}
    return {"metadata": {"uid": UID, "generation": generation,
                         "annotations": {REVISION: str(rev), **(annotations or {})}},
            "spec": spec,
            "status": {"observedGeneration": observed_generation, "updatedReplicas": updated,
                       "readyReplicas": ready, "availableReplicas": available, "replicas": total,
                       "conditions": list(conditions)}}


def replicaset(rev: int, *, owner: str = UID, image: str = "img:v1", annotations=None) -> dict:
    return {"metadata": {"name": f"web-{rev}", "ownerReferences": [{"uid": owner}],
                         "annotations": {REVISION: str(rev), **(annotations or {})},
                         "labels": {"app": "web", HASH_LABEL: f"hash{rev}"}},
            "spec": {"template": {"metadata": {"labels": {"app": "web", HASH_LABEL: f"hash{rev}"}},
                                  "spec": {"containers": [{"name": "model", "image": image}]}}}}


# -- evidence from pods ------------------------------------------------------------------------

EVIDENCE = [
    pytest.param(pod(container(state=terminated("OOMKilled", 137))),
                 Evidence("OOMKilled", "the container ran out of memory: raise the memory limit", "web-abc", "model",
                          previous_log=False), id="oom-now"),
    pytest.param(pod(container(state=waiting("CrashLoopBackOff"), last=terminated("OOMKilled"), restarts=1)),
                 Evidence("OOMKilled", "the container ran out of memory: raise the memory limit", "web-abc", "model",
                          previous_log=True), id="oom-last-run-wins-over-crashloop"),
    pytest.param(pod(container(state=waiting("ImagePullBackOff", 'Back-off pulling image "r/m:2"'))),
                 Evidence("ImagePullBackOff", 'Back-off pulling image "r/m:2"', "web-abc", "model",
                          previous_log=False),
                 id="image-pull"),
    pytest.param(pod(container(state=waiting("CrashLoopBackOff", "back-off 10s"), restarts=2)),
                 Evidence("CrashLoopBackOff", "back-off 10s", "web-abc", "model", previous_log=True),
                 id="crashloop-has-previous-log"),
    pytest.param(pod(container(state=waiting("CreateContainerConfigError", "x" * 400))),
                 Evidence("CreateContainerConfigError", "x" * 300, "web-abc", "model"), id="message-cut-at-300"),
    pytest.param(pod(container(state=waiting("InvalidImageName", None))),
                 Evidence("InvalidImageName", "", "web-abc", "model"), id="no-message"),
    pytest.param(pod(container(state=RUNNING, last=terminated("Error", 3), restarts=3, ready=True)),
                 Evidence("Restarts", "3 restarts (limit 2), last exit code 3", "web-abc", "model",
                          previous_log=True), id="too-many-restarts"),
    pytest.param(pod(container(state=RUNNING, restarts=3, ready=True)),
                 Evidence("Restarts", "3 restarts (limit 2), last exit code None", "web-abc", "model",
                          previous_log=True), id="too-many-restarts-no-last-state"),
    pytest.param(pod(container(state=RUNNING, last=terminated("Error"), restarts=2, ready=True)), None,
                 id="restarts-at-limit"),
    pytest.param(pod(container(state=waiting("ContainerCreating"))), None, id="creating-is-not-fatal"),
    pytest.param(pod(container(state=RUNNING, ready=True)), None, id="running-ready"),
    pytest.param(pod(container(state=waiting("ErrImagePull")), deleting=True), None, id="terminating-pod-ignored"),
    pytest.param({"metadata": {"name": "web-abc"}}, None, id="no-status-yet"),
    pytest.param(pod(container("sidecar", state=RUNNING, ready=True),
                     container("model", state=waiting("ErrImagePull"))),
                 Evidence("ErrImagePull", "", "web-abc", "model"), id="second-container"),
]


@pytest.mark.parametrize(("the_pod", "expected"), EVIDENCE)
def test_watch_evidence_from_one_poll(the_pod, expected):
    assert Watch(readiness_limit=120, max_restarts=2).evidence([the_pod], now=0.0) == expected


def test_watch_reports_the_first_failing_pod():
    pods = [pod(container(state=RUNNING, ready=True), name="a"),
            pod(container(state=waiting("ErrImagePull")), name="b"),
            pod(container(state=waiting("CrashLoopBackOff")), name="c")]
    assert Watch(120, 2).evidence(pods, 0.0).pod == "b"


@pytest.mark.parametrize(("polls", "expected"), [
    pytest.param([(0, False), (120, False)], None, id="unready-up-to-the-limit"),
    pytest.param([(0, False), (121, False)],
                 "NotReady: pod web-abc container model: started but not ready for 121s (limit 120s): the "
                 "readiness probe keeps failing", id="unready-past-the-limit"),
    pytest.param([(0, False), (60, True), (100, False), (200, False)], None, id="ready-in-between-resets-the-clock"),
    pytest.param([(0, False), (60, True), (100, False), (221, False)],
                 "NotReady: pod web-abc container model: started but not ready for 121s (limit 120s): the "
                 "readiness probe keeps failing", id="clock-restarts-when-unready-again"),
])
def test_watch_readiness_limit_across_polls(polls, expected):
    watch, found = Watch(readiness_limit=120, max_restarts=2), None
    for now, ready in polls:
        found = watch.evidence([pod(container(state=RUNNING, ready=ready))], now)
    assert (str(found) if found else None) == expected


def test_a_container_not_started_yet_is_not_timed_for_readiness():
    watch = Watch(readiness_limit=10, max_restarts=2)
    slow_start = pod(container(state=RUNNING, started=False))
    assert watch.evidence([slow_start], 0) is None
    assert watch.evidence([slow_start], 1000) is None
    assert watch.unready_since == {}


@pytest.mark.parametrize(("evidence", "text"), [
    pytest.param(Evidence("ErrImagePull", "not found", "p", "c"), "ErrImagePull: pod p container c: not found",
                 id="about-a-pod"),
    pytest.param(Evidence("ProgressDeadlineExceeded", "took too long"), "ProgressDeadlineExceeded: took too long",
                 id="about-the-deployment"),
])
def test_evidence_text(evidence, text):
    assert str(evidence) == text


# What containerd 1.6 and CRI-O print when a pull fails (kubelet's waiting message).
REFUSED_NO_LOGIN = ('failed to pull and unpack image "127.0.0.1:5000/m:2": failed to resolve reference '
                    '"127.0.0.1:5000/m:2": unexpected status from HEAD request to http://127.0.0.1:5000/v2/m/'
                    'manifests/2: 401 Unauthorized')
REFUSED_SCOPE = ('failed to resolve reference "r.example/m:2": pull access denied, repository does not exist or '
                 'may require authorization: server message: insufficient_scope: authorization failed')
NOT_FOUND = 'failed to resolve reference "127.0.0.1:5000/m:9": 127.0.0.1:5000/m:9: not found'


@pytest.mark.parametrize(("reason", "message", "hint"), [
    pytest.param("ErrImagePull", REFUSED_NO_LOGIN, "refused the pull", id="401"),
    pytest.param("ErrImagePull", REFUSED_SCOPE, "refused the pull", id="insufficient-scope"),
    pytest.param("ErrImagePull", "rpc error: code = Unknown desc = Error response from daemon: Get "
                 "https://1234.dkr.ecr.eu-west-1.amazonaws.com/v2/m/manifests/2: no basic auth credentials",
                 "refused the pull", id="ecr-no-credentials"),
    pytest.param("ErrImagePull", 'reading manifest 2 in r.example/m: unauthorized: authentication required',
                 "refused the pull", id="cri-o"),
    pytest.param("ErrImagePull", NOT_FOUND, "no such image or tag", id="not-found"),
    pytest.param("ErrImagePull", "reading manifest 9 in r.example/m: manifest unknown", "no such image or tag",
                 id="cri-o-manifest-unknown"),
    pytest.param("ImagePullBackOff", 'Back-off pulling image "r/m:2"', "", id="back-off-says-neither"),
    pytest.param("CreateContainerConfigError", 'secret "db" not found', "", id="not-a-pull"),
])
def test_pull_hint_names_what_to_check(reason, message, hint):
    assert (hint in pull_hint(reason, message)) and (bool(hint) == bool(pull_hint(reason, message)))


def test_a_refused_pull_is_named_in_the_evidence():
    found = Watch(60, 0).evidence([pod(container(state=waiting("ErrImagePull", REFUSED_NO_LOGIN)))], 0)
    assert found.reason == "ErrImagePull" and found.detail.startswith("the registry refused the pull: ")
    assert "imagePullSecrets" in found.detail and "401 Unauthorized" in found.detail


def test_a_pull_back_off_takes_the_registrys_answer_from_the_last_failed_pull_event():
    back_off = Evidence("ImagePullBackOff", 'Back-off pulling image "r/m:2"', "p", "c")
    events = [{"reason": "Pulling", "message": 'Pulling image "r/m:2"'},
              {"reason": "Failed", "message": f'Failed to pull image "r/m:2": rpc error: {NOT_FOUND}'},
              {"reason": "Failed", "message": f'Failed to pull image "r/m:2": rpc error: {REFUSED_NO_LOGIN}'},
              {"reason": "Failed", "message": "Error: ErrImagePull"}]
    found = pull_evidence(back_off, events)
    assert found.detail.startswith("the registry refused the pull: ") and found.detail.endswith("401 Unauthorized")
    assert (found.reason, found.pod, found.container) == ("ImagePullBackOff", "p", "c")
    assert pull_evidence(back_off, events[:1]) == back_off
    assert pull_evidence(Evidence("CrashLoopBackOff", "back-off", "p", "c"), events).detail == "back-off"


# -- the Deployment's own state ----------------------------------------------------------------

@pytest.mark.parametrize(("obj", "expected"), [
    pytest.param({"metadata": {"annotations": {REVISION: "7"}}}, 7, id="annotated"),
    pytest.param({"metadata": {"annotations": None}}, 0, id="null-annotations"),
    pytest.param({"metadata": {}}, 0, id="no-annotations"),
])
def test_revision(obj, expected):
    assert revision(obj) == expected


@pytest.mark.parametrize(("conditions", "expected"), [
    pytest.param([{"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "RS web-3 timed out"}],
                 Evidence("ProgressDeadlineExceeded", "RS web-3 timed out"), id="exceeded"),
    pytest.param([{"type": "Available", "reason": "ProgressDeadlineExceeded"},
                  {"type": "Progressing", "reason": "ReplicaSetUpdated"}], None, id="other-condition-type"),
    pytest.param([{"type": "Progressing", "reason": "NewReplicaSetAvailable"}], None, id="progressing-fine"),
    pytest.param([], None, id="no-conditions"),
])
def test_deadline_exceeded(conditions, expected):
    assert deadline_exceeded(deployment(conditions=conditions)) == expected


@pytest.mark.parametrize(("fields", "line", "is_complete", "busy"), [
    pytest.param({}, "2/2 updated, 2/2 ready, 2 available", True, None, id="complete"),
    pytest.param({"updated": 1, "ready": 2, "available": 2, "total": 3},
                 "1/2 updated, 2/2 ready, 2 available, 2 old", False,
                 "its rollout is not complete (1/2 updated, 2/2 ready, 2 available, 2 old)", id="old-replicas-left"),
    pytest.param({"ready": 1, "available": 1}, "2/2 updated, 1/2 ready, 1 available", False,
                 "its rollout is not complete (2/2 updated, 1/2 ready, 1 available)", id="not-ready"),
    pytest.param({"observed_generation": 2}, "2/2 updated, 2/2 ready, 2 available", False,
                 "its rollout is not complete (2/2 updated, 2/2 ready, 2 available)", id="generation-not-observed"),
    pytest.param({"paused": True}, "2/2 updated, 2/2 ready, 2 available", True,
                 "the Deployment is paused (kubectl rollout resume)", id="paused"),
    pytest.param({"replicas": 0, "updated": 0, "ready": 0, "available": 0, "total": 0},
                 "0/0 updated, 0/0 ready, 0 available", True, None, id="scaled-to-zero"),
])
def test_progress_complete_and_in_progress(fields, line, is_complete, busy):
    dep = deployment(**fields)
    assert progress_line(dep) == line
    assert complete(dep) is is_complete
    assert in_progress(dep) == busy


def test_counts_default_missing_status_to_zero_and_replicas_to_one():
    dep = {"metadata": {"generation": 1}, "spec": {}}
    assert counts(dep) == (1, 0, 0, 0, 0)
    assert observed(dep) is False
    assert complete(dep) is False


def test_owned_and_newest():
    mine = [replicaset(1), replicaset(2), replicaset(3)]
    foreign = replicaset(3, owner="someone-else")
    dep = deployment(rev=3)
    assert [rs["metadata"]["name"] for rs in owned([*mine, foreign], dep)] == ["web-1", "web-2", "web-3"]
    assert newest(mine, dep)["metadata"]["name"] == "web-3"
    assert newest(mine[:2], dep) is None


# -- the undo patch ----------------------------------------------------------------------------

def test_undo_patch_returns_the_previous_template_without_its_hash():
    current = deployment(rev=3, annotations={"kubernetes.io/change-cause": "ci deploy v3",
                                             "kubectl.kubernetes.io/last-applied-configuration": "{...}"})
    replicasets = [replicaset(3, image="img:v3"), replicaset(1, image="img:v1"),
                   replicaset(2, image="img:v2", annotations={"kubernetes.io/change-cause": "ci deploy v2",
                                                              "deployment.kubernetes.io/desired-replicas": "2"}),
                   replicaset(4, owner="other", image="img:other")]
    before = copy.deepcopy(replicasets)
    operations, to_revision = undo_patch(current, replicasets)
    assert to_revision == 2
    assert operations == [
        {"op": "replace", "path": "/spec/template",
         "value": {"metadata": {"labels": {"app": "web"}},
                   "spec": {"containers": [{"name": "model", "image": "img:v2"}]}}},
        {"op": "replace", "path": "/metadata/annotations",
         "value": {REVISION: "3", "kubectl.kubernetes.io/last-applied-configuration": "{...}",
                   "kubernetes.io/change-cause": "ci deploy v2"}},
    ]
    assert replicasets == before, "the ReplicaSets read from the API server were modified"


@pytest.mark.parametrize("replicasets", [
    pytest.param([replicaset(3)], id="first-revision-only"),
    pytest.param([], id="no-replicasets"),
    pytest.param([replicaset(3), replicaset(2, owner="other")], id="previous-owned-by-another"),
    pytest.param([replicaset(3), replicaset(4)], id="only-newer-revisions"),
])
def test_undo_patch_without_a_previous_revision(replicasets):
    assert undo_patch(deployment(rev=3), replicasets) is None


def test_undo_patch_of_a_template_without_labels():
    old = replicaset(1)
    old["spec"]["template"] = {"spec": {"containers": []}}
    operations, to_revision = undo_patch(deployment(rev=2), [old, replicaset(2)])
    assert (to_revision, operations[0]["value"]) == (1, {"spec": {"containers": []}})

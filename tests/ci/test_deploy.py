"""`python -m ci deploy` on the real cluster: the first deploy creates everything from the staging
overlay, a good image rolls out and smokes, and every broken release is caught by its evidence,
undone like `kubectl rollout undo`, and leaves the previous version serving (checked via /version
through the API server's service proxy) with exit code 1."""
from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci.cli import main
from ci.clients.kube import Kube
from ci.deploy import rollout
from ci.errors import EXIT_FAILED, EXIT_OK
from devstack.cluster import Cluster
from devstack.fake_model_images import fake_image, load_fake_images
from devstack.procs import free_port, wait_until
from tests.ci.deploy_helpers import edited_overlay, finish, get, start_deploy
from tests.ci.recording_http import RecordingServer, gitlab_routes

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "manifests" / "overlays" / "staging"
NAME = "pyfunc-model"


@pytest.fixture(scope="module")
def images(k8s_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return load_fake_images(k8s_cluster, tmp_path_factory.mktemp("fake-images"))


@pytest.fixture(autouse=True)
def deploy_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci.deploy")


@pytest.fixture
def smoke_input(tmp_path: Path) -> Path:
    path = tmp_path / "example.json"
    path.write_text('{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}')
    return path


def run_deploy(cluster: Cluster, namespace: str, image: str, version: str, out: Path, smoke_input: Path,
               *extra: str) -> tuple[int, dict]:
    code = main(["deploy", "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
                 "--manifests", str(OVERLAY), "--image", image, "--model-name", "fake-model",
                 "--model-version", version, "--pipeline-url", "https://gitlab.example/p/-/pipelines/7",
                 "--smoke-input", str(smoke_input), "--smoke-timeout", "10", "--readiness-timeout", "10",
                 "--timeout", "150", "--output-dir", str(out), *extra])
    return code, json.loads((out / "deploy.json").read_text())


def serving_version(cluster: Cluster, namespace: str) -> str:
    with cluster.api_client() as api_client:
        status, body = Kube(api_client, namespace).proxy("GET", NAME, "http", "version")
    assert status == 200
    return json.loads(body)["model_version"]


def deployment(cluster: Cluster, namespace: str) -> dict:
    with cluster.api_client() as api_client:
        return Kube(api_client, namespace).deployment(NAME)


@pytest.fixture
def v1_serving(k8s_cluster: Cluster, k8s_namespace: str, images: dict[str, str], tmp_path: Path,
               smoke_input: Path) -> str:
    """A namespace where the first deploy created everything and version 1 serves."""
    code, report = run_deploy(k8s_cluster, k8s_namespace, images["v1"], "1", tmp_path / "v1", smoke_input)
    assert code == EXIT_OK, report
    assert report["created"] and report["smoke"]["ok"]
    assert serving_version(k8s_cluster, k8s_namespace) == "1"
    return k8s_namespace


@pytest.fixture
def gitlab(monkeypatch: pytest.MonkeyPatch):
    """A recording stand-in for GitLab: the deploy records its outcome through the deployments API."""
    with RecordingServer(gitlab_routes("42")) as server:
        for name, value in {"CI_SERVER_URL": server.url, "GITLAB_API_TOKEN": "glpat-deploy-token",
                            "CI_PROJECT_ID": "42", "CI_ENVIRONMENT_NAME": "staging",
                            "CI_COMMIT_SHA": "ab" * 20, "CI_COMMIT_REF_NAME": "main"}.items():
            monkeypatch.setenv(name, value)
        yield server


def recorded_status(gitlab: RecordingServer) -> str:
    [call] = gitlab.calls("POST", "/api/v4/projects/42/deployments")
    assert call.json()["environment"] == "staging" and call.json()["ref"] == "main"
    return call.json()["status"]


def test_good_rollout_sets_image_annotations_and_smokes(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path,
        caplog: pytest.LogCaptureFixture, gitlab: RecordingServer) -> None:
    code, report = run_deploy(k8s_cluster, v1_serving, images["v2"], "2", tmp_path / "out", smoke_input)
    assert recorded_status(gitlab) == "success"

    assert code == EXIT_OK, report
    assert report["ok"] and not report["created"] and report["revision"] == 2
    assert serving_version(k8s_cluster, v1_serving) == "2"
    dep = deployment(k8s_cluster, v1_serving)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == images["v2"]
    assert dep["spec"]["template"]["metadata"]["labels"]["pyfunc-deploy.io/model-version"] == "2"
    annotations = dep["metadata"]["annotations"]
    assert annotations["kubernetes.io/change-cause"].startswith(f"ci deploy: fake-model v2 {images['v2']}")
    assert annotations["pyfunc-deploy.io/pipeline-url"] == "https://gitlab.example/p/-/pipelines/7"
    progress = [r.getMessage() for r in caplog.records if "updated," in r.getMessage()]
    assert progress and len(progress) == len(set(progress))  # one line per change
    assert progress[-1].endswith("2/2 updated, 2/2 ready, 2 available")


@pytest.mark.parametrize(("image", "version", "reasons"), [
    ("missing", "3", {"ErrImagePull", "ImagePullBackOff"}),
    ("crash", "5", {"CrashLoopBackOff", "Restarts"}),
    ("never-ready", "4", {"NotReady"}),
    ("wrong-version", "3", {"SmokeFailed"}),
])
def test_failed_rollout_is_undone_and_the_previous_version_serves(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path,
        caplog: pytest.LogCaptureFixture, image: str, version: str, reasons: set[str],
        gitlab: RecordingServer) -> None:
    code, report = run_deploy(k8s_cluster, v1_serving, images[image], version, tmp_path / "out", smoke_input)

    assert code == EXIT_FAILED
    assert recorded_status(gitlab) == "failed"
    assert "glpat-deploy-token" not in caplog.text
    assert not report["ok"] and report["failure"].split(":")[0] in reasons, report
    assert report["undo"].startswith("back on revision 1"), report
    assert report["evidence_seconds"] < 60 and report["undo_seconds"] < 60, report
    dep = deployment(k8s_cluster, v1_serving)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == images["v1"]
    assert dep["metadata"]["annotations"]["pyfunc-deploy.io/model-version"] == "1"
    assert serving_version(k8s_cluster, v1_serving) == "1"
    logged = "\n".join(r.getMessage() for r in caplog.records)
    if image == "crash":  # the evidence shows the container's own last words
        assert "cannot import sklearn" in logged
    if image != "wrong-version":
        assert "event " in logged


def test_refuses_while_another_rollout_is_in_progress(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path) -> None:
    subprocess.run(["kubectl", "-n", v1_serving, "set", "image", f"deployment/{NAME}",
                    f"{NAME}={images['never-ready']}"], env={**os.environ, **k8s_cluster.env}, check=True,
                   capture_output=True, timeout=60)
    time.sleep(1)
    code = main(["deploy", "--kubeconfig", str(k8s_cluster.kubeconfig), "--namespace", v1_serving,
                 "--image", images["v2"], "--model-name", "fake-model", "--model-version", "2",
                 "--smoke-input", str(smoke_input), "--output-dir", str(tmp_path)])
    assert code == EXIT_FAILED
    dep = deployment(k8s_cluster, v1_serving)
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == images["never-ready"]


def test_unreachable_api_server_fails_fast_naming_the_url(tmp_path: Path, smoke_input: Path) -> None:
    url = f"https://127.0.0.1:{free_port()}"
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": {"server": url, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}]}))
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "ci", "deploy", "--namespace", "staging", "--image", "r/x@sha256:" + "0" * 64,
         "--model-name", "m", "--model-version", "1", "--smoke-input", str(smoke_input),
         "--output-dir", str(tmp_path)], env={**os.environ, "KUBECONFIG": str(kubeconfig)},
        capture_output=True, text=True, timeout=60, cwd=REPO)
    assert result.returncode == EXIT_FAILED, result.stderr
    assert time.monotonic() - started < 15
    assert f"cannot reach the Kubernetes API server at {url}" in result.stderr
    assert "not-a-real-token" not in result.stderr + result.stdout


# -- issue 15: the overlay on every deploy, racing deploys, a change under a deploy, a slow start ------

def test_an_overlay_change_reaches_the_cluster_on_the_next_deploy(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path) -> None:
    overlay = edited_overlay(tmp_path, drop=("pdb.yaml",), hpa_ops=[
        {"op": "replace", "path": "/spec/maxReplicas", "value": 4}], deployment_ops=[
        {"op": "replace", "path": "/spec/template/spec/containers/0/resources/requests/cpu", "value": "150m"},
        {"op": "add", "path": "/spec/template/spec/containers/0/env/-", "value": {"name": "FEATURE_X", "value": "on"}}])
    code, report = run_deploy(k8s_cluster, v1_serving, images["v2"], "2", tmp_path / "out", smoke_input,
                              "--manifests", str(overlay))

    assert code == EXIT_OK, report
    container = deployment(k8s_cluster, v1_serving)["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"]["requests"]["cpu"] == "150m"
    assert {"name": "FEATURE_X", "value": "on"} in container["env"]
    assert get(k8s_cluster, v1_serving, "autoscaling/v1", "HorizontalPodAutoscaler")["spec"]["maxReplicas"] == 4
    # the overlay's autoscaling/v2 HPA went in as v2beta2 on this v1.20 cluster: its behaviour is kept
    behavior = get(k8s_cluster, v1_serving, "autoscaling/v2beta2", "HorizontalPodAutoscaler")["spec"]["behavior"]
    assert behavior["scaleDown"]["stabilizationWindowSeconds"] == 300 and behavior["scaleUp"]["policies"]
    changed = report["changes"]
    prefix = "spec.template.spec.containers[pyfunc-model]"
    assert f"{prefix}.resources.requests.cpu: 100m -> 150m" in changed["deployment"], changed
    assert f"{prefix}.env[FEATURE_X].value: (unset) -> on" in changed["deployment"], changed
    assert changed["objects"]["HorizontalPodAutoscaler/pyfunc-model"] == ["spec.maxReplicas: 3 -> 4"], changed
    # no longer rendered: reported, left in place; pruned only when asked
    assert changed["stale"] == ["PodDisruptionBudget/pyfunc-model"] and not changed["pruned"]
    assert get(k8s_cluster, v1_serving, "policy/v1", "PodDisruptionBudget") is not None
    code, report = run_deploy(k8s_cluster, v1_serving, images["v2"], "2", tmp_path / "prune", smoke_input,
                              "--manifests", str(overlay), "--prune")
    assert code == EXIT_OK, report
    assert report["changes"]["pruned"] == ["PodDisruptionBudget/pyfunc-model"], report["changes"]
    assert get(k8s_cluster, v1_serving, "policy/v1", "PodDisruptionBudget") is None


@pytest.mark.parametrize(("first", "second", "lock_timeout"), [
    pytest.param("v2", "v3", "1", id="second-refuses"),
    pytest.param("v3", "v2", "240", id="second-waits"),
])
def test_two_deploys_started_0_3s_apart_never_both_succeed_for_different_versions(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path,
        first: str, second: str, lock_timeout: str) -> None:
    versions = {"v2": "2", "v3": "3"}
    runs = []
    for name in (first, second):
        runs.append(start_deploy(k8s_cluster, v1_serving, OVERLAY, images[name], versions[name], tmp_path / name,
                                 smoke_input, f"https://gitlab.example/p/-/jobs/{name}", "--lock-timeout",
                                 lock_timeout))
        time.sleep(0.3)
    ended = finish(*runs)
    codes = {run.name: run.process.returncode for run in ended}
    winners = [run for run in ended if run.process.returncode == EXIT_OK]
    assert winners, {run.name: run.stderr[-2000:] for run in ended}
    live = serving_version(k8s_cluster, v1_serving)
    assert live == versions[winners[-1].name.rsplit("/", 1)[1]], codes  # the last to report success is live
    other, last = ended
    if lock_timeout == "1":
        assert len(winners) == 1, codes
        loser = next(run for run in ended if run.process.returncode != EXIT_OK)
        assert loser.process.returncode == EXIT_FAILED
        assert f"is being deployed by {winners[0].name} #" in loser.stderr, loser.stderr[-2000:]
    else:
        assert len(winners) == 2, {run.name: run.stderr[-2000:] for run in ended}
        waited = last.report()["lock"]
        assert waited["waited_for"].startswith(other.name + " #") and waited["waited_seconds"] > 1, waited
        assert f"held by {other.name} #" in last.stderr


def test_a_kubectl_set_image_during_a_deploy_fails_it_naming_the_change(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path) -> None:
    run = start_deploy(k8s_cluster, v1_serving, OVERLAY, images["v2-slow-ready"], "2", tmp_path / "out",
                       smoke_input, "https://gitlab.example/p/-/jobs/1")
    deadline = time.monotonic() + 60
    while deployment(k8s_cluster, v1_serving)["spec"]["template"]["spec"]["containers"][0]["image"] != \
            images["v2-slow-ready"]:
        assert time.monotonic() < deadline and run.process.poll() is None, run.stderr[-2000:]
        time.sleep(0.2)
    subprocess.run(["kubectl", "-n", v1_serving, "set", "image", f"deployment/{NAME}", f"{NAME}={images['v3']}"],
                   env={**os.environ, **k8s_cluster.env}, check=True, capture_output=True, timeout=60)
    finish(run)

    assert run.process.returncode == EXIT_FAILED, run.stderr[-2000:]
    report = run.report()
    assert report["failure"].startswith("ChangedUnder: the Deployment's pod template was changed under this "
                                        "deploy"), report
    assert "spec.template.spec.containers[pyfunc-model].image" in report["failure"]
    assert f"image now {images['v3']}" in report["failure"] and "by kubectl" in report["failure"], report
    assert report["undo"].startswith("not undone"), report
    assert deployment(k8s_cluster, v1_serving)["spec"]["template"]["spec"]["containers"][0]["image"] == images["v3"]


def rolling_out(cluster: Cluster, namespace: str, image: str, run) -> None:
    """Return once the running deploy `run` has set `image` on the Deployment (its rollout has begun)."""
    deadline = time.monotonic() + 60
    while deployment(cluster, namespace)["spec"]["template"]["spec"]["containers"][0]["image"] != image:
        assert time.monotonic() < deadline and run.process.poll() is None, run.stderr[-3000:]
        time.sleep(0.2)


def test_an_api_server_away_for_30s_mid_rollout_is_waited_out_and_the_rollout_decided(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path) -> None:
    """The API server stops 2 s into the rollout of a model that takes 40 s to start, and comes back 30 s
    later: the deploy watches again (backoff), does not count the outage as the pod's time unready, and
    the rollout completes with the new version serving."""
    run = start_deploy(k8s_cluster, v1_serving, OVERLAY, images["slow-start"], "6", tmp_path / "out", smoke_input,
                       "https://gitlab.example/p/-/jobs/6")
    rolling_out(k8s_cluster, v1_serving, images["slow-start"], run)
    time.sleep(2)
    k8s_cluster.restart("kube-apiserver", down_seconds=30)
    finish(run, timeout=300)
    assert run.process.returncode == EXIT_OK, run.stderr[-5000:]
    assert "the API server does not answer" in run.stderr and "the API server answers again after" in run.stderr
    assert run.report()["ok"] and run.report()["smoke"]["ok"], run.report()
    assert serving_version(k8s_cluster, v1_serving) == "6"


def test_a_slow_loading_model_is_decided_at_the_first_startup_probe_restart(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path) -> None:
    overlay = edited_overlay(tmp_path, deployment_ops=[
        {"op": "replace", "path": "/spec/template/spec/containers/0/startupProbe/failureThreshold", "value": 3}])
    code, report = run_deploy(k8s_cluster, v1_serving, images["slow-start"], "6", tmp_path / "out", smoke_input,
                              "--manifests", str(overlay))

    assert code == EXIT_FAILED
    assert report["failure"].startswith("StartupProbe: "), report
    assert ("the model needs more than 6s to load and the startup probe allows 6s (failureThreshold 3 x "
            "periodSeconds 2 + initialDelaySeconds 0)") in report["failure"], report
    assert "Raise the startupProbe's failureThreshold (manifests) or speed up load_context" in report["failure"]
    assert report["evidence_seconds"] < 40, report  # the image "loads" for 40 s: decided before that
    assert report["undo"].startswith("back on revision 1"), report
    assert serving_version(k8s_cluster, v1_serving) == "1"


@pytest.fixture
def private_image(oci_registry, oci_auth_registry, tmp_path: Path) -> str:
    """Version 2 of the fake model in a registry that wants a login (htpasswd), as a company's is."""
    _, archive = fake_image(tmp_path, "private", "2")
    ref = f"{oci_auth_registry.address}/pyfunc-deploy/fake-model:2"
    login = f"{oci_auth_registry.username}:{oci_auth_registry.password}"
    oci_registry.run("skopeo", "copy", "--dest-tls-verify=false", "--dest-creds", login, f"docker-archive:{archive}",
                     f"docker://{ref}")
    return ref


def put_registry_login(cluster: Cluster, namespace: str, name: str, registry: str, username: str,
                       password: str) -> None:
    """A kubernetes.io/dockerconfigjson Secret, as `kubectl create secret docker-registry` writes it."""
    from kubernetes import client

    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    config = json.dumps({"auths": {registry: {"username": username, "password": password, "auth": auth}}})
    secret = client.V1Secret(metadata=client.V1ObjectMeta(name=name), type="kubernetes.io/dockerconfigjson",
                             string_data={".dockerconfigjson": config})
    with cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        if core.list_namespaced_secret(namespace, field_selector=f"metadata.name={name}").items:
            core.delete_namespaced_secret(name, namespace)
        core.create_namespaced_secret(namespace, secret)


def test_a_registry_that_refuses_the_pull_is_named_and_undone_until_the_pods_have_its_login(
        k8s_cluster: Cluster, v1_serving: str, private_image: str, oci_auth_registry, tmp_path: Path,
        smoke_input: Path) -> None:
    """The new image is in a registry that wants a login. With no pull secret, then with a wrong one, the
    kubelet's pull is refused: decided within a minute, named with what the pods need, undone, version
    1 serving. With the right login in the secret the overlay names, version 2 rolls out."""
    secret, registry = "registry-login", oci_auth_registry.address
    with_secret = edited_overlay(tmp_path, deployment_ops=[
        {"op": "add", "path": "/spec/template/spec/imagePullSecrets", "value": [{"name": secret}]}])
    for attempt, (overlay, password) in enumerate([(OVERLAY, None), (with_secret, "not-the-password")]):
        if password:
            put_registry_login(k8s_cluster, v1_serving, secret, registry, oci_auth_registry.username, password)
        code, report = run_deploy(k8s_cluster, v1_serving, private_image, "2", tmp_path / f"refused-{attempt}",
                                  smoke_input, "--manifests", str(overlay))
        assert code == EXIT_FAILED, report
        assert report["failure"].split(":")[0] in {"ErrImagePull", "ImagePullBackOff"}, report
        assert "the registry refused the pull: the pods need a pull secret" in report["failure"], report
        assert report["evidence_seconds"] < 60 and report["undo"].startswith("back on revision "), report
        assert serving_version(k8s_cluster, v1_serving) == "1"
        assert (password or "s3cret") not in json.dumps(report)

    put_registry_login(k8s_cluster, v1_serving, secret, registry, oci_auth_registry.username,
                       oci_auth_registry.password)
    code, report = run_deploy(k8s_cluster, v1_serving, private_image, "2", tmp_path / "admitted", smoke_input,
                              "--manifests", str(with_secret))
    assert code == EXIT_OK, report
    assert serving_version(k8s_cluster, v1_serving) == "2"


def test_a_node_that_stops_reporting_mid_rollout_is_decided_at_the_deadline_never_a_success(
        k8s_cluster: Cluster, v1_serving: str, images: dict[str, str], tmp_path: Path, smoke_input: Path) -> None:
    """The only node's kubelet stops 1 s into the rollout and stays away 45 s: the new pods never report
    ready, so the rollout ends at the deploy's 30 s deadline with exit 1 and is undone (the previous pods
    still run); once the kubelet is back, version 1 serves and the next rollout completes."""
    run = start_deploy(k8s_cluster, v1_serving, OVERLAY, images["v2-slow-ready"], "2", tmp_path / "out", smoke_input,
                       "https://gitlab.example/p/-/jobs/8", "--timeout", "30")
    rolling_out(k8s_cluster, v1_serving, images["v2-slow-ready"], run)
    time.sleep(1)
    k8s_cluster.restart("kubelet", down_seconds=45)
    finish(run, timeout=120)
    assert run.process.returncode == EXIT_FAILED, run.stderr[-5000:]
    report = run.report()
    assert not report["ok"] and report["failure"].split(":")[0] in {"Timeout", "ProgressDeadlineExceeded"}, report
    assert report["undo"].startswith("back on revision "), report
    wait_until(lambda: serving_version(k8s_cluster, v1_serving) == "1", 60, "version 1 serving again")
    # the restarted kubelet probes its pods anew (unready until their readiness probe passes again)
    wait_until(lambda: rollout.complete(deployment(k8s_cluster, v1_serving)), 90, "the pods ready again")
    code, report = run_deploy(k8s_cluster, v1_serving, images["v3"], "3", tmp_path / "after", smoke_input)
    assert code == EXIT_OK, report  # the node runs new pods again (the cluster is the next tests' too)

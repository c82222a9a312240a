"""`python -m ci deploy` on the real cluster: the first deploy creates everything from the staging
overlay, a good image rolls out and smokes, and every broken release is caught by its evidence,
undone like `kubectl rollout undo`, and leaves the previous version serving (checked via /version
through the API server's service proxy) with exit code 1."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ci.cli import main
from ci.errors import EXIT_FAILED, EXIT_OK
from ci.kube import Kube
from devstack.cluster import Cluster
from devstack.fake_model_images import load_fake_images
from devstack.procs import free_port
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

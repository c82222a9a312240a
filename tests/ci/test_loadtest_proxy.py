"""`python -m ci loadtest` with no LOADTEST_URL, as the scheduled job runs it: the Service in
KUBE_NAMESPACE is reached through the API server's service proxy (`kubectl proxy`) on the real
cluster, where nothing else routes to it (no kube-proxy, no DNS, no Ingress)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from ci.cli import main
from ci.errors import EXIT_FAILED, EXIT_OK
from devstack.cluster import Cluster
from devstack.fake_model_images import fake_image
from tests.ci import gate_models

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "manifests" / "overlays" / "staging"
SERVICE = "pyfunc-model"
QUICK = ["--users", "2", "--rate", "4", "--warmup", "1s", "--duration", "5s", "--min-rps", "1",
         "--p95-ms", "5000", "--p99-ms", "10000"]
# What the scheduled job must not inherit from the test's own environment.
UNSET = ("LOADTEST_URL", "KUBE_NAMESPACE", "KUBE_SERVICE", "KUBE_SERVICE_PORT", "KUBE_DEPLOYMENT", "KUBE_CONTEXT",
         "CI_SERVER_URL", "GITLAB_API_TOKEN", "ALERT_URLS", "ALERT_WEBHOOK_URL", "LOADTEST_MODEL_URI",
         "MLFLOW_TRACKING_URI")


@pytest.fixture(scope="module")
def v1_image(k8s_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> str:
    ref, archive = fake_image(tmp_path_factory.mktemp("fake-image"), "v1", "1")
    k8s_cluster.load_image(archive)
    return ref


@pytest.fixture
def live_namespace(k8s_cluster: Cluster, k8s_namespace: str, v1_image: str, tmp_path: Path) -> str:
    """A namespace where `ci deploy` created the staging overlay (Deployment + Service) and v1 serves."""
    example = tmp_path / "example.json"
    example.write_text('{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}')
    assert main(["deploy", "--kubeconfig", str(k8s_cluster.kubeconfig), "--namespace", k8s_namespace,
                 "--manifests", str(OVERLAY), "--image", v1_image, "--model-name", "fake-model",
                 "--model-version", "1", "--smoke-input", str(example), "--readiness-timeout", "20",
                 "--timeout", "150", "--output-dir", str(tmp_path / "deploy")]) == EXIT_OK
    return k8s_namespace


def run_loadtest(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {name: value for name, value in os.environ.items() if name not in UNSET}
    return subprocess.run([sys.executable, "-m", "ci", "loadtest", *args], env={**clean, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=180)


def test_loadtest_reaches_the_service_through_the_api_server_proxy(
        k8s_cluster: Cluster, live_namespace: str, tmp_path: Path) -> None:
    model = gate_models.save(tmp_path / "model")  # the request bodies; the fake server answers any
    result = run_loadtest({"KUBECONFIG": str(k8s_cluster.kubeconfig), "KUBE_NAMESPACE": live_namespace},
                          "--model-uri", str(model), "--output-dir", str(tmp_path / "reports"), *QUICK)

    assert result.returncode == EXIT_OK, result.stdout + result.stderr
    assert "load test passed" in result.stdout
    assert (tmp_path / "reports" / "loadtest-junit.xml").is_file()
    summary = json.loads((tmp_path / "reports" / "loadtest.json").read_text())
    proxy_path = f"/api/v1/namespaces/{live_namespace}/services/{SERVICE}:http/proxy"
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)" + re.escape(proxy_path), summary["url"])
    assert match, summary["url"]
    assert summary["stats"]["requests"] >= 10 and summary["stats"]["failures"] == 0, summary["stats"]
    with pytest.raises(requests.ConnectionError):  # the command stopped the kubectl proxy it started
        requests.get(f"http://127.0.0.1:{match.group(1)}/version", timeout=5)


def test_a_missing_service_fails_naming_it_and_the_namespace(
        k8s_cluster: Cluster, k8s_namespace: str, tmp_path: Path) -> None:
    """Exit 1, not 2: the variables are complete, and whether the Service exists is a fact of the live
    cluster (deleted, never deployed) - a failed lookup, like a registry version that is not there."""
    result = run_loadtest({"KUBECONFIG": str(k8s_cluster.kubeconfig), "KUBE_NAMESPACE": k8s_namespace},
                          "--model-uri", str(tmp_path), "--output-dir", str(tmp_path / "reports"), *QUICK)

    assert result.returncode == EXIT_FAILED, result.stdout + result.stderr
    assert f"Service {SERVICE} in namespace {k8s_namespace} not found" in result.stderr
    assert not (tmp_path / "reports" / "loadtest.json").exists()

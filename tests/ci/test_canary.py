"""`python -m ci deploy --strategy canary` on the real cluster. One namespace serves version 1 for the
module; a canary of a version with more errors, of a slower one and of one whose predictions are
shifted is each aborted at its first step while outside traffic runs, the stable Deployment never
written and serving throughout; a manual abort ends a running canary; a good version with no outside
traffic is decided by the analysis' own requests and promoted; last, "promote now" by hand."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ci.cli import main
from ci.clients.kube import Kube
from ci.errors import EXIT_FAILED, EXIT_OK
from devstack.cluster import Cluster
from devstack.fake_model_images import load_fake_images
from devstack.procs import free_port, wait_until
from devstack.prometheus import Prometheus
from devstack.service_traffic import Traffic
from tests.ci.chat_services import ChatService

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "manifests" / "overlays" / "staging"
NAME = "pyfunc-model"
BODY = b'{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}'
# short steps for the test: one step for the bad versions, two for the good one
FAST = ["--canary-interval", "2", "--canary-min-requests", "100", "--readiness-timeout", "30", "--timeout", "150",
        "--smoke-timeout", "10"]


@pytest.fixture(scope="module")
def images(k8s_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return load_fake_images(k8s_cluster, tmp_path_factory.mktemp("fake-images"))


@pytest.fixture(scope="module")
def body_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("canary-input") / "example.json"
    path.write_bytes(BODY)
    return path


@pytest.fixture(autouse=True)
def deploy_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci.deploy")


def deploy(cluster: Cluster, namespace: str, image: str, version: str, out: Path, body_file: Path,
           *extra: str) -> int:
    return main(["deploy", "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
                 "--manifests", str(OVERLAY), "--image", image, "--model-name", "fake-model",
                 "--model-version", version, "--smoke-input", str(body_file), "--output-dir", str(out), *FAST,
                 *extra])


@pytest.fixture(scope="module")
def v1_namespace(k8s_cluster: Cluster, images: dict[str, str], body_file: Path,
                 tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A namespace of this module where version 1 serves (rolled out the usual way)."""
    from kubernetes import client

    name = f"t-canary-{uuid.uuid4().hex[:8]}"
    with k8s_cluster.api_client() as api_client:
        core = client.CoreV1Api(api_client)
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        wait_until(lambda: bool(core.read_namespaced_service_account("default", name).secrets), 30,
                   f"service account default in {name}")
        try:
            out = tmp_path_factory.mktemp("v1")
            assert deploy(k8s_cluster, name, images["v1"], "1", out, body_file) == EXIT_OK
            yield name
        finally:
            core.delete_namespace(name)


def kube(cluster: Cluster, namespace: str) -> Kube:
    return Kube(cluster.api_client(), namespace)


def report(out: Path) -> dict:
    return json.loads((out / "canary.json").read_text())


@pytest.mark.parametrize(("bad", "version", "failing"), [
    pytest.param("errors", "7", {"error_rate_absolute", "error_rate_relative"}, id="higher-error-rate"),
    pytest.param("slower", "8", {"p95_relative", "p99_relative"}, id="slower"),
    pytest.param("shifted", "9", {"prediction_drift[0]"}, id="shifted-predictions"),
])
def test_a_bad_canary_is_aborted_at_the_first_step_and_stable_serves_throughout(
        k8s_cluster: Cluster, v1_namespace: str, images: dict[str, str], body_file: Path, tmp_path: Path,
        bad: str, version: str, failing: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    client = kube(k8s_cluster, v1_namespace)
    stable_before = client.deployment(NAME)
    with Traffic(kube(k8s_cluster, v1_namespace), NAME, BODY) as traffic, \
            ChatService("wecombot", "wecom-key-canary") as chat:
        monkeypatch.setenv("ALERT_URLS", chat.alert_url())
        started = time.time()
        code = deploy(k8s_cluster, v1_namespace, images[bad], version, tmp_path, body_file, "--strategy", "canary",
                      "--canary-steps", "50")
        ended = time.time()
        time.sleep(1.5)
    assert code == EXIT_FAILED
    [alert] = [request.json()["markdown"]["content"] for request in chat.requests]  # its own alert, the figures
    assert f"canary deploy failed: fake-model version {version} ({v1_namespace})" in alert, alert
    assert "canary failed at step 50%: " in alert and any(check in alert for check in failing), alert
    result = report(tmp_path)
    assert (result["ok"], result["outcome"], result["decided_by"]) == (False, "aborted", "analysis"), result["message"]
    assert len(result["steps"]) == 1 and result["failing"]["step"] == 50
    assert result["failing"]["check"] in failing, result["failing"]
    assert result["failing"]["canary"]["requests"] >= 20  # the figures ride along for an alert
    assert client.deployment(f"{NAME}-canary") is None
    stable_after = client.deployment(NAME)
    assert stable_after["metadata"]["generation"] == stable_before["metadata"]["generation"]
    assert stable_after["spec"]["template"] == stable_before["spec"]["template"]
    during = traffic.between(started, ended)
    served = {a.served_by for a in during if a.status == 200}
    assert "1" in served and served <= {"1", version}
    failed = [a for a in during if a.status != 200]
    assert bad == "errors" or not failed, f"{len(failed)} of {len(during)} outside requests failed"
    assert {a.served_by for a in traffic.between(ended + 0.5, time.time())} <= {"1"}
    assert (tmp_path / "canary.html").read_text().count("<h2>step 50%") == 1
    assert 'failures="' in (tmp_path / "canary-junit.xml").read_text()
    print(f"{bad}: {len(failed)}/{len(during)} outside requests failed during the canary, "
          f"{sum(a.served_by == version for a in during)} served by the canary; {result['seconds']}s")


def decided_by_hand(cluster: Cluster, namespace: str, image: str, version: str, body_file: Path, out: Path,
                    choice: str, expected_exit: int, within: float) -> None:
    """A canary deploy waiting out a 120 s step, decided with `ci canary <choice>` (the pipeline's manual
    job) once its pod is ready: the deploy ends `within` seconds (not the step's 120) with `expected_exit`."""
    argv = [sys.executable, "-m", "ci", "deploy", "--kubeconfig", str(cluster.kubeconfig), "--namespace",
            namespace, "--manifests", str(OVERLAY), "--image", image, "--model-name", "fake-model",
            "--model-version", version, "--smoke-input", str(body_file), "--output-dir", str(out), *FAST,
            "--strategy", "canary", "--canary-steps", "50", "--canary-interval", "120"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_"))}
    job = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        client = kube(cluster, namespace)
        wait_until(lambda: (client.deployment(f"{NAME}-canary") or {}).get("status", {}).get("readyReplicas"), 60,
                   "the canary's pod ready")
        asked = time.monotonic()
        assert main(["canary", choice, "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace]) == EXIT_OK
        assert job.wait(timeout=60) == expected_exit, job.stderr.read().decode()[-2000:]
        assert time.monotonic() - asked < within
    finally:
        if job.poll() is None:
            job.kill()


def test_a_running_canary_is_aborted_by_hand(k8s_cluster: Cluster, v1_namespace: str, images: dict[str, str],
                                             body_file: Path, tmp_path: Path) -> None:
    decided_by_hand(k8s_cluster, v1_namespace, images["v2"], "2", body_file, tmp_path, "abort", EXIT_FAILED, 10)
    client = kube(k8s_cluster, v1_namespace)
    result = report(tmp_path)
    assert (result["outcome"], result["decided_by"]) == ("aborted", "manual"), result["message"]
    assert client.deployment(f"{NAME}-canary") is None
    assert client.deployment(NAME)["spec"]["template"]["spec"]["containers"][0]["image"] == images["v1"]
    assert main(["canary", "abort", "--kubeconfig", str(k8s_cluster.kubeconfig), "--namespace",
                 v1_namespace]) == EXIT_FAILED  # nothing left to abort: said so


def test_with_prometheus_url_a_shifted_canary_is_judged_from_prometheus_and_aborted(
        k8s_cluster: Cluster, v1_namespace: str, images: dict[str, str], body_file: Path, tmp_path: Path,
        prometheus: Prometheus, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    client = kube(k8s_cluster, v1_namespace)
    stable_before = client.deployment(NAME)
    with Traffic(kube(k8s_cluster, v1_namespace), NAME, BODY):
        code = deploy(k8s_cluster, v1_namespace, images["shifted"], "9", tmp_path, body_file, "--strategy", "canary",
                      "--canary-steps", "50", "--prometheus-url", prometheus.authed_url, "--prometheus-wait", "20")
    result = report(tmp_path)
    assert code == EXIT_FAILED, result["message"]
    assert (result["outcome"], result["decided_by"]) == ("aborted", "analysis"), result["message"]
    assert result["failing"]["check"] == "prediction_drift[0]", result["failing"]
    assert result["figures_from"] == f"Prometheus at {prometheus.url.replace('://', '://***@', 1)}"
    assert client.deployment(f"{NAME}-canary") is None
    assert client.deployment(NAME)["spec"]["template"] == stable_before["spec"]["template"]
    said = capsys.readouterr()
    outputs = [said.out, said.err, caplog.text, *(path.read_text() for path in tmp_path.iterdir())]
    assert not [text for text in outputs if prometheus.password in text]


@pytest.mark.parametrize(("url", "extra", "error"), [
    pytest.param("wrong-password", [], "refused the query (HTTP 401): check PROMETHEUS_TOKEN", id="refused"),
    pytest.param("nobody-listens", [], "did not answer (ConnectionError): check PROMETHEUS_URL", id="unreachable"),
    pytest.param("authed", ["--prometheus-pod-label", "kubernetes_pod_name"], "has no scrape of pods",
                 id="pods-not-found"),
])
def test_a_prometheus_that_cannot_give_the_figures_stops_the_canary_with_stable_untouched(
        k8s_cluster: Cluster, v1_namespace: str, images: dict[str, str], body_file: Path, tmp_path: Path,
        prometheus: Prometheus, capsys: pytest.CaptureFixture[str], url: str, extra: list[str], error: str) -> None:
    given = {"wrong-password": prometheus.authed_url.replace(prometheus.password, "not-" + prometheus.password),
             "nobody-listens": f"http://127.0.0.1:{free_port()}", "authed": prometheus.authed_url}[url]
    client = kube(k8s_cluster, v1_namespace)
    stable_before = client.deployment(NAME)
    code = deploy(k8s_cluster, v1_namespace, images["v2"], "2", tmp_path, body_file, "--strategy", "canary",
                  "--canary-steps", "50", "--prometheus-url", given, "--prometheus-wait", "5", *extra)
    said = capsys.readouterr().err
    assert code == EXIT_FAILED
    assert error in said, said[-2000:]
    assert prometheus.password not in said
    assert client.deployment(f"{NAME}-canary") is None
    assert client.deployment(NAME)["spec"]["template"] == stable_before["spec"]["template"]


def test_a_good_canary_without_outside_traffic_is_decided_by_its_own_requests_and_promoted(
        k8s_cluster: Cluster, v1_namespace: str, images: dict[str, str], body_file: Path, tmp_path: Path) -> None:
    # the fakes' latency is process start-up on a shared 2-core machine: a generous relative limit
    code = deploy(k8s_cluster, v1_namespace, images["v2"], "2", tmp_path, body_file, "--strategy", "canary",
                  "--canary-steps", "50,100", "--canary-max-latency-ratio", "2.5")
    result = report(tmp_path)
    assert code == EXIT_OK, result["message"]
    assert (result["outcome"], [s["verdict"] for s in result["steps"]]) == ("promoted", ["pass", "pass"])
    assert [s["canary_replicas"] for s in result["steps"]] == [1, 2]
    first = result["steps"][0]
    assert first["own_requests"]["canary"].get("200", 0) >= 100 and first["own_requests"]["stable"].get("200", 0) >= 100
    assert first["drift"]["0"]["psi"] <= 0.2
    assert result["promotion"]["ok"] and result["promotion"]["smoke"]["ok"]
    client = kube(k8s_cluster, v1_namespace)
    assert client.deployment(f"{NAME}-canary") is None
    assert client.deployment(NAME)["spec"]["template"]["spec"]["containers"][0]["image"] == images["v2"]
    assert result["promotion"]["changes"]["stale"] == []  # the canary is not one of the overlay's objects


def test_a_running_canary_is_promoted_by_hand(k8s_cluster: Cluster, v1_namespace: str, images: dict[str, str],
                                              body_file: Path, tmp_path: Path) -> None:
    """Last in the module (stable serves version 2 by now): "promote now" during a long step rolls the
    new version out to the stable Deployment, removes the canary and smokes the Service (45 s: the rollout included)."""
    decided_by_hand(k8s_cluster, v1_namespace, images["v3"], "3", body_file, tmp_path, "promote", EXIT_OK, 45)
    result = report(tmp_path)
    assert (result["outcome"], result["decided_by"]) == ("promoted", "manual"), result["message"]
    assert result["promotion"]["ok"] and result["promotion"]["smoke"]["ok"], result["promotion"]
    client = kube(k8s_cluster, v1_namespace)
    assert client.deployment(f"{NAME}-canary") is None
    assert client.deployment(NAME)["spec"]["template"]["spec"]["containers"][0]["image"] == images["v3"]

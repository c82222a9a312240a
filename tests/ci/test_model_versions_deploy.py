"""Shadow and canary deploys on the real cluster with real service images (built by `ci build` from
devstack/fixture_models/shadow_models.py): version 1 serves (a first deploy: nothing to shadow, rolled out the
usual way, from the shipped manifests). A version that changes every 10th row is shadowed (its pod gets
copies of stable's requests, no user request) and rejected on its changed classes; a version that
raises on some rows, one whose scores are doubled and one that predicts 0.15 s slower are each canaried
and aborted at their first step on the real service's own /metrics (errors, prediction drift, latency).
Throughout, the stable Deployment is never written and answers every outside request; each failure
sends its own alert. Last, the changed version within limits that allow its changes passes the shadow
and is rolled out."""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from ci.cli import main
from ci.clients.kube import Kube
from ci.errors import EXIT_FAILED, EXIT_OK
from ci.image.build import build
from devstack.cluster import Cluster, delete_namespace, new_namespace
from devstack.fixture_models import register_shadow_versions
from devstack.prometheus import Prometheus
from devstack.service_traffic import Traffic
from tests.ci.chat_services import ChatService

pytestmark = [pytest.mark.cluster, pytest.mark.containers]

REPO = Path(__file__).resolve().parents[2]
OVERLAY = REPO / "manifests" / "overlays" / "staging"
NAME = "pyfunc-model"
BODY = b'{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}'
# outside traffic: 10 rows a request, x = 1 .. 10, so a tenth of its rows change in the "changed" version
# (x = 10) whichever share of the compared rows it makes; x = 7 fails in the "raises" one
TRAFFIC = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[float(x)] for x in range(1, 11)]}}).encode()
# distinct one-row requests the shadow step sends itself: x = 1 .. 200, 20 of them changed
ROWS = 200


@pytest.fixture(scope="module")
def versions(mlflow_sqlite, oci_registry) -> dict[str, tuple[str, str]]:
    """key -> (image reference, model version), built from the real service source."""
    repository = f"{oci_registry.address}/serving/shadow-model"
    return {key: (build(model, repository=repository, commit="5ad0e7f1", tracking_uri=mlflow_sqlite.url,
                        env=oci_registry.env).reference, model.version)
            for key, model in register_shadow_versions(mlflow_sqlite.url).items()}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("shadow-input")
    smoke, rows = root / "smoke.json", root / "rows.jsonl"
    smoke.write_bytes(BODY)
    rows.write_text("".join(json.dumps({"dataframe_split": {"columns": ["x"], "data": [[float(x)]]}}) + "\n"
                            for x in range(1, ROWS + 1)))
    return smoke, rows


@pytest.fixture(autouse=True)
def deploy_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci.deploy")


def deploy(cluster: Cluster, namespace: str, image: str, version: str, out: Path, smoke: Path, *extra: str) -> int:
    return main(["deploy", "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
                 "--manifests", str(OVERLAY), "--image", image, "--model-name", "shadow-model",
                 "--model-version", version, "--smoke-input", str(smoke), "--output-dir", str(out),
                 "--readiness-timeout", "60", "--timeout", "180", "--smoke-timeout", "30", *extra])


@pytest.fixture(scope="module")
def stable_namespace(k8s_cluster: Cluster, versions, inputs, tmp_path_factory: pytest.TempPathFactory):
    name = new_namespace(k8s_cluster, "t-shadow")
    try:
        image, version = versions["stable"]
        out = tmp_path_factory.mktemp("v1")  # a first deploy: nothing to shadow, it rolls out
        assert deploy(k8s_cluster, name, image, version, out, inputs[0], "--strategy", "shadow") == EXIT_OK
        assert json.loads((out / "deploy.json").read_text())["ok"] and not (out / "shadow.json").exists()
        yield name
    finally:
        delete_namespace(k8s_cluster, name)


def shadow(cluster: Cluster, namespace: str, versions, inputs, out: Path, *limits: str,
           strategy: str = "shadow") -> int:
    image, version = versions["changed"]
    return deploy(cluster, namespace, image, version, out, inputs[0], "--strategy", strategy,
                  "--shadow-input", str(inputs[1]), "--shadow-duration", "2", "--shadow-min-rows", "150",
                  "--shadow-max-wait", "150", *limits)


def test_a_version_that_changes_rows_is_rejected_and_stable_serves_throughout(
        k8s_cluster: Cluster, stable_namespace: str, versions, inputs, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    kube = Kube(k8s_cluster.api_client(), stable_namespace)
    before = kube.deployment(NAME)
    with Traffic(Kube(k8s_cluster.api_client(), stable_namespace), NAME, TRAFFIC) as traffic, \
            ChatService("wecombot", "wecom-key-shadow") as chat:
        monkeypatch.setenv("ALERT_URLS", chat.alert_url())
        started = time.time()
        code = shadow(k8s_cluster, stable_namespace, versions, inputs, tmp_path)
        ended = time.time()
    assert code == EXIT_FAILED
    result = json.loads((tmp_path / "shadow.json").read_text())
    assert (result["verdict"], result["outcome"]) == ("fail", "rejected"), result
    figures = result["figures"]
    label, score = figures["outputs"]["label"], figures["outputs"]["score"]
    assert label["kind"] == "class" and score["kind"] == "numeric"
    # every 10th row of what was compared changed class, and its score moved by 0.05
    assert figures["rows"] >= 150 and 0.07 <= label["changed_share"] <= 0.13, figures
    assert score["changed"] == label["changed"] and 0.02 < score["absolute"]["p99"] <= 0.1, score
    failed = {c["name"] for c in result["checks"] if not c["passed"]}
    assert "changed[label]" in failed and failed <= {"changed[label]", "difference[score]"}, failed
    [alert] = [request.json()["markdown"]["content"] for request in chat.requests]
    assert f"shadow deploy failed: shadow-model version 2 ({stable_namespace})" in alert, alert
    assert "changed[label]" in alert, alert
    after = kube.deployment(NAME)
    assert after["spec"]["template"] == before["spec"]["template"]  # stable never written
    assert kube.deployment(f"{NAME}-shadow") is None and kube.deployment(f"{NAME}-canary") is None
    config = kube.get_object("v1", "ConfigMap", f"{NAME}-shadow")
    assert json.loads(config["data"]["shadow.json"])["urls"] == []  # no more copies
    during = traffic.between(started, ended)
    assert during and all(answer.status == 200 for answer in during), [a.status for a in during][:20]
    assert "<svg" in (tmp_path / "shadow.html").read_text()
    print(f"shadow rejected in {result['seconds']}s: {figures['rows']} rows compared, {label['changed']} changed; "
          f"{len(during)} outside requests all answered by stable")


@pytest.mark.parametrize(("bad", "failing"), [
    pytest.param("raises", {"error_rate_absolute", "error_rate_relative"}, id="raises-on-some-rows"),
    pytest.param("shifted", {"prediction_drift[score]"}, id="shifted-scores"),
    pytest.param("slow", {"p95_relative", "p99_relative", "p95_absolute", "p99_absolute"}, id="slow-predict"),
])
def test_a_bad_canary_of_the_real_service_is_aborted_on_its_own_metrics(
        k8s_cluster: Cluster, stable_namespace: str, versions, inputs, tmp_path: Path, bad: str,
        failing: set[str], monkeypatch: pytest.MonkeyPatch) -> None:
    kube = Kube(k8s_cluster.api_client(), stable_namespace)
    before = kube.deployment(NAME)
    image, version = versions[bad]
    with Traffic(Kube(k8s_cluster.api_client(), stable_namespace), NAME, TRAFFIC) as traffic, \
            ChatService("wecombot", "wecom-key-canary-real") as chat:
        monkeypatch.setenv("ALERT_URLS", chat.alert_url())
        started = time.time()
        code = deploy(k8s_cluster, stable_namespace, image, version, tmp_path, inputs[0], "--strategy", "canary",
                      "--canary-steps", "50", "--canary-interval", "2", "--canary-min-requests", "100",
                      "--canary-input", str(inputs[1]))
        ended = time.time()
        time.sleep(1.5)
    assert code == EXIT_FAILED
    result = json.loads((tmp_path / "canary.json").read_text())
    assert (result["outcome"], result["decided_by"]) == ("aborted", "analysis"), result["message"]
    assert result["failing"]["check"] in failing, result["failing"]
    [alert] = [request.json()["markdown"]["content"] for request in chat.requests]
    assert f"canary deploy failed: shadow-model version {version} ({stable_namespace})" in alert, alert
    assert kube.deployment(NAME)["spec"]["template"] == before["spec"]["template"]
    assert kube.deployment(f"{NAME}-canary") is None
    during = traffic.between(started, ended)
    failed = [a for a in during if a.status != 200]
    # the canary's pods take half the Service's traffic until the abort: the raising version fails there
    assert len(failed) < len(during) and (bad == "raises" or not failed), [a.status for a in during][:20]
    assert all(a.status == 200 for a in traffic.between(ended + 0.5, time.time()))
    print(f"canary of {bad} aborted in {result['seconds']}s on {result['failing']['check']}: "
          f"{result['failing']['detail']}")


def test_the_same_version_within_wider_limits_passes_the_shadow_then_the_canary_and_is_rolled_out(
        k8s_cluster: Cluster, stable_namespace: str, versions, inputs, tmp_path: Path, prometheus: Prometheus) -> None:
    """DEPLOY_STRATEGY=shadow-canary, both judged from what a real Prometheus scraped (PROMETHEUS_URL):
    the shadow step passes within the wider limits, then the canary's step, then the rollout."""
    code = shadow(k8s_cluster, stable_namespace, versions, inputs, tmp_path,
                  "--shadow-max-changed-share", "0.2", "--shadow-max-relative-difference", "1",
                  "--canary-steps", "50", "--canary-interval", "2", "--canary-min-requests", "20",
                  "--canary-max-psi", "100", "--canary-input", str(inputs[1]),
                  "--prometheus-url", prometheus.authed_url, "--prometheus-wait", "20", strategy="shadow-canary")
    result = json.loads((tmp_path / "canary.json").read_text())
    assert code == EXIT_OK, result["message"]
    assert result["outcome"] == "promoted" and result["promotion"]["ok"], result["message"]
    assert result["figures_from"] == f"Prometheus at {prometheus.url.replace('://', '://***@', 1)}"
    compared = result["shadow"]
    assert compared["verdict"] == "pass" and compared["figures"]["rows"] >= 150, compared["figures"]
    assert compared["figures"]["rows_changed"] > 0, compared["figures"]  # within the limits, not equal
    assert [step["verdict"] for step in result["steps"]] == ["pass"], result["steps"]
    assert not (tmp_path / "shadow.json").exists()  # one report: the canary's
    kube = Kube(k8s_cluster.api_client(), stable_namespace)
    annotations = kube.deployment(NAME)["spec"]["template"]["metadata"]["annotations"]
    assert annotations["pyfunc-deploy.io/model-version"] == versions["changed"][1]
    assert kube.deployment(f"{NAME}-shadow") is None and kube.deployment(f"{NAME}-canary") is None

"""The deploy account of manifests/rbac on the real cluster: a namespace gets the shipped staging
overlay of the RBAC (with the prune component), the ServiceAccount's token (TokenRequest) goes into a
kubeconfig holding nothing else, and with it alone the first deploy creates every object, a rolling
deploy prunes a stale object, a crashing release is undone with its log and events shown, a canary is
promoted, another is aborted by hand (`ci canary abort`) and the scheduled load test reaches the Service
through the API server. Without one rule (pods/proxy) a canary stops naming the verb and resource to
grant, stable untouched."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from ci.cli import main
from ci.clients import kube
from ci.deploy.apply import FOR_DEPLOYMENT, MANAGED_BY, PRUNABLE
from ci.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, ConfigError
from ci.project import OVERLAYS_DIR
from ci.tools import kubectl
from devstack.cluster import Cluster, delete_namespace, new_namespace
from devstack.cluster_files import kubeconfig_text
from devstack.fake_model_images import fake_image
from devstack.procs import wait_until
from tests.ci import gate_models

pytestmark = pytest.mark.cluster

REPO = Path(__file__).resolve().parents[2]
RBAC = REPO / "manifests" / "rbac"
OVERLAY = OVERLAYS_DIR / "staging"
ACCOUNT = "pyfunc-deploy"
NAME = "pyfunc-model"
BODY = '{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}'
FAST = ["--readiness-timeout", "30", "--timeout", "150", "--smoke-timeout", "10", "--canary-interval", "2",
        "--canary-min-requests", "100", "--canary-max-latency-ratio", "2.5"]
QUICK_LOAD = ["--users", "2", "--rate", "4", "--warmup", "1s", "--duration", "4s", "--min-rps", "1",
              "--p95-ms", "5000", "--p99-ms", "10000"]


@dataclass(frozen=True)
class Account:
    namespace: str
    kubeconfig: Path  # the ServiceAccount's token, nothing else
    body: Path  # the smoke's and the canary's request

    @property
    def user(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{ACCOUNT}"

    def deploy_args(self, image: str, version: str, out: Path, *extra: str) -> list[str]:
        return ["deploy", "--kubeconfig", str(self.kubeconfig), "--namespace", self.namespace,
                "--manifests", str(OVERLAY), "--image", image, "--model-name", "fake-model",
                "--model-version", version, "--smoke-input", str(self.body), "--output-dir", str(out), *FAST, *extra]

    def deploy(self, image: str, version: str, out: Path, *extra: str) -> int:
        return main(self.deploy_args(image, version, out, *extra))


def rbac_objects(directory: Path, namespace: str) -> list[dict]:
    """The shipped staging overlay of manifests/rbac, for `namespace`, with the prune component."""
    shutil.copytree(RBAC, directory / "rbac")
    overlay = directory / "rbac" / "staging"
    kustomization = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    kustomization |= {"namespace": namespace, "components": ["../prune"]}
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(kustomization))
    return kubectl.kustomize(overlay)


def request_token(api_client, namespace: str) -> str:
    """A bound token for the ServiceAccount (TokenRequest: served by v1.20, no Secret needed)."""
    from kubernetes import client

    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[],
                                                                                 expiration_seconds=3600))
    answer = client.CoreV1Api(api_client).create_namespaced_service_account_token(ACCOUNT, namespace, request)
    return answer.status.token


def allowed(api_client, account: Account, verb: str, resource: str, subresource: str = "") -> bool:
    """What the RBAC authorizer answers for the account now (a SubjectAccessReview, as an admin)."""
    from kubernetes import client

    review = client.V1SubjectAccessReview(spec=client.V1SubjectAccessReviewSpec(
        user=account.user, groups=["system:serviceaccounts", f"system:serviceaccounts:{account.namespace}",
                                   "system:authenticated"],
        resource_attributes=client.V1ResourceAttributes(namespace=account.namespace, verb=verb, resource=resource,
                                                        subresource=subresource)))
    return client.AuthorizationV1Api(api_client).create_subject_access_review(review).status.allowed


@pytest.fixture(scope="module")
def images(k8s_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    directory = tmp_path_factory.mktemp("fake-images")
    specs = {"v1": ("1", {}), "v2": ("2", {}), "v3": ("3", {}), "crash": ("5", {"crash": True})}
    found = {}
    for tag, (version, kwargs) in specs.items():
        found[tag], archive = fake_image(directory, tag, version, **kwargs)
        k8s_cluster.load_image(archive)
    return found


@pytest.fixture(scope="module")
def account(k8s_cluster: Cluster, images: dict[str, str], tmp_path_factory: pytest.TempPathFactory
            ) -> Iterator[Account]:
    """A namespace with the deploy account's RBAC, where that account alone rolled version 1 out."""
    namespace = new_namespace(k8s_cluster, "t-rbac")
    try:
        directory = tmp_path_factory.mktemp("rbac")
        with k8s_cluster.api_client() as api_client:
            kube.Kube(api_client, namespace).apply(rbac_objects(directory, namespace))
            token = request_token(api_client, namespace)
        (directory / "kubeconfig").write_text(kubeconfig_text(k8s_cluster.api_url, k8s_cluster.ca_file, token))
        (directory / "body.json").write_text(BODY)
        deploy_account = Account(namespace, directory / "kubeconfig", directory / "body.json")
        assert deploy_account.deploy(images["v1"], "1", directory / "v1") == EXIT_OK
        yield deploy_account
    finally:
        delete_namespace(k8s_cluster, namespace)


@pytest.fixture(autouse=True)
def deploy_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="ci.deploy")


def admin(cluster: Cluster, namespace: str) -> kube.Kube:
    return kube.Kube(cluster.api_client(), namespace)


def live_image(cluster: Cluster, namespace: str, name: str = NAME) -> str | None:
    found = admin(cluster, namespace).deployment(name)
    return found and found["spec"]["template"]["spec"]["containers"][0]["image"]


def test_the_role_covers_every_kind_the_overlays_render_and_deploy_searches_for_stale_objects(
        k8s_cluster: Cluster, tmp_path: Path) -> None:
    """Guards the Role against the manifests: a kind added to an overlay (or to PRUNABLE) fails here."""
    from kubernetes.dynamic import DynamicClient

    grants: dict[tuple[str, str], set[str]] = {}
    for obj in rbac_objects(tmp_path, "any"):
        for rule in obj.get("rules") or []:
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    grants.setdefault((group, resource), set()).update(rule["verbs"])
    rendered = {(o["apiVersion"], o["kind"]) for env in ("staging", "production")
                for o in kubectl.kustomize(OVERLAYS_DIR / env)}
    with k8s_cluster.api_client() as api_client:
        discovery = DynamicClient(api_client).resources
        for api_version, kind in rendered | set(PRUNABLE):
            group = api_version.rpartition("/")[0]
            resource = next(r.name for r in discovery.search(group=group, kind=kind) if "/" not in r.name)
            needed = {"list", "delete"} | ({"get", "create", "patch"} if (api_version, kind) in rendered else set())
            missing = needed - grants.get((group, resource), set())
            assert not missing, f"{kind} ({group or 'core'}/{resource}): the Role lacks {sorted(missing)}"


def test_the_token_holds_only_the_deploy_account(k8s_cluster: Cluster, account: Account) -> None:
    client = kube.connect(account.namespace, kubeconfig=str(account.kubeconfig))
    with pytest.raises(ConfigError) as refused:
        client.call("list secrets", client.core.list_namespaced_secret, account.namespace)
    assert (f'add verb "list" on resource "secrets" in apiGroups [""] to the Role bound to {account.user} in '
            f"namespace {account.namespace}") in str(refused.value)
    elsewhere = kube.connect("default", kubeconfig=str(account.kubeconfig))
    with pytest.raises(ConfigError, match='cannot get resource "deployments" in API group "apps" in the namespace'):
        elsewhere.deployment(NAME)


def test_a_rolling_deploy_prunes_and_a_crashing_release_is_undone_as_the_deploy_account(
        k8s_cluster: Cluster, account: Account, images: dict[str, str], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    stale = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {
        "name": "settings-of-an-old-overlay", "labels": {MANAGED_BY: "pyfunc-deploy", FOR_DEPLOYMENT: NAME}}}
    admin(k8s_cluster, account.namespace).apply([stale])

    assert account.deploy(images["v2"], "2", tmp_path / "v2", "--prune") == EXIT_OK
    report = json.loads((tmp_path / "v2" / "deploy.json").read_text())
    assert report["ok"] and report["smoke"]["ok"] and report["lock"]["lease"] == NAME, report
    assert report["changes"]["pruned"] == ["ConfigMap/settings-of-an-old-overlay"]
    assert admin(k8s_cluster, account.namespace).get_object("v1", "ConfigMap", stale["metadata"]["name"]) is None

    caplog.clear()
    code = account.deploy(images["crash"], "5", tmp_path / "crash", "--max-restarts", "0")
    report = json.loads((tmp_path / "crash" / "deploy.json").read_text())
    assert code == EXIT_FAILED and report["undo"].startswith("back on revision"), report
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "  event " in logged and "  log pyfunc-model: " in logged  # the pod's events and log were readable
    assert live_image(k8s_cluster, account.namespace) == images["v2"]


def test_a_canary_is_promoted_as_the_deploy_account(
        k8s_cluster: Cluster, account: Account, images: dict[str, str], tmp_path: Path) -> None:
    code = account.deploy(images["v3"], "3", tmp_path, "--strategy", "canary", "--canary-steps", "50")
    result = json.loads((tmp_path / "canary.json").read_text())
    assert code == EXIT_OK, result["message"]
    assert result["outcome"] == "promoted" and result["promotion"]["smoke"]["ok"], result["message"]
    assert result["steps"][0]["own_requests"]["canary"].get("200", 0) >= 100  # POSTs through the pod proxy
    assert live_image(k8s_cluster, account.namespace, f"{NAME}-canary") is None
    assert live_image(k8s_cluster, account.namespace) == images["v3"]


def test_a_running_canary_is_aborted_by_hand_as_the_deploy_account(
        k8s_cluster: Cluster, account: Account, images: dict[str, str], tmp_path: Path) -> None:
    argv = [sys.executable, "-m", "ci", *account.deploy_args(images["v2"], "2", tmp_path, "--strategy", "canary",
                                                           "--canary-steps", "50", "--canary-interval", "120")]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CI_", "GITLAB_", "KUBE"))}
    job = subprocess.Popen(argv, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        canary = admin(k8s_cluster, account.namespace)
        wait_until(lambda: (canary.deployment(f"{NAME}-canary") or {}).get("status", {}).get("readyReplicas"), 60,
                   "the canary's pod ready")
        assert main(["canary", "abort", "--kubeconfig", str(account.kubeconfig), "--namespace",
                     account.namespace]) == EXIT_OK
        assert job.wait(timeout=30) == EXIT_FAILED, job.stderr.read().decode()[-2000:]
    finally:
        if job.poll() is None:
            job.kill()
    assert json.loads((tmp_path / "canary.json").read_text())["decided_by"] == "manual"
    assert live_image(k8s_cluster, account.namespace, f"{NAME}-canary") is None
    assert live_image(k8s_cluster, account.namespace) == images["v3"]


def test_the_load_test_reaches_the_service_through_the_api_server_as_the_deploy_account(
        account: Account, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    for name in ("LOADTEST_URL", "KUBE_CONTEXT", "KUBE_SERVICE", "CI_SERVER_URL", "ALERT_URLS", "ALERT_WEBHOOK_URL"):
        monkeypatch.delenv(name, raising=False)
    model = gate_models.save(tmp_path / "model")  # the request bodies; the fake server answers any
    code = main(["loadtest", "--kubeconfig", str(account.kubeconfig), "--namespace", account.namespace,
                 "--model-uri", str(model), "--output-dir", str(tmp_path / "reports"), *QUICK_LOAD])
    said = capsys.readouterr()
    assert code == EXIT_OK, said.out + said.err
    stats = json.loads((tmp_path / "reports" / "loadtest.json").read_text())["stats"]
    assert stats["requests"] >= 5 and stats["failures"] == 0, stats


def test_without_pods_proxy_a_canary_stops_naming_the_permission_to_grant_and_stable_is_untouched(
        k8s_cluster: Cluster, account: Account, images: dict[str, str], tmp_path: Path,
        capsys: pytest.CaptureFixture) -> None:
    from kubernetes import client

    with k8s_cluster.api_client() as api_client:
        roles = client.RbacAuthorizationV1Api(api_client)
        role = roles.read_namespaced_role(ACCOUNT, account.namespace)
        kept = [rule for rule in role.rules if "pods/proxy" not in rule.resources]
        kept += [client.V1PolicyRule(api_groups=[""], resources=[r for r in rule.resources if r != "pods/proxy"],
                                     verbs=rule.verbs)
                 for rule in role.rules if "pods/proxy" in rule.resources and len(rule.resources) > 1]
        roles.patch_namespaced_role(ACCOUNT, account.namespace, {"rules": [api_client.sanitize_for_serialization(r)
                                                                           for r in kept]})
        try:
            wait_until(lambda: not allowed(api_client, account, "get", "pods", "proxy"), 10, "pods/proxy revoked")
            assert allowed(api_client, account, "get", "services", "proxy")
            stable = admin(k8s_cluster, account.namespace).deployment(NAME)
            code = account.deploy(images["v2"], "2", tmp_path, "--strategy", "canary", "--canary-steps", "50")
        finally:
            roles.patch_namespaced_role(ACCOUNT, account.namespace,
                                        {"rules": [api_client.sanitize_for_serialization(r) for r in role.rules]})
    said = capsys.readouterr().err
    assert code == EXIT_USAGE, said[-2000:]
    assert f'User "{account.user}" cannot get resource "pods/proxy" in API group ""' in said
    assert (f'grant it: add verb "get" on resource "pods/proxy" in apiGroups [""] to the Role bound to '
            f"{account.user} in namespace {account.namespace}") in said
    assert live_image(k8s_cluster, account.namespace, f"{NAME}-canary") is None
    assert admin(k8s_cluster, account.namespace).deployment(NAME)["spec"]["template"] == stable["spec"]["template"]

"""ci/clients/kube.py: how client errors become `ci.errors` (no API server: the calls are fakes that raise)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from ci.clients.kube import CONNECT_TIMEOUT, READ_TIMEOUT, Kube
from ci.errors import CheckFailed, ConfigError

URL = "https://10.0.0.1:6443"


def kube() -> Kube:
    return Kube(SimpleNamespace(configuration=SimpleNamespace(host=URL)), "ns")


def api_error(status: int, body: object = None, reason: str = "Reason") -> ApiException:
    exc = ApiException(status=status, reason=reason)
    exc.body = json.dumps(body) if isinstance(body, dict) else body
    return exc


def raising(exc: Exception):
    def call(*args, **kwargs):
        raise exc
    return call


@pytest.mark.parametrize(("exc", "error", "message"), [
    pytest.param(api_error(403, {"message": "deployments.apps is forbidden"}), ConfigError,
                 f"the Kubernetes API server at {URL} refused to read deployment web (403: deployments.apps is "
                 "forbidden): check the kubeconfig/context (KUBE_CONTEXT) and the deploy account's permissions",
                 id="forbidden"),
    pytest.param(api_error(401, None, "Unauthorized"), ConfigError, "(401: Unauthorized)", id="unauthorized"),
    pytest.param(api_error(500, "not json", "Internal Server Error"), CheckFailed,
                 "cannot read deployment web: 500 Internal Server Error", id="server-error-plain-body"),
    pytest.param(api_error(422, {"message": "spec.replicas: Invalid value"}), CheckFailed,
                 "cannot read deployment web: 422 spec.replicas: Invalid value", id="invalid-json-message"),
    pytest.param(MaxRetryError(None, "/apis", "connection refused"), CheckFailed,
                 f"cannot reach the Kubernetes API server at {URL} to read deployment web: MaxRetryError",
                 id="unreachable"),
])
def test_call_translates_client_errors(exc, error, message):
    with pytest.raises(error) as raised:
        kube().call("read deployment web", raising(exc))
    assert message in str(raised.value)


RBAC_REFUSAL = ('pods "web-1:8080" is forbidden: User "system:serviceaccount:prod:pyfunc-deploy" cannot create '
                'resource "pods/proxy" in API group "" in the namespace "prod"')
LEASE_REFUSAL = ('leases.coordination.k8s.io "web" is forbidden: User "gitlab:ci_job:42" cannot update resource '
                 '"leases" in API group "coordination.k8s.io" in the namespace "prod"')
CLUSTER_REFUSAL = ('namespaces is forbidden: User "ci" cannot list resource "namespaces" in API group "" at the '
                   "cluster scope")
# what v1.20 answers a server-side apply of a new object by an account that may patch but not create
APPLY_REFUSAL = 'horizontalpodautoscalers.autoscaling "web" is forbidden: '
QUOTA_REFUSAL = 'pods "web-1" is forbidden: exceeded quota: compute, requested: cpu=2, limited: cpu=1'
GENERIC = "check the kubeconfig/context (KUBE_CONTEXT) and the deploy account's permissions"


@pytest.mark.parametrize(("what", "reason", "expected"), [
    pytest.param("POST invocations on pod web-1", RBAC_REFUSAL,
                 'grant it: add verb "create" on resource "pods/proxy" in apiGroups [""] to the Role bound to '
                 "system:serviceaccount:prod:pyfunc-deploy in namespace prod (manifests/rbac; "
                 "docs/deploy-account.md), or point KUBECONFIG/KUBE_CONTEXT at the deploy account", id="namespaced"),
    pytest.param("update lease web", LEASE_REFUSAL,
                 'add verb "update" on resource "leases" in apiGroups ["coordination.k8s.io"] to the Role bound to '
                 "gitlab:ci_job:42 in namespace prod", id="named-group"),
    pytest.param("list namespaces", CLUSTER_REFUSAL,
                 'add verb "list" on resource "namespaces" in apiGroups [""] to a ClusterRole bound to ci',
                 id="cluster-scope"),
    pytest.param("apply HorizontalPodAutoscaler/web", APPLY_REFUSAL,
                 'add verb "create" on resource "horizontalpodautoscalers" in apiGroups ["autoscaling"] to the '
                 "deploy account's Role (a server-side apply creates an object that does not exist yet)",
                 id="apply-cannot-create"),
    pytest.param("apply Deployment/web", QUOTA_REFUSAL, GENERIC, id="not-rbac"),
    pytest.param("read logs of web-1", 'pods "web-1" is forbidden: ', GENERIC, id="bare-refusal-not-an-apply"),
])
def test_a_refusal_by_rbac_names_the_verb_resource_and_group_to_grant(what, reason, expected):
    with pytest.raises(ConfigError) as raised:
        kube().call(what, raising(api_error(403, {"message": reason})))
    message = str(raised.value)
    assert message.startswith(f"the Kubernetes API server at {URL} refused to {what} (403: {reason}): ")
    assert expected in message


def test_call_returns_none_for_404():
    assert kube().call("read deployment web", raising(api_error(404))) is None


def test_call_decodes_json_and_sets_a_short_timeout():
    seen = {}

    def answer(*args, **kwargs):
        seen.update(kwargs, args=args)
        return SimpleNamespace(data=b'{"items": [1]}')

    k = kube()
    assert k.call("list", answer, "ns", label_selector="app=web") == {"items": [1]}
    assert k.call("logs", answer, decode=False) == b'{"items": [1]}'
    assert seen["_request_timeout"] == (CONNECT_TIMEOUT, READ_TIMEOUT) and seen["_preload_content"] is False


@pytest.mark.parametrize(("status", "body", "expected"), [
    pytest.param(422, {"message": "the server rejected our request: test operation failed"},
                 "deployment web changed while this job was starting", id="guard-test-failed"),
    pytest.param(409, {"message": "Operation cannot be fulfilled: the object has been modified, test"},
                 "deployment web changed while this job was starting", id="conflict"),
    pytest.param(422, {"message": "spec.template: Invalid value"}, "cannot patch deployment web: 422",
                 id="other-invalid-patch"),
])
def test_patch_deployment_names_a_concurrent_change(status, body, expected):
    k = kube()
    k.apps = SimpleNamespace(patch_namespaced_deployment=raising(api_error(status, body)))
    with pytest.raises(CheckFailed, match=expected):
        k.patch_deployment("web", [{"op": "test", "path": "/metadata/resourceVersion", "value": "1"}])

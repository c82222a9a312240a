"""ci/kube.py: how client errors become `ci.errors` (no API server: the calls are fakes that raise)."""
from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import MaxRetryError

from ci.errors import CheckFailed, ConfigError
from ci.kube import CONNECT_TIMEOUT, READ_TIMEOUT, Kube

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

"""The one seam around the `kubernetes` Python client: kubeconfig/context, the calls `ci deploy` makes,
and the translation of client errors into `ci.errors`.

Objects come back as plain dicts (the API server's JSON), not client models: the rollout logic reads
a few fields and copies pod templates verbatim (what `kubectl rollout undo` does), which is simpler
and exact with JSON. Every call has a short connect timeout and few retries, so an unreachable API
server fails the job in seconds with its URL, not after urllib3's default minutes.
"""
from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from types import SimpleNamespace
from typing import Any

from ci.clients import api_versions
from ci.errors import CheckFailed, ConfigError
from ci.tracing import trace_headers

log = logging.getLogger("ci.clients.kube")
CONNECT_TIMEOUT = 3.0
READ_TIMEOUT = 30.0
RETRIES = 2
FIELD_MANAGER = "pyfunc-deploy"
JSON_PATCH = "application/json-patch+json"


class ApiUnreachable(CheckFailed):
    """The API server did not answer (refused, reset, timed out): it may come back."""


class Kube:
    """A client for one namespace; build it with `connect()`."""

    def __init__(self, api_client, namespace: str) -> None:
        from kubernetes import client

        self.api_client = api_client
        self.namespace = namespace
        self.url = api_client.configuration.host
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.coordination = client.CoordinationV1Api(api_client)
        self._dynamic_client = None

    # -- errors ----------------------------------------------------------------------------------

    def call(self, what: str, fn: Callable[..., Any], *args, decode: bool = True, **kwargs) -> Any:
        """Run one API call; the decoded JSON (`decode`) or the raw bytes. 404 gives None."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        kwargs.setdefault("_request_timeout", (CONNECT_TIMEOUT, READ_TIMEOUT))
        try:
            response = fn(*args, _preload_content=False, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                return None
            reason = _reason(exc)
            if exc.status in (401, 403):
                raise ConfigError(f"the Kubernetes API server at {self.url} refused to {what} "
                                  f"({exc.status}: {reason}): " + (_missing_permission(reason, what) or
                                  "check the kubeconfig/context (KUBE_CONTEXT) and the deploy account's "
                                  "permissions")) from exc
            raise CheckFailed(f"cannot {what}: {exc.status} {reason}") from exc
        except HTTPError as exc:
            raise ApiUnreachable(f"cannot reach the Kubernetes API server at {self.url} to {what}: "
                                 f"{type(exc).__name__}: {str(exc)[:200]}") from exc
        return json.loads(response.data) if decode else response.data

    # -- reads -----------------------------------------------------------------------------------

    def deployment(self, name: str) -> dict | None:
        return self.call(f"read deployment {name}", self.apps.read_namespaced_deployment, name, self.namespace)

    def replicasets(self, selector: str) -> list[dict]:
        return self.call("list replicasets", self.apps.list_namespaced_replica_set, self.namespace,
                         label_selector=selector)["items"]

    def pods(self, selector: str) -> list[dict]:
        return self.call("list pods", self.core.list_namespaced_pod, self.namespace,
                         label_selector=selector)["items"]

    def endpoints(self, name: str) -> dict | None:
        return self.call(f"read endpoints {name}", self.core.read_namespaced_endpoints, name, self.namespace)

    def events(self, kind: str, name: str) -> list[dict]:
        found = self.call(f"list events of {name}", self.core.list_namespaced_event, self.namespace,
                          field_selector=f"involvedObject.kind={kind},involvedObject.name={name}")
        return sorted(found["items"], key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")

    def log_tail(self, pod: str, container: str, lines: int, previous: bool) -> str:
        """The container's last lines ('' when it has none, e.g. the image never pulled)."""
        try:
            data = self.call(f"read logs of {pod}", self.core.read_namespaced_pod_log, pod, self.namespace,
                             container=container, tail_lines=lines, previous=previous, decode=False)
        except CheckFailed:  # 400 "container ... is waiting to start": no log yet
            return ""
        return (data or b"").decode(errors="replace")

    # -- writes ----------------------------------------------------------------------------------

    def patch_deployment(self, name: str, operations: list[dict], field_manager: str = FIELD_MANAGER) -> dict:
        """A JSON patch (RFC 6902), so a `test` operation on resourceVersion can guard it."""
        from kubernetes.client.exceptions import ApiException

        try:
            return self.call(f"patch deployment {name}", self.apps.patch_namespaced_deployment, name,
                             self.namespace, operations, _content_type=JSON_PATCH, field_manager=field_manager)
        except CheckFailed as exc:
            cause = exc.__cause__
            if isinstance(cause, ApiException) and cause.status in (409, 422) and "test" in str(cause.body):
                raise CheckFailed(f"deployment {name} changed while this job was starting (another "
                                  "deploy or a `kubectl` edit): re-run the job") from exc
            raise

    def apply(self, objects: Iterable[dict], dry_run: bool = False) -> list[str]:
        """Server-side apply each object into this namespace (what `kubectl apply --server-side`
        does); returns "Kind/name" of each. An apiVersion this server does not serve yet (policy/v1
        before Kubernetes 1.21, autoscaling/v2 before 1.23) is applied in the newest version it serves
        for that group and kind (`ci.clients.api_versions`)."""
        applied = []
        for obj in objects:
            self.apply_object(obj, dry_run=dry_run)
            applied.append(f"{obj['kind']}/{obj['metadata']['name']}")
        return applied

    def apply_object(self, obj: dict, dry_run: bool = False) -> dict:
        """Server-side apply one object (field manager pyfunc-deploy, conflicts forced); the object
        the server answers."""
        kind, name = obj["kind"], obj["metadata"]["name"]
        resource = self._served(obj["apiVersion"], kind)
        obj = api_versions.convert(obj, resource.group_version)
        obj["metadata"]["namespace"] = self.namespace
        return self.call(f"apply {kind}/{name}", _raw(resource.server_side_apply), body=obj, name=name,
                         namespace=self.namespace, field_manager=FIELD_MANAGER, force_conflicts=True,
                         dry_run="All" if dry_run else None)

    def get_object(self, api_version: str, kind: str, name: str) -> dict | None:
        resource = self._served(api_version, kind)
        return self.call(f"read {kind}/{name}", _raw(resource.get), name=name, namespace=self.namespace)

    def labelled(self, api_version: str, kind: str, selector: str) -> list[dict]:
        """This namespace's objects of one kind carrying the labels of `selector`."""
        resource = self._served(api_version, kind)
        found = self.call(f"list {kind}", _raw(resource.get), namespace=self.namespace, label_selector=selector)
        return (found or {}).get("items") or []

    def delete_object(self, api_version: str, kind: str, name: str) -> None:
        resource = self._served(api_version, kind)
        self.call(f"delete {kind}/{name}", _raw(resource.delete), name=name, namespace=self.namespace)

    # -- leases (coordination.k8s.io/v1) ------------------------------------------------------------

    def lease(self, name: str) -> dict | None:
        return self.call(f"read lease {name}", self.coordination.read_namespaced_lease, name, self.namespace)

    def write_lease(self, name: str, body: dict, create: bool) -> dict | None:
        """Create or replace (guarded by body's resourceVersion) a Lease; None when another writer won (409)."""
        from kubernetes.client.exceptions import ApiException

        try:
            if create:
                return self.call(f"create lease {name}", self.coordination.create_namespaced_lease, self.namespace,
                                 body)
            return self.call(f"update lease {name}", self.coordination.replace_namespaced_lease, name,
                             self.namespace, body)
        except CheckFailed as exc:
            if isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 409:
                return None
            raise

    def _served(self, api_version: str, kind: str):
        from kubernetes.dynamic import DynamicClient
        from kubernetes.dynamic.exceptions import ResourceNotFoundError

        if self._dynamic_client is None:
            self._dynamic_client = _dynamic(self, DynamicClient)
        dynamic = self._dynamic_client
        try:
            return dynamic.resources.get(api_version=api_version, kind=kind)
        except ResourceNotFoundError:
            group = api_version.rpartition("/")[0]
            served = [r for r in dynamic.resources.search(group=group, kind=kind) if "/" not in r.name]
        if not served:
            raise CheckFailed(f"the Kubernetes API server at {self.url} serves no {kind} in {api_version} "
                              "or another version of its group: is the cluster too old or too new for "
                              "the manifests?")
        newest = api_versions.fallback(api_version, kind, {r.group_version for r in served})
        chosen = next((r for r in served if r.group_version == newest),
                      next((r for r in served if r.preferred), served[0]))
        log.info("%s %s is not served by this cluster: applied as %s", api_version, kind, chosen.group_version)
        return chosen

    # -- the service, through the API server's proxy ---------------------------------------------

    def proxy(self, method: str, service: str, port: str, path: str, body: bytes | None = None,
              timeout: float = READ_TIMEOUT, kind: str = "services") -> tuple[int, bytes]:
        """One request to `service:port/path` (`kind="pods"`: to one pod) via the API server (no
        kube-proxy or DNS needed from the CI job). The client's own proxy methods drop POST bodies
        (v37), so it is built here."""
        from kubernetes.client.exceptions import ApiException

        resource = f"/api/v1/namespaces/{self.namespace}/{kind}/{service}:{port}/proxy/{path.lstrip('/')}"
        headers = {"Content-Type": "application/json", "Accept": "application/json", **trace_headers()}
        params = self.api_client.param_serialize(method, resource, header_params=headers,
                                                 body=None if body is None else json.loads(body),
                                                 auth_settings=["BearerToken"])
        try:
            answer = self.call(f"{method} {path} on {kind[:-1]} {service}", _proxied(self.api_client), *params,
                               decode=False, _request_timeout=(CONNECT_TIMEOUT, timeout))
        except CheckFailed as exc:  # the service answered an error: that is the smoke's result
            if isinstance(exc.__cause__, ApiException):
                return exc.__cause__.status, (exc.__cause__.body or b"")
            raise
        return 200, answer


def _proxied(api_client) -> Callable[..., Any]:
    """`call_api` raises nothing on 4xx/5xx; make it behave like the generated methods."""
    from kubernetes.client.exceptions import ApiException

    def request(method, url, headers, body, post_params, _preload_content=False, _request_timeout=None):
        response = api_client.call_api(method, url, headers, body, post_params, _request_timeout=_request_timeout)
        response.read()
        if not 200 <= response.status < 300:
            raise ApiException(http_resp=response)
        return response
    return request


def _raw(method: Callable[..., Any]) -> Callable[..., Any]:
    """Dynamic-client methods take no `_preload_content`; adapt them to `Kube.call`."""
    def call(*args, _preload_content=False, _request_timeout=None, **kwargs):
        result = method(*args, _request_timeout=_request_timeout, **kwargs)
        return SimpleNamespace(data=json.dumps(result.to_dict()).encode())  # what Kube.call reads
    return call


def _dynamic(kube: Kube, factory):
    from kubernetes.client.exceptions import ApiException
    from urllib3.exceptions import HTTPError

    try:
        return factory(kube.api_client)
    except (ApiException, HTTPError) as exc:
        raise CheckFailed(f"cannot read the API groups from {kube.url}: {str(exc)[:200]}") from exc


def _missing_permission(reason: str, what: str) -> str | None:
    """What to grant, read from the RBAC authorizer's refusal ('User "u" cannot create resource
    "pods/proxy" in API group "" in the namespace "ns"'), or from the bare refusal a server-side apply
    gets when it may patch but not create ('configmaps "x" is forbidden: ', v1.20); None for any other
    401/403 (a bad token, an exceeded quota, an admission webhook)."""
    if found := _FORBIDDEN.search(reason):
        user, verb, resource, group, namespace = found.groups()
        bound = (f"the Role bound to {user} in namespace {namespace}" if namespace
                 else f"a ClusterRole bound to {user}")
    elif what.startswith("apply ") and (found := _APPLY_CANNOT_CREATE.fullmatch(reason.strip())):
        verb, resource, group = "create", found.group(1), found.group(2) or ""
        bound = "the deploy account's Role (a server-side apply creates an object that does not exist yet)"
    else:
        return None
    return (f"grant it: add verb \"{verb}\" on resource \"{resource}\" in apiGroups [\"{group}\"] to {bound} "
            "(manifests/rbac; docs/deploy-account.md), or point KUBECONFIG/KUBE_CONTEXT at the deploy account")


_FORBIDDEN = re.compile(r'User "([^"]*)" cannot (\S+) resource "([^"]+)" in API group "([^"]*)"'
                        r'(?: in the namespace "([^"]+)")?')
_APPLY_CANNOT_CREATE = re.compile(r'([a-z0-9-]+)(?:\.([a-z0-9.-]+))? "[^"]*" is forbidden:')


def _reason(exc) -> str:
    try:
        return json.loads(exc.body).get("message", exc.reason)
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


def connect(namespace: str, *, kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """Load the kubeconfig (KUBECONFIG or ~/.kube/config) or, inside a pod, the in-cluster account."""
    from kubernetes import client, config
    from kubernetes.config.config_exception import ConfigException

    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=kubeconfig, context=context, client_configuration=configuration)
    except (ConfigException, OSError) as exc:
        try:
            config.load_incluster_config(client_configuration=configuration)
        except ConfigException:
            raise ConfigError(f"no usable kubeconfig ({exc}): set KUBECONFIG (GitLab agent: KUBE_CONTEXT) "
                              "or run inside the cluster") from exc
    configuration.retries = RETRIES
    return Kube(client.ApiClient(configuration), namespace)

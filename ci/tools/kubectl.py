"""kubectl: to render a kustomize overlay (`kubectl kustomize`) and to give Locust a plain-HTTP way to
a Service (`kubectl proxy`).

Why only that: every API call `ci deploy` makes goes through `ci.clients.kube` (the Python client), so an
ordinary deploy needs no kubectl at all. The load test is different: Locust needs a base URL it can
join paths to, and `kubectl proxy` serves the API server on 127.0.0.1 with the kubeconfig's TLS and
credentials (tokens, exec plugins, the GitLab agent) kept inside kubectl - none reach Locust or a report.
"""
from __future__ import annotations

import contextlib
import os
import re
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import yaml

from ci.errors import CheckFailed, ConfigError, ToolError
from ci.tools import run_tool, tail

PROXY_START_TIMEOUT_S = 30.0
PROXY_CHECK_TIMEOUT_S = 30.0
_SERVING = re.compile(r"Starting to serve on 127\.0\.0\.1:(\d+)")


def kustomize(directory: Path) -> list[dict]:
    """The overlay's rendered objects."""
    result = run_tool(["kubectl", "kustomize", str(directory)], timeout=120)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


@contextlib.contextmanager
def service_proxy(namespace: str, service: str, port: str, *, kubeconfig: str | None = None,
                  context: str | None = None, start_timeout: float = PROXY_START_TIMEOUT_S) -> Iterator[str]:
    """Start `kubectl proxy` on 127.0.0.1 (a free port), check that the Service exists, yield its base URL
    `http://127.0.0.1:PORT/api/v1/namespaces/NS/services/NAME:PORT/proxy`, stop the proxy on exit.

    Why the check: without it a missing Service shows up as 100 % failed requests, not as its name."""
    argv = ["kubectl", *(["--context", context] if context else []), "proxy", "--address", "127.0.0.1",
            "--port", "0"]
    env = {**os.environ, **({"KUBECONFIG": kubeconfig} if kubeconfig else {})}  # a list of files works too
    with tempfile.TemporaryFile() as output:  # a file, not a pipe: kubectl logs every proxy error
        try:
            process = subprocess.Popen(argv, stdout=output, stderr=subprocess.STDOUT, env=env)
        except FileNotFoundError:
            raise ConfigError("`kubectl` is not installed on this runner: install it (its proxy reaches the "
                              "Service through the API server), or set the service's URL (LOADTEST_URL)") from None
        try:
            port_number = _proxy_port(process, output, start_timeout)
            api = f"http://127.0.0.1:{port_number}/api/v1/namespaces/{namespace}"
            _check_service(f"{api}/services/{service}", namespace, service)
            yield f"{api}/services/{service}:{port}/proxy"
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _proxy_port(process: subprocess.Popen, output, timeout: float) -> int:
    """The port kubectl reports once it listens; ToolError with its last words if it exits or stays silent."""
    deadline = time.monotonic() + timeout
    while True:
        output.seek(0)
        printed = output.read().decode(errors="replace")
        if match := _SERVING.search(printed):
            return int(match.group(1))
        if process.poll() is not None:
            raise ToolError(f"`kubectl proxy` failed (exit {process.returncode}):\n{tail(printed)}")
        if time.monotonic() > deadline:
            raise ToolError(f"`kubectl proxy` did not start serving within {timeout:.0f}s:\n{tail(printed)}")
        time.sleep(0.05)


def _check_service(url: str, namespace: str, service: str) -> None:
    """Read the Service object through the proxy: 404 is a CheckFailed naming it, 401/403 a ConfigError."""
    import requests

    try:
        response = requests.get(url, timeout=PROXY_CHECK_TIMEOUT_S)
    except requests.RequestException as exc:
        raise ToolError(f"`kubectl proxy` does not answer ({type(exc).__name__})") from None
    if response.ok:
        return
    reason = _reason(response)
    where = f"Service {service} in namespace {namespace}"
    if response.status_code == 404:
        raise CheckFailed(f"{where} not found ({reason}): check KUBE_NAMESPACE and KUBE_SERVICE "
                          "(default: KUBE_DEPLOYMENT)")
    if response.status_code in (401, 403):
        raise ConfigError(f"the Kubernetes API server refused to read {where} ({response.status_code}: "
                          f"{reason}): check the kubeconfig/context (KUBE_CONTEXT) and the account's permissions")
    raise CheckFailed(f"cannot read {where} through the API server ({response.status_code}: {reason})")


def _reason(response) -> str:
    """The API server's Status message, or kubectl's own plain-text answer (e.g. `dial tcp ...`)."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    if not message:
        lines = response.text.strip().splitlines()
        message = lines[0] if lines else "no message"
    return str(message)[:300]

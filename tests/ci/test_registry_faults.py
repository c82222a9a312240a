"""Faults and secrets at the MLflow seam: retries for 5xx only, a down or hung server fails within
10 s naming the URL, credentials reach the server and never the output."""
from __future__ import annotations

import base64
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from ci.clients.mlflow_api import MlflowApi, NotFound
from ci.errors import CheckFailed
from devstack.mlflow_server import MlflowServer
from devstack.procs import free_port
from tests.ci.registry_helpers import REPO, ci_env, run_ci, set_version_status

TOKEN = "tok-MARKER-7f3a9c"
PASSWORD = "pw-MARKER-51be2d"


class FaultProxy:
    """Forwards to a real MLflow server; answers 503 to the first `fail_next` requests; records each
    request's path and Authorization header."""

    def __init__(self, upstream: str) -> None:
        self.upstream, self.fail_next, self.seen = upstream, 0, []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                proxy.seen.append((self.path.split("?")[0], self.headers.get("Authorization")))
                if proxy.fail_next > 0:
                    proxy.fail_next -= 1
                    self.send_response(503)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "content-length")}
                response = requests.request(self.command, proxy.upstream + self.path, data=body,
                                            headers=headers, timeout=30)
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("Content-Type", "application/json"))
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, *args) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def requests_to(self, fragment: str) -> int:
        return sum(fragment in path for path, _ in self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(mlflow_sqlite):
    fault_proxy = FaultProxy(mlflow_sqlite.url)
    yield fault_proxy
    fault_proxy.close()


def test_5xx_is_retried_and_4xx_is_not(proxy, mlflow_sqlite):
    name = f"retry-{time.time_ns()}"
    MlflowApi(mlflow_sqlite.url).client.create_registered_model(name)
    api = MlflowApi(proxy.url)

    proxy.fail_next = 2
    assert api.registered_model(name).name == name
    assert proxy.requests_to("registered-models/get") == 3

    proxy.seen.clear()
    with pytest.raises(NotFound):
        api.registered_model("no-such-model-at-all")
    assert proxy.requests_to("registered-models/get") == 1

    proxy.fail_next = 1000
    started = time.monotonic()
    with pytest.raises(CheckFailed, match=f"MLflow tracking server {proxy.url} is not answering"):
        api.registered_model(name)
    assert time.monotonic() - started < 8


def test_server_stopped_while_resolve_waits_exits_1_within_10s(tmp_path):
    server = MlflowServer(tmp_path / "mlflow").start()
    try:
        api = MlflowApi(server.url)
        api.client.create_registered_model("outage")
        api.client.create_model_version("outage", "s3://models/credit-risk/1")  # stored, never loaded
        set_version_status(server, "outage", "1", "PENDING_REGISTRATION")
        job = subprocess.Popen([sys.executable, "-m", "ci", "resolve", "--model-name", "outage",
                                "--selector", "1", "--output-dir", str(tmp_path / "out")],
                               env=ci_env(server), cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while "still registering" not in (line := job.stderr.readline()) and time.monotonic() < deadline:
            assert line or job.poll() is None, "resolve ended before it started waiting"
        server.stop()
        stopped = time.monotonic()
        _, stderr = job.communicate(timeout=30)
        took = time.monotonic() - stopped
    finally:
        server.stop()
    assert job.returncode == 1
    assert took < 10, took
    assert f"MLflow tracking server {server.url} is not answering" in stderr


def test_down_and_hung_servers_fail_within_10s_naming_the_url(mlflow_sqlite, tmp_path):
    hung = socket.socket()
    hung.bind(("127.0.0.1", 0))
    hung.listen(8)  # accepts connections (backlog), never answers
    try:
        for url in (f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{hung.getsockname()[1]}"):
            started = time.monotonic()
            result = run_ci("resolve", "--model-name", "m", "--output-dir", str(tmp_path),
                            env={**ci_env(mlflow_sqlite), "MLFLOW_TRACKING_URI": url})
            took = time.monotonic() - started
            assert result.returncode == 1, result.stderr
            assert f"MLflow tracking server {url} is not answering" in result.stderr
            assert took < 10, (url, took)
    finally:
        hung.close()


def test_credentials_reach_the_server_and_never_the_output(proxy, sqlite_model, tmp_path):
    logged_model = sqlite_model
    name = logged_model.register(versions=1, prefix="secret")
    outputs = []
    for creds, header in (({"MLFLOW_TRACKING_TOKEN": TOKEN}, f"Bearer {TOKEN}"),
                          ({"MLFLOW_TRACKING_USERNAME": "ci-bot", "MLFLOW_TRACKING_PASSWORD": PASSWORD},
                           "Basic " + base64.b64encode(f"ci-bot:{PASSWORD}".encode()).decode())):
        env = {**ci_env(logged_model.server), **creds, "MLFLOW_TRACKING_URI": proxy.url}
        proxy.seen.clear()
        for args in (("-v", "resolve", "--selector", "1"), ("-v", "promote", "--version", "1"),
                     ("-v", "preflight", "--selector", "1", "--image-requirements", "requirements.txt"),
                     ("-v", "resolve", "--selector", "@nope")):
            outputs.append(run_ci(*args, "--model-name", name, "--output-dir", str(tmp_path), env=env))
        assert {auth for _, auth in proxy.seen} == {header}
        down = {**env, "MLFLOW_TRACKING_URI": f"http://ci-bot:{PASSWORD}@127.0.0.1:{free_port()}"}
        outputs.append(run_ci("-v", "resolve", "--model-name", name, "--output-dir", str(tmp_path), env=down))
    assert [r.returncode for r in outputs] == [0, 1, 0, 1, 1] * 2, [r.stderr[-500:] for r in outputs]
    everything = "".join(r.stdout + r.stderr for r in outputs)
    everything += "".join(p.read_text() for p in tmp_path.iterdir() if p.is_file())
    for secret in (TOKEN, PASSWORD, base64.b64encode(f"ci-bot:{PASSWORD}".encode()).decode()):
        assert secret not in everything
    assert "http://***@127.0.0.1:" in everything

"""A real Prometheus (Debian's build, unpacked by devstack/bootstrap.d/60-prometheus.sh) on 127.0.0.1 that
scrapes the test cluster's pods, for the canary's PROMETHEUS_URL.

Debian builds Prometheus without its Kubernetes discovery, so a small HTTP service discovery here
(`http_sd_configs`, asked every second) lists the cluster's pods the way `kubernetes_sd_configs` with
role pod and the usual relabelling would: one target per pod port named `http`, labelled `namespace`
and `pod`, scraped through the API server's pod proxy (no route into the pod network needed). Its
HTTP API asks for a user and password (bcrypt-hashed in its web config) as a protected one would.
"""
from __future__ import annotations

import crypt  # deprecated since 3.11 (gone in 3.13): the one bcrypt hash the web config needs, no new package
import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

from devstack.procs import CACHE_DIR, InfraError, ManagedProcess, free_port, wait_until

BINARY = CACHE_DIR / "prometheus" / "usr" / "bin" / "prometheus"
START_TIMEOUT = 60.0
USER = "canary-job"


class Prometheus:
    """`start()` returns once it answers; `url` carries no credentials, `authed_url` does."""

    def __init__(self, workdir: Path, api_url: str, token: str, ca_file: Path, scrape_interval: str = "1s") -> None:
        self.workdir = Path(workdir)
        self.api_url, self.token, self.ca_file = api_url, token, Path(ca_file)
        self.scrape_interval = scrape_interval
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.password = secrets.token_urlsafe(16)
        self.authed_url = f"http://{USER}:{self.password}@127.0.0.1:{self.port}"
        self.process: ManagedProcess | None = None
        self._discovery_server: ThreadingHTTPServer | None = None

    def config(self, discovery_url: str) -> dict:
        token_file = self.workdir / "apiserver-token"
        token_file.write_text(self.token)
        token_file.chmod(0o600)
        return {
            "global": {"scrape_interval": self.scrape_interval, "scrape_timeout": self.scrape_interval},
            "scrape_configs": [{
                "job_name": "pods", "scheme": "https",
                "authorization": {"credentials_file": str(token_file)}, "tls_config": {"ca_file": str(self.ca_file)},
                "http_sd_configs": [{"url": discovery_url, "refresh_interval": "1s"}]}],
        }

    def targets(self) -> list[dict]:
        """The target groups `kubernetes_sd_configs` (role pod) would give after the usual relabelling."""
        answer = requests.get(f"{self.api_url}/api/v1/pods", headers={"Authorization": f"Bearer {self.token}"},
                              verify=str(self.ca_file), timeout=5)
        answer.raise_for_status()
        pods = answer.json()["items"]
        host = self.api_url.removeprefix("https://")
        groups = []
        for pod in pods:
            meta = pod["metadata"]
            for container in pod["spec"]["containers"]:
                for port in container.get("ports") or []:
                    if port.get("name") == "http" and pod.get("status", {}).get("podIP"):
                        pod_port = f"{meta['name']}:{port['containerPort']}"
                        path = f"/api/v1/namespaces/{meta['namespace']}/pods/{pod_port}/proxy/metrics"
                        groups.append({"targets": [host], "labels": {
                            "namespace": meta["namespace"], "pod": meta["name"], "__metrics_path__": path}})
        return groups

    def _discovery(self) -> ThreadingHTTPServer:
        outer = self

        class Discovery(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                try:
                    body, status = json.dumps(outer.targets()).encode(), 200
                except Exception as exc:  # noqa: BLE001 - Prometheus keeps the last targets and asks again
                    body, status = str(exc).encode(), 503
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Discovery)
        threading.Thread(target=server.serve_forever, daemon=True, name="prometheus-discovery").start()
        return server

    def start(self) -> Prometheus:
        if not BINARY.exists():
            raise InfraError(f"{BINARY} is missing: run `bash devstack/bootstrap.sh test` (its 60-prometheus step)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        self._discovery_server = self._discovery()
        config = self.workdir / "prometheus.yml"
        config.write_text(json.dumps(self.config(f"http://127.0.0.1:{self._discovery_server.server_address[1]}/")))
        web = self.workdir / "web.yml"
        hashed = crypt.crypt(self.password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))  # noqa: S324 - bcrypt, as Prometheus requires
        web.write_text(json.dumps({"basic_auth_users": {USER: hashed}}))
        argv = [str(BINARY), f"--config.file={config}", f"--web.config.file={web}",
                f"--storage.tsdb.path={self.workdir / 'data'}", f"--web.listen-address=127.0.0.1:{self.port}",
                "--storage.tsdb.retention.time=2h"]
        self.process = ManagedProcess(argv, self.workdir / "prometheus.log", cwd=self.workdir)
        try:
            wait_until(self._ready, START_TIMEOUT, f"Prometheus on {self.url}", process=self.process)
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        try:
            return requests.get(f"{self.url}/-/ready", auth=(USER, self.password), timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop(grace=5)
            self.process = None
        if self._discovery_server is not None:
            self._discovery_server.shutdown()
            self._discovery_server = None

    def __enter__(self) -> Prometheus:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

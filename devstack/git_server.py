"""A git server on 127.0.0.1 speaking git's smart HTTP protocol (`git http-backend`, the CGI program
git ships), so a model project can include the component from "another project on the same GitLab"
the way gitlab-ci-local fetches it: `git clone --branch <version> http://HOST:PORT/<group>/<project>.git`.

Only what that needs: fetch and clone of bare repositories under one root, no push, no auth.
"""
from __future__ import annotations

import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

from devstack.procs import free_port

HTTP_BACKEND = "/usr/lib/git-core/git-http-backend"


class GitServer:
    """`publish(project_path, source_repo, tag)`, then clone from `url(project_path)`."""

    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self._server: ThreadingHTTPServer | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def url(self, project_path: str) -> str:
        return f"http://{self.address}/{project_path}.git"

    def publish(self, project_path: str, source: Path, tag: str) -> None:
        """A bare copy of `source`'s HEAD at `<root>/<project_path>.git`, tagged `tag`."""
        bare = self.root / f"{project_path}.git"
        if bare.exists():
            shutil.rmtree(bare)
        bare.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "clone", "--quiet", "--bare", str(source), str(bare)], check=True)
        subprocess.run(["git", "tag", "--force", tag, "HEAD"], cwd=bare, check=True, capture_output=True)
        # gitlab-ci-local clones with --filter=tree:0 --depth=1, as GitLab allows
        subprocess.run(["git", "config", "uploadpack.allowFilter", "true"], cwd=bare, check=True)

    def start(self) -> GitServer:
        root = self.root

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._backend()

            def do_POST(self):
                self._backend()

            def log_message(self, *args):
                pass

            def _backend(self):
                parts = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                env = {"GIT_PROJECT_ROOT": str(root), "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": parts.path,
                       "QUERY_STRING": parts.query, "REQUEST_METHOD": self.command,
                       "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
                       "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "REMOTE_ADDR": "127.0.0.1"}
                done = subprocess.run([HTTP_BACKEND], input=body, env=env, capture_output=True, check=False)
                head, _, payload = done.stdout.partition(b"\r\n\r\n")
                status, headers = 200, []
                for line in head.decode("latin-1").split("\r\n"):
                    name, _, value = line.partition(":")
                    if name.lower() == "status":
                        status = int(value.split()[0])
                    elif name:
                        headers.append((name, value.strip()))
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

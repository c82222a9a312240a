"""A local HTTP server on 127.0.0.1 that records every request and answers canned responses.

Why: the GitLab API and alert webhooks cannot run here. Tests point python-gitlab and the webhook
sender at this server, then assert on the method, path, query and JSON body that arrived.
`gitlab_routes()` answers enough of GitLab's REST API v4 for the calls `ci.clients.gitlab_api` makes.
"""
from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# A route answers (status, json body) or (status, body, headers) for a request; a str body is sent as
# text/plain (Slack's `ok`). The first route whose method and path match wins.
Answer = tuple[int, Any] | tuple[int, Any, dict[str, str]]
Route = tuple[str, str, "Answer | Callable[[RecordedRequest], Answer]"]
POLL_S = 0.05  # how soon `shutdown` is noticed (http.server's default 0.5 s is paid by every test)


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class RecordingServer:
    """Start with `with RecordingServer(routes) as server:`; `server.url` is its base URL."""

    routes: list[Route] = field(default_factory=list)
    requests: list[RecordedRequest] = field(default_factory=list)

    def __enter__(self) -> RecordingServer:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = RecordedRequest(self.command, split.path, parse_qs(split.query),
                                          {k.lower(): v for k, v in self.headers.items()},
                                          self.rfile.read(length))
                recorder.requests.append(request)
                status, body, *headers = recorder.answer(request)
                text = isinstance(body, str)
                payload = body.encode() if text else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain" if text else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers[0] if headers else {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_DELETE = _handle

            def log_message(self, *args) -> None:  # keep test output clean
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": POLL_S},
                                        daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, request: RecordedRequest) -> Answer:
        for method, pattern, answer in self.routes:
            if method == request.method and re.fullmatch(pattern, request.path):
                return answer(request) if callable(answer) else answer
        return 404, {"message": "404 Not Found"}

    def calls(self, method: str, pattern: str) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == method and re.fullmatch(pattern, r.path)]


def gitlab_routes(project_id: str = "42", open_issues: list[dict] | None = None) -> list[Route]:
    """GitLab REST v4 answers for issues (list, create, note), deployments and merge-request notes."""
    base = rf"/api/v4/projects/{re.escape(project_id)}"
    issues = list(open_issues or [])

    def create_issue(request: RecordedRequest) -> Answer:
        issue = {"id": 1000 + len(issues) + 1, "iid": len(issues) + 1, "project_id": int(project_id),
                 "state": "opened", **request.json()}
        issues.append(issue)
        return 201, issue

    def created(request: RecordedRequest) -> Answer:
        return 201, {"id": 7, **(request.json() or {})}

    return [
        ("GET", rf"{base}/issues", lambda request: (200, [i for i in issues if i["state"] == "opened"])),
        ("POST", rf"{base}/issues", create_issue),
        ("POST", rf"{base}/issues/\d+/notes", created),
        ("POST", rf"{base}/deployments", created),
        ("POST", rf"{base}/merge_requests/\d+/notes", created),
        ("POST", r"/hooks/.*", (200, {"errcode": 0, "errmsg": "ok"})),  # WeCom-style webhook answer
    ]

"""Outside traffic for deploy tests and benchmarks: a thread that sends predictions to a Service
through the API server's service proxy (the cluster has no kube-proxy) and records every answer:
when, its status and which model version served it (the fake images name it in `served_by`; for a real
model, `served_by` is a function of the answer's body that tells the versions apart)."""
from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from ci.clients.kube import Kube
from ci.errors import CheckFailed


def _served_by(body: bytes) -> str | None:
    try:
        return str(json.loads(body).get("served_by"))
    except (ValueError, AttributeError):
        return None


@dataclass(frozen=True)
class Answer:
    at: float  # epoch seconds when it came back
    status: int  # 0: no answer
    served_by: str | None


@dataclass
class Traffic:
    kube: Kube
    service: str
    body: bytes
    pause: float = 0.05
    served_by: Callable[[bytes], str | None] = _served_by
    answers: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Traffic:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                status, body = self.kube.proxy("POST", self.service, "http", "invocations", body=self.body,
                                               timeout=10)
            except CheckFailed:
                status, body = 0, b""
            self.answers.append(Answer(time.time(), status, self.served_by(body) if status == 200 else None))
            self._stop.wait(self.pause)

    def between(self, start: float, end: float) -> list[Answer]:
        return [a for a in self.answers if start <= a.at <= end]

"""uvicorn's HTTP protocols, answering a client that half-closes once its request is sent.

`nc -N`, some proxies and scripted clients call `shutdown(SHUT_WR)` after writing a request: the
server reads end-of-file while the request is still being answered. uvicorn (like `mlflow models
serve`) lets the transport close on that end-of-file, so the answer is never written. Here a
request that arrived whole keeps the connection open for writing; once the last request the client
sent is answered, the connection is closed, since no further request can come. End-of-file in the
middle of a request still closes at once: there is nothing to answer.
"""
from __future__ import annotations

import importlib.util

from uvicorn.protocols.http.h11_impl import H11Protocol


class _AnswersAfterHalfClose:
    client_done = False

    def eof_received(self) -> bool | None:
        self.client_done = True
        cycle = self.cycle
        waiting = cycle is not None and not cycle.response_complete and not cycle.more_body
        return True if waiting or getattr(self, "pipeline", None) else None

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self.client_done and (self.cycle is None or self.cycle.response_complete) \
                and not getattr(self, "pipeline", None) and not self.transport.is_closing():
            self.transport.close()


class H11(_AnswersAfterHalfClose, H11Protocol):
    """h11's protocol (pure Python, when httptools is not installed), answering after a half-close."""


def http_protocol() -> type:
    """httptools' protocol (the fast parser) when installed, else h11's (what uvicorn's "auto" would
    pick), answering after a half-close. uvicorn's httptools module imports httptools: imported here
    only when it is there."""
    if importlib.util.find_spec("httptools") is None:
        return H11
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return type("HttpTools", (_AnswersAfterHalfClose, HttpToolsProtocol), {"__module__": __name__})

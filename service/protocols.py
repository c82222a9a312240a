"""uvicorn's HTTP protocols, answering a client that half-closes once its request is sent.

`nc -N`, some proxies and scripted clients call `shutdown(SHUT_WR)` after writing a request: the
server reads end-of-file while the request is still being answered. uvicorn (like `mlflow models
serve`) lets the transport close on that end-of-file, so the answer is never written. Here a
request that arrived whole keeps the connection open for writing; once the last request the client
sent is answered, the connection is closed, since no further request can come. End-of-file in the
middle of a request still closes at once: there is nothing to answer.

They also write an answer in one piece: uvicorn writes the status line and headers as soon as the
app starts its response, and the body in a second write, two `send` calls (two loopback deliveries,
two segments on the wire) for each small answer. `OneWritePerAnswer` holds the header block until
the next write (the body), the end of the response (a HEAD, 204 or 304 answer has no body) or a
close, whichever comes first; an interim answer (`100 Continue`, `101`) is never held.
"""
from __future__ import annotations

import importlib.util

from uvicorn.protocols.http.h11_impl import H11Protocol


class OneWritePerAnswer:
    """A transport that holds a response's header block until what follows it is written.

    What is held is always written before anything else, so a write taken for a header block by
    mistake is only joined to the next one, never reordered."""

    __slots__ = ("_transport", "_held", "is_closing", "pause_reading", "resume_reading", "get_extra_info")

    def __init__(self, transport) -> None:
        self._transport = transport
        self._held = b""
        # what the protocol calls on every request, bound once
        self.is_closing = transport.is_closing
        self.pause_reading = transport.pause_reading
        self.resume_reading = transport.resume_reading
        self.get_extra_info = transport.get_extra_info

    def write(self, data: bytes) -> None:
        if self._held:
            data, self._held = self._held + data, b""
        elif data[:9] == b"HTTP/1.1 " and data[9:10] != b"1":  # never an interim answer (100, 101)
            self._held = data
            return
        self._transport.write(data)

    def flush(self) -> None:
        if self._held:
            held, self._held = self._held, b""
            if not self._transport.is_closing():  # the connection went: as if written, then lost
                self._transport.write(held)

    def writelines(self, lines) -> None:
        self.write(b"".join(lines))

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def __getattr__(self, name: str):
        return getattr(self._transport, name)


class _ServiceHttp:
    """What both protocols add to uvicorn's: answers after a half-close, each answer in one write."""

    client_done = False

    def connection_made(self, transport) -> None:
        super().connection_made(OneWritePerAnswer(transport))

    def eof_received(self) -> bool | None:
        self.client_done = True
        cycle = self.cycle
        waiting = cycle is not None and not cycle.response_complete and not cycle.more_body
        return True if waiting or getattr(self, "pipeline", None) else None

    def on_response_complete(self) -> None:
        self.transport.flush()  # an answer without a body: its header block alone
        super().on_response_complete()
        if self.client_done and (self.cycle is None or self.cycle.response_complete) \
                and not getattr(self, "pipeline", None) and not self.transport.is_closing():
            self.transport.close()


class H11(_ServiceHttp, H11Protocol):
    """h11's protocol (pure Python, when httptools is not installed), answering after a half-close."""


def http_protocol() -> type:
    """httptools' protocol (the fast parser) when installed, else h11's (what uvicorn's "auto" would
    pick), answering after a half-close. uvicorn's httptools module imports httptools: imported here
    only when it is there."""
    if importlib.util.find_spec("httptools") is None:
        return H11
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    return type("HttpTools", (_ServiceHttp, HttpToolsProtocol), {"__module__": __name__})

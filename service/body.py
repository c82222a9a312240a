"""The request body under the size limit, and a 413 that the client really reads.

A server that answers 413 and closes the connection while the client is still sending makes the
kernel reset it: curl shows the 413, but Python's urllib, requests and most client libraries see
"connection reset by peer" instead. So the rest of an over-limit body is read and thrown away (never
kept) before the connection may close, for at most LINGER_SECONDS, as nginx's lingering close does:

- a declared Content-Length over the limit is refused before anything is read: the 413 goes out
  at once (curl stops sending when it sees it), then the body is discarded as it arrives, whatever
  its size; one still arriving after LINGER_SECONDS is left to the protocol, which drops it too;
- with `Expect: 100-continue` as well, nothing is read, so no `100 Continue` is sent, the client
  never sends the body, and the connection is closed after the 413;
- a body without a length (chunked) is read until it passes the limit, the rest discarded until
  it ends, then the 413 is sent; one that has not ended after LINGER_SECONDS (it may never end)
  gets its 413 with `Connection: close`.
"""
from __future__ import annotations

import asyncio
import time
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from service.errors import PayloadTooLarge

LINGER_SECONDS = 10.0
"""Longest an over-limit body is read and thrown away so that its client sees the 413 (a 64 MB body
takes well under a second on a LAN; nginx lingers 30 s)."""
JSON = "application/json"


class BodyTooLarge(PayloadTooLarge):
    """413; `unread`: bytes of the body still to come (None: a body without a length that did not end
    within LINGER_SECONDS); `waits`: the client waits for `100 Continue` before it sends the body."""

    def __init__(self, limit: int, unread: int | None, waits: bool = False) -> None:
        super().__init__("request body too large", field="body", expected=f"at most {limit} bytes")
        self.unread = unread
        self.waits = waits


async def discard(receive: Any, seconds: float = LINGER_SECONDS) -> bool:
    """Read and drop the body for up to `seconds`; True once it has ended (or the client left)."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await asyncio.wait_for(receive(), left)
        except asyncio.TimeoutError:
            return False
        if message["type"] != "http.request" or not message.get("more_body", False):
            return True
    return False


async def read_body(request: Request, limit: int) -> bytes:
    """The body; BodyTooLarge as soon as it is known to exceed `limit` (header or stream)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        waits = request.headers.get("expect", "").lower() == "100-continue"
        raise BodyTooLarge(limit, 0 if waits else int(declared), waits)
    chunks, size, more = [], 0, True
    while more:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            ended = not more or await discard(request.receive)
            raise BodyTooLarge(limit, 0 if ended else None)
        chunks.append(chunk)
    return b"".join(chunks)


class TooLargeResponse(Response):
    """The 413 for `error`, sent first; then what is left of the body is discarded while the client
    sends it (for up to LINGER_SECONDS), or, when the client waits to send or its body without a
    length did not end, the connection closes."""

    def __init__(self, content: bytes, error: BodyTooLarge) -> None:
        closes = error.waits or error.unread is None
        super().__init__(content, status_code=413, media_type=JSON,
                         headers={"connection": "close"} if closes else None)
        self.unread = 0 if closes else error.unread or 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": self.unread > 0})
        if self.unread > 0:
            await discard(receive)
            await send({"type": "http.response.body", "body": b""})

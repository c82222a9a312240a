"""The request body under the size limit, and a 413 that the client really reads.

A server that answers 413 and closes the connection while the client is still sending makes the
kernel reset it: curl shows the 413, but Python's urllib, requests and most client libraries see
"connection reset by peer" instead. So the rest of an over-limit body is read and thrown away
(never kept), up to DRAIN_BYTES, before the connection may close, as nginx's lingering close does:

- a declared Content-Length over the limit is refused before anything is read: the 413 goes out
  at once (curl stops sending when it sees it), then the body is discarded as it arrives;
- with `Expect: 100-continue` as well, nothing is read, so no `100 Continue` is sent, the client
  never sends the body, and the connection is closed after the 413;
- a body without a length (chunked) is read until it passes the limit, the rest discarded, then
  the 413 is sent.

A body longer than DRAIN_BYTES past that point gets its 413 with `Connection: close`.
"""
from __future__ import annotations

from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from service.errors import PayloadTooLarge

DRAIN_BYTES = 8 * 1024 * 1024
"""Most bytes of an over-limit body read and thrown away so that its client sees the 413."""
JSON = "application/json"


class BodyTooLarge(PayloadTooLarge):
    """413; `unread`: bytes of the body still to come (None: more than the limit + DRAIN_BYTES
    in all, or unknown); `waits`: the client waits for `100 Continue` before it sends the body."""

    def __init__(self, limit: int, unread: int | None, waits: bool = False) -> None:
        super().__init__("request body too large", field="body", expected=f"at most {limit} bytes")
        self.unread = unread
        self.waits = waits


async def discard(receive: Any, most: int) -> bool:
    """Read and drop up to `most` bytes of the body; True once it has ended (or the client left)."""
    dropped = 0
    while dropped <= most:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body", False):
            return True
        dropped += len(message.get("body", b""))
    return False


async def read_body(request: Request, limit: int) -> bytes:
    """The body; BodyTooLarge as soon as it is known to exceed `limit` (header or stream)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        waits = request.headers.get("expect", "").lower() == "100-continue"
        unread = int(declared) if int(declared) <= limit + DRAIN_BYTES else None
        raise BodyTooLarge(limit, 0 if waits else unread, waits)
    chunks, size, more = [], 0, True
    while more:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk, more = message.get("body", b""), message.get("more_body", False)
        size += len(chunk)
        if size > limit:
            ended = not more or await discard(request.receive, DRAIN_BYTES)
            raise BodyTooLarge(limit, 0 if ended else None)
        chunks.append(chunk)
    return b"".join(chunks)


class TooLargeResponse(Response):
    """The 413 for `error`, sent first; then what is left of the body is discarded while the
    client sends it, or, past DRAIN_BYTES or when the client waits to send, the connection closes."""

    def __init__(self, content: bytes, error: BodyTooLarge) -> None:
        closes = error.waits or error.unread is None
        super().__init__(content, status_code=413, media_type=JSON,
                         headers={"connection": "close"} if closes else None)
        self.unread = 0 if closes else error.unread or 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
        await send({"type": "http.response.body", "body": self.body, "more_body": self.unread > 0})
        if self.unread > 0:
            await discard(receive, self.unread)
            await send({"type": "http.response.body", "body": b""})

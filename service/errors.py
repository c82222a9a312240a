"""The service's errors: one exception family, each with its HTTP status, and one JSON error shape.

The shape keeps MLflow's `error_code` and `message` keys so clients of `mlflow models serve` read
our errors unchanged, and adds `field`/`expected` for bad input and `error_id` for server faults.
A message never contains the request payload: errors end up in logs and in client bug reports.
A name the client sent (a column) is quoted shortened and escaped, and every error body is capped.
"""
from __future__ import annotations

import uuid
from typing import Any

import orjson

ERROR_BODY_LIMIT = 4096
"""Bytes an error body may have, whatever the request sent."""
NAME_LIMIT = 64
"""Characters of a client-supplied name (a column) an error quotes."""
ELLIPSIS = "\u2026"


def quoted_name(name: object) -> str:
    """A client-supplied name as an error shows it: non-printable characters escaped (no terminal
    control sequences in logs), at most NAME_LIMIT characters."""
    text = str(name)
    escaped = "".join(char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
                      for char in text[:NAME_LIMIT])
    if len(escaped) <= NAME_LIMIT and len(text) <= NAME_LIMIT:
        return escaped
    return escaped[:NAME_LIMIT - 1] + ELLIPSIS


class ServiceError(Exception):
    """Base of every error the service answers with; carries its HTTP status and MLflow code."""

    status = 500
    error_code = "INTERNAL_ERROR"

    def __init__(self, message: str, field: str | None = None, expected: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.expected = expected

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"error_code": self.error_code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        if self.expected is not None:
            body["expected"] = self.expected
        return body


class BadRequest(ServiceError):
    status = 400
    error_code = "BAD_REQUEST"


class PayloadTooLarge(ServiceError):
    status = 413
    error_code = "REQUEST_TOO_LARGE"


class UnsupportedMediaType(ServiceError):
    status = 415
    error_code = "UNSUPPORTED_MEDIA_TYPE"


class NotFound(ServiceError):
    status = 404
    error_code = "NOT_FOUND"


class MethodNotAllowed(ServiceError):
    status = 405
    error_code = "METHOD_NOT_ALLOWED"


class NotReady(ServiceError):
    status = 503
    error_code = "NOT_READY"


class DeadlineExceeded(ServiceError):
    """The request reached the service's deadline: `stage` "queued" (it waited behind other
    predictions: overload) or "predicting" (its model call was interrupted)."""

    status = 503
    error_code = "TEMPORARILY_UNAVAILABLE"
    retry_after = 1  # seconds, sent as Retry-After

    def __init__(self, waited: float, deadline: float, stage: str) -> None:
        self.waited, self.stage = waited, stage
        what = ("waited for its prediction" if stage == "queued" else "had its prediction stopped")
        super().__init__(f"the request {what} after {waited:.1f}s, past the service's deadline of {deadline:g}s "
                         "(SERVICE_REQUEST_TIMEOUT_SECONDS): retry later")


class InternalError(ServiceError):
    """A fault on our side, logged with an id the client can quote."""

    status = 500
    error_code = "INTERNAL_ERROR"

    def __init__(self, what: str = "internal error") -> None:
        self.error_id = uuid.uuid4().hex
        super().__init__(f"{what}; quote error_id {self.error_id} to the operator")

    def body(self) -> dict[str, Any]:
        return {**super().body(), "error_id": self.error_id}


class ModelError(InternalError):
    """The model itself raised while predicting on valid input, or answered a different number of rows
    than it was sent: the only 5xx a request can cause."""

    def __init__(self, what: str = "the model failed to predict") -> None:
        super().__init__(what)


# Starlette's routing raises HTTPException(404) for no such route and (405) for a wrong method
ROUTING_ERRORS: dict[int, type[ServiceError]] = {404: NotFound, 405: MethodNotAllowed}


def error_response_body(error: ServiceError, request_id: str | None) -> bytes:
    """The one JSON error shape: `error_code`, `message`, optional `field`/`expected`/`error_id`;
    at most ERROR_BODY_LIMIT bytes (the longest text is halved until it fits)."""
    body = error.body()
    if request_id:
        body["request_id"] = request_id
    encoded = orjson.dumps(body)
    while len(encoded) > ERROR_BODY_LIMIT:
        longest = max((key for key, value in body.items() if isinstance(value, str)), key=lambda key: len(body[key]))
        if len(body[longest]) <= 1:
            break
        body[longest] = body[longest][:len(body[longest]) // 2] + ELLIPSIS
        encoded = orjson.dumps(body)
    return encoded

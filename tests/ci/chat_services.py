"""Local stand-ins for the chat services alerts go to, answering the way each real one does, errors included.

Each is a route list for `RecordingServer`: it checks the key or token, the signature (DingTalk: HMAC of
"<ms>\\nsecret" keyed by the secret, in the query; Feishu/Lark: HMAC keyed by "<s>\\nsecret" over nothing, in
the body) and the message shape, and answers like the service: HTTP 200 with an error code for WeCom,
DingTalk and Feishu, words and 4xx for Slack, 202 for Teams Workflows. `busy` answers the service's rate
limit that many times before the real answer.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

from tests.ci.recording_http import Answer, RecordedRequest, RecordingServer, Route

SIGN_WINDOW_S = 3600  # both services refuse a timestamp more than an hour away


@dataclass
class ChatService:
    """One fake service: its URL as ALERT_URLS names it, what it received, how often it is busy first."""

    kind: str
    key: str
    secret: str | None = None
    busy: int = 0
    server: RecordingServer = field(default=None, repr=False)

    def __enter__(self) -> ChatService:
        self.server = RecordingServer(ROUTES[self.kind](self)).__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.server.__exit__(*exc)

    @property
    def requests(self) -> list[RecordedRequest]:
        return self.server.requests

    def alert_url(self, key: str | None = None, secret: str | None = None) -> str:
        """`KIND+http://127.0.0.1:PORT/...` as a user writes it, with `key` and `secret` (default: right)."""
        key = key or self.key
        secret = secret if secret is not None else self.secret
        base = self.server.url.removeprefix("http://")
        path = PATHS[self.kind].format(key=key)
        signed = f"{'&' if '?' in path else '?'}secret={secret}" if secret else ""
        return f"{self.kind}+http://{base}{path}{signed}"

    def take_busy(self) -> bool:
        if self.busy > 0:
            self.busy -= 1
            return True
        return False


PATHS = {
    "wecombot": "/cgi-bin/webhook/send?key={key}",
    "dingtalk": "/robot/send?access_token={key}",
    "feishu": "/open-apis/bot/v2/hook/{key}",
    "lark": "/open-apis/bot/v2/hook/{key}",
    "slack": "/services/{key}",
    "workflows": "/workflows/{key}/triggers/manual/paths/invoke?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual"
                 "%2Frun&sv=1.0&sig=SIGNATURE-abcdef",
    "json": "/hooks/{key}",
}


def _wecom(service: ChatService) -> list[Route]:
    def answer(request: RecordedRequest) -> Answer:
        if request.query.get("key") != [service.key]:
            return 200, {"errcode": 93000, "errmsg": "invalid webhook url, hint: [1700000000_1], from ip: 127.0.0.1"}
        body = request.json() or {}
        if body.get("msgtype") != "markdown" or not body.get("markdown", {}).get("content"):
            return 200, {"errcode": 40008, "errmsg": "invalid message type"}
        if len(body["markdown"]["content"].encode()) > 4096:
            return 200, {"errcode": 40058, "errmsg": "markdown.content exceed max length 4096"}
        if service.take_busy():
            return 200, {"errcode": 45009, "errmsg": "api freq out of limit"}
        return 200, {"errcode": 0, "errmsg": "ok"}
    return [("POST", "/cgi-bin/webhook/send", answer)]


def dingtalk_sign(secret: str, timestamp: str) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def _dingtalk(service: ChatService) -> list[Route]:
    def answer(request: RecordedRequest) -> Answer:
        if request.query.get("access_token") != [service.key]:
            return 200, {"errcode": 300001, "errmsg": "robot 不存在；token is not exist"}
        if service.secret:
            [stamp] = request.query.get("timestamp") or ["0"]
            [sign] = request.query.get("sign") or [""]
            fresh = abs(time.time() * 1000 - int(stamp)) < SIGN_WINDOW_S * 1000
            if not fresh or not hmac.compare_digest(sign, dingtalk_sign(service.secret, stamp)):
                return 200, {"errcode": 310000, "errmsg": "sign not match, more: [https://ding-doc.dingtalk.com]"}
        markdown = (request.json() or {}).get("markdown") or {}
        if not markdown.get("title") or not markdown.get("text"):
            return 200, {"errcode": 400102, "errmsg": "markdown title or text missing"}
        if service.take_busy():
            return 200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}
        return 200, {"errcode": 0, "errmsg": "ok"}
    return [("POST", "/robot/send", answer)]


def feishu_sign(secret: str, timestamp: str) -> str:
    return base64.b64encode(hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()).decode()


def _feishu(service: ChatService) -> list[Route]:
    def answer(request: RecordedRequest) -> Answer:
        body = request.json() or {}
        if not body.get("msg_type"):
            return 400, {"code": 9499, "msg": "Bad Request", "data": {}}
        if service.secret:
            stamp = str(body.get("timestamp") or "0")
            fresh = abs(time.time() - int(stamp)) < SIGN_WINDOW_S
            if not fresh or not hmac.compare_digest(str(body.get("sign")), feishu_sign(service.secret, stamp)):
                return 200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from "
                                                   "current time", "data": {}}
        if body["msg_type"] == "interactive" and not body.get("card", {}).get("elements"):
            return 200, {"code": 11246, "msg": "create card content failed", "data": {}}
        if service.take_busy():
            return 200, {"code": 11232, "msg": "frequency limited psm[lark.oapi.app_platform_runtime]", "data": {}}
        return 200, {"StatusCode": 0, "StatusMessage": "success", "code": 0, "data": {}, "msg": "success"}

    def unknown(request: RecordedRequest) -> Answer:
        return 200, {"code": 19001, "msg": "param invalid: incoming webhook access token invalid", "data": {}}
    return [("POST", f"/open-apis/bot/v2/hook/{service.key}", answer), ("POST", "/open-apis/bot/v2/hook/.*", unknown)]


def _slack(service: ChatService) -> list[Route]:
    def answer(request: RecordedRequest) -> Answer:
        body = request.json() or {}
        if not body.get("text") and not body.get("blocks"):
            return 400, "no_text"
        if service.take_busy():
            return 429, "rate_limited", {"Retry-After": "1"}
        return 200, "ok"
    return [("POST", f"/services/{service.key}", answer),
            ("POST", "/services/[^/]+/[^/]+/[^/]+", (403, "invalid_token")),
            ("POST", "/services/.*", (404, "no_service"))]


def _workflows(service: ChatService) -> list[Route]:
    def answer(request: RecordedRequest) -> Answer:
        if request.query.get("sig") != ["SIGNATURE-abcdef"]:
            return 401, {"error": {"code": "DirectApiAuthorizationRequired",
                                   "message": "The request must be authenticated only by Shared Access scheme."}}
        body = request.json() or {}
        cards = [a for a in body.get("attachments", [])
                 if a.get("contentType") == "application/vnd.microsoft.card.adaptive"]
        if body.get("type") != "message" or not cards or cards[0]["content"].get("type") != "AdaptiveCard":
            return 400, {"error": {"code": "InvalidRequestContent", "message": "not an Adaptive Card message"}}
        if service.take_busy():
            return 429, {"error": {"code": "WorkflowTriggeredTooFrequently"}}, {"Retry-After": "1"}
        return 202, ""
    return [("POST", f"/workflows/{service.key}/triggers/manual/paths/invoke", answer),
            ("POST", "/workflows/.*", (404, {"error": {"code": "WorkflowNotFound"}}))]


def _json(service: ChatService) -> list[Route]:
    def answer(request: RecordedRequest) -> Answer:
        if service.take_busy():
            return 503, {"message": "upstream busy"}
        return 200, {}
    return [("POST", f"/hooks/{service.key}", answer), ("POST", "/hooks/.*", (404, {"message": "no such hook"}))]


ROUTES = {"wecombot": _wecom, "dingtalk": _dingtalk, "feishu": _feishu, "lark": _feishu, "slack": _slack,
          "workflows": _workflows, "json": _json}

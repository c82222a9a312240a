"""Per service: the request that carries an alert, and how to read its answer.

The answer rules are the services' own: WeCom and DingTalk say no with HTTP 200 and a non-zero `errcode`,
Feishu/Lark with a non-zero `code`, Slack's webhook answers the text `ok` (errors are 4xx words such as
`invalid_token`), Teams Workflows answers 202, a generic webhook any 2xx (and a WeCom-style `errcode` when
it relays to one). Worth retrying: HTTP 429 and 5xx, and each service's "too fast"/"busy" codes; never a
bad key, a bad signature or a refused payload, which would only fail again.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field

from ci.alerts import signing
from ci.alerts.channels import Channel
from ci.alerts.message import Alert

# Codes in an HTTP 200 answer that say "try again later".
RETRY_CODES = {
    "wecombot": {-1, 45009, 45033},  # system busy, API frequency over the limit, too many at once
    "dingtalk": {-1, 130101},  # system busy, send too fast
    "feishu": {11232, 99991400},  # bot frequency limited, app frequency limited
    "json": {-1, 45009},  # a WeCom-compatible relay
}
RETRY_CODES["lark"] = RETRY_CODES["feishu"]
SLACK_HEADER_MAX = 150  # characters of a Block Kit header


@dataclass(frozen=True)
class Request:
    url: str
    body: dict
    params: dict[str, str] = field(default_factory=dict)  # added to the URL's query (DingTalk's signature)


@dataclass(frozen=True)
class Verdict:
    sent: bool
    retry: bool = False
    reason: str = ""  # the service's words; scrubbed of the channel's secrets before it is printed
    retry_after: float | None = None  # seconds, from a Retry-After header


def request(channel: Channel, alert: Alert, now: float | None = None) -> Request:
    """The request for `alert` on `channel`, signed when the channel has a secret (at `now`)."""
    now = time.time() if now is None else now
    body = BODIES[channel.kind](alert)
    if channel.kind == "dingtalk" and channel.secret:
        stamp = int(now * 1000)
        return Request(channel.url, body, {"timestamp": str(stamp), "sign": signing.dingtalk(channel.secret, stamp)})
    if channel.kind in ("feishu", "lark") and channel.secret:
        stamp = int(now)
        body = {"timestamp": str(stamp), "sign": signing.feishu(channel.secret, stamp), **body}
    return Request(channel.url, body)


def judge(kind: str, status: int, text: str, payload, retry_after: float | None) -> Verdict:
    """The verdict on one answer: `payload` is its JSON (None when it is not JSON)."""
    if status == 429 or status >= 500:
        return Verdict(False, True, f"HTTP {status}{_words(text, payload)}", retry_after)
    if not 200 <= status < 300:
        return Verdict(False, False, f"HTTP {status}{_words(text, payload)}")
    if kind == "slack":
        return Verdict(True) if text.strip() == "ok" else Verdict(False, False, f"answered {text[:80]!r}")
    if kind == "workflows":
        return Verdict(True)
    code = _code(payload)
    if code == 0 or (code is None and kind == "json"):
        return Verdict(True)
    if code is None:
        return Verdict(False, False, f"HTTP {status} without the {kind} answer (errcode/code)")
    return Verdict(False, code in RETRY_CODES.get(kind, ()), f"code {code}{_words(text, payload)}")


def _code(payload) -> int | None:
    if not isinstance(payload, dict):
        return None
    for name in ("errcode", "code", "StatusCode"):
        if isinstance(payload.get(name), int):
            return payload[name]
    return None


def _words(text: str, payload) -> str:
    """The service's own reason, short: errmsg/msg, else Slack's one-word body."""
    if isinstance(payload, dict):
        words = payload.get("errmsg") or payload.get("msg") or payload.get("StatusMessage") or ""
    else:
        words = text.strip() if len(text.strip()) <= 80 else ""
    return f" ({str(words)[:120]})" if words else ""


def _wecom(alert: Alert) -> dict:
    return {"msgtype": "markdown", "markdown": {"content": alert.markdown()}}


def _dingtalk(alert: Alert) -> dict:
    return {"msgtype": "markdown", "markdown": {"title": alert.title, "text": alert.markdown()}}


def _feishu(alert: Alert) -> dict:
    """An interactive card: a red header and one lark_md block (Feishu's text type has no markdown)."""
    lines = [f"- {line}" for line in alert.figure_lines()]
    lines.append(" · ".join(f"{name}: **{value}**" for name, value in alert.facts()))
    lines += [" · ".join(f"[{name}]({url})" for name, url in alert.links())] if alert.links() else []
    return {"msg_type": "interactive",
            "card": {"header": {"title": {"tag": "plain_text", "content": alert.title}, "template": "red"},
                     "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": "\n".join(lines)}}]}}


def _slack(alert: Alert) -> dict:
    """Block Kit with `text` as the notification fallback; Slack's mrkdwn bolds with *x*, links <url|x>."""
    facts = " · ".join(f"{name}: *{_slack_escape(value)}*" for name, value in alert.facts())
    links = " · ".join(f"<{url}|{name}>" for name, url in alert.links())
    blocks = [{"type": "header", "text": {"type": "plain_text", "text": alert.title[:SLACK_HEADER_MAX]}}]
    figures = "\n".join(f"• {_slack_escape(line)}" for line in alert.figure_lines())
    if figures:
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": figures}})
    context = " · ".join(filter(None, [facts, links]))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": context}]})
    return {"text": alert.title, "blocks": blocks}


def _slack_escape(text: str) -> str:
    """Slack reads <...> as a link or mention: "p95 <= 100 ms" must arrive as text."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _workflows(alert: Alert) -> dict:
    """The Adaptive Card message a Teams Workflows "post to a channel when a webhook request is received"
    flow expects."""
    body = [{"type": "TextBlock", "text": alert.title, "weight": "Bolder", "size": "Medium", "color": "Attention",
             "wrap": True},
            *({"type": "TextBlock", "text": f"- {line}", "wrap": True, "spacing": "None"}
              for line in alert.figure_lines()),
            {"type": "FactSet", "facts": [{"title": name, "value": value} for name, value in alert.facts()]}]
    card = {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard",
            "version": "1.4", "body": body,
            "actions": [{"type": "Action.OpenUrl", "title": name, "url": url} for name, url in alert.links()]}
    return {"type": "message",
            "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None,
                             "content": card}]}


def _json(alert: Alert) -> dict:
    """WeCom's markdown fields and Slack's `text` (so a WeCom or Slack-style hook shows it as it is) plus the
    alert's fields for a receiver that reads them."""
    content = alert.markdown()
    return {"msgtype": "markdown", "markdown": {"content": content}, "text": content, "alert": alert.as_dict()}


BODIES = {"wecombot": _wecom, "dingtalk": _dingtalk, "feishu": _feishu, "lark": _feishu, "slack": _slack,
          "workflows": _workflows, "json": _json}

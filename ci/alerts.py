"""Alerts to an incoming webhook (WeCom, Slack, Mattermost, Teams-style relays).

Why one body for all: WeCom reads `msgtype` + `markdown.content`, Slack and Mattermost read
`text`; each ignores the other's fields, so one JSON body works with whichever the project set.
The webhook URL carries its secret in the path or query, so only its host is ever printed.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from ci.errors import CheckFailed

TIMEOUT_S = 10


def body(title: str, lines: list[str]) -> dict:
    """The webhook JSON: a markdown heading and one bullet per line."""
    content = "\n".join([f"### {title}", *(f"- {line}" for line in lines)])
    return {"msgtype": "markdown", "markdown": {"content": content}, "text": content}


def safe_target(url: str) -> str:
    """What may be printed about a webhook URL: its host."""
    return urlsplit(url).hostname or "the webhook"


def send(url: str, payload: dict) -> None:
    """POST `payload`; CheckFailed naming only the host when the webhook does not accept it."""
    import requests

    try:
        response = requests.post(url, json=payload, timeout=TIMEOUT_S)
    except requests.RequestException as exc:
        raise CheckFailed(f"alert webhook on {safe_target(url)} is not answering "
                          f"({type(exc).__name__})") from None
    if not response.ok:
        raise CheckFailed(f"alert webhook on {safe_target(url)} answered {response.status_code}")
    if _errcode(response) not in (None, 0):  # WeCom says "no" with 200 and a non-zero errcode
        raise CheckFailed(f"alert webhook on {safe_target(url)} refused the alert "
                          f"(errcode {_errcode(response)})")


def _errcode(response) -> int | None:
    try:
        answer = response.json()
    except ValueError:
        return None
    return answer.get("errcode") if isinstance(answer, dict) else None

"""Alerts for failed outcomes, to every configured chat channel: `notify(Alert(...))`.

A failed gate, a failed or undone deploy, an aborted canary ("canary deploy failed", with the
failing check and its figures), a failed promote and a missed scheduled load test send one
(`ci.commands.failure_alert` and `ci.loadtest.live`).

Why own senders and not apprise (2.2.0 read, plugin by plugin): apprise's URL forms are kept as the
configuration syntax (`ci.alerts.channels`), but its senders get these services wrong where it matters:
- WeCom (`wecombot`), DingTalk (`dingtalk`), Feishu (`feishu`) and Lark (`lark`) answer HTTP 200 with
  `errcode`/`code` non-zero for a bad key, a bad signature or a rate limit; apprise checks only the HTTP
  status, so every one of those refusals counts as sent. Feishu/Lark signing is not supported at all, and
  WeCom is sent as plain text only.
- Every plugin returns one bool, so a rate limit cannot be told from a revoked key: apprise's `?retry=N`
  retries both alike, blind to Slack's and Teams' Retry-After, and cannot avoid retrying a bad signature.
- Its debug logs print the notify URL with the key in it, and some warnings print the key or, for Lark, a
  requests error that contains the URL; our `-v` turns debug logging on.
- Slack's and WeCom's endpoints are fixed https hosts (and Teams Workflows https only), so the real
  plugin code cannot be pointed at a local test server without patching its class attributes.
Each service here is one small request builder and one answer judge (`ci.alerts.services`); retries
(tenacity) only for what is worth it, inside one time limit (`ci.alerts.delivery`).
"""
from ci.alerts.delivery import notify
from ci.alerts.message import Alert

__all__ = ["Alert", "notify"]

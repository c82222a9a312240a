"""ci/alerts.py: one webhook body for WeCom and Slack-style hooks, and only the host ever printed."""
from __future__ import annotations

import pytest

from ci.alerts import body, safe_target


@pytest.mark.parametrize(("title", "lines", "content"), [
    pytest.param("Load test failed: web", ["p95 300 ms", "reports: http://x"],
                 "### Load test failed: web\n- p95 300 ms\n- reports: http://x", id="lines"),
    pytest.param("Only a title", [], "### Only a title", id="no-lines"),
])
def test_body_serves_wecom_and_slack(title, lines, content):
    assert body(title, lines) == {"msgtype": "markdown", "markdown": {"content": content}, "text": content}


@pytest.mark.parametrize(("url", "shown"), [
    pytest.param("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=SECRET", "qyapi.weixin.qq.com",
                 id="key-in-query"),
    pytest.param("https://hooks.slack.com/services/T0/B0/SECRET", "hooks.slack.com", id="secret-in-path"),
    pytest.param("https://user:SECRET@relay.example:8443/hook", "relay.example", id="userinfo-and-port"),
    pytest.param("https://HOOKS.Example.COM/x", "hooks.example.com", id="lower-cased"),
    pytest.param("not a url SECRET", "the webhook", id="no-host"),
    pytest.param("", "the webhook", id="empty"),
])
def test_safe_target_never_shows_the_secret(url, shown):
    assert safe_target(url) == shown
    assert "SECRET" not in safe_target(url)

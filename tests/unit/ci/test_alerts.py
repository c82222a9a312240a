"""ci/alerts/: the message, the signatures, which channel a URL names, how an answer is judged, the backoff;
and ci/commands/failure_alert.py's figures. No network: the channels' HTTP is in tests/ci/test_alert_channels.py."""
from __future__ import annotations

import pytest

from ci.alerts import Alert, channels, signing
from ci.alerts.delivery import FIRST_WAIT_S, MAX_WAIT_S, _seconds, _wait
from ci.alerts.message import MAX_FIGURES
from ci.alerts.services import BODIES, Verdict, judge, request
from ci.commands.failure_alert import figures

ALERT = Alert("deploy failed", "credit-risk", "7", "pyfunc-production",
              ("rollout failed: crash loop; undone to revision 4",), "https://ci/jobs/9", None)


def test_markdown_names_what_failed_the_version_the_figures_and_the_job():
    assert ALERT.markdown() == (
        "### deploy failed: credit-risk version 7 (pyfunc-production)\n"
        "- rollout failed: crash loop; undone to revision 4\n"
        "model: **credit-risk** · version: **7** · environment: **pyfunc-production**\n"
        "[job](https://ci/jobs/9)")


def test_figures_are_kept_short():
    many = Alert("gate failed", "m", "1", "e", tuple(f"check {n}" for n in range(MAX_FIGURES + 3)) + ("x" * 999,))
    lines = many.figure_lines()
    assert len(lines) == MAX_FIGURES + 1 and lines[-1] == "... and 4 more in the job's reports"
    assert all(len(line) <= 300 for line in Alert("g", "m", "1", "e", ("y " * 400,)).figure_lines())


def test_from_job_takes_the_links_from_gitlab(monkeypatch):
    monkeypatch.setenv("CI_JOB_URL", "https://ci/jobs/1")
    monkeypatch.setenv("CI_PIPELINE_URL", "https://ci/pipelines/2")
    alert = Alert.from_job("promote failed", "", "", "", ["gates not passed"])
    assert (alert.model, alert.version, alert.environment) == ("?", "?", "-")
    assert alert.title == "promote failed (-)"
    assert Alert("load test failed", "/models/web", "?", "prod").title == "load test failed: /models/web (prod)"
    assert alert.links() == [("job", "https://ci/jobs/1"), ("pipeline", "https://ci/pipelines/2")]


@pytest.mark.parametrize("kind", list(BODIES))
def test_every_body_carries_the_title(kind):
    assert "deploy failed: credit-risk version 7 (pyfunc-production)" in str(BODIES[kind](ALERT))


def test_signatures_match_openssl():
    """Vectors from `openssl dgst -sha256 -hmac KEY -binary | base64`, an implementation of its own."""
    assert signing.dingtalk("SEC000secret", 1700000000000) == "tTfOwY6eBcGZXnIEbxsq+Nl6fWOBelRgIv5rn6hl3fg="
    assert signing.feishu("feishusecret", 1700000000) == "5Wc8F8b2vZlNjoVFpK6BAaovMobglP4Rm1FzmEq/rCU="


def test_signed_requests_carry_timestamp_and_sign_where_each_service_reads_them():
    ding = request(channels.parse("dingtalk://SEC000secret@tok123"), ALERT, now=1700000000.0)
    assert ding.params == {"timestamp": "1700000000000", "sign": "tTfOwY6eBcGZXnIEbxsq+Nl6fWOBelRgIv5rn6hl3fg="}
    feishu = request(channels.parse("feishu://feishusecret@tok123"), ALERT, now=1700000000.9)
    assert (feishu.body["timestamp"], feishu.body["sign"]) == ("1700000000", signing.feishu("feishusecret", 1700000000))
    assert request(channels.parse("feishu://tok123"), ALERT).body.keys() == {"msg_type", "card"}


@pytest.mark.parametrize(("entry", "kind", "url", "secret"), [
    pytest.param("wecombot://KEY-123", "wecombot", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-123", None,
                 id="wecombot"),
    pytest.param("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-123", "wecombot",
                 "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY-123", None, id="wecom-native"),
    pytest.param("dingtalk://SEC1@tok123", "dingtalk", "https://oapi.dingtalk.com/robot/send?access_token=tok123",
                 "SEC1", id="dingtalk-signed"),
    pytest.param("https://oapi.dingtalk.com/robot/send?access_token=tok123&secret=SEC1", "dingtalk",
                 "https://oapi.dingtalk.com/robot/send?access_token=tok123", "SEC1", id="dingtalk-native-secret"),
    pytest.param("feishu://tok-1?secret=S1", "feishu", "https://open.feishu.cn/open-apis/bot/v2/hook/tok-1", "S1",
                 id="feishu-secret-query"),
    pytest.param("lark://S2@tok-2", "lark", "https://open.larksuite.com/open-apis/bot/v2/hook/tok-2", "S2", id="lark"),
    pytest.param("https://open.feishu.cn/open-apis/bot/v2/hook/tok-1", "feishu",
                 "https://open.feishu.cn/open-apis/bot/v2/hook/tok-1", None, id="feishu-native"),
    pytest.param("slack://T1/B2/C3", "slack", "https://hooks.slack.com/services/T1/B2/C3", None, id="slack"),
    pytest.param("https://hooks.slack.com/services/T1/B2/C3", "slack", "https://hooks.slack.com/services/T1/B2/C3",
                 None, id="slack-native"),
    pytest.param("workflows://prod-1.westus.logic.azure.com:443/wf1/sig1", "workflows",
                 "https://prod-1.westus.logic.azure.com:443/workflows/wf1/triggers/manual/paths/invoke?"
                 "api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sig1", None, id="workflows"),
    pytest.param("workflow://env.api.powerplatform.com/wf1/sig1?pa=yes", "workflows",
                 "https://env.api.powerplatform.com/powerautomate/automations/direct/workflows/wf1/triggers/manual/"
                 "paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=sig1", None,
                 id="workflows-power-automate"),
    pytest.param("https://env.api.powerplatform.com:443/powerautomate/automations/direct/workflows/wf1/triggers/"
                 "manual/paths/invoke?api-version=1&sig=sig1", "workflows",
                 "https://env.api.powerplatform.com:443/powerautomate/automations/direct/workflows/wf1/triggers/"
                 "manual/paths/invoke?api-version=1&sig=sig1", None, id="workflows-native"),
    pytest.param("json://relay:8080/hook", "json", "http://relay:8080/hook", None, id="json"),
    pytest.param("jsons://relay/hook", "json", "https://relay/hook", None, id="jsons"),
    pytest.param("https://relay.example/any/hook?token=t1", "json", "https://relay.example/any/hook?token=t1", None,
                 id="unknown-host-is-generic"),
    pytest.param("DingTalk+HTTP://127.0.0.1:8080/robot/send?access_token=t&secret=S", "dingtalk",
                 "http://127.0.0.1:8080/robot/send?access_token=t", "S", id="kind-plus-transport"),
    pytest.param("wecom+https://proxy.corp/cgi-bin/webhook/send?key=K", "wecombot",
                 "https://proxy.corp/cgi-bin/webhook/send?key=K", None, id="alias-plus-transport"),
])
def test_parse(entry, kind, url, secret):
    assert channels.parse(entry) == channels.Channel(kind, url, secret)


@pytest.mark.parametrize(("entry", "problem"), [
    pytest.param("not-a-url-SECRET", "not a URL", id="no-scheme"),
    pytest.param("smtp://user:SECRET@mail", "unknown kind 'smtp'", id="unknown-kind"),
    pytest.param("slack://T1/SECRET", "three tokens", id="slack-short"),
    pytest.param("workflows://host/SECRET", "HOST/WORKFLOW/SIGNATURE", id="workflows-short"),
    pytest.param("wecombot+ftp://h/SECRET", r"is not KIND\+https://", id="bad-transport"),
    pytest.param("dingtalk://", "not a URL", id="empty"),
])
def test_parse_refuses_without_quoting_the_entry(entry, problem):
    with pytest.raises(channels.BadChannel, match=problem) as refused:
        channels.parse(entry)
    assert "SECRET" not in str(refused.value)


def test_configured_splits_on_commas_and_blanks_and_keeps_each_url_once():
    found, problems = channels.configured("slack://T1/B2/C3, wecombot://K1\n bogus", "slack://T1/B2/C3")
    assert [c.kind for c in found] == ["slack", "wecombot"]
    assert problems == ["alert channel #3 skipped: not a URL (write e.g. wecombot://KEY or https://...)"]


def test_describe_and_secrets():
    channel = channels.parse("dingtalk+https://u:pw1234@relay.corp/robot/send?access_token=tok123&secret=SECabc")
    assert channel.describe() == "dingtalk on relay.corp"
    assert set(channel.secrets()) == {"SECabc", "pw1234", "tok123"}
    assert "T0AB12" in channels.parse("slack://T0AB12/B0CD34/xyz789").secrets()
    assert "services" not in channels.parse("slack://T0AB12/B0CD34/xyz789").secrets()


@pytest.mark.parametrize(("kind", "status", "text", "payload", "verdict"), [
    pytest.param("wecombot", 200, "", {"errcode": 0, "errmsg": "ok"}, Verdict(True), id="wecom-ok"),
    pytest.param("wecombot", 200, "", {"errcode": 93000, "errmsg": "invalid webhook url"},
                 Verdict(False, False, "code 93000 (invalid webhook url)"), id="wecom-bad-key"),
    pytest.param("wecombot", 200, "", {"errcode": 45009, "errmsg": "api freq out of limit"},
                 Verdict(False, True, "code 45009 (api freq out of limit)"), id="wecom-rate-limit"),
    pytest.param("wecombot", 200, "<html>", None, Verdict(False, False, "HTTP 200 without the wecombot answer "
                                                                       "(errcode/code)"), id="wecom-not-json"),
    pytest.param("dingtalk", 200, "", {"errcode": 310000, "errmsg": "sign not match"},
                 Verdict(False, False, "code 310000 (sign not match)"), id="dingtalk-bad-sign"),
    pytest.param("dingtalk", 200, "", {"errcode": 130101, "errmsg": "send too fast"},
                 Verdict(False, True, "code 130101 (send too fast)"), id="dingtalk-too-fast"),
    pytest.param("feishu", 200, "", {"StatusCode": 0, "code": 0, "msg": "success"}, Verdict(True), id="feishu-ok"),
    pytest.param("feishu", 200, "", {"code": 19021, "msg": "sign match fail"},
                 Verdict(False, False, "code 19021 (sign match fail)"), id="feishu-bad-sign"),
    pytest.param("lark", 200, "", {"code": 11232, "msg": "frequency limited"},
                 Verdict(False, True, "code 11232 (frequency limited)"), id="lark-rate-limit"),
    pytest.param("feishu", 400, "", {"code": 9499, "msg": "Bad Request"},
                 Verdict(False, False, "HTTP 400 (Bad Request)"), id="feishu-bad-request"),
    pytest.param("slack", 200, "ok", None, Verdict(True), id="slack-ok"),
    pytest.param("slack", 403, "invalid_token", None, Verdict(False, False, "HTTP 403 (invalid_token)"),
                 id="slack-bad-token"),
    pytest.param("slack", 429, "rate_limited", None, Verdict(False, True, "HTTP 429 (rate_limited)", 30.0),
                 id="slack-rate-limit"),
    pytest.param("workflows", 202, "", None, Verdict(True), id="workflows-accepted"),
    pytest.param("workflows", 400, "", {"error": {}}, Verdict(False, False, "HTTP 400"), id="workflows-bad-card"),
    pytest.param("json", 204, "", None, Verdict(True), id="json-no-content"),
    pytest.param("json", 200, "", {"errcode": 93000}, Verdict(False, False, "code 93000"), id="json-wecom-relay"),
    pytest.param("json", 503, "busy", None, Verdict(False, True, "HTTP 503 (busy)", 30.0), id="json-5xx"),
    pytest.param("json", 302, "", None, Verdict(False, False, "HTTP 302"), id="json-redirect"),
])
def test_judge(kind, status, text, payload, verdict):
    assert judge(kind, status, text, payload, 30.0 if verdict.retry else None) == verdict


class _State:
    def __init__(self, attempt: int, retry_after: float | None):
        from ci.alerts.delivery import _Retryable

        error = _Retryable(Verdict(False, True, "x", retry_after))
        self.attempt_number = attempt
        self.outcome = type("Outcome", (), {"exception": lambda self: error})()


@pytest.mark.parametrize(("attempt", "retry_after", "seconds"), [
    pytest.param(1, None, FIRST_WAIT_S, id="first"),
    pytest.param(3, None, FIRST_WAIT_S * 4, id="doubles"),
    pytest.param(30, None, MAX_WAIT_S, id="capped"),
    pytest.param(1, 7.0, 7.0, id="retry-after-wins"),
    pytest.param(1, 3600.0, MAX_WAIT_S, id="retry-after-capped"),
])
def test_backoff(attempt, retry_after, seconds):
    assert _wait(_State(attempt, retry_after)) == seconds


@pytest.mark.parametrize(("header", "seconds"), [("3", 3.0), ("0.5", 0.5), ("-1", 0.0), (None, None),
                                                 ("Wed, 21 Oct 2026 07:28:00 GMT", None)])
def test_retry_after_header(header, seconds):
    assert _seconds(header) == seconds


@pytest.mark.parametrize(("message", "lines"), [
    pytest.param("latency gate failed (p95, p99):\np95 latency 300 ms\np99 latency 900 ms",
                 ["p95 latency 300 ms", "p99 latency 900 ms"], id="gate-heading-dropped"),
    pytest.param("rollout failed: crash loop; undone\nreport: reports/deploy.json",
                 ["rollout failed: crash loop; undone", "report: reports/deploy.json"], id="deploy"),
    pytest.param("gates not passed: latency=failed", ["gates not passed: latency=failed"], id="one-line"),
    pytest.param("", ["CheckFailed"], id="empty"),
])
def test_failure_figures(message, lines):
    from ci.errors import CheckFailed

    assert figures(CheckFailed(message)) == lines

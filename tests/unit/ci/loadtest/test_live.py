"""ci/loadtest/live.py: durations, the verdict against thresholds, and what a miss reports (fakes for the
webhook and GitLab)."""
from __future__ import annotations

import pytest

from ci.alerts import Alert
from ci.errors import ConfigError
from ci.loadtest.live import report_miss
from ci.loadtest.measure import Thresholds, evaluate, parse_duration
from ci.tools.locust import LocustStats


@pytest.mark.parametrize(("text", "seconds"), [
    pytest.param("90", 90, id="plain-seconds"),
    pytest.param("1.5", 1.5, id="fractional-seconds"),
    pytest.param("45s", 45, id="seconds"),
    pytest.param("2m", 120, id="minutes"),
    pytest.param("1h", 3600, id="hours"),
    pytest.param("1h2m3s", 3723, id="all-units"),
    pytest.param("1m 30s", 90, id="inner-blank"),
    pytest.param(" 10s ", 10, id="surrounding-blanks"),
    pytest.param("0", 0, id="zero"),
])
def test_parse_duration(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", [
    pytest.param("", id="empty"), pytest.param("   ", id="blank"), pytest.param(None, id="none"),
    pytest.param("soon", id="word"), pytest.param("10x", id="unknown-unit"), pytest.param("m", id="unit-only"),
    pytest.param("1.5m", id="fractional-minutes"), pytest.param("-5", id="negative"),
    pytest.param("30s2m", id="wrong-order"),
])
def test_parse_duration_rejects(text):
    with pytest.raises(ConfigError, match="write seconds \\(90\\), or 60s, 2m, 1m30s"):
        parse_duration(text)


def stats(requests=1000, failures=0, rps=40.0, p95=50.0, p99=90.0) -> LocustStats:
    return LocustStats(requests=requests, failures=failures, rps=rps, p50_ms=10.0, p95_ms=p95, p99_ms=p99,
                       max_ms=200.0)


LIMITS = Thresholds(p95_ms=100, p99_ms=250, max_error_rate=0.001, min_rps=20)


@pytest.mark.parametrize(("figures", "failed"), [
    pytest.param(stats(), [], id="all-pass"),
    pytest.param(stats(p95=100, p99=250, failures=1, rps=20), [], id="exactly-at-every-threshold"),
    pytest.param(stats(p95=100.4), ["p95"], id="p95-over"),
    pytest.param(stats(p99=251), ["p99"], id="p99-over"),
    pytest.param(stats(failures=2), ["error_rate"], id="errors-over"),
    pytest.param(stats(rps=19.9), ["throughput"], id="too-slow"),
    pytest.param(stats(requests=0, rps=0, p95=0, p99=0), ["p95", "p99", "error_rate", "throughput"],
                 id="no-requests-is-a-failure"),
])
def test_evaluate_verdicts(figures, failed):
    checks = evaluate(figures, LIMITS)
    assert [c.name for c in checks] == ["p95", "p99", "error_rate", "throughput"]
    assert [c.name for c in checks if not c.passed] == failed


def test_evaluate_details():
    details = [c.detail for c in evaluate(stats(requests=400, failures=3, rps=33.33, p95=123.4, p99=456.7), LIMITS)]
    assert details == ["p95 latency 123 ms (threshold <= 100 ms)", "p99 latency 457 ms (threshold <= 250 ms)",
                       "error rate 0.0075 = 3/400 requests (threshold <= 0.001)",
                       "throughput 33.3 req/s (threshold >= 20 req/s)"]


def test_no_request_answered_is_named_not_shown_as_zero_latency():
    details = [c.detail for c in evaluate(stats(requests=0, rps=0, p95=0, p99=0), LIMITS)]
    assert details[:2] == ["p95 latency: none measured (no request answered)",
                           "p99 latency: none measured (no request answered)"]
    assert details[2].startswith("no request was answered in the measured time, after the warm-up")
    assert "0/0" not in " ".join(details)


class FakeGitLab:
    def __init__(self):
        self.issues = []

    def open_or_update_issue(self, title, description, labels):
        self.issues.append((title, description, labels))
        return "opened issue #7"


MISS = Alert("scheduled load test missed its thresholds", "web", "3", "prod", ("p95 latency 300 ms",),
             "https://ci/job/1")


def test_report_miss_without_channels_or_gitlab_says_what_was_skipped(monkeypatch):
    monkeypatch.delenv("ALERT_URLS", raising=False)
    monkeypatch.delenv("ALERT_WEBHOOK_URL", raising=False)
    assert report_miss(MISS, "http://web", None, None) == [
        "alert skipped: ALERT_URLS (or ALERT_WEBHOOK_URL) not set",
        "GitLab issue skipped: CI_SERVER_URL, GITLAB_API_TOKEN or CI_PROJECT_ID not set"]


def test_report_miss_alerts_and_opens_an_issue(monkeypatch):
    sent = []
    monkeypatch.setattr("ci.alerts.notify", lambda alert, extra: sent.append((alert, extra)) or ["alert sent"])
    gitlab = FakeGitLab()
    done = report_miss(MISS, "http://web", "https://hooks.example/T/SECRET", gitlab)
    assert done == ["alert sent", "opened issue #7"]
    assert sent == [(MISS, ("https://hooks.example/T/SECRET",))]
    assert gitlab.issues == [("Load test failed: prod (web version 3)",
                              "The scheduled load test against http://web failed:\n\n- p95 latency 300 ms\n"
                              "- reports: https://ci/job/1", ["loadtest", "performance"])]

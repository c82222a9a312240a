"""Alerts against local servers that answer like WeCom, DingTalk, Feishu, Lark, Slack, Teams Workflows and a
generic JSON webhook (tests/ci/chat_services.py): the shape each receives, signatures, retries of rate limits
and 5xx only, the time limit, secrets never printed, and the failure paths that send them (a failed gate,
deploy and promote) with the job's exit code unchanged."""
from __future__ import annotations

import json
import logging
import time

import pytest

from ci import alerts
from ci.alerts import delivery
from ci.cli import main
from tests.ci import gate_models
from tests.ci.chat_services import ChatService

KEYS = {"wecombot": "wecom-key-0a1b2c3d", "dingtalk": "dingtalktoken0a1b2c3d", "feishu": "feishu-token-0a1b2c3d",
        "lark": "lark-token-0a1b2c3d", "slack": "T0SLACK1/B0SLACK2/slacksecret0a1b2c3d",
        "workflows": "workflowid0a1b2c3d", "json": "json-hook-0a1b2c3d"}
SECRETS = {"dingtalk": "SECdingsecret0a1b2c3d", "feishu": "feishusecret0a1b2c3d", "lark": "larksecret0a1b2c3d"}
NEVER_SHOWN = [*KEYS.values(), *SECRETS.values(), "slacksecret0a1b2c3d", "SIGNATURE-abcdef"]
ALERT = alerts.Alert("latency gate failed", "credit-risk", "7", "production",
                     ("p95 latency 320 ms (threshold <= 100 ms)", "error rate 0.0100 = 4/400 requests"),
                     "https://gitlab.example/g/p/-/jobs/99", "https://gitlab.example/g/p/-/pipelines/42")
JOB_ENV = {"CI_JOB_URL": ALERT.job_url, "CI_PIPELINE_URL": ALERT.pipeline_url}


def chat(kind: str, busy: int = 0) -> ChatService:
    return ChatService(kind, KEYS[kind], SECRETS.get(kind), busy=busy)


@pytest.fixture
def fast_retries(monkeypatch):
    """The backoff's shape is unit-tested; here a retry need not wait a second."""
    monkeypatch.setattr(delivery, "FIRST_WAIT_S", 0.05)


@pytest.fixture(autouse=True)
def _no_configured_channels(monkeypatch):
    for name in ("ALERT_URLS", "ALERT_WEBHOOK_URL", "ALERT_ATTEMPTS", "ALERT_TIME_LIMIT"):
        monkeypatch.delenv(name, raising=False)


def send(monkeypatch, *urls: str, alert: alerts.Alert = ALERT) -> list[str]:
    monkeypatch.setenv("ALERT_URLS", ", ".join(urls))
    return alerts.notify(alert)


def assert_nothing_secret(text: str) -> None:
    for secret in NEVER_SHOWN:
        assert secret not in text


@pytest.mark.parametrize("kind", list(KEYS))
def test_each_service_accepts_the_alert_in_its_own_shape(kind, monkeypatch):
    with chat(kind) as service:
        lines = send(monkeypatch, service.alert_url())
    assert lines == [f"alert sent to {kind} on 127.0.0.1"]
    [request] = service.requests
    assert "secret" not in request.query  # a signing secret signs; it is never sent
    text = request.body.decode()
    for expected in ("latency gate failed", "credit-risk", "production", "p95 latency 320 ms",
                     "https://gitlab.example/g/p/-/jobs/99"):
        assert expected in text, (kind, expected)
    assert_nothing_secret(text)


def test_each_shape_is_what_the_service_renders():
    """The fields each service reads, checked once on the bodies that arrived."""
    bodies = {}
    with pytest.MonkeyPatch.context() as monkeypatch:
        for kind in KEYS:
            with chat(kind) as service:
                send(monkeypatch, service.alert_url())
                bodies[kind] = service.requests[0].json()
    assert bodies["wecombot"]["markdown"]["content"].startswith(
        "### latency gate failed: credit-risk version 7 (production)\n- p95 latency 320 ms")
    assert bodies["dingtalk"]["markdown"]["title"] == "latency gate failed: credit-risk version 7 (production)"
    card = bodies["feishu"]["card"]
    assert card["header"]["template"] == "red" and card["elements"][0]["text"]["tag"] == "lark_md"
    assert "[job](https://gitlab.example/g/p/-/jobs/99)" in card["elements"][0]["text"]["content"]
    assert bodies["slack"]["text"] == "latency gate failed: credit-risk version 7 (production)"
    assert "p95 latency 320 ms (threshold &lt;= 100 ms)" in bodies["slack"]["blocks"][1]["text"]["text"]
    adaptive = bodies["workflows"]["attachments"][0]["content"]
    assert {"title": "version", "value": "7"} in adaptive["body"][-1]["facts"]
    assert [a["title"] for a in adaptive["actions"]] == ["job", "pipeline"]
    assert bodies["json"]["alert"] == {**ALERT.as_dict(), "figures": list(ALERT.figures)}
    assert bodies["json"]["text"] == bodies["json"]["markdown"]["content"]


def test_several_channels_at_once_and_the_old_webhook_variable(monkeypatch):
    services = [chat(kind) for kind in KEYS]
    for service in services:
        service.__enter__()
    try:
        *others, generic = services
        monkeypatch.setenv("ALERT_WEBHOOK_URL", generic.server.url + f"/hooks/{generic.key}")
        lines = send(monkeypatch, *(service.alert_url() for service in others),
                     others[0].alert_url())  # named twice: sent once
    finally:
        for service in services:
            service.__exit__(None, None, None)
    assert lines == [f"alert sent to {kind} on 127.0.0.1" for kind in KEYS]
    assert [len(service.requests) for service in services] == [1] * len(KEYS)


@pytest.mark.parametrize("kind", list(KEYS))
def test_a_rate_limit_or_busy_answer_is_retried(kind, monkeypatch, fast_retries):
    with chat(kind, busy=1) as service:
        lines = send(monkeypatch, service.alert_url())
    assert lines == [f"alert sent to {kind} on 127.0.0.1 after 2 attempts"]
    assert len(service.requests) == 2


def test_retries_stop_after_the_attempts_and_say_why(monkeypatch, fast_retries):
    monkeypatch.setenv("ALERT_ATTEMPTS", "2")
    with chat("wecombot", busy=5) as service:
        lines = send(monkeypatch, service.alert_url())
    assert lines == ["alert NOT sent to wecombot on 127.0.0.1: code 45009 (api freq out of limit); "
                     "gave up after 2 attempts"]
    assert len(service.requests) == 2


def test_retry_after_is_honoured(monkeypatch):
    with chat("slack", busy=1) as service:
        started = time.monotonic()
        lines = send(monkeypatch, service.alert_url())
        waited = time.monotonic() - started
    assert lines == ["alert sent to slack on 127.0.0.1 after 2 attempts"]
    assert waited >= 1.0  # Retry-After: 1


def test_the_time_limit_bounds_every_retry(monkeypatch):
    monkeypatch.setenv("ALERT_TIME_LIMIT", "1")
    with chat("slack", busy=5) as slack, chat("json") as generic:
        started = time.monotonic()
        lines = send(monkeypatch, slack.alert_url(), generic.alert_url())
        elapsed = time.monotonic() - started
    assert lines[0] == "alert NOT sent to slack on 127.0.0.1: HTTP 429 (rate_limited); gave up after 1 attempt"
    assert len(slack.requests) == 1 and elapsed < 1.0  # a 1 s Retry-After does not fit in 1 s
    assert lines[1] == "alert sent to json on 127.0.0.1"


@pytest.mark.parametrize(("kind", "wrong", "refusal"), [
    pytest.param("wecombot", {"key": "revoked-key-9z9z9z"}, "code 93000 (invalid webhook url", id="wecom-bad-key"),
    pytest.param("dingtalk", {"secret": "SECwrongsecret9z9z"}, "code 310000 (sign not match", id="dingtalk-bad-sign"),
    pytest.param("dingtalk", {"key": "revokedtoken9z9z9z"}, "code 300001", id="dingtalk-bad-token"),
    pytest.param("feishu", {"secret": "wrongsecret9z9z9z"}, "code 19021 (sign match fail", id="feishu-bad-sign"),
    pytest.param("lark", {"key": "revoked-token-9z9z"}, "code 19001 (param invalid", id="lark-bad-token"),
    pytest.param("slack", {"key": "T0SLACK1/B0SLACK2/revoked9z9z9z"}, "HTTP 403 (invalid_token)", id="slack-bad-token"),
    pytest.param("slack", {"key": "T0SLACK1/revoked9z9z9z"}, "HTTP 404 (no_service)", id="slack-no-service"),
    pytest.param("workflows", {"key": "deletedflow9z9z9z"}, "HTTP 404", id="workflows-gone"),
])
def test_a_refusal_is_reported_and_not_retried(kind, wrong, refusal, monkeypatch):
    with chat(kind) as service:
        lines = send(monkeypatch, service.alert_url(**wrong))
    [line] = lines
    assert line.startswith(f"alert NOT sent to {kind} on 127.0.0.1: {refusal}")
    assert line.endswith("; not retried")
    assert len(service.requests) == 1
    assert_nothing_secret(line)
    for value in wrong.values():
        assert value.split("/")[-1] not in line


def test_a_signed_channel_without_its_secret_is_refused(monkeypatch):
    """The robot has signing on; a URL without `secret=` gets the service's signature refusal."""
    with chat("dingtalk") as service:
        [line] = send(monkeypatch, service.alert_url(secret=""))
    assert "code 310000" in line and len(service.requests) == 1


def test_no_answer_is_retried_then_reported(monkeypatch, fast_retries):
    with chat("wecombot") as service:
        url = service.alert_url()
    lines = send(monkeypatch, url)  # the server has stopped: connection refused
    assert lines == ["alert NOT sent to wecombot on 127.0.0.1: no answer (ConnectionError); gave up after 3 attempts"]


def test_an_entry_that_names_no_channel_is_skipped_without_being_quoted(monkeypatch):
    with chat("json") as service:
        lines = send(monkeypatch, "smtp://user:SECdingsecret0a1b2c3d@mail", service.alert_url())
    assert lines[0].startswith("alert channel #1 skipped: unknown kind 'smtp'")
    assert lines[1] == "alert sent to json on 127.0.0.1"
    assert_nothing_secret("\n".join(lines))


def test_nothing_configured_says_so():
    assert alerts.notify(ALERT) == ["alert skipped: ALERT_URLS (or ALERT_WEBHOOK_URL) not set"]


@pytest.fixture(autouse=True)
def no_tracking_server(monkeypatch):
    """The gates here record nothing on a registry, whatever an earlier test of this worker left set."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


def failing_signature_gate(tmp_path):
    """The cheapest real gate failure: a candidate whose input example breaks its own signature."""
    model_dir = gate_models.save(tmp_path / "model")
    example = json.loads((model_dir / "input_example.json").read_text())
    example["data"] = [[row[0], "not a number", row[2]] for row in example["data"]]
    (model_dir / "input_example.json").write_text(json.dumps(example))
    return ["gate", "signature", "--model-uri", str(model_dir), "--model-name", "credit-risk",
            "--model-version", "7", "--output-dir", str(tmp_path / "reports")]


def test_a_failed_gate_alerts_every_channel_and_still_exits_1(tmp_path, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)  # what `-v` shows: urllib3 logs each request line, query included
    for name, value in JOB_ENV.items():
        monkeypatch.setenv(name, value)
    args = failing_signature_gate(tmp_path)
    with chat("dingtalk") as dingtalk, chat("slack") as slack:
        monkeypatch.setenv("ALERT_URLS", f"{dingtalk.alert_url()} {slack.alert_url()}")
        code = main(["-v", *args])
    captured = capsys.readouterr()
    assert code == 1
    assert "alert sent to dingtalk on 127.0.0.1" in captured.err and "alert sent to slack on 127.0.0.1" in captured.err
    assert "signature gate failed (input_example" in captured.err  # and batching: no candidate given
    text = dingtalk.requests[0].json()["markdown"]["text"]
    assert text.startswith("### signature gate failed: credit-risk version 7 (not deployed (gate))")
    assert "the input example does not match the signature" in text
    assert "[job](https://gitlab.example/g/p/-/jobs/99)" in text
    assert_nothing_secret(captured.out + captured.err + caplog.text)


def test_an_alert_that_fails_leaves_the_exit_code_alone(tmp_path, monkeypatch, capsys):
    args = failing_signature_gate(tmp_path)
    with chat("wecombot") as service:
        monkeypatch.setenv("ALERT_URLS", service.alert_url(key="revoked-key-9z9z9z"))
        code = main(args)
    captured = capsys.readouterr()
    assert code == 1 and "alert NOT sent to wecombot on 127.0.0.1: code 93000" in captured.err
    assert "signature gate failed" in captured.err


def test_a_failed_deploy_alerts_with_its_namespace(tmp_path, monkeypatch, capsys):
    """The deploy command's failure exit (the rollout itself is tested in test_deploy.py): an undone
    rollout raises from the command, the alert names it, the exit code stays 1."""
    from ci.clients import kube
    from ci.deploy import rolling as deploy_logic
    from ci.deploy.rolling import DeployResult

    monkeypatch.setattr(kube, "connect", lambda *args, **kwargs: None)
    failed = DeployResult(ok=False, message="rollout of pyfunc-model failed: container crashed 3 times; undone to "
                                            "revision 4 (credit-risk version 6)")
    monkeypatch.setattr(deploy_logic, "deploy_and_report", lambda *args, **kwargs: (failed, tmp_path / "deploy.json"))
    monkeypatch.setenv("CI_JOB_URL", ALERT.job_url)
    with chat("feishu") as service:
        monkeypatch.setenv("ALERT_URLS", service.alert_url())
        code = main(["deploy", "--namespace", "pyfunc-staging", "--image", "reg/m@sha256:" + "a" * 64,
                     "--model-name", "credit-risk", "--model-version", "7", "--no-smoke",
                     "--output-dir", str(tmp_path)])
    assert code == 1
    content = service.requests[0].json()["card"]
    assert content["header"]["title"]["content"] == "deploy failed: credit-risk version 7 (pyfunc-staging)"
    assert "undone to revision 4" in content["elements"][0]["text"]["content"]
    assert "alert sent to feishu on 127.0.0.1" in capsys.readouterr().err


def test_a_refused_promote_alerts_and_a_passing_command_does_not(sqlite_model, tmp_path, monkeypatch, capsys):
    name = sqlite_model.register()
    for variable, value in {**JOB_ENV, "CI_ENVIRONMENT_NAME": "production"}.items():
        monkeypatch.setenv(variable, value)
    args = ["promote", "--tracking-uri", sqlite_model.server.url, "--model-name", name, "--version", "1",
            "--output-dir", str(tmp_path)]
    with chat("json") as service:
        monkeypatch.setenv("ALERT_URLS", service.alert_url())
        refused = main(args)
        refused_output = capsys.readouterr()
        forced = main([*args, "--force"])
    assert (refused, forced) == (1, 0)
    [request] = service.requests  # the forced promote sent nothing
    alert = request.json()["alert"]
    assert (alert["what"], alert["model"], alert["version"], alert["environment"], alert["job_url"]) == \
        ("promote failed", name, "1", "production", ALERT.job_url)
    assert any("gates not passed" in line for line in alert["figures"])
    assert "alert sent to json on 127.0.0.1" in refused_output.err
    assert service.key not in refused_output.out + refused_output.err

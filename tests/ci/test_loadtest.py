"""`python -m ci loadtest` (the scheduled job) against the real service: a miss alerts the webhook
and opens a GitLab issue, both received by a local recording server; a pass sends nothing. Without a
URL it needs a namespace and kubectl (the cluster runs are in test_loadtest_proxy.py)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci.cli import main
from ci.loadtest.measure import parse_duration
from tests.ci import gate_models
from tests.ci.recording_http import RecordingServer, gitlab_routes
from tests.ci.served import serving

REPO = Path(__file__).resolve().parents[2]
SHORT_RUN = ["--users", "4", "--rate", "20", "--warmup", "2s", "--duration", "8s", "--min-rps", "10"]
TOKEN = "glpat-loadtest-secret"


@pytest.fixture
def recorder(monkeypatch):
    with RecordingServer(gitlab_routes("42")) as server:
        monkeypatch.setenv("CI_SERVER_URL", server.url)
        monkeypatch.setenv("GITLAB_API_TOKEN", TOKEN)
        monkeypatch.setenv("CI_PROJECT_ID", "42")
        monkeypatch.setenv("ALERT_WEBHOOK_URL", f"{server.url}/hooks/send?key=WEBHOOK-SECRET")
        yield server


def test_miss_alerts_the_webhook_and_opens_an_issue(recorder, tmp_path, capsys):
    model = gate_models.save(tmp_path / "failing", fail_after_calls=gate_models.WARM_UP_CALLS)
    with serving(model, tmp_path) as url:
        code = main(["loadtest", "--url", url, "--model-uri", str(model), "--output-dir", str(tmp_path / "r"),
                     "--environment", "production", *SHORT_RUN])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL  error rate 1.0000" in captured.out
    assert "alert sent to json on 127.0.0.1" in captured.out and "opened issue #1" in captured.out
    assert "load test missed a threshold (error_rate" in captured.err
    assert TOKEN not in captured.out + captured.err and "WEBHOOK-SECRET" not in captured.out + captured.err

    [hook] = recorder.calls("POST", "/hooks/send")
    assert hook.query == {"key": ["WEBHOOK-SECRET"]}
    content = hook.json()["markdown"]["content"]
    assert content.startswith(f"### scheduled load test missed its thresholds: {model} (production)")
    assert "- error rate 1.0000" in content and hook.json()["text"] == content
    assert hook.json()["alert"]["environment"] == "production"
    [issue] = recorder.calls("POST", "/api/v4/projects/42/issues")
    assert issue.headers["private-token"] == TOKEN
    assert issue.json()["title"] == "Load test failed: production"
    assert issue.json()["labels"] == "loadtest,performance"
    assert f"against {url} failed" in issue.json()["description"]
    for name in ("loadtest-junit.xml", "loadtest.html", "loadtest.json"):
        assert (tmp_path / "r" / name).is_file()
    assert json.loads((tmp_path / "r" / "loadtest.json").read_text())["environment"] == "production"


def test_a_live_service_that_does_not_answer_alerts_and_opens_an_issue(recorder, tmp_path, capsys):
    """Down or gone is the worst miss: the schedule alerts on it too, then exits 1."""
    with serving(gate_models.save(tmp_path / "normal"), tmp_path) as url:
        pass  # the service ran on this port and has stopped: nothing answers there now
    code = main(["loadtest", "--url", url, "--output-dir", str(tmp_path / "r"), "--environment", "production",
                 *SHORT_RUN])
    captured = capsys.readouterr()
    assert code == 1
    assert f"the live service at {url} does not answer /version" in captured.err
    assert "alert sent to json on 127.0.0.1" in captured.out and "opened issue #1" in captured.out
    [hook] = recorder.calls("POST", "/hooks/send")
    assert hook.json()["markdown"]["content"].startswith("### scheduled load test could not run (production)")
    assert "could not run: the live service" in hook.json()["markdown"]["content"]
    [issue] = recorder.calls("POST", "/api/v4/projects/42/issues")
    assert f"against {url} failed" in issue.json()["description"]
    assert not (tmp_path / "r" / "loadtest.json").exists()


def test_pass_sends_nothing(recorder, tmp_path, capsys):
    model = gate_models.save(tmp_path / "normal")
    with serving(model, tmp_path) as url:
        assert main(["loadtest", "--url", url, "--model-uri", str(model), "--output-dir", str(tmp_path),
                     *SHORT_RUN]) == 0
    assert "load test passed" in capsys.readouterr().out
    assert recorder.requests == []


def test_durations():
    assert parse_duration("60s") == 60 and parse_duration("2m") == 120 and parse_duration("1m30s") == 90
    assert parse_duration("15") == 15


def test_bad_duration_is_a_usage_error(tmp_path, capsys):
    assert main(["loadtest", "--url", "http://127.0.0.1:9", "--model-uri", str(tmp_path), "--duration",
                 "soon"]) == 2
    assert "duration 'soon'" in capsys.readouterr().err


def _loadtest_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """The real entry point, without the URL and Kubernetes variables of the caller's environment."""
    clean = {name: value for name, value in os.environ.items()
             if name not in ("LOADTEST_URL", "KUBE_NAMESPACE", "KUBECONFIG", "KUBE_CONTEXT")}
    return subprocess.run([sys.executable, "-m", "ci", "loadtest", *args], env={**clean, **env}, cwd=REPO,
                          capture_output=True, text=True, timeout=60)


def test_neither_url_nor_namespace_is_a_usage_error(tmp_path):
    result = _loadtest_cli({}, "--model-uri", str(tmp_path), "--output-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "set LOADTEST_URL (--url), or KUBE_NAMESPACE (--namespace)" in result.stderr


def test_no_kubectl_is_a_usage_error_that_says_so(tmp_path):
    result = _loadtest_cli({"KUBE_NAMESPACE": "pyfunc-production", "PATH": str(tmp_path)},
                           "--model-uri", str(tmp_path), "--output-dir", str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "`kubectl` is not installed on this runner" in result.stderr


def test_a_proxy_that_cannot_start_shows_kubectls_words(tmp_path):
    """A context the kubeconfig lacks: kubectl exits at once and its own message is the error."""
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(json.dumps({"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [],
                                      "contexts": []}))
    result = _loadtest_cli({"KUBE_NAMESPACE": "pyfunc-production", "KUBECONFIG": str(kubeconfig),
                            "KUBE_CONTEXT": "no-such-context"}, "--model-uri", str(tmp_path))
    assert result.returncode == 1, result.stderr
    assert "`kubectl proxy` failed (exit 1)" in result.stderr and "no-such-context" in result.stderr

"""`python -m ci gate latency` against the real service: a normal model passes, a sleeping model
misses p95, a model that raises (500s) misses the error rate. Short runs: Locust shares 2 cores."""
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from ci.cli import main
from tests.ci import gate_models
from tests.ci.served import serving

# 8 users at 24 req/s for 10 s after a 3 s ramp: ~240 measured requests, a few seconds of CPU.
SHORT_RUN = ["--users", "8", "--rate", "24", "--warmup", "3s", "--duration", "10s", "--min-rps", "12"]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("latency-models")
    return {"normal": gate_models.save(root / "normal"),
            "sleepy": gate_models.save(root / "sleepy", sleep_ms=180),
            "failing": gate_models.save(root / "failing", fail_after_calls=gate_models.WARM_UP_CALLS)}


def gate(url, model_dir, reports, *extra):
    return main(["gate", "latency", "--url", url, "--model-uri", str(model_dir), "--output-dir", str(reports),
                 *SHORT_RUN, *extra])


def test_normal_model_passes_and_writes_reports(models, tmp_path, capsys):
    with serving(models["normal"], tmp_path) as url:
        assert gate(url, models["normal"], tmp_path / "reports") == 0
    out = capsys.readouterr().out
    assert "latency gate passed" in out
    summary = json.loads((tmp_path / "reports" / "latency.json").read_text())
    assert summary["passed"] is True and summary["stats"]["failures"] == 0
    assert summary["stats"]["requests"] > 100
    assert summary["stats"]["p95_ms"] <= 100
    suite = ET.parse(tmp_path / "reports" / "latency-junit.xml").getroot().find("testsuite")  # noqa: S314 - our report
    assert suite.get("tests") == "4" and suite.get("failures") == "0"
    assert "<html" in (tmp_path / "reports" / "latency.html").read_text()[:2000].lower()


def test_sleeping_model_fails_on_p95(models, tmp_path, capsys):
    with serving(models["sleepy"], tmp_path) as url:
        assert gate(url, models["sleepy"], tmp_path) == 1
    captured = capsys.readouterr()
    assert "FAIL  p95 latency" in captured.out and "(threshold <= 100 ms)" in captured.out
    assert "PASS  error rate" in captured.out
    assert "latency gate failed (p95" in captured.err  # p99 and throughput miss too: predict is serialised
    suite = ET.parse(tmp_path / "latency-junit.xml").getroot().find("testsuite")  # noqa: S314 - our report
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert "p95" in failed and "error_rate" not in failed


def test_service_answering_500_fails_on_error_rate(models, tmp_path, capsys):
    with serving(models["failing"], tmp_path) as url:
        assert gate(url, models["failing"], tmp_path) == 1
    out = capsys.readouterr().out
    assert "FAIL  error rate 1.0000" in out and "(threshold <= 0.001)" in out
    assert json.loads((tmp_path / "latency.json").read_text())["passed"] is False


def test_help_documents_thresholds_and_variables():
    result = subprocess.run([sys.executable, "-m", "ci", "gate", "latency", "--help"], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0
    for text in ("p95 <= 100 ms", "p99 <= 250 ms", "error rate <= 0.001", "throughput >= 20 req/s",
                 "LATENCY_P95_MS", "LOADTEST_USERS", "LOADTEST_DURATION", "CI_REPORTS_DIR"):
        assert text in result.stdout


def test_no_model_is_a_usage_error(tmp_path, capsys):
    assert main(["gate", "latency", "--url", "http://127.0.0.1:9", "--output-dir", str(tmp_path)]) == 2
    assert "pass --model-uri" in capsys.readouterr().err

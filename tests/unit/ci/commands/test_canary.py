"""`ci deploy --strategy canary`: bad canary settings are refused (exit 2) before the cluster is reached."""
from __future__ import annotations

from pathlib import Path

import pytest

from ci.cli import main
from ci.errors import EXIT_USAGE


def deploy(tmp_path: Path, *extra: str) -> int:
    body = tmp_path / "example.json"
    body.write_text('{"inputs": [[1.0]]}')
    return main(["deploy", "--kubeconfig", str(tmp_path / "no-such-kubeconfig"), "--namespace", "ns",
                 "--image", "reg/m@sha256:1", "--model-name", "m", "--model-version", "1",
                 "--smoke-input", str(body), "--output-dir", str(tmp_path), "--strategy", "canary", *extra])


def test_bad_steps_name_the_variable(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert deploy(tmp_path, "--canary-steps", "50,10") == EXIT_USAGE
    assert "CANARY_STEPS=10,50,100" in capsys.readouterr().err


def test_a_sample_file_that_is_not_json_lines_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    sample = tmp_path / "sample.jsonl"
    sample.write_text('{"inputs": [[1.0]]}\nnot json\n')
    assert deploy(tmp_path, "--canary-input", str(sample)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "line 2 is not JSON" in err and "CANARY_INPUT" in err and "inputs" not in err  # never the payload


def test_an_unknown_strategy_is_a_usage_error(tmp_path: Path) -> None:
    assert deploy(tmp_path, "--strategy", "blue-green") == EXIT_USAGE


def test_a_prometheus_url_that_is_not_http_is_refused_without_its_password(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert deploy(tmp_path, "--prometheus-url", "prometheus:9090") == EXIT_USAGE
    assert "PROMETHEUS_URL 'prometheus:9090' is not an http(s) URL" in capsys.readouterr().err
    assert deploy(tmp_path, "--prometheus-url", "ftp://job:s3cret@prom.example:21/x") == EXIT_USAGE
    err = capsys.readouterr().err
    assert "ftp://***@prom.example:21/x" in err and "s3cret" not in err

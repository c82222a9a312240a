"""The CLI contract: `python -m ci --help` documents the exit codes; usage errors exit 2."""
import subprocess
import sys


def run_ci(*args):
    return subprocess.run([sys.executable, "-m", "ci", *args], capture_output=True, text=True, timeout=120)


def test_help_documents_exit_codes():
    result = run_ci("--help")
    assert result.returncode == 0
    assert "Exit codes" in result.stdout
    for line in ("0  passed", "1  a gate, a rollout", "2  usage or configuration error"):
        assert line in result.stdout


def test_unknown_command_is_a_usage_error():
    result = run_ci("no-such-command")
    assert result.returncode == 2
    assert "No such command" in result.stderr

"""`make demo` as a new user runs it: a real MLflow server, a trained model, the service, a curl line."""
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_demo_serves_the_production_model_and_prints_a_working_curl_line(tmp_path):
    result = subprocess.run([sys.executable, "-m", "examples.demo", "--once", "--workdir", str(tmp_path)],
                            capture_output=True, text=True, cwd=REPO, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    assert "-> @production, stage Production" in result.stdout
    curl = re.search(r"^\s*(curl -s http://127\.0\.0\.1:\d+/invocations .*)$", result.stdout, re.M)
    assert curl, result.stdout
    assert '"risk_level"' in result.stdout.split("answer:", 1)[1]

"""ci/progressive/canary_report.py: the JSON, JUnit and HTML artifacts of a canary, named per step."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from ci.progressive import canary_report
from ci.progressive.canary import CanaryResult, Step
from ci.reports import Check


def failed_result() -> CanaryResult:
    figures = {"requests": 120, "errors": 36, "error_rate": 0.3, "p95_seconds": 0.02, "p99_seconds": None}
    step = Step(10, 1, 4, "fail", [Check("observations", True, "canary 120, stable 130 requests"),
                                   Check("error_rate_absolute", False, "canary error rate 0.3000 = 36/120 <b>")],
                canary=figures, stable={**figures, "errors": 0, "error_rate": 0.0},
                drift={"score": {"psi": 0.01, "noise": 0.2, "stable": 130, "canary": 84}},
                own_requests={"canary": {"200": 84, "500": 36}}, seconds=12.5)
    return CanaryResult(ok=False, outcome="aborted", message="canary failed at step 10%: error_rate_absolute",
                        failing={"step": 10, "check": "error_rate_absolute", "detail": "...",
                                 "canary": figures, "stable": {}}, steps=[step], seconds=14.0)


def test_the_three_artifacts(tmp_path: Path) -> None:
    paths = canary_report.write(tmp_path, failed_result(), image="reg/m@sha256:1", namespace="prod")
    assert [p.name for p in paths] == ["canary.json", "canary-junit.xml", "canary.html"]
    summary = json.loads(paths[0].read_text())
    assert (summary["passed"], summary["outcome"], summary["failing"]["check"]) == (False, "aborted",
                                                                                    "error_rate_absolute")
    assert summary["image"] == "reg/m@sha256:1" and summary["steps"][0]["canary"]["errors"] == 36
    suite = ET.fromstring(paths[1].read_text()).find("testsuite")  # noqa: S314 - written just above
    cases = {case.get("name"): case.find("failure") is not None for case in suite.iter("testcase")}
    assert cases == {"step 10%: observations": False, "step 10%: error_rate_absolute": True}
    page = paths[2].read_text()
    assert "<h2>step 10%: fail (1 canary / 4 stable pods, 12.5s)</h2>" in page
    assert "PSI score" in page and "&lt;b&gt;" in page and "<b>" not in page  # details are escaped

"""ci/progressive/canary_report.py: the JSON, JUnit and HTML artifacts of a canary, named per step, with the
shadow step that came before it."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import asdict
from pathlib import Path

from ci.progressive import canary_report, shadow_analysis
from ci.progressive.canary import CanaryResult, Step
from ci.progressive.shadow import ShadowResult
from ci.progressive.shadow_analysis import ShadowThresholds
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


# What a stable pod counted of 200 rows copied to a shadow that flipped the label of 20 of them.
SHADOW_METRICS = """\
service_shadow_requests_total{outcome="compared"} 200.0
service_shadow_rows_total 200.0
service_shadow_rows_changed_total{output="*"} 20.0
service_shadow_rows_changed_total{output="label"} 20.0
service_shadow_difference_bucket{kind="absolute",le="0.001",output="score"} 180.0
service_shadow_difference_bucket{kind="absolute",le="0.1",output="score"} 200.0
service_shadow_difference_bucket{kind="absolute",le="+Inf",output="score"} 200.0
service_shadow_difference_bucket{kind="relative",le="0.001",output="score"} 180.0
service_shadow_difference_bucket{kind="relative",le="+Inf",output="score"} 200.0
"""


def test_a_shadow_step_before_the_canary_is_in_all_three_artifacts(tmp_path: Path) -> None:
    analysis = shadow_analysis.analyse(shadow_analysis.parse(SHADOW_METRICS), ShadowThresholds(min_rows=100))
    compared = ShadowResult(ok=False, outcome="rejected", verdict=analysis.verdict, checks=analysis.checks,
                            figures=analysis.figures, seconds=9.5)
    result = CanaryResult(ok=False, outcome="rejected-by-shadow", decided_by="shadow",
                          message="shadow failed: changed[label]", shadow=asdict(compared))
    paths = canary_report.write(tmp_path, result, image="reg/m@sha256:2")
    summary = json.loads(paths[0].read_text())
    assert (summary["outcome"], summary["shadow"]["verdict"]) == ("rejected-by-shadow", "fail")
    assert summary["shadow"]["figures"]["outputs"]["label"]["changed"] == 20 and summary["steps"] == []
    suite = ET.fromstring(paths[1].read_text()).find("testsuite")  # noqa: S314 - written just above
    failed = [case.get("name") for case in suite.iter("testcase") if case.find("failure") is not None]
    assert failed == ["shadow: changed[label]"]
    page = paths[2].read_text()
    assert "<h2>shadow step: fail (9.5s)</h2>" in page and "<svg" in page and "20 (10.00%)" in page

"""ci/capacity/report.py and ci/capacity/plot.py: latency.json in; the plan, the day's simulation,
capacity.json and a well-formed SVG with the measured points out; a report without capacity refused."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ci.capacity.pod_shape import PodShape
from ci.capacity.report import capacity_report
from ci.errors import ConfigError

SECTION = {"pod": {"cpu_request": 1.0, "cpu_limit": 1.0, "memory_limit": 2 ** 30}, "steps": {},
           "points": [{"offered_rps": r, "achieved_rps": a, "p95_ms": p, "p99_ms": p * 2, "error_rate": 0,
                       "cpu_cores": c, "sustainable": ok}
                      for r, a, p, c, ok in [(10, 10, 10, 0.1, True), (40, 40, 20, 0.4, True),
                                             (80, 80, 60, 0.8, True), (120, 95, 400, 1.0, False)]],
           "sustainable_rps": 80, "cpu_cores": 0.8}
POD = PodShape(cpu_request=0.5, cpu_limit=1.0, memory_limit=2 ** 30, hpa=None)


def latency_json(tmp_path, **extra):
    path = tmp_path / "latency.json"
    path.write_text(json.dumps({"thresholds": {"p95_ms": 100}, **extra}))
    return path


def test_plan_simulation_and_files(tmp_path):
    report = capacity_report(latency_json(tmp_path, capacity=SECTION), POD, 200, tmp_path / "out")
    assert report.plan.cpu_request == 0.5  # the overlay's request, not the measured pod's
    assert report.plan.min_replicas == 4 and report.simulation.minutes_over == 0
    assert "0 minute(s) over the p95 target of 100 ms" in report.text()
    saved = json.loads((tmp_path / "out" / "capacity.json").read_text())
    assert saved["plan"]["max_replicas"] == report.plan.max_replicas
    assert saved["simulation"]["behavior"]["down"]["stabilization_s"] == 300
    svg = ET.parse(tmp_path / "out" / "capacity.svg").getroot()  # noqa: S314 - our own file
    circles = svg.findall("{http://www.w3.org/2000/svg}circle")
    assert len(circles) == 2 * len(SECTION["points"]) + 2  # served and p95 per step; min and max replicas
    assert {c.get("fill") for c in circles} >= {"#1b7f3b", "#c62828"}  # good and broken steps


@pytest.mark.parametrize(("content", "message"), [
    (None, "does not exist: run `python -m ci gate latency --capacity`"),
    ("not json", "is not JSON"),
    (json.dumps({"thresholds": {}}), "no capacity section: the latency gate ran without --capacity"),
])
def test_a_report_without_capacity_says_what_to_run(tmp_path, content, message):
    path = tmp_path / "latency.json"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        capacity_report(path, POD, 200, tmp_path)

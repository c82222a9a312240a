"""ci/reports.py: the JUnit XML GitLab reads, the JSON summary and the text lines."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from ci.reports import Check, junit_xml, text, write_junit, write_summary

PASS = Check("p95", True, "p95 latency 40 ms (threshold <= 100 ms)")
def parse(xml: str) -> ET.Element:
    return ET.fromstring(xml)  # noqa: S314 - the text under test, written by ci.reports


FAIL = Check("error_rate", False, "error rate 0.0200 = 2/100 requests (threshold <= 0.001)")


@pytest.mark.parametrize(("checks", "tests", "failures"), [
    pytest.param([PASS, FAIL], "2", "1", id="one-of-two-failed"),
    pytest.param([PASS], "1", "0", id="all-passed"),
    pytest.param([], "0", "0", id="no-checks"),
])
def test_junit_counts(checks, tests, failures):
    root = parse(junit_xml("latency", checks, 12.3456))
    suite = root.find("testsuite")
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", tests, failures)
    assert {k: suite.get(k) for k in ("name", "tests", "failures", "errors", "skipped", "time")} == {
        "name": "latency", "tests": tests, "failures": failures, "errors": "0", "skipped": "0", "time": "12.346"}


def test_junit_cases_carry_the_detail():
    suite = parse(junit_xml("latency", [PASS, FAIL])).find("testsuite")
    passed, failed = suite.findall("testcase")
    assert (passed.get("classname"), passed.get("name")) == ("latency", "p95")
    assert passed.find("failure") is None and passed.find("system-out").text == PASS.detail
    failure = failed.find("failure")
    assert (failure.get("message"), failure.get("type"), failure.text) == (FAIL.detail, "GateFailed", FAIL.detail)


def test_junit_escapes_markup_in_details():
    nasty = Check("x", False, 'a < b & "c" > d')
    failure = parse(junit_xml("s", [nasty])).find("testsuite/testcase/failure")
    assert failure.get("message") == 'a < b & "c" > d'


def test_junit_header_and_file(tmp_path):
    path = write_junit(tmp_path / "deep" / "junit.xml", "load", [PASS])
    assert path.read_text(encoding="utf-8").startswith('<?xml version="1.0" encoding="UTF-8"?>\n<testsuites')


def test_summary_json(tmp_path):
    path = write_summary(tmp_path / "s.json", "latency", False, [PASS, FAIL], url="http://x", rps=20.5)
    assert json.loads(path.read_text()) == {
        "gate": "latency", "passed": False, "url": "http://x", "rps": 20.5,
        "checks": [{"name": "p95", "passed": True, "detail": PASS.detail},
                   {"name": "error_rate", "passed": False, "detail": FAIL.detail}]}


def test_text_lines():
    assert text([PASS, FAIL]) == f"PASS  {PASS.detail}\nFAIL  {FAIL.detail}"
    assert text([]) == ""

"""Gate reports: JUnit XML (GitLab shows it on the merge request) and a JSON summary.

Why JUnit: `artifacts:reports:junit` is how GitLab puts a failed check, with its message, on the
merge request page; each check of a gate is one test case, so the reader sees which one missed.
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ci.outputs import write_json


@dataclass(frozen=True)
class Check:
    """One pass/fail line of a gate, e.g. name `p95`, detail `p95 42.0 ms <= 100 ms`."""

    name: str
    passed: bool
    detail: str


def junit_xml(suite: str, checks: list[Check], seconds: float = 0.0) -> str:
    failures = sum(not check.passed for check in checks)
    root = ET.Element("testsuites", name=suite, tests=str(len(checks)), failures=str(failures))
    element = ET.SubElement(root, "testsuite", name=suite, tests=str(len(checks)), failures=str(failures),
                            errors="0", skipped="0", time=f"{seconds:.3f}")
    for check in checks:
        case = ET.SubElement(element, "testcase", classname=suite, name=check.name, time="0")
        if check.passed:
            ET.SubElement(case, "system-out").text = check.detail
        else:
            ET.SubElement(case, "failure", message=check.detail, type="GateFailed").text = check.detail
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def write_junit(path: Path, suite: str, checks: list[Check], seconds: float = 0.0) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(junit_xml(suite, checks, seconds), encoding="utf-8")
    return path


def write_summary(path: Path, gate: str, passed: bool, checks: list[Check], **details: Any) -> Path:
    """The JSON summary: the verdict, every check, and whatever figures the gate measured."""
    return write_json(path, {"gate": gate, "passed": passed, "checks": checks, **details})


def write(output_dir: Path, name: str, passed: bool, checks: list[Check], seconds: float = 0.0,
          **details: Any) -> list[Path]:
    """`<name>.json` and `<name>-junit.xml` in `output_dir`: what every gate and the load test leave."""
    output_dir = Path(output_dir)
    return [write_summary(output_dir / f"{name}.json", name, passed, checks, **details),
            write_junit(output_dir / f"{name}-junit.xml", name, checks, seconds)]


def text(checks: list[Check]) -> str:
    """One line per check, for the job log and the merge-request note."""
    return "\n".join(f"{'PASS' if check.passed else 'FAIL'}  {check.detail}" for check in checks)

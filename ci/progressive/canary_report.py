"""The canary's reports as job artifacts: canary.json (everything), canary-junit.xml (one test case
per check and step: GitLab shows the failing one) and canary.html (the per-step figures, one page).
A shadow step before the first step (DEPLOY_STRATEGY=shadow-canary) is part of all three: its figures
in canary.json's `shadow`, its checks first, its section (with the differences' pictures) on top."""
from __future__ import annotations

import html
from dataclasses import asdict
from pathlib import Path

from ci import reports
from ci.progressive import shadow_report
from ci.progressive.canary import CanaryResult, Step
from ci.progressive.shadow_analysis import ShadowAnalysis
from ci.reports import Check

NAME = "canary"


def step_checks(result: CanaryResult) -> list[Check]:
    """The shadow step's checks (when it came first), then every step's, named with their step."""
    shadow = [Check(f"shadow: {check.name}", check.passed, check.detail) for check in _shadow(result).checks]
    return shadow + [Check(f"step {step.percent}%: {check.name}", check.passed, check.detail)
                     for step in result.steps for check in step.checks]


def _shadow(result: CanaryResult) -> ShadowAnalysis:
    found = result.shadow or {}
    return ShadowAnalysis(found.get("verdict", ""), [Check(**check) for check in found.get("checks", [])],
                          found.get("figures", {}))


def write(output_dir: Path, result: CanaryResult, **details) -> list[Path]:
    output_dir = Path(output_dir)
    checks = step_checks(result)
    summary = reports.write_summary(output_dir / f"{NAME}.json", NAME, result.ok, checks, **asdict(result),
                                    **details)
    junit = reports.write_junit(output_dir / f"{NAME}-junit.xml", NAME, checks, result.seconds)
    page = output_dir / f"{NAME}.html"
    page.write_text(html_page(result, details), encoding="utf-8")
    return [summary, junit, page]


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return html.escape("n/a" if value is None else str(value))


def _step_rows(step: Step) -> str:
    rows = []
    for key in ("requests", "errors", "error_rate", "p95_seconds", "p99_seconds"):
        rows.append(f"<tr><th>{key}</th><td>{_cell(step.canary.get(key))}</td><td>{_cell(step.stable.get(key))}</td></tr>")
    for output, figures in step.drift.items():
        rows.append(f"<tr><th>PSI {html.escape(output)}</th><td colspan=2>{_cell(figures['psi'])} "
                    f"(noise bound {_cell(figures['noise'])})</td></tr>")
    if step.own_requests:
        rows.append(f"<tr><th>own requests</th><td>{_cell(step.own_requests.get('canary'))}</td>"
                    f"<td>{_cell(step.own_requests.get('stable'))}</td></tr>")
    checks = "".join(f"<li class={'pass' if c.passed else 'fail'}>{'PASS' if c.passed else 'FAIL'} "
                     f"{html.escape(c.name)}: {html.escape(c.detail)}</li>" for c in step.checks)
    return (f"<h2>step {step.percent}%: {html.escape(step.verdict)} ({step.canary_replicas} canary / "
            f"{step.stable_replicas} stable pods, {step.seconds:.1f}s)</h2>"
            f"<table><tr><th></th><th>canary</th><th>stable</th></tr>{''.join(rows)}</table><ul>{checks}</ul>")


def html_page(result: CanaryResult, details: dict) -> str:
    title = f"canary {html.escape(result.outcome)}"
    about = " ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in details.items())
    return ("<!doctype html><html><head><meta charset=utf-8><title>" + title + "</title><style>"
            f"{shadow_report.STYLE}</style></head><body>"
            f"<h1>{title}</h1><p>{about}</p><p>{html.escape(result.message)}</p>" + _shadow_section(result)
            + "".join(_step_rows(step) for step in result.steps) + "</body></html>\n")


def _shadow_section(result: CanaryResult) -> str:
    if result.shadow is None:
        return ""
    return (f"<h2>shadow step: {html.escape(result.shadow['verdict'])} ({result.shadow['seconds']:.1f}s)</h2>"
            + shadow_report.section(_shadow(result)))

"""The shadow step's reports as job artifacts: shadow.json (the verdict, every check and figure),
shadow-junit.xml (one test case per check: GitLab shows the failing one) and shadow.html (per output
the changed share and the difference quantiles, with a histogram of the absolute differences drawn
as inline SVG: the page needs nothing but itself)."""
from __future__ import annotations

import html
import math
from pathlib import Path

from ci import reports
from ci.progressive.shadow_analysis import ShadowAnalysis

NAME = "shadow"
BAR_W, BAR_H = 18, 80
STYLE = ("body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #ccc;"
         "padding:.2em .6em;text-align:left;vertical-align:top}.fail{color:#b00}.pass{color:#070}")


def write(output_dir: Path, analysis: ShadowAnalysis, seconds: float, **details) -> list[Path]:
    output_dir = Path(output_dir)
    passed = analysis.verdict == "pass"
    summary = reports.write_summary(output_dir / f"{NAME}.json", NAME, passed, analysis.checks,
                                    verdict=analysis.verdict, seconds=round(seconds, 1), figures=analysis.figures,
                                    **details)
    junit = reports.write_junit(output_dir / f"{NAME}-junit.xml", NAME, analysis.checks, seconds)
    page = output_dir / f"{NAME}.html"
    page.write_text(html_page(analysis, details), encoding="utf-8")
    return [summary, junit, page]


def _label(le: float) -> str:
    return "+Inf" if math.isinf(le) else f"{le:g}"


def histogram_svg(cumulative: dict[str, float]) -> str:
    """Bars of rows per bucket (from cumulative counts), labelled with each bucket's upper bound."""
    bounds = sorted((float(le), n) for le, n in cumulative.items())
    counts, below = [], 0.0
    for le, n in bounds:
        counts.append((le, n - below))
        below = n
    while counts and counts[-1][1] == 0:  # no empty tail
        counts.pop()
    tallest = max((n for _, n in counts), default=0) or 1
    bars = []
    for i, (le, n) in enumerate(counts):
        height = BAR_H * n / tallest
        bars.append(f'<rect x="{i * BAR_W}" y="{BAR_H - height:.1f}" width="{BAR_W - 2}" height="{height:.1f}" '
                    f'fill="#4a78b5"><title>&lt;= {_label(le)}: {int(n)} rows</title></rect>'
                    f'<text x="{i * BAR_W + BAR_W / 2}" y="{BAR_H + 10}" font-size="7" text-anchor="end" '
                    f'transform="rotate(-60 {i * BAR_W + BAR_W / 2} {BAR_H + 10})">{_label(le)}</text>')
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{max(len(counts), 1) * BAR_W}" height="{BAR_H + 40}">'
            + "".join(bars) + "</svg>")


def _output_rows(output: str, entry: dict) -> str:
    quantiles = ""
    for kind in ("absolute", "relative"):
        if kind in entry:
            q = entry[kind]
            quantiles += f"{kind}: p50 {q['p50']:.3g}, p90 {q['p90']:.3g}, p99 {q['p99']:.3g}<br>"
    picture = histogram_svg(entry["absolute_buckets"]) if "absolute_buckets" in entry else ""
    return (f"<tr><th>{html.escape(output)}</th><td>{entry['kind']}</td><td>{entry['changed']} "
            f"({entry['changed_share']:.2%})</td><td>{quantiles}</td><td>{picture}</td></tr>")


def section(analysis: ShadowAnalysis) -> str:
    """The shadow's figures and checks as HTML (its own page, or a part of canary.html after it)."""
    found = analysis.figures
    checks = "".join(f"<li class={'pass' if c.passed else 'fail'}>{'PASS' if c.passed else 'FAIL'} "
                     f"{html.escape(c.name)}: {html.escape(c.detail)}</li>" for c in analysis.checks)
    outputs = "".join(_output_rows(output, entry) for output, entry in found.get("outputs", {}).items())
    copies = ", ".join(f"{html.escape(k)} {v}" for k, v in found.get("copies", {}).items())
    return (f"<p>copies: {copies}; rows compared {found.get('rows', 0)}, changed {found.get('rows_changed', 0)} "
            f"({found.get('rows_changed_share', 0):.2%})</p><ul>{checks}</ul>"
            "<table><tr><th>output</th><th>kind</th><th>rows changed</th><th>differences</th>"
            f"<th>absolute differences</th></tr>{outputs}</table>")


def html_page(analysis: ShadowAnalysis, details: dict) -> str:
    title = f"shadow {html.escape(analysis.verdict)}"
    about = " ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in details.items())
    return ("<!doctype html><html><head><meta charset=utf-8><title>" + title + "</title><style>"
            f"{STYLE}</style></head><body><h1>{title}</h1><p>{about}</p>{section(analysis)}</body></html>\n")

"""The shadow analysis: on the same requests, what the candidate answers differently from stable,
counted by the stable pods, row by row (service/shadow.py), read from their own /metrics or from a
Prometheus that scrapes them (the source the canary reads: ci.progressive.strategies.metrics_source).

Figures are deltas between two scrapes of each stable pod, summed over the pods (as the canary's,
ci/progressive/canary_analysis.py). Outputs are of two kinds, told apart by the figures themselves: a numeric
output has a difference histogram, a class (a label, an integer, a string) has none. The checks:
- observations: at least `min_rows` compared rows, else the verdict is "inconclusive";
- failed copies: those the candidate refused (4xx), failed (5xx, timeout, no connection) or answered
  with another number of rows, over the copies sent (a dropped copy was never sent);
- per class output, the share of rows whose class changed;
- per numeric output, the p99 of the relative difference (to within a 1-2-5 bucket step).
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

from ci.progressive.metrics_text import Figures
from ci.progressive.sample_stats import quantile
from ci.reports import Check

REQUESTS = "service_shadow_requests_total"
ROWS = "service_shadow_rows_total"
CHANGED = "service_shadow_rows_changed_total"
DIFFERENCE = "service_shadow_difference_bucket"
ANY = "*"  # service.answer_diff.ANY: rows where any output changed
NOT_ANSWERED = ("refused", "failed", "mismatched")


@dataclass
class ShadowScrape:
    """Cumulative (or delta) shadow figures of one stable pod, or the sum of several."""

    copies: dict[str, float] = field(default_factory=dict)  # outcome -> copies
    rows: float = 0.0
    changed: dict[str, float] = field(default_factory=dict)  # output -> rows where it changed
    differences: dict[str, dict[str, dict[float, float]]] = field(default_factory=dict)  # kind -> output ->
    # le -> cumulative rows

    def _values(self) -> dict[tuple, float]:
        return ({("c", k): v for k, v in self.copies.items()} | {("r",): self.rows}
                | {("x", k): v for k, v in self.changed.items()}
                | {("d", kind, o, le): v for kind, outputs in self.differences.items()
                   for o, buckets in outputs.items() for le, v in buckets.items()})


def parse(text: str) -> ShadowScrape:
    """The shadow figures in one pod's metrics text (prometheus_client's own text parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    scrape = ShadowScrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels, value = sample.labels, sample.value
            if sample.name == REQUESTS:
                scrape.copies[labels["outcome"]] = value
            elif sample.name == ROWS:
                scrape.rows = value
            elif sample.name == CHANGED:
                scrape.changed[labels["output"]] = value
            elif sample.name == DIFFERENCE:
                kind = scrape.differences.setdefault(labels["kind"], {})
                kind.setdefault(labels["output"], {})[float(labels["le"])] = value
    return scrape


# The series the shadow analysis reads, for a source that must ask for them (a Prometheus).
FIGURES = Figures((REQUESTS, ROWS, CHANGED, DIFFERENCE), parse)


def _from(values: dict[tuple, float]) -> ShadowScrape:
    scrape = ShadowScrape()
    for key, value in values.items():
        if key[0] == "c":
            scrape.copies[key[1]] = value
        elif key[0] == "r":
            scrape.rows = value
        elif key[0] == "x":
            scrape.changed[key[1]] = value
        else:
            scrape.differences.setdefault(key[1], {}).setdefault(key[2], {})[key[3]] = value
    return scrape


def delta(before: ShadowScrape | None, after: ShadowScrape) -> ShadowScrape:
    """What happened between two scrapes of one pod; `after` itself when the pod restarted between
    them (a counter went down) or was not scraped before."""
    if before is None:
        return after
    earlier, later = before._values(), after._values()
    if any(value < earlier.get(key, 0.0) for key, value in later.items()):
        return after
    return _from({key: value - earlier.get(key, 0.0) for key, value in later.items()})


def total(scrapes: Iterable[ShadowScrape]) -> ShadowScrape:
    """The sum over the stable pods."""
    summed: dict[tuple, float] = {}
    for scrape in scrapes:
        for key, value in scrape._values().items():
            summed[key] = summed.get(key, 0.0) + value
    return _from(summed)


@dataclass(frozen=True)
class ShadowThresholds:
    min_rows: int = 200
    max_failed_share: float = 0.01  # copies the candidate did not answer with the same rows
    max_changed_share: float = 0.01  # rows whose class changed, per class output
    max_relative_difference: float = 0.05  # p99 per numeric output


@dataclass
class ShadowAnalysis:
    verdict: str  # "pass" | "fail" | "inconclusive"
    checks: list[Check]
    figures: dict

    @property
    def failing(self) -> Check | None:
        return next((check for check in self.checks if not check.passed), None)


def _count(buckets: dict[float, float]) -> float:
    return buckets.get(math.inf, max(buckets.values(), default=0.0))


def _share(part: float, whole: float) -> float:
    return part / whole if whole else 0.0


def figures(scrape: ShadowScrape) -> dict:
    """Everything the reports show: copies by outcome, rows, and per output its kind, changed rows
    and share, and for a numeric output the quantiles of its differences and their buckets."""
    numeric = scrape.differences.get("relative", {})
    outputs = {}
    for output in sorted((set(scrape.changed) | set(numeric)) - {ANY}):
        entry = {"kind": "numeric" if output in numeric else "class", "changed": int(scrape.changed.get(output, 0)),
                 "changed_share": round(_share(scrape.changed.get(output, 0), scrape.rows), 6)}
        for kind, by_output in scrape.differences.items():
            buckets = by_output.get(output)
            if buckets:
                entry[kind] = {name: quantile(q, buckets) for name, q in (("p50", 0.5), ("p90", 0.9), ("p99", 0.99))}
                entry[f"{kind}_buckets"] = {str(le): n for le, n in sorted(buckets.items())}
        outputs[output] = entry
    sent = sum(n for outcome, n in scrape.copies.items() if outcome != "dropped")
    return {"copies": {k: int(v) for k, v in sorted(scrape.copies.items())}, "sent": int(sent),
            "rows": int(scrape.rows), "rows_changed": int(scrape.changed.get(ANY, 0)),
            "rows_changed_share": round(_share(scrape.changed.get(ANY, 0), scrape.rows), 6), "outputs": outputs}


def analyse(scrape: ShadowScrape, thresholds: ShadowThresholds) -> ShadowAnalysis:
    """The verdict on the candidate from the stable pods' summed deltas."""
    t, found = thresholds, figures(scrape)
    rows = found["rows"]
    if rows < t.min_rows:
        return ShadowAnalysis("inconclusive", [Check("observations", False, f"too few compared rows to judge: {rows} "
                                                     f"(need {t.min_rows}; copies {found['copies']})")], found)
    checks = [Check("observations", True, f"{rows} rows compared (need {t.min_rows})")]
    unanswered = sum(scrape.copies.get(outcome, 0) for outcome in NOT_ANSWERED)
    share = _share(unanswered, found["sent"])
    detail = ", ".join(f"{outcome} {int(scrape.copies.get(outcome, 0))}" for outcome in NOT_ANSWERED)
    checks.append(Check("failed_copies", share <= t.max_failed_share,
                        f"{share:.2%} of {found['sent']} copies not answered with the same rows ({detail}) "
                        f"(limit <= {t.max_failed_share:.2%})"))
    for output, entry in found["outputs"].items():
        if entry["kind"] == "class":
            checks.append(Check(f"changed[{output}]", entry["changed_share"] <= t.max_changed_share,
                                f"output {output}: {entry['changed']} of {rows} rows changed class "
                                f"({entry['changed_share']:.2%}; limit <= {t.max_changed_share:.2%})"))
        elif entry.get("relative"):
            p99 = entry["relative"]["p99"]
            p50 = entry["relative"]["p50"]
            checks.append(Check(f"difference[{output}]", p99 <= t.max_relative_difference,
                                f"output {output}: p99 relative difference {p99:.3g}, p50 {p50:.3g}; "
                                f"{entry['changed']} of {rows} rows beyond the answer's precision "
                                f"(limit p99 <= {t.max_relative_difference:g})"))
    return ShadowAnalysis("pass" if all(c.passed for c in checks) else "fail", checks, found)

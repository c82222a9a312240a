"""The canary analysis: the canary's figures against stable's, read from the pods' own /metrics.

Pure functions over the Prometheus text the service exposes (service/metrics.py): requests by
status, the latency histogram of /invocations and the per-output prediction histograms. Counters
are cumulative since the pod started, so every figure is a *delta* between two scrapes of one pod
(a counter that went down means the pod restarted: the later scrape is the delta), summed over the
pods of one side.

Each figure is checked against stable's own (relative) and against an absolute limit. Too few
observations on either side is neither a pass nor a failure: the verdict is "inconclusive".

Prediction drift is measured with the **Population Stability Index** over the histogram buckets, not
with a Kolmogorov-Smirnov statistic: the service exposes predictions as fixed buckets (bounded
cardinality), and PSI is defined on exactly that, reads as a size of shift with well-known rules of
thumb (< 0.1 none, 0.1-0.25 moderate, > 0.25 major) and is symmetric in the two sides. KS needs the
raw values (on buckets it only bounds the statistic), and its p-value calls any tiny shift
significant under heavy traffic and nothing significant under light traffic. Small samples still
make PSI noisy, so a PSI above the limit fails only when it is also beyond what sampling noise of
that many observations explains (two-sample chi-square bound, p < 0.001); the same guard keeps a
handful of unlucky 5xx from failing the relative error-rate check.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from ci.progressive.metrics_text import Figures
from ci.progressive.sample_stats import bins, psi, psi_noise, quantile, rate_noise
from ci.reports import Check

ROUTE = "/invocations"
REQUESTS = "service_requests_total"
LATENCY = "service_request_duration_seconds_bucket"
PREDICTIONS = "service_prediction_value_bucket"
# A quantile is judged only when this many observations lie above it on each side (p95: 100
# requests, p99: 500): below that it is the sample's maximum, i.e. noise.
TAIL_OBSERVATIONS = 5
# Fail fast: from this many requests a side, a failure of a check that carries its own noise bound
# (the relative error rate, the prediction drift) ends the step before the minimum is reached.
EARLY_MIN_REQUESTS = 20
NOISE_GUARDED = ("error_rate_relative", "prediction_drift")


@dataclass
class Scrape:
    """Cumulative (or delta) figures of one pod or the sum of several."""

    requests: dict[str, float] = field(default_factory=dict)  # HTTP status -> count
    latency: dict[float, float] = field(default_factory=dict)  # bucket upper bound (s) -> cumulative count
    predictions: dict[str, dict[float, float]] = field(default_factory=dict)  # output -> le -> cumulative

    @property
    def total(self) -> float:
        return sum(self.requests.values())

    @property
    def errors(self) -> float:
        return sum(n for status, n in self.requests.items() if status.startswith("5"))


def parse(text: str) -> Scrape:
    """The figures of /invocations in one /metrics answer (prometheus_client's own text parser)."""
    from prometheus_client.parser import text_string_to_metric_families

    scrape = Scrape()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            add(scrape, sample.name, sample.labels, sample.value)
    return scrape


def add(scrape: Scrape, name: str, labels: dict[str, str], value: float) -> None:
    """One sample into `scrape` when it is one of the figures."""
    if name == REQUESTS and labels.get("route") == ROUTE:
        status = labels.get("status", "")
        scrape.requests[status] = scrape.requests.get(status, 0.0) + value
    elif name == LATENCY and labels.get("route") == ROUTE:
        scrape.latency[float(labels["le"])] = value
    elif name == PREDICTIONS:
        scrape.predictions.setdefault(labels.get("output", ""), {})[float(labels["le"])] = value


# The series the canary reads, for a source that must ask for them (a Prometheus).
FIGURES = Figures((REQUESTS, LATENCY, PREDICTIONS), parse)


def _minus(after: dict, before: dict) -> dict:
    return {key: value - before.get(key, 0.0) for key, value in after.items()}


def _values(scrape: Scrape) -> list[tuple[tuple, float]]:
    return ([(("r", k), v) for k, v in scrape.requests.items()] + [(("l", k), v) for k, v in scrape.latency.items()]
            + [(("p", o, k), v) for o, b in scrape.predictions.items() for k, v in b.items()])


def delta(before: Scrape | None, after: Scrape) -> Scrape:
    """What happened between two scrapes of one pod; `after` itself when the pod restarted between
    them (a counter went down) or was not scraped before."""
    if before is None:
        return after
    earlier = dict(_values(before))
    if any(value < earlier.get(key, 0.0) for key, value in _values(after)):
        return after
    return Scrape(_minus(after.requests, before.requests), _minus(after.latency, before.latency),
                  {o: _minus(b, before.predictions.get(o, {})) for o, b in after.predictions.items()})


def total(scrapes: Iterable[Scrape]) -> Scrape:
    """The sum over the pods of one side."""
    summed = Scrape()
    for scrape in scrapes:
        for status, n in scrape.requests.items():
            summed.requests[status] = summed.requests.get(status, 0.0) + n
        for le, n in scrape.latency.items():
            summed.latency[le] = summed.latency.get(le, 0.0) + n
        for output, buckets in scrape.predictions.items():
            mine = summed.predictions.setdefault(output, {})
            for le, n in buckets.items():
                mine[le] = mine.get(le, 0.0) + n
    return summed


@dataclass(frozen=True)
class Thresholds:
    min_requests: int = 100  # per side and step, before any figure is judged
    max_error_rate: float = 0.05  # absolute: 5xx share of the canary's requests
    max_error_increase: float = 0.02  # relative: canary's rate minus stable's
    max_p95_seconds: float = 1.0
    max_p99_seconds: float = 2.5
    max_latency_ratio: float = 1.5  # canary's p95/p99 against stable's ...
    latency_slack_seconds: float = 0.05  # ... or stable's plus this, whichever is larger (bucket width)
    max_psi: float = 0.2  # prediction drift per numeric output


@dataclass
class Figures:
    """One side's figures over one step."""

    requests: int
    errors: int
    error_rate: float | None
    p95_seconds: float | None
    p99_seconds: float | None
    predictions: dict[str, int]  # output -> values observed

    @classmethod
    def of(cls, scrape: Scrape) -> Figures:
        n = scrape.total
        return cls(int(n), int(scrape.errors), scrape.errors / n if n else None,
                   quantile(0.95, scrape.latency), quantile(0.99, scrape.latency),
                   {o: int(_count(b)) for o, b in scrape.predictions.items()})


def _count(buckets: dict[float, float]) -> float:
    return buckets.get(math.inf, max(buckets.values(), default=0.0))


@dataclass
class Analysis:
    verdict: str  # "pass" | "fail" | "inconclusive"
    checks: list[Check]
    canary: Figures
    stable: Figures
    drift: dict[str, dict] = field(default_factory=dict)  # output -> psi, noise bound, counts

    @property
    def failing(self) -> Check | None:
        return next((check for check in self.checks if not check.passed), None)


def missing(canary: Scrape, stable: Scrape, thresholds: Thresholds) -> tuple[int, int]:
    """Requests each side (canary, stable) still lacks before it can be judged."""
    return (max(0, thresholds.min_requests - int(canary.total)),
            max(0, thresholds.min_requests - int(stable.total)))


def _ms(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds * 1000:.1f} ms"


def judged_from(q: float) -> int:
    """Observations a side needs before its `q` quantile is judged."""
    return math.ceil(TAIL_OBSERVATIONS / (1 - q) - 1e-9)


def _latency(q: float, canary: Scrape, stable: Scrape, limit: float, t: Thresholds) -> list[Check]:
    name = f"p{round(q * 100)}"
    fewest = min(_count(canary.latency), _count(stable.latency))
    if fewest < judged_from(q):
        return [Check(name, True, f"{name} not judged: {int(fewest)} timed requests on one side, {name} needs "
                      f"{judged_from(q)} (raise CANARY_MIN_REQUESTS)")]
    mine, theirs = quantile(q, canary.latency), quantile(q, stable.latency)
    allowed = max(theirs * t.max_latency_ratio, theirs + t.latency_slack_seconds)
    return [Check(f"{name}_absolute", mine <= limit, f"canary {name} {_ms(mine)} (limit <= {_ms(limit)})"),
            Check(f"{name}_relative", mine <= allowed,
                  f"canary {name} {_ms(mine)} against stable {_ms(theirs)} (limit <= {_ms(allowed)}: "
                  f"x{t.max_latency_ratio:g} or +{_ms(t.latency_slack_seconds)})")]


def _errors(canary: Figures, stable: Figures, t: Thresholds) -> list[Check]:
    rate, base = canary.error_rate or 0.0, stable.error_rate or 0.0
    noise = rate_noise(stable.errors, stable.requests, canary.errors, canary.requests)
    allowed = base + max(t.max_error_increase, noise)
    return [Check("error_rate_absolute", rate <= t.max_error_rate,
                  f"canary error rate {rate:.4f} = {canary.errors}/{canary.requests} (limit <= {t.max_error_rate:g})"),
            Check("error_rate_relative", rate <= allowed,
                  f"canary error rate {rate:.4f} against stable {base:.4f} = {stable.errors}/{stable.requests} "
                  f"(limit <= {allowed:.4f}: +{t.max_error_increase:g}, or sampling noise +{noise:.4f})")]


def _drift(canary: Scrape, stable: Scrape, t: Thresholds) -> tuple[list[Check], dict[str, dict]]:
    checks, drift = [], {}
    for output in sorted(stable.predictions):
        base, new = stable.predictions[output], canary.predictions.get(output, {})
        if _count(base) < t.min_requests:
            continue  # an output stable itself rarely produces: nothing to compare with
        if _count(new) <= 0:
            checks.append(Check(f"prediction_drift[{output}]", False,
                                f"output {output}: stable predicted {int(_count(base))} values, the canary none"))
            continue
        bounds = sorted(set(base) & set(new))  # the bounds both share define exact, coarser bins
        s, c = bins(base, bounds), bins(new, bounds)
        index, noise = psi(s, c), psi_noise(s, c)
        drift[output] = {"psi": round(index, 4), "noise": round(noise, 4), "stable": int(sum(s)), "canary": int(sum(c))}
        shifted = index > t.max_psi and index > noise
        checks.append(Check(f"prediction_drift[{output}]", not shifted,
                            f"output {output}: PSI {index:.3f} between canary ({int(sum(c))} values) and stable "
                            f"({int(sum(s))}) (limit <= {t.max_psi:g}; sampling noise alone reaches {noise:.3f})"))
    return checks, drift


def analyse(canary: Scrape, stable: Scrape, thresholds: Thresholds) -> Analysis:
    """The verdict of one step from each side's deltas."""
    t = thresholds
    mine, theirs = Figures.of(canary), Figures.of(stable)
    short = [(side, figures.requests) for side, figures in (("canary", mine), ("stable", theirs))
             if figures.requests < t.min_requests]
    if short:
        detail = ", ".join(f"{side} {n}" for side, n in short)
        return Analysis("inconclusive", [Check("observations", False, f"too few requests to judge: {detail} "
                                               f"(need {t.min_requests} each)")], mine, theirs)
    checks = [Check("observations", True, f"canary {mine.requests}, stable {theirs.requests} requests "
                    f"(need {t.min_requests} each)"), *_errors(mine, theirs, t)]
    checks += _latency(0.95, canary, stable, t.max_p95_seconds, t)
    checks += _latency(0.99, canary, stable, t.max_p99_seconds, t)
    drift_checks, drift = _drift(canary, stable, t)
    checks += drift_checks
    return Analysis("pass" if all(c.passed for c in checks) else "fail", checks, mine, theirs, drift)


def early_failure(canary: Scrape, stable: Scrape, thresholds: Thresholds) -> Analysis | None:
    """The step's failing analysis when a noise-guarded check already fails beyond sampling noise
    with fewer than `min_requests` a side; None when it cannot tell yet."""
    if min(canary.total, stable.total) < EARLY_MIN_REQUESTS:
        return None
    analysis = analyse(canary, stable, replace(thresholds, min_requests=EARLY_MIN_REQUESTS))
    if not any(not check.passed and check.name.startswith(NOISE_GUARDED) for check in analysis.checks):
        return None
    return analysis

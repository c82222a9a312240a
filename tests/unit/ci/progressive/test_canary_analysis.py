"""ci/progressive/canary_analysis.py: parsing /metrics, deltas across restarts and the verdicts."""
from __future__ import annotations

import math
import random

import pytest

from ci.progressive import canary_analysis as ca
from ci.progressive.canary_analysis import Scrape, Thresholds
from service.metrics import Metrics

LATENCY_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, math.inf)
SCORE_BOUNDS = tuple(i / 10 for i in range(11)) + (math.inf,)


def cumulative(values: list[float], bounds: tuple[float, ...]) -> dict[float, float]:
    return {le: float(sum(v <= le for v in values)) for le in bounds}


def side(ok: int, errors: int = 0, latency: float = 0.02, scores: tuple[float, float] = (0.2, 0.4),
         seed: int = 1) -> Scrape:
    """A side's delta: `ok` 200s, `errors` 500s, latencies around `latency`, scores uniform in `scores`."""
    rnd = random.Random(seed)
    latencies = [latency * rnd.uniform(0.8, 1.2) for _ in range(ok + errors)]
    values = [rnd.uniform(*scores) for _ in range(ok)]
    requests = {"200": float(ok)} | ({"500": float(errors)} if errors else {})
    return Scrape(requests, cumulative(latencies, LATENCY_BOUNDS), {"score": cumulative(values, SCORE_BOUNDS)})


def test_parse_reads_what_the_real_service_exposes() -> None:
    metrics = Metrics()
    metrics.requests.labels("/invocations", "POST", "200").inc(3)
    metrics.requests.labels("/invocations", "POST", "500").inc()
    metrics.requests.labels("/version", "GET", "200").inc(7)
    metrics.latency.labels("/invocations").observe(0.003)
    metrics.latency.labels("/version").observe(0.3)
    metrics.observe_predictions([0.42, 0.43])
    scrape = ca.parse(metrics.exposition().decode())
    assert scrape.requests == {"200": 3.0, "500": 1.0}
    assert scrape.total == 4 and scrape.errors == 1
    assert scrape.latency[0.005] == 1 and scrape.latency[math.inf] == 1
    assert scrape.predictions["0"][0.45] == 2 and scrape.predictions["0"][0.4] == 0


def test_delta_subtracts_and_a_restart_starts_from_zero() -> None:
    before = Scrape({"200": 10.0}, {0.1: 8.0, math.inf: 10.0}, {"0": {1.0: 10.0, math.inf: 10.0}})
    after = Scrape({"200": 15.0, "500": 1.0}, {0.1: 12.0, math.inf: 16.0}, {"0": {1.0: 15.0, math.inf: 15.0}})
    moved = ca.delta(before, after)
    assert moved.requests == {"200": 5.0, "500": 1.0}
    assert moved.latency == {0.1: 4.0, math.inf: 6.0}
    assert moved.predictions == {"0": {1.0: 5.0, math.inf: 5.0}}
    restarted = Scrape({"200": 3.0}, {0.1: 3.0, math.inf: 3.0}, {})
    assert ca.delta(before, restarted) is restarted
    assert ca.delta(None, after) is after


def test_total_sums_pods() -> None:
    summed = ca.total([side(10), side(5, errors=2)])
    assert summed.requests == {"200": 15.0, "500": 2.0}
    assert summed.latency[math.inf] == 17 and summed.predictions["score"][math.inf] == 15


def verdict(canary: Scrape, stable: Scrape, **limits) -> ca.Analysis:
    return ca.analyse(canary, stable, Thresholds(min_requests=100, **limits))


def test_a_canary_like_stable_passes() -> None:
    analysis = verdict(side(500, seed=2), side(600, seed=3))
    assert analysis.verdict == "pass", [c.detail for c in analysis.checks if not c.passed]
    assert analysis.failing is None
    assert {c.name for c in analysis.checks} >= {"error_rate_absolute", "error_rate_relative", "p95_absolute",
                                                  "p95_relative", "p99_absolute", "p99_relative",
                                                  "prediction_drift[score]"}
    assert analysis.drift["score"]["psi"] < 0.2


def test_a_higher_error_rate_fails_with_its_figures() -> None:
    analysis = verdict(side(140, errors=60), side(400))
    assert analysis.verdict == "fail"
    assert analysis.failing.name == "error_rate_absolute"
    assert "0.3000 = 60/200" in analysis.failing.detail
    assert analysis.canary.error_rate == pytest.approx(0.3)


def test_a_few_unlucky_errors_are_within_the_noise() -> None:
    analysis = verdict(side(100, errors=3), side(100, errors=0), max_error_rate=0.05)
    relative = next(c for c in analysis.checks if c.name == "error_rate_relative")
    assert relative.passed, relative.detail


def test_a_slower_canary_fails_relative_to_stable_within_the_absolute_limit() -> None:
    analysis = verdict(side(200, latency=0.3), side(200, latency=0.02))
    failed = [c.name for c in analysis.checks if not c.passed]
    assert analysis.verdict == "fail" and "p95_relative" in failed and "p95_absolute" not in failed


def test_tail_quantiles_of_few_requests_are_not_judged() -> None:
    analysis = verdict(side(150, latency=0.3), side(150, latency=0.02))
    p99 = next(c for c in analysis.checks if c.name.startswith("p99"))
    assert (p99.name, p99.passed) == ("p99", True) and "needs 500" in p99.detail
    assert "p95_relative" in [c.name for c in analysis.checks if not c.passed]
    assert ca.judged_from(0.95) == 100 and ca.judged_from(0.99) == 500


def test_the_absolute_latency_limit_applies_even_when_stable_is_as_slow() -> None:
    analysis = verdict(side(200, latency=0.3), side(200, latency=0.3), max_p95_seconds=0.1)
    assert [c.name for c in analysis.checks if not c.passed] == ["p95_absolute"]


def test_shifted_predictions_fail_the_drift_check() -> None:
    analysis = verdict(side(200, scores=(0.6, 0.8)), side(200, scores=(0.2, 0.4)))
    assert analysis.verdict == "fail"
    assert analysis.failing.name == "prediction_drift[score]"
    assert analysis.drift["score"]["psi"] > 1


def test_drift_with_few_observations_is_judged_against_the_noise() -> None:
    # 100 values spread over 10 bins: PSI around 0.2-0.4 from noise alone; not a failure
    stable, canary = side(100, scores=(0.0, 1.0), seed=5), side(100, scores=(0.0, 1.0), seed=6)
    analysis = verdict(canary, stable, max_psi=0.05)
    drift = next(c for c in analysis.checks if c.name == "prediction_drift[score]")
    assert drift.passed, drift.detail
    assert analysis.drift["score"]["psi"] > 0.05


def test_an_output_the_canary_no_longer_predicts_fails() -> None:
    canary = side(200)
    canary.predictions = {}
    analysis = verdict(canary, side(200))
    assert analysis.failing.name == "prediction_drift[score]" and "the canary none" in analysis.failing.detail


def test_too_few_observations_is_inconclusive_never_a_pass_or_an_error() -> None:
    analysis = verdict(side(30, errors=30), side(500))
    assert analysis.verdict == "inconclusive"
    assert analysis.failing.name == "observations" and "canary 60" in analysis.failing.detail
    assert ca.missing(side(30), side(500), Thresholds(min_requests=100)) == (70, 0)


def test_fail_fast_only_on_noise_guarded_checks_beyond_noise() -> None:
    t = Thresholds(min_requests=100)
    early = ca.early_failure(side(28, errors=12), side(40), t)
    assert early is not None and early.verdict == "fail"
    assert "error_rate_relative" in [c.name for c in early.checks if not c.passed]
    assert ca.early_failure(side(30, scores=(0.6, 0.8)), side(30), t).failing.name == "prediction_drift[score]"
    assert ca.early_failure(side(40, latency=0.5), side(40), t) is None  # latency waits for its tail
    assert ca.early_failure(side(38, errors=2), side(40), t) is None  # 5% on 40: within the noise
    assert ca.early_failure(side(5, errors=10), side(40), t) is None  # 15 requests: below EARLY_MIN_REQUESTS
    assert ca.early_failure(side(40), side(40), t) is None

"""ci/gates/capacity_search.py: the step sequence (grow, then bisect), what breaks a step, the
sustainable step, Locust users per rate and the CPU meter's window."""
from __future__ import annotations

import pytest

from ci.capacity.plan import Point
from ci.gates.capacity_search import CpuMeter, Steps, best, next_rate, report, sustainable, users_for
from ci.loadtest.measure import Thresholds

T = Thresholds(p95_ms=100, p99_ms=250, max_error_rate=0.001)


def run(pod_breaks_at: float, steps: Steps) -> list[float]:
    """The offered rates a search makes against a pod that breaks at `pod_breaks_at`."""
    points: list[Point] = []
    while (rate := next_rate(steps, points)) is not None:
        ok = rate < pod_breaks_at
        points.append(Point(rate, rate if ok else pod_breaks_at, 50 if ok else 500, 90, 0, 0.5, ok))
    return [p.offered_rps for p in points]


def test_grows_then_bisects_twice():
    assert run(50, Steps(start_rps=10, factor=2, refine=2)) == [10, 20, 40, 80, 60, 50]


def test_stops_at_max_steps_when_nothing_breaks():
    assert run(10_000, Steps(start_rps=10, factor=2, max_steps=4)) == [10, 20, 40, 80]


def test_steps_down_when_the_first_step_breaks_then_bisects():
    assert run(3, Steps(start_rps=10, factor=2, refine=1)) == [10, 5, 2.5, 3.8]


def test_gives_up_below_half_a_request_a_second():
    assert run(0.1, Steps(start_rps=2, factor=2)) == [2, 1, 0.5]


def test_bisection_stops_when_the_edge_is_sharp():
    assert run(41, Steps(start_rps=40, factor=1.04, refine=5)) == pytest.approx([40, 41.6])


@pytest.mark.parametrize(("achieved", "p95", "p99", "errors", "ok"), [
    (100, 80, 200, 0.0, True),
    (100, 120, 200, 0.0, False),  # p95
    (100, 80, 300, 0.0, False),  # p99
    (100, 80, 200, 0.01, False),  # errors
    (85, 80, 200, 0.0, False),  # the pod no longer keeps up with the offered rate
])
def test_what_breaks_a_step(achieved, p95, p99, errors, ok):
    assert sustainable(100, achieved, p95, p99, errors, T) is ok


def test_a_good_step_above_a_broken_one_is_noise():
    points = [Point(r, r, 50, 90, 0, 0.1, ok) for r, ok in [(10, True), (20, True), (40, False), (30, True),
                                                             (35, True), (50, True)]]
    assert best(points).offered_rps == 35


def test_report_of_a_search_where_nothing_held():
    section = report([Point(10, 4, 500, 900, 0.2, 0.9, False)], Steps(), {"cpu_request": 0.5})
    assert section["sustainable_rps"] == 0.0 and section["cpu_cores"] is None


@pytest.mark.parametrize(("rate", "users"), [(1, 4), (40, 8), (200, 40), (1000, 200)])
def test_enough_users_to_pace_the_rate(rate, users):
    assert users_for(rate, T) == users


def test_cpu_meter_averages_over_the_window():
    meter = CpuMeter(lambda: 0.0)
    meter.samples = [(0.0, 0.0), (1.0, 0.5), (2.0, 1.0), (3.0, 2.5), (4.0, 4.0)]
    assert meter.cores(2.0, 4.0) == 1.5
    assert meter.cores(5.0, 5.0) is None


def test_cpu_meter_samples_in_the_background():
    readings = iter(range(1000))
    with CpuMeter(lambda: float(next(readings))) as meter:
        pass
    assert len(meter.samples) >= 2

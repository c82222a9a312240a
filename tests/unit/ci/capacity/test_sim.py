"""ci/capacity/sim.py: the HPA model against hand-made load curves (steps, ramps, a day) and
behaviours, and the day's minutes over the latency target for a good and a starved plan."""
from __future__ import annotations

import math
from dataclasses import replace

import pytest
import yaml

from ci.capacity.plan import Measured, Point, plan
from ci.capacity.sim import Behavior, Policy, Rules, day_curve, p95_at, simulate
from ci.project import REPO_ROOT

POINTS = (Point(10, 10, 10, 20, 0, 0.1, True), Point(40, 40, 20, 40, 0, 0.4, True),
          Point(80, 80, 60, 120, 0, 0.8, True), Point(120, 95, 400, 800, 0, 1.0, False))
MEASURED = Measured(POINTS, 80.0, 0.8, 0.5, 1.0)


def manifest_behavior() -> Behavior:
    return Behavior.from_spec(yaml.safe_load((REPO_ROOT / "manifests/base/hpa.yaml").read_text())["spec"]["behavior"])


def test_day_curve_has_a_trough_and_two_peaks():
    curve = day_curve(200, 1.5)
    assert len(curve) == 1440
    assert min(curve) == pytest.approx(60, rel=0.05)  # the night, 0.3 x target
    assert max(curve[:14 * 60]) == pytest.approx(200, rel=0.02)  # morning: the target
    assert max(curve) == pytest.approx(300, rel=0.02)  # evening: the peak
    assert curve.index(max(curve)) == pytest.approx(20 * 60, abs=5)


def test_p95_between_points_and_beyond_them():
    assert p95_at(POINTS, 60) == pytest.approx(40)
    assert p95_at(POINTS, 5) == 10
    assert p95_at(POINTS, 96) == math.inf  # nothing measured there: assume the worst


@pytest.mark.parametrize("target", [200, 11_500])
def test_the_plan_meets_the_target_all_day(target):
    p = plan(MEASURED, target)
    sim = simulate(day_curve(target, 1.5), p, POINTS, latency_target_ms=100, behavior=manifest_behavior(),
                   cpu_limit=1.0)
    assert sim.minutes_over == 0, sim.over[:10]
    assert p.min_replicas <= sim.max_pods <= p.max_replicas
    assert sim.max_pods > p.min_replicas  # the evening peak made it scale


def test_too_few_pods_shows_minutes_over():
    starved = replace(plan(MEASURED, 200), max_replicas=3)
    sim = simulate(day_curve(200, 1.5), starved, POINTS, latency_target_ms=100, cpu_limit=1.0)
    assert sim.minutes_over > 30 and all(17 * 60 < m < 23 * 60 for m in sim.over)


def step_curve(low, high, minutes=60, at=10):
    return [low] * at + [high] * (minutes - at)


def pods_over_time(sim):
    return [pods for _, _, pods, _ in sim.timeline]


def test_a_step_is_followed_after_the_startup_delay():
    p = replace(plan(MEASURED, 100), min_replicas=2, max_replicas=20)
    fast = simulate(step_curve(100, 600), p, POINTS, latency_target_ms=100, cpu_limit=1.0, startup_s=30)
    slow = simulate(step_curve(100, 600), p, POINTS, latency_target_ms=100, cpu_limit=1.0, startup_s=240)
    assert 0 < fast.minutes_over < slow.minutes_over
    assert pods_over_time(fast)[-1] >= math.ceil(600 / 80)


def test_scale_up_policies_limit_the_rate():
    p = replace(plan(MEASURED, 100), min_replicas=2, max_replicas=40)
    one_a_minute = Behavior(up=Rules(0, (Policy("Pods", 1, 60),)))
    sim = simulate(step_curve(100, 2000), p, POINTS, latency_target_ms=100, cpu_limit=1.0,
                   behavior=one_a_minute, startup_s=0)
    pods = pods_over_time(sim)
    assert all(b - a <= 1 for a, b in zip(pods, pods[1:], strict=False))  # one pod a minute at most


def test_scale_down_waits_for_the_stabilisation_window():
    p = replace(plan(MEASURED, 100), min_replicas=2, max_replicas=40)
    curve = step_curve(1000, 100, minutes=30, at=10)
    sim = simulate(curve, p, POINTS, latency_target_ms=100, cpu_limit=1.0, behavior=manifest_behavior())
    pods = pods_over_time(sim)
    assert pods[14] == pods[9]  # five minutes of lower load first
    assert pods[-1] < pods[9]


def test_disabled_scale_down_never_removes_pods():
    p = replace(plan(MEASURED, 100), min_replicas=2, max_replicas=40)
    never = Behavior(down=Rules(0, (Policy("Pods", 5, 15),), "Disabled"))
    sim = simulate(step_curve(1000, 100, minutes=20), p, POINTS, latency_target_ms=100, cpu_limit=1.0, behavior=never)
    assert pods_over_time(sim)[-1] == max(pods_over_time(sim))


def test_behaviour_from_a_partial_spec_takes_the_defaults():
    behavior = Behavior.from_spec({"scaleDown": {"stabilizationWindowSeconds": 60}})
    assert behavior.up == Behavior().up
    assert behavior.down.stabilization_s == 60 and behavior.down.policies == Behavior().down.policies
    assert Behavior.from_spec(None) == Behavior()

"""ci/capacity/plan.py: the plan from a measured pod, table-driven over target rates, pods per node and
measured curves; each rule of the plan checked against what it promises."""
from __future__ import annotations

import math

import pytest

from ci.capacity.plan import HPA_TOLERANCE, Measured, Point, cpu_at, plan, rps_at_cpu, table
from ci.errors import ConfigError


def point(offered, achieved, p95, cpu, ok=True):
    return Point(offered, achieved, p95, p95 * 2, 0.0, cpu, ok)


# A linear pod: 0.01 cores per req/s, sustainable at 80 req/s, broken at 120.
LINEAR = (point(10, 10, 10, 0.1), point(40, 40, 20, 0.4), point(80, 80, 60, 0.8), point(120, 95, 400, 1.0, False))


def measured(points=LINEAR, sustainable=80.0, cpu=0.8, request=0.5, limit=1.0):
    return Measured(points, sustainable, cpu, request, limit)


@pytest.mark.parametrize("target", [1, 50, 200, 799, 800, 801, 11_500, 250_000])
@pytest.mark.parametrize("pods_per_node", [1, 3])
@pytest.mark.parametrize("headroom", [0.0, 0.2, 0.5])
def test_every_rule_holds(target, pods_per_node, headroom):
    p = plan(measured(), target, peak_factor=1.7, headroom=headroom, pods_per_node=pods_per_node)
    # at the HPA's target (even at the top of its tolerance band) a pod serves at most the sustainable rate
    target_cores = p.hpa_target_utilization / 100 * p.cpu_request
    assert rps_at_cpu(LINEAR, target_cores * (1 + HPA_TOLERANCE)) <= 80 + 1e-6
    assert p.per_pod_rps <= 80 * (1 - headroom) + 1e-6
    # replicas serve the target at the per-pod rate; min serves it and survives a node drain
    assert p.replicas * p.per_pod_rps >= target and (p.replicas - 1) * p.per_pod_rps < target
    assert p.min_replicas >= max(2, p.replicas)
    assert (p.min_replicas - pods_per_node) * 80 >= target
    assert p.max_replicas * p.per_pod_rps >= target * 1.7 and p.max_replicas >= p.min_replicas
    # the budget: the pods left when it is used up serve the target at the sustainable rate
    assert p.pdb_min_available == math.ceil(target / 80)
    assert p.pdb_min_available + p.pdb_max_unavailable == p.min_replicas and p.pdb_max_unavailable >= pods_per_node
    # a rollout never leaves fewer than the target needs, and always makes progress
    assert (p.min_replicas - p.rollout_max_unavailable) * 80 >= target
    assert p.rollout_max_surge + p.rollout_max_unavailable >= 1


def test_guide_figures_on_a_linear_pod():
    small, large = plan(measured(), 200), plan(measured(), 11_500)
    assert (small.hpa_target_utilization, small.per_pod_rps) == (128, 64.0)  # 0.64 cores of a 0.5 request
    assert (small.replicas, small.min_replicas, small.max_replicas) == (4, 4, 5)
    assert (small.pdb_min_available, small.rollout_max_unavailable, small.rollout_max_surge) == (3, 1, 0)
    assert (large.replicas, large.min_replicas, large.max_replicas, large.pdb_min_available) == (180, 180, 270, 144)
    assert (large.rollout_max_unavailable, large.rollout_max_surge) == (36, 9)


def test_tolerance_caps_the_target_when_headroom_is_small():
    """Without headroom the HPA would let a pod drift 10 % past its sustainable rate."""
    p = plan(measured(), 200, headroom=0.0)
    assert p.hpa_target_utilization == math.floor(100 * 0.8 / 1.1 / 0.5)


def test_noisy_cpu_is_made_non_decreasing():
    noisy = (point(10, 10, 10, 0.2), point(40, 40, 20, 0.15), point(80, 80, 60, 0.8))
    assert cpu_at(noisy, 40) == pytest.approx(0.2)
    assert cpu_at(noisy, 200, limit=1.0) == 1.0  # never above the limit


def test_a_pod_limited_by_something_else_warns():
    flat = (point(10, 10, 10, 0.05), point(80, 80, 90, 0.1))
    p = plan(measured(flat, cpu=0.1), 200)
    assert any("weak HPA signal" in w for w in p.warnings)
    assert "warning:" in table(p)


def test_table_names_every_figure():
    text = table(plan(measured(), 200))
    for what in ("HPA minReplicas", "HPA maxReplicas", "HPA target CPU utilisation", "PDB minAvailable",
                 "rollout maxSurge", "rollout maxUnavailable", "sustainable rate per pod"):
        assert f"| {what} |" in text


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"target_rps": 0}, "--target-rps 0"),
    ({"target_rps": 10, "peak_factor": 0.5}, "--peak-factor 0.5"),
    ({"target_rps": 10, "headroom": 1.0}, "--headroom 1"),
    ({"target_rps": 10, "pods_per_node": 0}, "--pods-per-node 0"),
])
def test_bad_input_names_the_option(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        plan(measured(), **kwargs)


def test_nothing_sustainable_says_what_to_do():
    with pytest.raises(ConfigError, match="no step held the thresholds"):
        plan(measured(sustainable=0), 10)


def test_no_cpu_request_is_refused():
    with pytest.raises(ConfigError, match="resources.requests.cpu"):
        plan(measured(request=0), 10)


def test_report_section_missing_a_field_says_how_to_remeasure():
    with pytest.raises(ConfigError, match="LATENCY_CAPACITY=true"):
        Measured.from_report({"points": []})

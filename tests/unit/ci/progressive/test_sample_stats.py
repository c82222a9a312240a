"""ci/progressive/sample_stats.py: quantiles like Prometheus', PSI and the sampling-noise bounds."""
from __future__ import annotations

import math

import pytest

from ci.progressive import sample_stats as stats


@pytest.mark.parametrize(("q", "expected"), [(0.5, 0.075), (0.95, 0.0975), (1.0, 0.1)])
def test_quantile_interpolates_like_prometheus(q: float, expected: float) -> None:
    buckets = {0.05: 0.0, 0.1: 100.0, math.inf: 100.0}
    assert stats.quantile(q, buckets) == pytest.approx(expected)


def test_quantile_in_the_inf_bucket_and_without_observations() -> None:
    assert stats.quantile(0.99, {0.1: 50.0, math.inf: 100.0}) == 0.1
    assert stats.quantile(0.95, {0.1: 0.0, math.inf: 0.0}) is None
    assert stats.quantile(0.95, {}) is None


def test_psi_is_zero_for_equal_and_large_for_disjoint_distributions() -> None:
    assert stats.psi([50, 50, 0], [50, 50, 0]) == pytest.approx(0.0)
    assert stats.psi([100, 0, 0], [0, 0, 100]) > 5
    assert stats.psi([60, 40], [40, 60]) == pytest.approx(stats.psi([40, 60], [60, 40]))  # symmetric


def test_psi_noise_shrinks_with_more_observations() -> None:
    assert stats.psi_noise([25, 25, 25, 25], [25, 25, 25, 25]) > stats.psi_noise([250] * 4, [250] * 4) > 0
    assert stats.psi_noise([100, 0], [100, 0]) == 0.0  # one bin: nothing can drift


def test_bins_from_cumulative_on_shared_bounds() -> None:
    assert stats.bins({0.5: 3.0, 1.0: 7.0, math.inf: 10.0}, [0.5, 1.0, math.inf]) == [3.0, 4.0, 3.0]


@pytest.mark.parametrize(("degrees", "exact"), [(1, 10.828), (5, 20.515), (19, 43.820)])
def test_the_chi_square_bound_is_close_to_the_exact_quantile(degrees: int, exact: float) -> None:
    assert stats._chi2_quantile(degrees) == pytest.approx(exact, rel=0.04)

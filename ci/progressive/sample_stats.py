"""Statistics of bucketed samples, for the canary's and the shadow's analyses: Prometheus'
`histogram_quantile`, the Population Stability Index of two binned samples, and the bounds sampling
noise alone reaches (PSI, and the difference of two error rates) with chance NOISE_P. Standard
library only: no scipy import for a few numbers.
"""
from __future__ import annotations

import math
from statistics import NormalDist

NOISE_P = 0.001  # a difference sampling noise explains with less than this chance fails
NOISE_Z = NormalDist().inv_cdf(1 - NOISE_P)


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """Prometheus' `histogram_quantile`: linear within the bucket holding the rank; the highest
    finite bound when the rank falls in +Inf. None without observations."""
    bounds = sorted(buckets)
    count = buckets.get(math.inf, buckets[bounds[-1]] if bounds else 0.0)
    if not bounds or count <= 0:
        return None
    rank, lower, below = q * count, 0.0, 0.0
    for le in bounds:
        if buckets[le] >= rank:
            if math.isinf(le):
                return lower
            inside = buckets[le] - below
            return lower + (le - lower) * ((rank - below) / inside if inside > 0 else 1.0)
        lower, below = le, buckets[le]
    return lower


def bins(buckets: dict[float, float], bounds: list[float]) -> list[float]:
    """Counts per bin (between consecutive `bounds`) from cumulative buckets."""
    cumulative = [buckets.get(le, 0.0) for le in bounds]
    return [max(c - p, 0.0) for c, p in zip(cumulative, [0.0, *cumulative[:-1]], strict=True)]


def psi(stable: list[float], canary: list[float]) -> float:
    """Population Stability Index of two binned samples; half a count added to every bin so an
    empty bin on one side gives a large, finite index."""
    n, m, k = sum(stable), sum(canary), len(stable)
    index = 0.0
    for s, c in zip(stable, canary, strict=True):
        p, q = (s + 0.5) / (n + 0.5 * k), (c + 0.5) / (m + 0.5 * k)
        index += (q - p) * math.log(q / p)
    return index


def psi_noise(stable: list[float], canary: list[float]) -> float:
    """The PSI sampling noise alone exceeds with chance NOISE_P for these sample sizes: under no
    shift, PSI * n*m/(n+m) is about chi-square with (non-empty bins - 1) degrees of freedom."""
    n, m = sum(stable), sum(canary)
    used = sum(1 for s, c in zip(stable, canary, strict=True) if s + c > 0)
    if n <= 0 or m <= 0 or used < 2:
        return 0.0
    return _chi2_quantile(used - 1) * (n + m) / (n * m)


def _chi2_quantile(degrees: int) -> float:
    """Chi-square's (1 - NOISE_P) quantile, Wilson-Hilferty (within ~3% from 1 degree of freedom up;
    no scipy import for one number)."""
    h = 2 / (9 * degrees)
    return degrees * (1 - h + NOISE_Z * math.sqrt(h)) ** 3


def rate_noise(stable_errors: float, stable_n: float, canary_errors: float, canary_n: float) -> float:
    """The error-rate increase sampling noise alone exceeds with chance NOISE_P (two-proportion z)."""
    pooled = (stable_errors + canary_errors) / (stable_n + canary_n)
    return NOISE_Z * math.sqrt(pooled * (1 - pooled) * (1 / stable_n + 1 / canary_n))

"""Comparing two prediction payloads: the image's answer against the model's own, batched against
unbatched. Numbers must agree at the precision of the model's output type (service/precision.py: a
float32 output carries about 7 significant digits, a float64 one 16); any structural difference is a failure,
except at the paths the model itself answers differently from call to call (`unstable_paths`), which
are left out."""
from __future__ import annotations

import json
import re
from collections.abc import Collection

from ci.errors import CheckFailed
from service.precision import FLOAT64, Precision, answer_precision

__all__ = ["FLOAT64", "Precision", "answer_precision", "max_difference", "summarise", "unstable_paths"]


def max_difference(got: object, want: object, where: str = "predictions",
                   ignore: Collection[str] = (), precision: Precision = FLOAT64) -> float:
    """Largest absolute numeric difference; raise CheckFailed at the first structural mismatch, or the
    first number that differs beyond `precision`, outside the paths in `ignore`."""
    if where in ignore:
        return 0.0
    if isinstance(want, dict) and isinstance(got, dict) and got.keys() == want.keys():
        return max((max_difference(got[k], want[k], f"{where}.{k}", ignore, precision) for k in want),
                   default=0.0)
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        pairs = enumerate(zip(got, want, strict=True))
        return max((max_difference(g, w, f"{where}[{i}]", ignore, precision) for i, (g, w) in pairs),
                   default=0.0)
    booleans = isinstance(got, bool), isinstance(want, bool)  # JSON true is not 1
    if isinstance(want, int | float) and isinstance(got, int | float) and not any(booleans):
        if precision.close(got, want):
            return abs(got - want)
    elif got == want and booleans[0] == booleans[1]:
        return 0.0
    raise CheckFailed(f"the image's answer differs from the model's own at {where}: "
                      f"got {json.dumps(got)[:120]}, expected {json.dumps(want)[:120]} (compared at {precision})")


def unstable_paths(first: object, second: object, where: str = "predictions") -> list[str]:
    """The paths where two answers of the same model to the same input differ (a timestamp, a random
    id): the deepest differing value, or the whole node when the shapes differ."""
    if isinstance(first, dict) and isinstance(second, dict) and first.keys() == second.keys():
        return [p for k in first for p in unstable_paths(first[k], second[k], f"{where}.{k}")]
    if isinstance(first, list) and isinstance(second, list) and len(first) == len(second):
        pairs = enumerate(zip(first, second, strict=True))
        return [p for i, (a, b) in pairs for p in unstable_paths(a, b, f"{where}[{i}]")]
    try:
        max_difference(second, first, where)
    except CheckFailed:
        return [where]
    return []


def summarise(paths: Collection[str]) -> list[str]:
    """`predictions[0].timestamp`, `predictions[1].timestamp` -> `predictions[*].timestamp`."""
    return sorted({re.sub(r"\[\d+\]", "[*]", path) for path in paths})

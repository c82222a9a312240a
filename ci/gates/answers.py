"""Comparing two prediction payloads: the image's answer against the model's own, batched against
unbatched. Numbers must agree to a relative 1e-9; any structural difference is a failure."""
from __future__ import annotations

import json
import math

from ci.errors import CheckFailed

REL_TOLERANCE = 1e-9


def max_difference(got: object, want: object, where: str = "predictions") -> float:
    """Largest absolute numeric difference; raise CheckFailed at the first structural mismatch."""
    if isinstance(want, dict) and isinstance(got, dict) and got.keys() == want.keys():
        return max((max_difference(got[k], want[k], f"{where}.{k}") for k in want), default=0.0)
    if isinstance(want, list) and isinstance(got, list) and len(got) == len(want):
        pairs = enumerate(zip(got, want, strict=True))
        return max((max_difference(g, w, f"{where}[{i}]") for i, (g, w) in pairs), default=0.0)
    booleans = isinstance(got, bool), isinstance(want, bool)  # JSON true is not 1
    if isinstance(want, int | float) and isinstance(got, int | float) and not any(booleans):
        if math.isclose(got, want, rel_tol=REL_TOLERANCE, abs_tol=1e-12):
            return abs(got - want)
    elif got == want and booleans[0] == booleans[1]:
        return 0.0
    raise CheckFailed(f"the image's answer differs from the model's own at {where}: "
                      f"got {json.dumps(got)[:120]}, expected {json.dumps(want)[:120]}")

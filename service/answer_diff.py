"""Row by row, how a candidate's answer differs from stable's answer to the same request (shadow
traffic, `service.shadow`).

Both are the JSON `predictions` the service writes. A row is read as named outputs, named the way
/metrics names them: a list of numbers is output "0", a row that is a list gives "0", "1", ...; a
record or a dict of columns gives its keys (`probabilities[1]` inside one). An output whose values
are fractional is numeric: compared at the answer's precision (`service.precision`, float32 or
float64), with its absolute and relative difference. The relative difference is taken against the
larger of the two values (|a - b| / max(|a|, |b|), as math.isclose's rel_tol; at most 2): against
stable's alone, a numeric output that is legitimately 0 (a probability, a rate) had an unbounded
relative difference on any change, and one such row decided the p99. Any other (a class, a label, an
integer, a string) is changed or not. Standard library only.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from service.precision import Precision, answer_precision

ANY = "*"  # the output name that counts rows where any output changed
MAX_OUTPUTS = 8  # outputs counted by name (as service.metrics); the others only in ANY


class NotComparable(ValueError):
    """The two answers do not have the same rows (another count, or a shape that is not rows)."""


@dataclass
class RowDiff:
    rows: int = 0
    outputs: list[str] = field(default_factory=list)  # the outputs compared by name, in order
    changed: dict[str, int] = field(default_factory=dict)  # output (and ANY) -> rows where it changed
    differences: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # numeric output ->
    # (absolute, relative) difference of each row


def rows_of(predictions: Any) -> list[dict[str, Any]]:
    """Each row of a JSON `predictions` as {output: value}."""
    if isinstance(predictions, list):
        return [_flat(row) for row in predictions]
    if isinstance(predictions, dict) and predictions:
        columns = list(predictions.values())
        if all(isinstance(column, list) for column in columns) and len({len(c) for c in columns}) == 1:
            return [_flat({name: column[i] for name, column in predictions.items()}) for i in range(len(columns[0]))]
    raise NotComparable("the answer is not a list of rows nor a dict of equally long columns")


def _flat(value: Any, name: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        parts = [(f"{name}.{k}" if name else str(k), v) for k, v in value.items()]
    elif isinstance(value, list):
        parts = [(f"{name}[{j}]" if name else str(j), v) for j, v in enumerate(value)]
    else:
        return {name or "0": value}
    return {key: leaf for part, v in parts for key, leaf in _flat(v, part).items()}


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def compare(stable: Any, candidate: Any, precision: Precision | None = None) -> RowDiff:
    """How `candidate`'s predictions differ from `stable`'s, row by row, at `stable`'s precision."""
    precision = precision or answer_precision(stable)
    want, got = rows_of(stable), rows_of(candidate)
    if len(want) != len(got):
        raise NotComparable(f"the candidate answered {len(got)} rows for {len(want)}")
    diff = RowDiff(rows=len(want))
    named = diff.outputs
    for old, new in zip(want, got):
        changed_row = False
        for output in [*old, *(key for key in new if key not in old)]:
            a, b = new.get(output), old.get(output)
            numeric = _number(a) and _number(b) and (isinstance(a, float) or isinstance(b, float))
            if numeric:
                changed = not precision.close(a, b)
            else:
                changed = output not in old or output not in new or a != b or type(a) is not type(b)
            changed_row |= changed
            if output not in named:
                if len(named) >= MAX_OUTPUTS:
                    continue
                named.append(output)
            if changed:
                diff.changed[output] = diff.changed.get(output, 0) + 1
            if numeric and math.isfinite(a) and math.isfinite(b):
                absolute = abs(a - b)
                larger = max(abs(a), abs(b))
                relative = absolute / larger if larger else 0.0
                diff.differences.setdefault(output, []).append((absolute, relative))
        if changed_row:
            diff.changed[ANY] = diff.changed.get(ANY, 0) + 1
    return diff

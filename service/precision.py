"""The precision a model's answer carries, so that two answers are compared at it and not beyond.

A float32 output (PyTorch, ONNX, TensorFlow, a float32 `PythonModel`) carries about 7 significant
digits, a float64 one 16: two float32 answers that differ in the 8th digit (a batch of another size
takes another kernel path) are the same answer. JSON does not say which, but it tells: a float32 value
is written as the double it widens to (0.8175883293151855), which a float64 computation almost never
lands on. Standard library only: the pipeline's gates (ci/gates/answers.py) use it too.
"""
from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Precision:
    """How closely two answers' numbers must agree: relatively, and absolutely near zero."""

    name: str
    rel_tolerance: float
    abs_tolerance: float

    def __str__(self) -> str:
        return f"{self.name} precision (relative {self.rel_tolerance:g})"

    def close(self, got: float, want: float) -> bool:
        return math.isclose(got, want, rel_tol=self.rel_tolerance, abs_tol=self.abs_tolerance)


# float64: 16 significant digits; 1e-9 leaves room for another summation order, nothing more.
FLOAT64 = Precision("float64", 1e-9, 1e-12)
# float32: 2**-23 ~ 1.2e-7 between neighbours; 1e-6 allows a few units in the last place.
FLOAT32 = Precision("float32", 1e-6, 1e-7)


def _numbers(answer: object) -> Iterator[float]:
    if isinstance(answer, dict):
        for value in answer.values():
            yield from _numbers(value)
    elif isinstance(answer, list):
        for value in answer:
            yield from _numbers(value)
    elif isinstance(answer, float) and math.isfinite(answer):
        yield answer


def _is_float32(value: float) -> bool:
    """Of a fractional number, which lies below 2**53 (doubles from there up are whole): inside
    float32's range, so packing it never overflows."""
    return struct.unpack("f", struct.pack("f", value))[0] == value


def answer_precision(answer: object) -> Precision:
    """FLOAT32 when every fractional number of a JSON answer is a float32 value; FLOAT64 otherwise,
    and for answers of whole numbers only (compared exactly either way)."""
    fractional = [value for value in _numbers(answer) if not value.is_integer()]
    return FLOAT32 if fractional and all(map(_is_float32, fractional)) else FLOAT64


def differences(got: Any, want: Any, where: str = "predictions", precision: Precision | None = None) -> list[str]:
    """The paths where two JSON answers differ, numbers at the precision of `want`'s."""
    precision = precision or answer_precision(want)
    if isinstance(got, dict) and isinstance(want, dict) and got.keys() == want.keys():
        return [path for key in want for path in differences(got[key], want[key], f"{where}.{key}", precision)]
    if isinstance(got, list) and isinstance(want, list) and len(got) == len(want):
        return [path for i, (g, w) in enumerate(zip(got, want))
                for path in differences(g, w, f"{where}[{i}]", precision)]
    numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (got, want))
    if numbers and precision.close(got, want):
        return []
    return [] if got == want and type(got) is type(want) else [where]

"""service.batch_proof.differences: where a batched answer differs from the one-by-one answer."""
from __future__ import annotations

import pytest

from service.precision import differences


@pytest.mark.parametrize(("got", "want", "paths"), [
    pytest.param([{"score": 0.5, "risk": "low"}], [{"score": 0.5, "risk": "low"}], [], id="equal"),
    pytest.param([0.1 + 0.2], [0.3], [], id="float-rounding"),
    pytest.param([1.0000001], [1.0], ["predictions[0]"], id="number"),
    pytest.param([{"score": 0.5, "risk": "low"}], [{"score": 0.5, "risk": "high"}], ["predictions[0].risk"],
                 id="string-field"),
    pytest.param([1, 2], [1], ["predictions"], id="length"),
    pytest.param([True], [1], ["predictions[0]"], id="bool-is-not-one"),
    pytest.param([1], [1.0], [], id="int-and-float"),
    pytest.param({"a": 1}, {"b": 1}, ["predictions"], id="keys"),
    pytest.param([None], [0.0], ["predictions[0]"], id="null"),
    # float32 answers (every fractional number a float32 value) agree to ~7 digits, not 16
    pytest.param([0.8175883889198303], [0.8175883293151855], [], id="float32-last-digit"),
    pytest.param([0.81758833 + 6e-8], [0.81758833], ["predictions[0]"], id="float64-8th-digit-still-counts"),
    pytest.param([0.8176883459091187], [0.8175883293151855], ["predictions[0]"], id="float32-4th-digit"),
])
def test_differences(got, want, paths):
    assert differences(got, want) == paths

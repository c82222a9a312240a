"""ci/registry/gate_tags.py: gate verdicts read back from a version's tags."""
from __future__ import annotations

import pytest

from ci.registry.gate_tags import gate_results


@pytest.mark.parametrize(("tags", "expected"), [
    pytest.param({}, {"load": "missing", "signature": "missing", "latency": "missing"}, id="none"),
    pytest.param({"pyfunc_deploy.gate.load": "passed", "pyfunc_deploy.gate.load.summary": "{}",
                  "pyfunc_deploy.gate.signature": "failed", "pyfunc_deploy.gate.smoke": "passed"},
                 {"load": "passed", "signature": "failed", "latency": "missing"}, id="mixed-unknown-ignored"),
])
def test_gate_results(tags, expected):
    assert gate_results(tags) == expected

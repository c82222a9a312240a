"""Schemathesis against the service's own OpenAPI (built from the model signature): over 1,000
generated requests, valid and invalid, and not one 5xx; every error keeps the one JSON shape."""
from __future__ import annotations

import collections

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.generation import GenerationMode

from service.app import create_app
from service.settings import Settings

CASES_PER_MODE = {GenerationMode.POSITIVE: 500, GenerationMode.NEGATIVE: 700}


def fuzz(app, operation_path: str, method: str, mode: GenerationMode, examples: int) -> collections.Counter:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    strategy = schema[operation_path][method].as_strategy(generation_mode=mode)
    statuses: collections.Counter = collections.Counter()

    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=strategy)
    def run(case) -> None:
        response = case.call()
        statuses[response.status_code] += 1
        assert response.status_code < 500, (response.status_code, case.body, case.media_type)
        if response.status_code >= 400:
            assert {"error_code", "message"} <= set(response.json())

    run()
    return statuses


def test_at_least_1000_generated_requests_and_no_5xx(loaded_models):
    app = create_app(Settings(model_uri="x", max_rows=50), loaded_models["sklearn"])
    totals: collections.Counter = collections.Counter()
    for mode, examples in CASES_PER_MODE.items():
        totals += fuzz(app, "/invocations", "POST", mode, examples)
    print("status counts:", dict(totals))
    assert sum(totals.values()) >= 1000
    assert totals[200] > 0 and any(400 <= status < 500 for status in totals)

"""Fixture for the OTLP/HTTP trace receiver (harness: devstack/otlp_receiver.py).

- `otlp_receiver`: a receiver on 127.0.0.1 for the session; `.endpoint` is OTEL_EXPORTER_OTLP_ENDPOINT,
  `.wait_for(predicate, count)` the spans received. Tests tell their spans apart by trace id.
"""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from devstack.otlp_receiver import OtlpReceiver


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as receiver:
        yield receiver

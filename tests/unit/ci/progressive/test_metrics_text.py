"""ci/progressive/metrics_text.py: samples written back as metrics text read as the pod's own text does."""
from __future__ import annotations

import math

from prometheus_client.parser import text_string_to_metric_families

from ci.progressive import canary_analysis
from ci.progressive.metrics_text import render


def test_rendered_samples_parse_back_with_their_labels_and_values() -> None:
    awkward = 'a "quoted" \\ back\nslash'
    text = render([("service_prediction_value_bucket", {"output": awkward, "le": "+Inf"}, 3.0),
                   ("service_requests_total", {}, 0.1 + 0.2)])
    samples = [s for family in text_string_to_metric_families(text) for s in family.samples]
    assert [(s.name, s.labels, s.value) for s in samples] == [
        ("service_prediction_value_bucket", {"le": "+Inf", "output": awkward}, 3.0),
        ("service_requests_total", {}, 0.1 + 0.2)]  # every digit of the float kept


def test_the_canary_reads_rendered_series_as_it_reads_a_pods_metrics() -> None:
    text = render([("service_requests_total", {"route": "/invocations", "status": "503"}, 4.0),
                   ("service_request_duration_seconds_bucket", {"route": "/invocations", "le": "+Inf"}, 4.0),
                   ("service_requests_total", {"route": "/healthz", "status": "200"}, 9.0)])
    scrape = canary_analysis.parse(text)
    assert scrape.requests == {"503": 4.0} and scrape.latency == {math.inf: 4.0}

"""Reading the canary's and the shadow's figures from Prometheus: the series a query answers become the
same per-pod figures a pod's own /metrics gives (a local stand-in answers as Prometheus' HTTP API does; the real
server is in tests/ci/test_canary.py)."""
from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from ci.errors import CheckFailed
from ci.progressive import canary_analysis, shadow_analysis
from ci.progressive.prometheus_metrics import PrometheusMetrics

POD = {"metadata": {"name": "m-canary-1"}}
SERIES = [  # the same pod scraped by two jobs: counted once
    ({"__name__": "service_requests_total", "route": "/invocations", "method": "POST", "status": "200",
      "namespace": "ns", "pod": "m-canary-1", "job": job}, "40") for job in ("pods", "also-pods")
] + [({"__name__": "service_request_duration_seconds_bucket", "route": "/invocations", "le": le,
       "namespace": "ns", "pod": "m-canary-1", "job": "pods"}, v) for le, v in (("0.1", "30"), ("+Inf", "40"))]
# What a stable pod counts of its copies to the shadow (service/shadow.py), as its own /metrics says it...
SHADOW_TEXT = """\
service_shadow_requests_total{outcome="compared"} 90.0
service_shadow_requests_total{outcome="refused"} 2.0
service_shadow_rows_total 180.0
service_shadow_rows_changed_total{output="*"} 9.0
service_shadow_rows_changed_total{output="label"} 9.0
service_shadow_difference_bucket{kind="relative",le="0.01",output="score"} 170.0
service_shadow_difference_bucket{kind="relative",le="+Inf",output="score"} 180.0
"""
# ...and as Prometheus keeps it, with the target labels of its scrape.
SHADOW_SERIES = [({"__name__": name, **labels, "namespace": "ns", "pod": "m-canary-1", "job": "pods",
                   "instance": "10.0.0.7:8080"}, value) for name, labels, value in (
    ("service_shadow_requests_total", {"outcome": "compared"}, "90"),
    ("service_shadow_requests_total", {"outcome": "refused"}, "2"),
    ("service_shadow_rows_total", {}, "180"),
    ("service_shadow_rows_changed_total", {"output": "*"}, "9"),
    ("service_shadow_rows_changed_total", {"output": "label"}, "9"),
    ("service_shadow_difference_bucket", {"kind": "relative", "le": "0.01", "output": "score"}, "170"),
    ("service_shadow_difference_bucket", {"kind": "relative", "le": "+Inf", "output": "score"}, "180"))]


class FakeKube:
    namespace = "ns"


@pytest.fixture
def server():
    """Answers /api/v1/query like Prometheus: time(), timestamp(up ...) and the figures' selector."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            query = parse_qs(urlsplit(self.path).query)["query"][0]
            seen.append({"query": query, "authorization": self.headers.get("Authorization")})
            if query == "time()":
                data = {"resultType": "scalar", "result": [100.0, "100"]}
            elif query.startswith("timestamp(up"):
                data = {"resultType": "vector", "result": [{"metric": {"pod": "m-canary-1"}, "value": [101, "101"]}]}
            else:
                series = SHADOW_SERIES if "service_shadow_" in query else SERIES
                data = {"resultType": "vector", "result": [{"metric": m, "value": [101, v]} for m, v in series]}
            body = json.dumps({"status": "success", "data": data}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    httpd.shutdown()


def test_series_become_one_pods_figures_counted_once(server) -> None:
    url, seen = server
    scrapes = PrometheusMetrics(url, token="t0ken")(FakeKube(), [POD], "m", canary_analysis.FIGURES)
    expected = canary_analysis.Scrape(requests={"200": 40.0}, latency={0.1: 30.0, float("inf"): 40.0})
    assert scrapes == {"m-canary-1": expected}
    assert 'namespace="ns",pod=~"m-canary-1"' in seen[-1]["query"]
    assert {s["authorization"] for s in seen} == {"Bearer t0ken"}


def test_the_shadow_figures_from_prometheus_are_those_of_the_pods_own_metrics(server) -> None:
    url, seen = server
    scrapes = PrometheusMetrics(url)(FakeKube(), [POD], "m", shadow_analysis.FIGURES)
    assert scrapes == {"m-canary-1": shadow_analysis.parse(SHADOW_TEXT)}
    assert scrapes["m-canary-1"].rows == 180.0 and scrapes["m-canary-1"].copies == {"compared": 90.0, "refused": 2.0}
    assert "service_shadow_rows_total" in seen[-1]["query"] and "service_requests_total" not in seen[-1]["query"]


def test_a_pod_prometheus_never_scraped_is_named(server) -> None:
    url, _ = server
    other = {"metadata": {"name": "m-stable-7"}}
    with pytest.raises(CheckFailed, match="has no scrape of pods m-stable-7 after 0s"):
        PrometheusMetrics(url, wait=0)(FakeKube(), [other], "m", canary_analysis.FIGURES)


def test_a_server_that_is_not_prometheus_is_named_without_the_password() -> None:
    metrics = PrometheusMetrics("http://job:s3cret@127.0.0.1:9/")
    assert metrics.describe() == "Prometheus at http://***@127.0.0.1:9/"
    with pytest.raises(CheckFailed, match="did not answer") as failed:
        metrics(FakeKube(), [POD], "m", shadow_analysis.FIGURES)
    assert "s3cret" not in str(failed.value)

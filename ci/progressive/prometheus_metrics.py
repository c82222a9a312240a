"""The canary's and the shadow's figures from a Prometheus that scrapes the pods (PROMETHEUS_URL), instead
of each pod's own /metrics through the API server.

Why offer it: a cluster where the job's account may not proxy to pods, or where Prometheus already
scrapes them. The figures are the same series the pods expose (service/metrics.py), read per pod
with the HTTP API's instant queries and handed to the analysis' own parser as the metrics text the pod
would have answered (ci.progressive.metrics_text), so the analysis is unchanged: counters per pod,
deltas between two reads. Prometheus only knows a pod's counters as of its last scrape, so every read first waits
until each pod was scraped after the read began (`timestamp(up)` against Prometheus' own clock):
without that, a read right after the analysis' own requests would miss them, and a pod's first read
could come from before the step.

Series are told apart by two target labels the scrape config sets (`pod` and `namespace` by the
usual relabelling; both configurable). A pod scraped by two jobs is counted once. The URL's password
and the token are never printed.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests

from ci.clients.kube import Kube
from ci.errors import CheckFailed, ConfigError
from ci.progressive.metrics_text import Figures, render
from ci.redact import redact

log = logging.getLogger("ci.deploy")
# Labels that differ between two jobs scraping the same pod: not part of a series' identity here.
TARGET_LABELS = ("job", "instance", "__name__")
QUERY_TIMEOUT = 30.0
POLL = 1.0


@dataclass
class PrometheusMetrics:
    """Reads pods' figures from Prometheus: called like `pod_metrics.scrape(kube, pods, container, figures)`."""

    url: str
    token: str | None = field(default=None, repr=False)
    pod_label: str = "pod"
    namespace_label: str = "namespace"
    wait: float = 60.0  # seconds for every pod to be scraped after a read begins

    def __post_init__(self) -> None:
        parts = urlsplit(self.url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"PROMETHEUS_URL {redact(self.url)!r} is not an http(s) URL: give the "
                              "server's base URL, e.g. http://prometheus.monitoring:9090")
        self._session = requests.Session()
        if parts.username:
            self._session.auth = (parts.username, parts.password or "")
        if self.token:
            self._session.headers["Authorization"] = f"Bearer {self.token}"
        self._base = urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path.rstrip("/"), "", ""))

    def describe(self) -> str:
        return f"Prometheus at {redact(self.url)}"

    def __call__(self, kube: Kube, pods: Iterable[dict], container: str, figures: Figures) -> dict[str, Any]:
        """Pod name -> its figures as scraped after this call began; a pod Prometheus did not scrape in
        time is left out (logged), as a pod that does not answer its own /metrics is."""
        names = [pod["metadata"]["name"] for pod in pods]
        if not names:
            return {}
        matchers = self._matchers(kube.namespace, names)
        since = self._value("time()")
        fresh = self._wait_for_scrapes(matchers, names, since)
        if not fresh:
            raise CheckFailed(
                f"{self.describe()} has no scrape of pods {', '.join(names)} after {self.wait:g}s "
                f"(looked for up{{{matchers}}}): check that it scrapes them and that its target labels are "
                f"{self.namespace_label!r} and {self.pod_label!r} (PROMETHEUS_NAMESPACE_LABEL, "
                "PROMETHEUS_POD_LABEL), or unset PROMETHEUS_URL to read the pods' own /metrics")
        for name in sorted(set(names) - fresh):
            log.warning("pod %s: not scraped by Prometheus within %gs; left out of this read", name, self.wait)
        series = self._query(f'{{__name__=~"{"|".join(figures.series)}",{matchers}}}')
        found: dict[str, dict[tuple, tuple[str, dict, float]]] = {name: {} for name in fresh}
        for item in series:
            labels = item["metric"]
            pod = labels.get(self.pod_label)
            if pod not in found:
                continue
            key = tuple(sorted((k, v) for k, v in labels.items() if k not in TARGET_LABELS)) + (labels["__name__"],)
            value = float(item["value"][1])
            kept = found[pod].get(key)
            found[pod][key] = (labels["__name__"], labels, max(value, kept[2]) if kept else value)
        return {pod: figures.parse(render((name, {k: v for k, v in labels.items() if k not in TARGET_LABELS}, value)
                                          for name, labels, value in samples.values()))
                for pod, samples in found.items()}

    def _matchers(self, namespace: str, names: list[str]) -> str:
        pods = "|".join(_escape(name).replace(".", "\\\\.") for name in names)
        return f'{self.namespace_label}="{_escape(namespace)}",{self.pod_label}=~"{pods}"'

    def _wait_for_scrapes(self, matchers: str, names: list[str], since: float) -> set[str]:
        deadline = time.monotonic() + self.wait
        while True:
            scraped = {item["metric"].get(self.pod_label) for item in self._query(f"timestamp(up{{{matchers}}} == 1)")
                       if float(item["value"][1]) >= since}
            fresh = scraped & set(names)
            if fresh == set(names) or time.monotonic() >= deadline:
                return fresh
            time.sleep(POLL)

    def _value(self, query: str) -> float:
        result = self._query(query, kind="scalar")
        return float(result[1])

    def _query(self, query: str, kind: str = "vector"):
        try:
            answer = self._session.get(f"{self._base}/api/v1/query", params={"query": query}, timeout=QUERY_TIMEOUT)
        except requests.RequestException as exc:
            raise CheckFailed(f"{self.describe()} did not answer ({type(exc).__name__}): check PROMETHEUS_URL, "
                              "or unset it to read the pods' own /metrics") from None
        if answer.status_code in (401, 403):
            raise CheckFailed(f"{self.describe()} refused the query (HTTP {answer.status_code}): check "
                              "PROMETHEUS_TOKEN or the URL's user and password")
        try:
            body = answer.json()
        except ValueError:
            body = {}
        if answer.status_code != 200 or body.get("status") != "success":
            raise CheckFailed(f"{self.describe()} answered HTTP {answer.status_code} to {query!r}: "
                              f"{str(body.get('error') or answer.reason)[:300]}")
        data = body["data"]
        if data.get("resultType") != kind:
            raise CheckFailed(f"{self.describe()} answered a {data.get('resultType')} to {query!r}, not a {kind}: "
                              "is PROMETHEUS_URL the server's base URL (its /api/v1/query)?")
        return data["result"]


def _escape(text: str) -> str:
    """A label value inside a PromQL string; pod and namespace names are DNS labels, but be safe."""
    return text.replace("\\", "\\\\").replace('"', '\\"')

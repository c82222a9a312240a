"""What an analysis reads of the service's metrics, whichever source gives them.

Both sources hand an analysis the same thing, the metrics text format the pods expose: a pod's own
/metrics answer as it is (`ci.progressive.pod_metrics`), or the series a Prometheus scraped from that
pod, written back in that format (`ci.progressive.prometheus_metrics`). So each analysis (canary,
shadow) has one parser, and names the series it reads (`Figures`) for a source that must ask for them.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, NamedTuple


class Figures(NamedTuple):
    """An analysis' figures: the series it reads, and its parser of a pod's metrics text."""

    series: tuple[str, ...]
    parse: Callable[[str], Any]


def render(samples: Iterable[tuple[str, dict[str, str], float]]) -> str:
    """Samples (name, labels, value) as metrics text lines, untyped: a parser that matches samples by
    name reads them as it reads a pod's own /metrics."""
    lines = []
    for name, labels, value in samples:
        pairs = ",".join(f'{key}="{_escape(text)}"' for key, text in sorted(labels.items()))
        lines.append(f"{name}{{{pairs}}} {value!r}\n")
    return "".join(lines)


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

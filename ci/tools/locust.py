"""locust: run a locustfile headless against a URL and return the aggregated figures.

Warm-up is excluded with Locust's own `--reset-stats`: users are spawned over `warmup_s` (the
server's first requests, cold caches, lazy imports) and the statistics are reset once the last user
runs, so the figures cover only the `duration_s` that follows at full load. Locust runs as a
subprocess (`python -m locust`, the same venv) because it monkey-patches the process with gevent.
"""
from __future__ import annotations

import csv
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from ci.errors import ToolError
from ci.tools import run_tool, tail

STOP_TIMEOUT_S = 2  # let in-flight requests finish instead of counting them as interrupted
AGGREGATED = "Aggregated"


@dataclass(frozen=True)
class LocustStats:
    requests: int
    failures: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float

    @property
    def error_rate(self) -> float:
        return self.failures / self.requests if self.requests else 1.0


def run(locustfile: Path, host: str, *, users: int, duration_s: float, warmup_s: float, csv_prefix: Path,
        html: Path, env: Mapping[str, str] | None = None) -> LocustStats:
    """Run `users` users for `warmup_s` + `duration_s` seconds; write `<csv_prefix>_stats.csv` and
    the HTML report; return the Aggregated row. Locust's own exit code is ignored: failed requests
    are figures for the gate to judge, not a tool failure."""
    csv_prefix.parent.mkdir(parents=True, exist_ok=True)
    html.parent.mkdir(parents=True, exist_ok=True)
    spawn_rate = users / warmup_s if warmup_s > 0 else users
    argv = [sys.executable, "-m", "locust", "--locustfile", locustfile, "--headless", "--host", host,
            "--users", users, "--spawn-rate", f"{spawn_rate:.3f}",
            "--run-time", f"{warmup_s + duration_s:.0f}s",
            "--reset-stats", "--stop-timeout", STOP_TIMEOUT_S, "--only-summary", "--loglevel", "WARNING",
            "--csv", csv_prefix, "--html", html]
    result = run_tool(argv, env=env, timeout=warmup_s + duration_s + 120, check=False)
    stats_file = Path(f"{csv_prefix}_stats.csv")
    if not stats_file.is_file():
        raise ToolError(f"locust wrote no statistics (exit {result.returncode}):\n{tail(result.stderr)}")
    return parse_stats(stats_file)


def parse_stats(stats_file: Path) -> LocustStats:
    with open(stats_file, newline="", encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["Name"] == AGGREGATED]
    if not rows:
        raise ToolError(f"{stats_file} has no {AGGREGATED} row")
    row = rows[0]

    def number(column: str) -> float:
        value = row.get(column, "")
        return float(value) if value not in ("", "N/A") else 0.0

    return LocustStats(requests=int(number("Request Count")), failures=int(number("Failure Count")),
                       rps=number("Requests/s"), p50_ms=number("50%"), p95_ms=number("95%"),
                       p99_ms=number("99%"), max_ms=number("Max Response Time"))

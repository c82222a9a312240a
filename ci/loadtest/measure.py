"""One Locust measurement against a URL, judged against latency, error-rate and throughput thresholds.

Shared by the latency gate (the candidate image, before deploy) and the scheduled load test (the
live environment), so both measure the same way and a threshold means the same thing in both.
The load is a fixed request rate by default, not as-fast-as-possible: on a shared 2-core runner a
closed loop measures the runner's CPU, while a fixed rate measures the service's latency at load.
"""
from __future__ import annotations

import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ci.errors import ConfigError
from ci.project import LOCUSTFILE
from ci.redact import redact
from ci.reports import Check
from ci.tools import locust

DEFAULT_P95_MS = 100.0
DEFAULT_P99_MS = 250.0
DEFAULT_MAX_ERROR_RATE = 0.001
DEFAULT_MIN_RPS = 20.0
DEFAULT_USERS = 16
DEFAULT_DURATION = "60s"
DEFAULT_WARMUP = "10s"
DEFAULT_RATE = 40.0  # requests/s in all: twice the default minimum, well inside a 2-core runner
DEFAULT_BATCH_SIZES = "1,4,16"


@dataclass(frozen=True)
class Thresholds:
    p95_ms: float = DEFAULT_P95_MS
    p99_ms: float = DEFAULT_P99_MS
    max_error_rate: float = DEFAULT_MAX_ERROR_RATE
    min_rps: float = DEFAULT_MIN_RPS


@dataclass(frozen=True)
class Load:
    users: int = DEFAULT_USERS
    duration_s: float = 60.0
    warmup_s: float = 10.0
    rate: float = DEFAULT_RATE  # 0: every user sends as soon as it has its answer
    batch_sizes: str = DEFAULT_BATCH_SIZES


@dataclass(frozen=True)
class LoadResult:
    url: str  # redacted: safe for reports, issues and alerts
    stats: locust.LocustStats
    checks: list[Check]
    html: str  # Locust's own report
    seconds: float

    @property
    def passed(self) -> bool:
        return all(check.passed for check in self.checks)

    def summary(self) -> dict:
        """The figures, for a registry tag: no paths."""
        stats = self.stats
        return {"p95_ms": stats.p95_ms, "p99_ms": stats.p99_ms, "error_rate": round(stats.error_rate, 6),
                "rps": round(stats.rps, 2), "requests": stats.requests}


def load_settings(p95_ms: float, p99_ms: float, max_error_rate: float, min_rps: float, users: int,
                  duration: str, warmup: str, rate: float, batch_sizes: str) -> tuple[Load, Thresholds]:
    """The load shape and thresholds from the shared options (`ci.commands.options.load_options`)."""
    if not all(size.strip().isdigit() and int(size) > 0 for size in batch_sizes.split(",")):
        raise ConfigError(f"--batch-sizes {batch_sizes!r}: comma-separated positive numbers, e.g. 1,4,16")
    load = Load(users, parse_duration(duration), parse_duration(warmup), rate, batch_sizes)
    return load, Thresholds(p95_ms, p99_ms, max_error_rate, min_rps)


def parse_duration(text: str) -> float:
    """`60s`, `2m`, `1m30s` or plain seconds (`90`), as Locust and LOADTEST_DURATION write them."""
    match = re.fullmatch(r"\s*(?:(\d+)h)?\s*(?:(\d+)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text or "")
    if not text or not text.strip() or not match:
        raise ConfigError(f"duration {text!r}: write seconds (90), or 60s, 2m, 1m30s")
    hours, minutes, seconds = match.groups()
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds or 0)


def evaluate(stats: locust.LocustStats, thresholds: Thresholds) -> list[Check]:
    """Each figure beside its threshold; with no request answered there is no latency to pass."""
    answered = stats.requests > 0
    return [
        Check("p95", answered and stats.p95_ms <= thresholds.p95_ms,
              f"p95 latency {stats.p95_ms:.0f} ms (threshold <= {thresholds.p95_ms:g} ms)" if answered else
              "p95 latency: none measured (no request answered)"),
        Check("p99", answered and stats.p99_ms <= thresholds.p99_ms,
              f"p99 latency {stats.p99_ms:.0f} ms (threshold <= {thresholds.p99_ms:g} ms)" if answered else
              "p99 latency: none measured (no request answered)"),
        Check("error_rate", answered and stats.error_rate <= thresholds.max_error_rate,
              f"error rate {stats.error_rate:.4f} = {stats.failures}/{stats.requests} requests "
              f"(threshold <= {thresholds.max_error_rate:g})" if answered else
              "no request was answered in the measured time, after the warm-up: every request took longer "
              "than the run (an overloaded or stalled service; a longer warm-up lets slow first requests "
              "end before it)"),
        Check("throughput", stats.rps >= thresholds.min_rps,
              f"throughput {stats.rps:.1f} req/s (threshold >= {thresholds.min_rps:g} req/s)"),
    ]


def measure(url: str, serving_example: dict | None, load: Load, thresholds: Thresholds, reports_dir: Path,
            name: str) -> LoadResult:
    """Run Locust against `url` (Locust's HTML report: `<name>.html` in `reports_dir`); judge the figures."""
    if not serving_example:
        raise ConfigError("the model has no serving input example to build requests from: log it with "
                          "`input_example=` (MLflow writes serving_input_example.json)")
    if load.users < 1 or load.duration_s <= 0:
        raise ConfigError("load test needs at least 1 user and a positive duration")
    html = Path(reports_dir) / f"{name}.html"
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as tmp:
        payload = Path(tmp) / "serving_input_example.json"
        payload.write_text(json.dumps(serving_example))
        env = {"LOADTEST_PAYLOAD_FILE": str(payload), "LOADTEST_BATCH_SIZES": load.batch_sizes,
               "LOADTEST_USER_RPS": str(load.rate / load.users)}
        stats = locust.run(LOCUSTFILE, url.rstrip("/"), users=load.users, duration_s=load.duration_s,
                           warmup_s=load.warmup_s, csv_prefix=Path(tmp) / name, html=html, env=env)
    return LoadResult(redact(url), stats, evaluate(stats, thresholds), str(html), time.monotonic() - started)


def report_details(result: LoadResult, load: Load, thresholds: Thresholds, reports_dir: Path, name: str) -> dict:
    """What `<name>.json` holds beside the verdict and the checks."""
    paths = {"junit": str(Path(reports_dir) / f"{name}-junit.xml"), "html": result.html,
             "json": str(Path(reports_dir) / f"{name}.json")}
    return {"url": result.url, "stats": asdict(result.stats), "error_rate": result.stats.error_rate,
            "thresholds": asdict(thresholds), "load": asdict(load), "reports": paths}

"""The latency gate's capacity search: a step load on one pod-sized container until the thresholds break.

The offered rate grows geometrically (start, x factor, ...) until a step breaks p95, p99 or the
error rate, or the throughput stops following the offered rate; then a few bisections between the
last good and the first broken step sharpen the edge (when even the first step breaks, the rate
goes down by the factor until one holds). Each step is one fixed-rate Locust run
(`ci.loadtest.measure`); the container's CPU is sampled meanwhile and averaged over the measured
window. The highest good step below every broken one is the sustainable rate per pod.
"""
from __future__ import annotations

import math
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from ci.capacity.plan import Point
from ci.loadtest.measure import Load, Thresholds, measure

FOLLOWS = 0.9  # achieved / offered below this: the pod no longer keeps up
MIN_USERS = 4
MIN_RPS = 0.5  # a search that finds nothing holding above this gives up
SAMPLE_S = 1.0
LOCUST_STOP_S = 1.0  # between the end of the measured window and Locust's exit
DEFAULT_START_RPS = 10.0
DEFAULT_FACTOR = 1.5
DEFAULT_MAX_STEPS = 16  # 10 req/s x 1.5^15: ~4,400 req/s, past what one pod of the examples serves
DEFAULT_REFINE = 2
DEFAULT_STEP = "15s"
DEFAULT_STEP_WARMUP = "3s"


@dataclass(frozen=True)
class Steps:
    start_rps: float = DEFAULT_START_RPS
    factor: float = DEFAULT_FACTOR
    max_steps: int = DEFAULT_MAX_STEPS
    refine: int = DEFAULT_REFINE  # bisections after the first broken step
    duration_s: float = 15.0
    warmup_s: float = 3.0


def users_for(rate: float, thresholds: Thresholds) -> int:
    """Enough Locust users that each can pace its share of `rate` while answers take up to twice the
    p95 threshold: too few users would cap the rate and blame the pod."""
    return max(MIN_USERS, math.ceil(2 * rate * thresholds.p95_ms / 1000))


def sustainable(point_rps: float, achieved: float, p95: float, p99: float, errors: float,
                thresholds: Thresholds) -> bool:
    return (p95 <= thresholds.p95_ms and p99 <= thresholds.p99_ms and errors <= thresholds.max_error_rate
            and achieved >= FOLLOWS * point_rps)


def best(points: list[Point]) -> Point | None:
    """The highest good step below every broken one (a good step above a broken one is noise)."""
    ceiling = min((p.offered_rps for p in points if not p.sustainable), default=math.inf)
    good = [p for p in points if p.sustainable and p.offered_rps < ceiling]
    return max(good, key=lambda p: p.offered_rps, default=None)


def _bracketed_at(points: list[Point]) -> int | None:
    """The index of the step that first put a good step below a broken one."""
    for i in range(len(points)):
        if best(points[:i + 1]) is not None and any(not p.sustainable for p in points[:i + 1]):
            return i
    return None


def next_rate(steps: Steps, points: list[Point]) -> float | None:
    """The next rate to offer, or None when the search is done: up by the factor while the steps hold,
    down by it while none has held yet, then bisections between the last good and first broken one."""
    if len(points) >= steps.max_steps:
        return None
    if not points:
        return steps.start_rps
    broken = [p for p in points if not p.sustainable]
    if not broken:
        return points[-1].offered_rps * steps.factor
    low, high = best(points), min(p.offered_rps for p in broken)
    if low is None:
        lower = round(high / steps.factor, 2)
        return lower if lower >= MIN_RPS else None
    if len(points) - 1 - _bracketed_at(points) >= steps.refine or high / low.offered_rps < 1.05:
        return None
    return round((low.offered_rps + high) / 2, 1)


class CpuMeter:
    """Samples a container's cumulative CPU seconds in the background; cores used over a window."""

    def __init__(self, cpu_seconds: Callable[[], float]) -> None:
        self._read = cpu_seconds
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append((time.monotonic(), self._read()))
            self._stop.wait(SAMPLE_S)

    def __enter__(self) -> CpuMeter:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.samples.append((time.monotonic(), self._read()))

    def cores(self, start: float, end: float) -> float | None:
        """Average cores between the samples nearest `start` and `end`."""
        if len(self.samples) < 2:
            return None
        first = min(self.samples, key=lambda s: abs(s[0] - start))
        last = min(self.samples, key=lambda s: abs(s[0] - end))
        if last[0] <= first[0]:
            return None
        return round((last[1] - first[1]) / (last[0] - first[0]), 3)


def search(url: str, serving_example: dict, thresholds: Thresholds, steps: Steps, batch_sizes: str,
           cpu_seconds: Callable[[], float], progress: Callable[[Point], None] = lambda point: None) -> list[Point]:
    """Step the offered rate on `url` until the thresholds break; every step's point, in order."""
    points: list[Point] = []
    with tempfile.TemporaryDirectory(prefix="capacity-") as reports:
        while (rate := next_rate(steps, points)) is not None:
            load = Load(users_for(rate, thresholds), steps.duration_s, steps.warmup_s, rate, batch_sizes)
            with CpuMeter(cpu_seconds) as meter:
                result = measure(url, serving_example, load, thresholds, Path(reports), f"step-{len(points)}")
            end = time.monotonic() - LOCUST_STOP_S
            stats = result.stats
            point = Point(rate, round(stats.rps, 2), stats.p95_ms, stats.p99_ms, round(stats.error_rate, 6),
                          meter.cores(end - steps.duration_s, end),
                          sustainable(rate, stats.rps, stats.p95_ms, stats.p99_ms, stats.error_rate, thresholds))
            points.append(point)
            progress(point)
    return points


def report(points: list[Point], steps: Steps, pod: dict) -> dict:
    """The `capacity` section of latency.json: `python -m ci capacity` reads it."""
    top = best(points)
    return {"pod": pod, "steps": asdict(steps), "points": [asdict(p) for p in points],
            "sustainable_rps": top.achieved_rps if top else 0.0, "cpu_cores": top.cpu_cores if top else None}


def line(point: Point) -> str:
    """One step, printed as it finishes."""
    cpu = "-" if point.cpu_cores is None else f"{point.cpu_cores:.2f}"
    verdict = "ok" if point.sustainable else "BROKEN"
    return (f"capacity step {point.offered_rps:7.1f} req/s offered: {point.achieved_rps:7.1f} served, "
            f"p95 {point.p95_ms:.0f} ms, p99 {point.p99_ms:.0f} ms, errors {point.error_rate:.4f}, "
            f"CPU {cpu} cores  {verdict}")

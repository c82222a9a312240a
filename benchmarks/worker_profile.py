"""Where a serving worker's CPU goes: py-spy samples of one worker while wrk loads the server.

Used by `benchmarks.serving --profile`. py-spy (pinned in requirements.txt) attaches to a running
process by PID and records its Python stacks at a fixed rate, idle samples left out, so each share
printed is a share of the worker's busy CPU time. Two views of the same samples: the functions the
CPU was in (self), and the functions with the calls below them (inclusive: the cost of a step).
"""
from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

RATE = 250  # samples per second
# A request's steps, each named by frames that mark it (a substring of `path:function`); a sample goes
# to the first step with a marked frame anywhere in its stack (so the model's own pandas work is the
# model's, a request's DataFrame is its parse's), else to the rest.
STEPS = (
    ("model predict (one call per batch)", ("service/core.py:Predictor.predict",)),
    ("the batch's frame (pd.concat or FastParser.frame)", ("pandas/core/reshape/concat.py",
                                                            "service/fastpath.py:FastParser.frame")),
    ("parse and check a request", ("service/core.py:Predictor.parse",)),
    ("access log line", ("logging/__init__.py:Logger.info",)),
    ("metrics (prometheus-client multiprocess files)", ("prometheus_client/", "service/metrics.py")),
    ("serialise the answer", ("service/codec.py:serialise",)),
    ("send the answer (middlewares, uvicorn's write)", ("service/middleware.py:RequestContext.__call__.<locals>"
                                                        ".send_with_id",)),
    ("request and trace ids", ("service/middleware.py:request_id_from", "service/tracing.py")),
    ("read the body", ("service/body.py",)),
)
# "function (path/to/module.py:123)" -> function, module path (the line is dropped: one row a function)
_FRAME = re.compile(r"(?P<function>.*?) \((?P<path>[^:]+)(?::\d+)?\)$")


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen:
    """Start sampling `pid` for `seconds` into `out` (collapsed stacks); wait on the returned process."""
    py_spy = Path(sys.executable).with_name("py-spy")
    return subprocess.Popen([str(py_spy), "record", "--pid", str(pid), "--duration", str(seconds),
                             "--rate", str(RATE), "--threads", "--format", "raw", "--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def _name(frame: str) -> str:
    """`path/module.py:function`, the path cut to what follows site-packages or the repository."""
    match = _FRAME.match(frame.strip())
    if match is None:
        return frame.strip()
    path = match["path"].split("site-packages/")[-1]
    for top in ("/service/", "/benchmarks/"):
        if top in path:
            path = top.strip("/") + "/" + path.split(top)[-1]
    return f"{path}:{match['function']}"


def _package(name: str) -> str:
    """The top-level package (or the standard-library module) of a `_name`."""
    path = name.rpartition(":")[0]
    if "/python3." in path:  # the standard library: its module or package
        path = "stdlib " + path.split("/python3.", 1)[1].partition("/")[2]
    return path.split("/")[0].removesuffix(".py")


def stacks(raw: str) -> dict[str, Counter[tuple[str, ...]]]:
    """py-spy's raw (collapsed) output with `--threads`, per thread: `thread (tid): name;frame;...
    count` per line, outermost frame first."""
    threads: dict[str, Counter[tuple[str, ...]]] = {}
    for line in raw.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            thread, *frames = stack.split(";")
            counted = threads.setdefault(thread, Counter())
            counted[tuple(_name(frame) for frame in frames)] += int(count)
    return threads


def summarise(raw: str, top: int = 20, inclusive_under: tuple[str, ...] = ("service/",)) -> str:
    """Samples per thread; then, for the main thread (the event loop, which serves every request),
    the `top` functions by self samples, by package, and by inclusive samples for the functions whose
    module starts with one of `inclusive_under` (this project's steps), each as % of its samples.
    Other threads are only counted: py-spy takes a thread blocked in a C call (an idle executor
    thread waiting on its queue) for a busy one, so their samples need not be CPU."""
    threads = stacks(raw)
    main = next((name for name in threads if name.endswith("MainThread")), None)
    if main is None:
        return "  no samples of the main thread (was the worker busy?)"
    counted = {stack: count for stack, count in threads[main].items() if stack}  # a sample without frames
    total = sum(counted.values())
    own: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    steps: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for stack, count in counted.items():
        own[stack[-1]] += count
        packages[_package(stack[-1])] += count
        steps[_step(stack)] += count
        for name in set(stack):
            if name.startswith(inclusive_under):
                inclusive[name] += count
    lines = [f"  {sum(samples.values())} samples at {RATE} Hz of {name}" for name, samples in threads.items()]
    for title, counter in ((f"{main}, by step:", steps), ("self (the function itself):", own),
                           ("self, by package:", packages),
                           (f"inclusive (with what it calls), under {', '.join(inclusive_under)}:", inclusive)):
        lines.append("  " + title)
        lines += [f"  {100 * count / total:6.1f}%  {name}" for name, count in counter.most_common(top)]
    return "\n".join(lines)


def _step(stack: tuple[str, ...]) -> str:
    for step, marks in STEPS:
        if any(mark in frame for frame in stack for mark in marks):
            return step
    return "the rest: uvicorn, Starlette/FastAPI, the event loop, batching"

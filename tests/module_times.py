"""Where the suite's time goes: a table of wall time per test module, printed at the end of a run.

Each row adds up the module's setup, call and teardown phases (a module's first setup pays for the
session fixtures it is the first to need, so the table says who waited for what) and names the
pytest-xdist worker that ran it; the last line sets the run's wall time against the sum of the rows,
which is how much the workers overlapped. Registered by tests/conftest.py; with xdist only the
controller, which receives every worker's reports, prints it.
"""
from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import pytest

PHASES = ("setup", "call", "teardown")
SHOWN_FROM_S = 1.0  # the fast tier's modules stay out of the table


@dataclass
class ModuleTime:
    seconds: dict[str, float] = field(default_factory=lambda: dict.fromkeys(PHASES, 0.0))
    tests: set[str] = field(default_factory=set)
    workers: set[str] = field(default_factory=set)
    failed: int = 0

    @property
    def total(self) -> float:
        return sum(self.seconds.values())


_modules: dict[str, ModuleTime] = defaultdict(ModuleTime)
_started = time.monotonic()


def pytest_sessionstart(session: pytest.Session) -> None:
    global _started
    _started = time.monotonic()


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    module = _modules[report.nodeid.split("::", 1)[0]]
    module.seconds[report.when] += report.duration
    module.tests.add(report.nodeid)
    node = getattr(report, "node", None)  # xdist: the worker that sent the report
    module.workers.add(getattr(getattr(node, "gateway", None), "id", "-"))
    module.failed += int(report.failed)


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if hasattr(config, "workerinput") or not _modules:
        return
    wall = time.monotonic() - _started
    rows = sorted(_modules.items(), key=lambda item: item[1].total, reverse=True)
    width = max(len(name) for name, _ in rows)
    write = terminalreporter.write_line
    terminalreporter.section("wall time per module (seconds)")
    write(f"{'module':<{width}}  {'worker':>6}  {'tests':>5}  {'setup':>7}  {'call':>7}  {'teardown':>8}  "
          f"{'total':>7}")
    for name, module in rows:
        if module.total < SHOWN_FROM_S and not module.failed:
            continue
        s = module.seconds
        worker = ",".join(sorted(module.workers))
        flag = f"  ({module.failed} failed)" if module.failed else ""
        write(f"{name:<{width}}  {worker:>6}  {len(module.tests):>5}  {s['setup']:>7.1f}  {s['call']:>7.1f}  "
              f"{s['teardown']:>8.1f}  {module.total:>7.1f}{flag}")
    hidden = sum(1 for _, module in rows if module.total < SHOWN_FROM_S and not module.failed)
    if hidden:
        write(f"({hidden} modules under {SHOWN_FROM_S} s not shown)")
    summed = sum(module.total for _, module in rows)
    write(f"run: {wall:.0f} s wall for {summed:.0f} s of module time ({summed / wall:.2f} modules at once "
          "on average)")

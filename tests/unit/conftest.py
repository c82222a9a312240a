"""The fast tier: pure logic of `ci/` and `service/`, in-process only, table-driven, whole tier in
seconds (`python -m pytest tests/unit -q`).

Files mirror the modules: tests/unit/ci/deploy/test_rollout.py tests ci/deploy/rollout.py, and so on.

The root conftest registers the infrastructure fixture plugins (MLflow servers, OCI registry,
cluster); they start nothing unless a test asks for one of their fixtures. Here that is refused at
collection, and while a test runs it may neither start a process nor open or serve an internet
socket: a test that needs one belongs in tests/ci, tests/service or tests/pipeline.
"""
from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parent
TEST_TIMEOUT_S = 20  # any single unit test; the whole tier runs in seconds
# Fixtures defined here may be used; fixtures from these packages start or need real infrastructure.
SLOW_FIXTURE_PACKAGES = ("devstack", "tests.devstack", "tests.ci", "tests.service", "tests.pipeline", "tests.manifests")
INET = (socket.AF_INET, socket.AF_INET6)


def _slow_fixtures(item: pytest.Item) -> list[str]:
    found = []
    for name, definitions in item._fixtureinfo.name2fixturedefs.items():
        modules = {getattr(d.func, "__module__", "") or "" for d in definitions}
        if any(module.startswith(SLOW_FIXTURE_PACKAGES) for module in modules):
            found.append(name)
    return sorted(found)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if UNIT not in Path(item.path).resolve().parents:
            continue
        item.add_marker(pytest.mark.timeout(TEST_TIMEOUT_S))
        slow = _slow_fixtures(item)
        if slow:
            raise pytest.UsageError(f"{item.nodeid} is in the fast tier (tests/unit) but uses infrastructure "
                                    f"fixture(s) {', '.join(slow)}: move it to the slow suite")


def _refuse(what: str):
    def refuse(*args, **kwargs):
        raise AssertionError(f"tests/unit runs in-process only: a test tried to {what}")
    return refuse


@pytest.fixture(autouse=True)
def _in_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """No subprocess, no internet socket connect/bind (AF_UNIX pairs, e.g. asyncio's, stay usable)."""
    monkeypatch.setattr(subprocess.Popen, "__init__", _refuse("start a subprocess"))
    for method in ("connect", "connect_ex", "bind"):
        original = getattr(socket.socket, method)

        def guarded(self, address, *args, _original=original, _method=method):
            if self.family in INET:
                raise AssertionError(f"tests/unit runs in-process only: a test tried to {_method} to "
                                     f"{address!r}")
            return _original(self, address, *args)

        monkeypatch.setattr(socket.socket, method, guarded)

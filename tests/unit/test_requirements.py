"""The requirement lists agree: the pipeline image's lock (requirements/ci.txt) is complete for its
input (ci.in), fully pinned, free of test tools, and pins every package the development list and the
service image also pin at the same version (so the tests run what the image ships)."""
import re
from pathlib import Path

import pytest

from devstack.locks import LEFT_OUT, LOCKS, REPO

PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;#]+)")
TEST_TOOLS = {"pytest", "pytest-timeout", "ruff", "schemathesis", "check-jsonschema", "pip-tools", "httpx",
              "mlflow"}  # mlflow: the full one; the image has mlflow-skinny


def _name(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins(path: Path) -> dict[str, str]:
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[_name(match.group(1))] = match.group(2)
    return found


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")]


@pytest.mark.parametrize(("source", "lock"), LOCKS.items(), ids=lambda p: p.name)
def test_lock_is_complete_and_fully_pinned(source, lock):
    for line in requirement_lines(source):
        assert PIN.match(line), f"{source.name}: {line!r} is not pinned (name==version)"
    locked = pins(lock)
    for name, version in pins(source).items():
        assert locked.get(name) == version, f"{lock.name} has {name}=={locked.get(name)}, {source.name} {version}: " \
                                            "run `python -m devstack.locks`"
    for line in requirement_lines(lock):
        assert PIN.match(line), f"{lock.name}: {line!r} (only name==version lines; no index or find-links)"
    assert "python -m devstack.locks" in lock.read_text()


def test_the_image_lock_holds_no_test_tool():
    locked = set(pins(REPO / "requirements" / "ci.txt"))
    assert not (TEST_TOOLS | set(LEFT_OUT)) & locked


@pytest.mark.parametrize("other", ["requirements.txt", "service/requirements.txt"])
def test_shared_packages_have_one_version_everywhere(other):
    locked, theirs = pins(REPO / "requirements" / "ci.txt"), pins(REPO / other)
    differ = {name: (version, theirs[name]) for name, version in locked.items() if theirs.get(name, version) != version}
    assert not differ, f"requirements/ci.txt vs {other} (lock, other): {differ}"

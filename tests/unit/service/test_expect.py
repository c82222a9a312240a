"""service/expect.py's requirement report: each of the model's requirements as installed, its size, and
whether the model imported it (what the load gate reports as carried for nothing)."""
from __future__ import annotations

import importlib
import sys

import pytest

from ci.gates.load import OwnAnswer, describe_unused
from service import expect
from service.expect import _Unimportable, requirement_use


def test_requirements_are_reported_installed_sized_and_imported_or_not(tmp_path):
    assert "pytest" in sys.modules and "ruff" not in sys.modules  # ruff runs as a program, never imported here
    (tmp_path / "requirements.txt").write_text("pytest==9.2.0\nruff>=0.1 ; python_version >= '3'\n"
                                               "not-installed-anywhere==1.0\n# a comment\n")
    use = {r["name"].lower(): r for r in requirement_use(str(tmp_path))}
    assert set(use) == {"pytest", "ruff"}
    assert use["pytest"]["imported"] is True and use["ruff"]["imported"] is False
    assert use["ruff"]["bytes"] > 1_000_000 and use["ruff"]["version"]


def test_a_model_without_requirements_reports_none(tmp_path):
    assert requirement_use(str(tmp_path)) == []


def test_the_unused_requirements_are_the_large_ones_not_imported_or_not_needed_largest_first():
    own = OwnAnswer(b"{}", [None, None], 1, [
        {"name": "torch", "version": "2.13.0+cpu", "bytes": 780_000_000, "imported": False},
        {"name": "numpy", "version": "2.4.6", "bytes": 40_000_000, "imported": True},
        {"name": "scipy", "version": "1.17.1", "bytes": 100_000_000, "imported": True, "needed": True},
        {"name": "tensorflow", "version": "2.20.0", "bytes": 900_000_000, "imported": True, "needed": False},
        {"name": "tiny", "version": "1.0", "bytes": 20_000, "imported": False},
        {"name": "lightgbm", "version": "4.6.0", "bytes": 9_000_000, "imported": False}])
    assert [r["name"] for r in own.unused()] == ["tensorflow", "torch", "lightgbm"]
    assert describe_unused(own.unused()[1:]) == "torch 2.13.0+cpu (780 MB), lightgbm 4.6.0 (9 MB)"


def test_an_unimportable_distribution_is_as_if_not_installed(tmp_path, monkeypatch):
    (tmp_path / "optional_extra").mkdir()
    (tmp_path / "optional_extra" / "__init__.py").write_text("VALUE = 1\n")
    (tmp_path / "optional_extra" / "part.py").write_text("VALUE = 2\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    blocker = _Unimportable({"optional_extra"})
    monkeypatch.setattr(sys, "meta_path", [blocker, *sys.meta_path])
    for name in ("optional_extra", "optional_extra.part"):
        with pytest.raises(ModuleNotFoundError, match="No module named 'optional_extra'"):
            importlib.import_module(name)
    assert importlib.import_module("json")  # everything else imports as before


def test_only_the_largest_imported_requirements_are_tried_and_never_mlflow(monkeypatch):
    tried = []
    monkeypatch.setattr(expect, "_answers_without", lambda name, answers: tried.append(name) or name == "torch")
    requirements = [{"name": n, "bytes": b, "imported": i} for n, b, i in (
        ("mlflow", 900_000_000, True), ("torch", 780_000_000, True), ("scipy", 100_000_000, True),
        ("pandas", 70_000_000, True), ("numpy", 60_000_000, True), ("tiny", 1_000, True),
        ("lightgbm", 90_000_000, False))]
    use = {r["name"]: r for r in expect.tried_without(requirements, [None, None])}
    assert tried == ["torch", "scipy", "pandas"]  # at most TRIALS, largest first
    assert (use["torch"]["needed"], use["scipy"]["needed"]) == (False, True) and "needed" not in use["numpy"]

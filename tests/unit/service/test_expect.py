"""service/expect.py's requirement report: each of the model's requirements as installed, its size, and
whether the model imported it (what the load gate reports as carried for nothing)."""
from __future__ import annotations

import sys

from ci.gates.load import OwnAnswer, describe_unused
from service.expect import requirement_use


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


def test_the_unused_requirements_are_the_large_ones_not_imported_largest_first():
    own = OwnAnswer(b"{}", [None, None], 1, [
        {"name": "torch", "version": "2.13.0+cpu", "bytes": 780_000_000, "imported": False},
        {"name": "numpy", "version": "2.4.6", "bytes": 40_000_000, "imported": True},
        {"name": "tiny", "version": "1.0", "bytes": 20_000, "imported": False},
        {"name": "lightgbm", "version": "4.6.0", "bytes": 9_000_000, "imported": False}])
    assert [r["name"] for r in own.unused()] == ["torch", "lightgbm"]
    assert describe_unused(own.unused()) == "torch 2.13.0+cpu (780 MB), lightgbm 4.6.0 (9 MB)"

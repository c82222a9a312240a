"""ci/image_resolve.py: the pip dry run for the image's Python, and its report read as pins (pip faked)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ci import image_resolve
from ci.errors import CheckFailed
from ci.image_requirements import ImageSpec

SPEC = ImageSpec(python="3.9", base_image="python:3.9-slim", mlflow="mlflow-skinny==2.10.1",
                 requirements=["scikit-learn==1.3.0", "mlflow-skinny==2.10.1"], system_packages=[])


def test_pip_argv_targets_the_images_python_and_platform(tmp_path):
    argv = image_resolve.pip_argv(SPEC, tmp_path / "r.txt", tmp_path / "report.json")
    pairs = dict(zip(argv, argv[1:], strict=False))
    assert pairs["--python-version"] == "3.9" and pairs["--implementation"] == "cp"
    assert {"--dry-run", "--ignore-installed", "--only-binary=:all:"} <= set(argv)
    assert "manylinux2014_x86_64" in argv and "manylinux_2_36_x86_64" in argv


def test_resolved_pins_from_the_report(monkeypatch):
    def fake_pip(argv, env=None, timeout=None, check=True):
        requirements = Path(argv[argv.index("-r") + 1]).read_text()
        assert "scikit-learn==1.3.0" in requirements
        report = {"install": [{"metadata": {"name": "scikit_learn", "version": "1.3.0"}},
                              {"metadata": {"name": "mlflow-skinny", "version": "2.10.1"}}]}
        Path(argv[argv.index("--report") + 1]).write_text(json.dumps(report))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(image_resolve, "run_tool", fake_pip)
    assert image_resolve.resolved_pins(SPEC) == {"scikit-learn": "1.3.0", "mlflow-skinny": "2.10.1"}


def test_a_failed_resolution_names_pips_reason_without_its_noise(monkeypatch):
    stderr = ("WARNING: Location 'file:///opt/x' is ignored\nERROR: ResolutionImpossible: pandas==2.0.3 and "
              "pandas>=3 conflict\n")
    def failing_pip(argv, env=None, timeout=None, check=True):
        return subprocess.CompletedProcess(argv, 1, "", stderr)

    monkeypatch.setattr(image_resolve, "run_tool", failing_pip)
    with pytest.raises(CheckFailed, match="cannot resolve the image's requirements for Python 3.9") as raised:
        image_resolve.resolved_pins(SPEC)
    assert "ResolutionImpossible" in str(raised.value) and "WARNING: Location" not in str(raised.value)

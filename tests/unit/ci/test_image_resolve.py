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


def test_for_the_jobs_own_python_a_source_only_requirement_resolves_from_its_sdist(monkeypatch):
    """pip's wheels-only dry run fails on a package published only as an sdist; for the job's own
    Python the second run (no --python-version, sdists allowed) gives the pins."""
    spec = ImageSpec(python=image_resolve.JOB_PYTHON, base_image="python:x-slim", mlflow="mlflow-skinny==3.17.2",
                     requirements=["sdist-only-pkg==1.0"], system_packages=[])
    runs = []

    def pip(argv, env=None, timeout=None, check=True):
        runs.append(argv)
        if "--only-binary=:all:" in argv:
            return subprocess.CompletedProcess(argv, 1, "", "ERROR: No matching distribution found for sdist-only-pkg")
        report = {"install": [{"metadata": {"name": "sdist_only_pkg", "version": "1.0"}}]}
        Path(argv[argv.index("--report") + 1]).write_text(json.dumps(report))
        return subprocess.CompletedProcess(argv, 0, "", "")

    monkeypatch.setattr(image_resolve, "run_tool", pip)
    assert image_resolve.resolved_pins(spec) == {"sdist-only-pkg": "1.0"}
    assert len(runs) == 2 and "--python-version" not in runs[1] and "--platform" not in runs[1]


def test_for_another_python_a_missing_wheel_fails_saying_why_and_what_to_do(monkeypatch):
    other = "3.9" if image_resolve.JOB_PYTHON != "3.9" else "3.13"
    spec = ImageSpec(python=other, base_image="python:x-slim", mlflow="mlflow-skinny==2.10.1",
                     requirements=["sdist-only-pkg==1.0"], system_packages=[])
    runs = []

    def pip(argv, env=None, timeout=None, check=True):
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: No matching distribution found for sdist-only-pkg")

    monkeypatch.setattr(image_resolve, "run_tool", pip)
    with pytest.raises(CheckFailed) as raised:
        image_resolve.resolved_pins(spec)
    assert len(runs) == 1
    assert f"pip resolved for Python {other} from wheels only" in str(raised.value)
    assert f"Run preflight with Python {other}" in str(raised.value)

"""ci/image/resolve.py: the pip dry run for the image's Python, and its report read as pins (pip faked)."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from ci.errors import CheckFailed
from ci.image import resolve as image_resolve
from ci.image.requirements import ImageSpec

SPEC = ImageSpec(python="3.9", base_image="python:3.9-slim", mlflow="mlflow-skinny==2.10.1",
                 requirements=["scikit-learn==1.3.0", "mlflow-skinny==2.10.1"], system_packages=[])


def test_pip_argv_targets_the_images_python_and_platform(tmp_path):
    argv = image_resolve.pip_argv(SPEC, tmp_path / "r.txt", tmp_path / "report.json")
    pairs = dict(zip(argv, argv[1:], strict=False))
    assert pairs["--python-version"] == "3.9" and pairs["--implementation"] == "cp"
    assert {"--dry-run", "--ignore-installed", "--only-binary=:all:"} <= set(argv)
    assert "manylinux2014_x86_64" in argv and "manylinux_2_36_x86_64" in argv


def test_resolved_pins_from_the_report(monkeypatch):
    def fake_pip(argv, env=None, timeout=None, check=True, inherit_env=True):
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
    def failing_pip(argv, env=None, timeout=None, check=True, inherit_env=True):
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

    def pip(argv, env=None, timeout=None, check=True, inherit_env=True):
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

    def pip(argv, env=None, timeout=None, check=True, inherit_env=True):
        runs.append(argv)
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: No matching distribution found for sdist-only-pkg")

    monkeypatch.setattr(image_resolve, "run_tool", pip)
    with pytest.raises(CheckFailed) as raised:
        image_resolve.resolved_pins(spec)
    assert len(runs) == 1
    assert f"pip resolved for Python {other} from wheels only" in str(raised.value)
    assert f"Run preflight with Python {other}" in str(raised.value)


def test_pip_sees_only_the_settings_the_image_build_gets(monkeypatch):
    """The job machine's find-links, local indexes and constraints are not in the image: a model that
    resolves only with them would pass preflight and fail the build."""
    for name, value in {"PIP_FIND_LINKS": "/opt/wheels", "PIP_CONSTRAINT": "/etc/c.txt", "PIP_NO_INDEX": "1",
                        "PIP_EXTRA_INDEX_URL": "https://mirror.example/simple", "PIP_CERT": "/etc/ca.pem"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PIP_DEFAULT_TIMEOUT", raising=False)
    env = image_resolve.build_pip_env({"PIP_INDEX_URL": "https://index.example/simple"})
    pips = {k: v for k, v in env.items() if k.startswith("PIP_")}
    assert pips == {"PIP_EXTRA_INDEX_URL": "https://mirror.example/simple", "PIP_CERT": "/etc/ca.pem",
                    "PIP_INDEX_URL": "https://index.example/simple", "PIP_CONFIG_FILE": os.devnull,
                    "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    seen = {}

    def pip(argv, env=None, timeout=None, check=True, inherit_env=True):
        seen.update(env=env, inherit_env=inherit_env)
        return subprocess.CompletedProcess(argv, 1, "", "ERROR: ResolutionImpossible")

    monkeypatch.setattr(image_resolve, "run_tool", pip)
    with pytest.raises(CheckFailed):
        image_resolve.resolved_pins(SPEC)
    assert seen["inherit_env"] is False and "PIP_FIND_LINKS" not in seen["env"]


LOCAL = ImageSpec(python="3.11", base_image="python:3.11-slim", mlflow="mlflow-skinny==3.17.2",
                  requirements=["torch==2.13.0+cpu", "lightgbm==4.7.0", "mylib===1.0+corp", "numpy>=2"],
                  system_packages=[])


def test_a_local_build_pip_cannot_find_names_the_pin_where_it_is_published_and_the_setting(monkeypatch):
    stderr = ("ERROR: Could not find a version that satisfies the requirement torch==2.13.0+cpu (from versions: "
              "2.12.0, 2.13.0)\nERROR: No matching distribution found for torch==2.13.0+cpu\n")
    monkeypatch.setattr(image_resolve, "run_tool", lambda argv, **_: subprocess.CompletedProcess(argv, 1, "", stderr))
    with pytest.raises(CheckFailed) as raised:
        image_resolve.resolved_pins(LOCAL)
    message = str(raised.value)
    assert "torch==2.13.0+cpu is a local build (+cpu), which PyPI does not publish" in message
    assert "https://download.pytorch.org/whl/cpu" in message and "PIP_EXTRA_INDEX_URL" in message
    assert "mylib" not in message.split("No matching distribution")[-1], "a local build pip did not complain of"


def test_cuda_builds_are_found_and_cpu_builds_are_not():
    cuda = ImageSpec(python="3.11", base_image="b", mlflow="m", system_packages=[],
                     requirements=["torch==2.13.0+cu124", "torchvision==0.28.0+cpu", "numpy==2.4.6"])
    assert image_resolve.cuda_builds(cuda) == ["torch==2.13.0+cu124"]
    assert image_resolve.cuda_builds(LOCAL) == []
    assert [str(r) for r in image_resolve.local_builds(LOCAL)] == ["torch==2.13.0+cpu", "mylib===1.0+corp"]

"""`python -m ci preflight`: the model's environment against the service image's, on real servers."""
from __future__ import annotations

import io
import json
import sys
import tarfile
from collections.abc import Iterator
from pathlib import Path

import mlflow
import mlflow.pyfunc
import pytest
import yaml

from ci.image.preflight import compare, model_environment, read_pins
from devstack.package_index import PackageIndex, local_wheel
from tests.ci.registry_helpers import REPO, ci_env, run_ci

OLD_REQUIREMENTS = ["mlflow==2.9.2", "cloudpickle==2.2.1", "numpy==1.26.4", "pandas==2.1.4",
                    "scikit-learn==1.3.2", "scipy==1.11.4", "requests>=2"]


def _image_requirements(tmp_path):
    """Shaped like service/requirements.txt: its own pins plus the project's as constraints."""
    service = tmp_path / "service" / "requirements.txt"
    service.parent.mkdir()
    service.write_text(f"mlflow-skinny==3.17.2  # the image has no full mlflow\nfastapi==0.165.0\n"
                       f"-c {REPO / 'requirements.txt'}\n")
    return service


def test_read_pins_follows_includes_and_the_first_file_wins(tmp_path):
    pins = read_pins([_image_requirements(tmp_path), REPO / "requirements.txt"])
    assert pins["mlflow-skinny"] == "3.17.2" and pins["scikit-learn"] == "1.9.1"
    assert pins["cloudpickle"] == "3.1.3" and "pytest" in pins


def test_compare_fails_loading_breakers_and_warns_the_rest():
    pins = {"mlflow-skinny": "3.17.2", "cloudpickle": "3.1.3", "numpy": "2.4.6", "pandas": "3.1.1",
            "scikit-learn": "1.9.1", "scipy": "1.17.1", "requests": "2.34.2"}
    findings = {f.check: f for f in compare("3.9.18", OLD_REQUIREMENTS + ["scipy==1.17.0", "lightgbm",
                                                                      "numpy>=2,<3"], "3.11", pins)}
    levels = {check: f.level for check, f in findings.items()}
    assert levels == {"python": "fail", "package:mlflow": "fail", "package:cloudpickle": "fail",
                      "package:numpy": "ok", "package:pandas": "fail", "package:scikit-learn": "fail",
                      "package:scipy": "warn", "package:requests": "ok", "package:lightgbm": "warn"}
    assert findings["python"].message.startswith("python: model saved with 3.9.18, image has 3.11")  # fixed image
    assert findings["package:cloudpickle"].message.startswith(
        "cloudpickle: model needs 2.2.1, image has 3.1.3: cloudpickle only guarantees")
    assert findings["package:scipy"].message == "scipy: model needs 1.17.0, image has 1.17.1"

    patch_level = compare("3.11.2", ["scikit-learn==1.9.0", "numpy==2.3.1"], "3.11", pins)
    same_minor = {f.check: f.level for f in patch_level}
    assert same_minor == {"python": "ok", "package:scikit-learn": "warn", "package:numpy": "warn"}


def test_model_environment_from_conda_yaml_alone():
    conda = yaml.safe_dump({"dependencies": ["python=3.10.12", "pip<=24", {"pip": ["mlflow==2.9.2"]}]})
    assert model_environment({"conda.yaml": conda}) == ("3.10.12", ["mlflow==2.9.2"])


def test_matching_model_passes(logged_model, tmp_path):
    name = logged_model.register()
    result = run_ci("preflight", "--model-name", name, "--selector", "1", "--output-dir", str(tmp_path / "r"),
                    "--image-requirements", str(_image_requirements(tmp_path)),
                    env=ci_env(logged_model.server))
    assert result.returncode == 0, result.stderr
    assert f"preflight passed for {name} version 1" in result.stdout
    assert "OK   MLflow server 3.17.2, client (this job) 3.17.2" in result.stdout
    assert "OK   cloudpickle: model ==3.1.3, image 3.1.3" in result.stdout
    report = json.loads((tmp_path / "r" / "preflight.json").read_text())
    assert report["model_python"].startswith("3.11.") and report["server_version"] == "3.17.2"


def test_old_model_fails_naming_each_package_and_both_versions(logged_model, tmp_path):
    """A model saved by an older stack: its files say Python 3.9 and pre-2024 pins."""
    model_dir = tmp_path / "old-model"
    mlflow.pyfunc.save_model(str(model_dir), python_model=mlflow.pyfunc.PythonModel(),
                             pip_requirements=OLD_REQUIREMENTS)
    (model_dir / "python_env.yaml").write_text(yaml.safe_dump(
        {"python": "3.9.18", "build_dependencies": ["pip"], "dependencies": ["-r requirements.txt"]}))
    mlflow.set_tracking_uri(logged_model.server.url)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), "model")
    name = logged_model.register(versions=0, prefix="old")
    client = logged_model.client()
    client.create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    client.set_registered_model_alias(name, "production", "1")

    result = run_ci("preflight", "--model-name", name, "--output-dir", str(tmp_path / "r"),
                    "--image-requirements", str(_image_requirements(tmp_path)),
                    env=ci_env(logged_model.server))
    assert result.returncode == 1
    assert "OK   python: model 3.9.18, image 3.9" in result.stdout  # the base follows the model
    for line in ("FAIL mlflow: model needs 2.9.2, image has 3.17.2",
                 "FAIL cloudpickle: model needs 2.2.1, image has 3.1.3",
                 "FAIL numpy: model needs 1.26.4, image has 2.4.6",
                 "FAIL pandas: model needs 2.1.4, image has 3.1.1",
                 "FAIL scikit-learn: model needs 1.3.2, image has 1.9.1",
                 "WARN scipy: model needs 1.11.4, image has 1.17.1"):
        assert line in result.stderr
    assert f"error: preflight: 5 mismatch(es) would break loading {name} version 1" in result.stderr


def test_missing_image_requirements_is_a_configuration_error(logged_model, tmp_path):
    result = run_ci("preflight", "--model-name", "x", "--image-requirements", str(tmp_path / "nope.txt"),
                    "--output-dir", str(tmp_path), env=ci_env(logged_model.server))
    assert result.returncode == 2
    assert f"image requirements file {tmp_path / 'nope.txt'} not found" in result.stderr


def _log_with_python(logged_model, tmp_path, python: str, requirements: list[str], prefix: str) -> str:
    model_dir = tmp_path / f"{prefix}-model"
    mlflow.pyfunc.save_model(str(model_dir), python_model=mlflow.pyfunc.PythonModel(),
                             pip_requirements=requirements)
    (model_dir / "python_env.yaml").write_text(yaml.safe_dump(
        {"python": python, "build_dependencies": ["pip"], "dependencies": ["-r requirements.txt"]}))
    mlmodel = yaml.safe_load((model_dir / "MLmodel").read_text())  # as that MLflow would have written it
    mlmodel["mlflow_version"] = requirements[0].split("==")[1]
    (model_dir / "MLmodel").write_text(yaml.safe_dump(mlmodel))
    mlflow.set_tracking_uri(logged_model.server.url)
    with mlflow.start_run() as run:
        mlflow.log_artifacts(str(model_dir), "model")
    name = logged_model.register(versions=0, prefix=prefix)
    logged_model.client().create_model_version(name, f"{run.info.artifact_uri}/model", run.info.run_id)
    return name


def test_resolved_image_set_for_the_models_own_python(logged_model, tmp_path):
    """No --image-requirements: pip resolves the image for the model's Python from the model's pins, its
    MLflow and the service's requirements; the model's older pins are what it gets. (3.11: until the
    service's ranges exist, its pins, e.g. fastapi 0.165 for Python >= 3.11, bound the Python.)"""
    name = _log_with_python(logged_model, tmp_path, "3.11.4",
                            ["mlflow==3.17.2", "scikit-learn==1.3.2", "pandas==2.0.3", "cloudpickle==3.1.3"],
                            "resolved")
    result = run_ci("preflight", "--model-name", name, "--selector", "1", "--output-dir", str(tmp_path / "r"),
                    env=ci_env(logged_model.server))
    assert result.returncode == 0, result.stderr
    assert "OK   python: model 3.11.4, image 3.11" in result.stdout
    assert "OK   image: Python 3.11, mlflow-skinny==3.17.2, " in result.stdout
    assert "added numpy<2: scikit-learn==1.3.2, pandas==2.0.3 predate numpy 2" in result.stdout
    assert "OK   scikit-learn: model ==1.3.2, image 1.3.2" in result.stdout
    assert "OK   pandas: model ==2.0.3, image 2.0.3" in result.stdout


def _sdist(links: Path, name: str, version: str) -> None:
    """A pure-Python package published only as a source distribution, in a find-links directory."""
    root = f"{name}-{version}"
    files = {"pyproject.toml": '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
                               f'[project]\nname = "{name}"\nversion = "{version}"\n',
             "PKG-INFO": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n",
             f"{name}.py": "VALUE = 1\n"}
    links.mkdir()
    with tarfile.open(links / f"{root}.tar.gz", "w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{root}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


@pytest.fixture
def package_index(tmp_path) -> Iterator[PackageIndex]:
    """An index on 127.0.0.1 (a company mirror, PyTorch's wheel index): what the build reaches too."""
    index = PackageIndex(tmp_path / "index")
    try:
        yield index.start()
    finally:
        index.stop()


def test_a_requirement_published_only_as_source_resolves_for_the_jobs_python(logged_model, tmp_path, package_index):
    """pip resolves another Python's image from wheels only; for the job's own Python a source-only
    requirement is read from its sdist, as the build will, instead of failing preflight. The sdist is on
    an index the build gets (PIP_EXTRA_INDEX_URL); in the job's find-links only, the build would not see
    it, so neither does preflight."""
    _sdist(tmp_path / "links", "pfd_source_only", "1.0")
    package_index.add(*(tmp_path / "links").iterdir())
    name = _log_with_python(logged_model, tmp_path, f"{sys.version_info.major}.{sys.version_info.minor}.4",
                            ["mlflow==3.17.2", "cloudpickle==3.1.3", "pfd_source_only==1.0"], "sdist")
    argv = ("preflight", "--model-name", name, "--selector", "1", "--output-dir", str(tmp_path / "r"))
    found_links_only = run_ci(*argv, env=ci_env(logged_model.server, PIP_FIND_LINKS=str(tmp_path / "links")),
                              timeout=600)
    assert found_links_only.returncode == 1, found_links_only.stdout
    assert "No matching distribution found for pfd_source_only==1.0" in found_links_only.stderr
    result = run_ci(*argv, env=ci_env(logged_model.server, PIP_EXTRA_INDEX_URL=package_index.url), timeout=600)
    assert result.returncode == 0, result.stderr
    assert "OK   pfd-source-only: model ==1.0, image 1.0" in result.stdout


TORCH_CPU = "torch==2.13.0+cpu"  # what MLflow 3 writes for a model trained with PyTorch's CPU build


def test_a_cpu_build_of_torch_fails_preflight_saying_where_it_is_published_until_that_index_is_named(
        logged_model, tmp_path, package_index):
    """This machine's pip finds torch's +cpu wheel in a find-links directory the image build never sees:
    preflight must fail as the build would, naming the pin, PyTorch's index and the setting; with that
    index named (here a local one holding the same wheel) it passes, as the build then does."""
    name = _log_with_python(logged_model, tmp_path, f"{sys.version_info.major}.{sys.version_info.minor}.4",
                            ["mlflow==3.17.2", "cloudpickle==3.1.3", TORCH_CPU], "torch-cpu")
    argv = ("preflight", "--model-name", name, "--selector", "1", "--output-dir", str(tmp_path / "r"))
    refused = run_ci(*argv, env=ci_env(logged_model.server), timeout=600)
    assert refused.returncode == 1, refused.stdout
    assert f"{TORCH_CPU} is a local build (+cpu), which PyPI does not publish: torch publishes it on its own " \
           "index, https://download.pytorch.org/whl/cpu" in refused.stderr
    assert 'IMAGE_PACKAGE_INDEXES="torch=https://download.pytorch.org/whl/cpu"' in refused.stderr
    left_out = run_ci(*argv, env=ci_env(logged_model.server, IMAGE_DROP_REQUIREMENTS="torch"), timeout=600)
    assert left_out.returncode == 0, left_out.stderr  # what a model that never imports torch does instead
    assert f"left out {TORCH_CPU} (IMAGE_DROP_REQUIREMENTS)" in left_out.stdout
    package_index.add(local_wheel("torch-2.13.0+cpu-*.whl"))
    result = run_ci(*argv, env=ci_env(logged_model.server, PIP_EXTRA_INDEX_URL=package_index.url), timeout=600)
    assert result.returncode == 0, result.stderr
    assert "OK   torch: model ==2.13.0+cpu, image 2.13.0+cpu" in result.stdout
    own = run_ci(*argv, env=ci_env(logged_model.server, IMAGE_PACKAGE_INDEXES=f"torch={package_index.url}"),
                 timeout=600)
    assert own.returncode == 0, own.stderr
    assert f"torch==2.13.0+cpu from {package_index.url} (IMAGE_PACKAGE_INDEXES)" in own.stdout


def test_a_plain_torch_pin_takes_the_cpu_build_from_the_index_named_for_torch(logged_model, tmp_path, package_index):
    """`torch==2.13.0` on PyPI is the CUDA build; with PyTorch's CPU index named for torch, preflight (and
    the build, which reads the same rewritten requirement) take 2.13.0+cpu from it. An index without a
    fitting build fails preflight naming the index."""
    name = _log_with_python(logged_model, tmp_path, f"{sys.version_info.major}.{sys.version_info.minor}.4",
                            ["mlflow==3.17.2", "cloudpickle==3.1.3", "torch==2.13.0"], "torch-plain")
    argv = ("preflight", "--model-name", name, "--selector", "1", "--output-dir", str(tmp_path / "r"))
    empty = run_ci(*argv, env=ci_env(logged_model.server, IMAGE_PACKAGE_INDEXES=f"torch={package_index.url}"))
    assert empty.returncode == 1, empty.stdout
    assert f"torch==2.13.0: IMAGE_PACKAGE_INDEXES names {package_index.url} for it, and pip finds no build" \
        in empty.stderr
    package_index.add(local_wheel("torch-2.13.0+cpu-*.whl"))
    cpu = run_ci(*argv, env=ci_env(logged_model.server, IMAGE_PACKAGE_INDEXES=f"torch={package_index.url}"),
                 timeout=600)
    assert cpu.returncode == 0, cpu.stderr
    assert f"torch==2.13.0+cpu from {package_index.url} (IMAGE_PACKAGE_INDEXES)" in cpu.stdout


def test_a_cuda_build_is_refused_for_a_cpu_image(logged_model, tmp_path):
    name = _log_with_python(logged_model, tmp_path, "3.11.4", ["mlflow==3.17.2", "torch==2.13.0+cu124"], "cuda")
    refused = run_ci("preflight", "--model-name", name, "--selector", "1", "--output-dir", str(tmp_path / "r"),
                     env=ci_env(logged_model.server))
    assert refused.returncode == 1
    assert "FAIL image: torch==2.13.0+cu124: a CUDA build, and the image serves on CPU nodes" in refused.stderr


def test_unsupported_python_and_mlflow_fail_clearly(logged_model, tmp_path):
    old_python = _log_with_python(logged_model, tmp_path, "3.8.18", ["mlflow==2.17.2"], "py38")
    result = run_ci("preflight", "--model-name", old_python, "--selector", "1", "--output-dir", str(tmp_path),
                    env=ci_env(logged_model.server))
    assert result.returncode == 1
    assert "FAIL python: the model was saved with Python 3.8.18; images are built for Python 3.9–3.13" in result.stderr
    old_mlflow = _log_with_python(logged_model, tmp_path, "3.9.18", ["mlflow==2.9.2"], "mlflow29")
    result = run_ci("preflight", "--model-name", old_mlflow, "--selector", "1", "--output-dir", str(tmp_path),
                    env=ci_env(logged_model.server))
    assert result.returncode == 1
    assert "FAIL image: the model was logged with MLflow" in result.stderr

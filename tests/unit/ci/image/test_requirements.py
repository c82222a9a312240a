"""ci/image/requirements.py: the image worked out from the model's files (Python, base, one requirements
file, MLflow, compatibility limits, system packages)."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ci.errors import CheckFailed, ConfigError
from ci.image.requirements import (
    base_image,
    image_spec,
    mlflow_requirement,
    python_minor,
    service_requirements,
    system_packages,
)


def _files(python: str = "3.11.7", mlflow: str = "3.17.2", requirements: tuple[str, ...] = ()) -> dict[str, str]:
    mlmodel = {"mlflow_version": mlflow, "flavors": {"python_function": {"python_version": python}}}
    return {"MLmodel": yaml.safe_dump(mlmodel),
            "python_env.yaml": yaml.safe_dump({"python": python, "dependencies": ["-r requirements.txt"]}),
            "requirements.txt": "\n".join([f"mlflow=={mlflow}", *requirements]) + "\n"}


@pytest.fixture
def pinned_service(tmp_path: Path) -> Path:
    (tmp_path / "requirements.txt").write_text(
        "# pins\nmlflow-skinny==3.17.2\nfastapi==0.165.0\nnumpy==2.4.6\npandas==3.1.1  # comment\n")
    return tmp_path


@pytest.mark.parametrize(("version", "minor"), [("3.9.18", "3.9"), ("3.10", "3.10"), ("3.13.0", "3.13"),
                                                ("3.11.7+local", "3.11")])
def test_python_minor(version, minor):
    assert python_minor(version) == minor


@pytest.mark.parametrize("version", ["3.8.18", "3.14.1", "2.7.18"])
def test_python_outside_the_supported_range_is_refused_clearly(version):
    with pytest.raises(CheckFailed, match=rf"saved with Python {version}; images are built for Python 3.9–3.13"):
        python_minor(version)


def test_python_unknown_is_refused():
    with pytest.raises(CheckFailed, match="does not record its Python version"):
        python_minor(None)


@pytest.mark.parametrize(("pattern", "minor", "image"), [
    ("python:{python}-slim", "3.9", "python:3.9-slim"),
    ("", "3.12", "python:3.12-slim"),
    ("reg.example/base/python:{python}-slim-bookworm", "3.13", "reg.example/base/python:3.13-slim-bookworm"),
    ("3.9=reg/python@sha256:aaa, 3.11=reg/python@sha256:bbb", "3.11", "reg/python@sha256:bbb"),
])
def test_base_image(pattern, minor, image):
    assert base_image(pattern, minor) == image


def test_base_image_pattern_errors():
    with pytest.raises(ConfigError, match="must contain"):
        base_image("python:3.11-slim", "3.9")
    with pytest.raises(ConfigError, match="no base image for Python 3.10"):
        base_image("3.9=reg/python@sha256:aaa", "3.10")


def test_mlflow_skinny_unless_the_release_has_none():
    assert mlflow_requirement("2.10.1") == "mlflow-skinny==2.10.1"
    assert mlflow_requirement("3.18.0") == "mlflow==3.18.0"


@pytest.mark.parametrize("version", ["2.9.2", "1.30.0", "4.0.0"])
def test_mlflow_outside_the_supported_range_is_refused(version, pinned_service):
    with pytest.raises(CheckFailed, match=rf"logged with MLflow {version}; images serve MLflow <4,>=2.10"):
        image_spec(_files(mlflow=version), pinned_service)


def test_mlflow_version_from_requirements_when_mlmodel_has_none(pinned_service):
    files = _files(mlflow="2.12.0")
    files["MLmodel"] = yaml.safe_dump({"flavors": {"python_function": {"python_version": "3.10.2"}}})
    assert image_spec(files, pinned_service).mlflow == "mlflow-skinny==2.12.0"


def test_the_models_pins_win_over_the_services_pins(pinned_service):
    spec = image_spec(_files(python="3.9.18", mlflow="2.10.1",
                             requirements=("pandas==2.0.3", "numpy==1.24.3", "scikit-learn==1.3.0")), pinned_service)
    assert spec.python == "3.9"
    assert spec.base_image == "python:3.9-slim"
    assert spec.requirements == ["pandas==2.0.3", "numpy==1.24.3", "scikit-learn==1.3.0", "mlflow-skinny==2.10.1",
                                 "fastapi==0.165.0"]  # no flask: service.mlflow_compat never imports it
    assert spec.system_packages == ["libgomp1"]
    assert spec.limits == []


def test_numpy_below_2_when_an_old_library_is_pinned_and_numpy_is_open(pinned_service):
    spec = image_spec(_files(requirements=("scikit-learn==1.3.2", "pandas==2.0.3", "numpy")), pinned_service)
    assert "numpy<2" in spec.requirements
    assert "numpy==2.4.6" not in spec.requirements  # the service's pin gives way to the limit
    assert spec.limits[0].startswith("numpy<2: scikit-learn==1.3.2, pandas==2.0.3 predate numpy 2")


@pytest.mark.parametrize("requirements", [("scikit-learn==1.5.0",), ("scikit-learn==1.3.2", "numpy==1.26.4"),
                                          ("scikit-learn>=1.0",)])
def test_no_numpy_limit_when_not_needed(requirements, pinned_service):
    assert "numpy<2" not in image_spec(_files(requirements=requirements), pinned_service).requirements


@pytest.mark.parametrize(("flavor", "fmt", "requirements", "added"), [
    ("lightgbm", "skops", ("lightgbm==4.6.0",), "skops"),
    ("sklearn", "cloudpickle", ("scikit-learn==1.9.1",), "cloudpickle"),
    ("sklearn", "skops", ("scikit-learn==1.9.1", "skops==0.16.0"), None),  # named already: the model's pin wins
    ("sklearn", "pickle", ("scikit-learn==1.9.1",), None),
])
def test_the_package_a_flavors_serialization_format_loads_with_is_added_when_missing(
        flavor, fmt, requirements, added, pinned_service):
    files = _files(requirements=requirements)
    mlmodel = yaml.safe_load(files["MLmodel"])
    mlmodel["flavors"][flavor] = {"serialization_format": fmt, "code": None}
    spec = image_spec({**files, "MLmodel": yaml.safe_dump(mlmodel)}, pinned_service)
    limits = [line for line in spec.limits if "serialization" in line or "saved as" in line]
    if added is None:
        assert limits == [] and spec.requirements.count("skops==0.16.0") == ("skops==0.16.0" in requirements)
    else:
        assert added in spec.requirements
        assert limits == [f"{added}: the {flavor} flavor is saved as {fmt} and the model's requirements do not "
                          f"name {added}"]


def test_service_ranges_are_kept_beside_the_models_pins(tmp_path):
    (tmp_path / "requirements.in").write_text("mlflow-skinny>=2.10\nfastapi>=0.110,<1\npandas>=2.0,<4\n")
    (tmp_path / "requirements.txt").write_text("pandas==3.1.1\n")
    spec = image_spec(_files(requirements=("pandas==2.0.3",)), tmp_path)
    assert spec.requirements == ["pandas==2.0.3", "mlflow-skinny==3.17.2", "numpy<2", "fastapi>=0.110,<1",
                                 "pandas>=2.0,<4"]


def test_no_service_requirements_file(tmp_path):
    assert service_requirements(tmp_path, set()) == []


def test_markers_are_evaluated_for_the_models_python(pinned_service):
    spec = image_spec(_files(python="3.10.4", requirements=('tomli==2.0.1; python_version < "3.11"',
                                                            'exceptiongroup; python_version >= "3.11"')),
                      pinned_service)
    assert any(line.startswith("tomli==2.0.1") for line in spec.requirements)
    assert not any(line.startswith("exceptiongroup") for line in spec.requirements)


@pytest.mark.parametrize(("requirements", "extra", "packages"), [
    (["lightgbm==4.7.0"], "", ["libgomp1"]),
    (["xgboost"], "libgl1, libglib2.0-0", ["libgomp1", "libgl1", "libglib2.0-0"]),
    (["pandas"], "", []),
    (["pandas"], "libgomp1 libgomp1", ["libgomp1"]),
])
def test_system_packages(requirements, extra, packages):
    from packaging.requirements import Requirement

    assert system_packages([Requirement(r) for r in requirements], extra) == packages


def test_system_packages_refuse_what_is_not_a_package_name():
    with pytest.raises(ConfigError, match="not a Debian package name"):
        system_packages([], "libgomp1; curl evil")


def test_the_key_follows_every_input(pinned_service):
    one = image_spec(_files(), pinned_service)
    assert one.key() == image_spec(_files(), pinned_service).key()
    assert one.key() != image_spec(_files(python="3.12.1"), pinned_service).key()
    assert one.key() != image_spec(_files(), pinned_service, extra_system_packages="libgl1").key()
    assert one.key() != image_spec(_files(requirements=("scipy==1.17.1",)), pinned_service).key()


def test_named_requirements_are_dropped_and_said_so(pinned_service):
    """A LightGBM model logged in a notebook environment that held torch: the load gate reported torch as
    never imported, and the user leaves it out; so goes its OpenMP need when nothing else has one."""
    files = _files(requirements=("lightgbm==4.6.0", "torch==2.13.0+cpu", "Jinja2==3.1.6"))
    spec = image_spec(files, pinned_service, drop_requirements="torch, jinja2")
    assert spec.dropped == ["torch==2.13.0+cpu", "Jinja2==3.1.6"]
    assert not any(line.startswith(("torch", "Jinja2")) for line in spec.requirements)
    assert "lightgbm==4.6.0" in spec.requirements and spec.system_packages == ["libgomp1"]
    assert spec.key() != image_spec(files, pinned_service).key()
    assert image_spec(files, pinned_service).dropped == []


@pytest.mark.parametrize(("names", "message"), [
    ("tensorflow", "IMAGE_DROP_REQUIREMENTS names tensorflow, which the model does not require (it requires "
                   "lightgbm, mlflow)"),
    ("mlflow", "names MLflow, which serves the model"),
    ("mlflow-skinny", "names MLflow, which serves the model"),
])
def test_dropping_what_the_model_does_not_require_or_its_mlflow_is_refused(names, message, pinned_service):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        image_spec(_files(requirements=("lightgbm==4.6.0",)), pinned_service, drop_requirements=names)

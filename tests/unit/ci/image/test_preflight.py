"""ci/image/preflight.py: the model's environment (Python, requirements) against the image's pins."""
from __future__ import annotations

import pytest
import yaml

from ci.errors import ConfigError
from ci.image.preflight import Finding, compare, cuda_libraries, model_environment, read_pins

PINS = {"mlflow-skinny": "3.17.2", "cloudpickle": "3.1.3", "numpy": "2.4.6", "pandas": "3.1.1",
        "scikit-learn": "1.9.1", "scipy": "1.17.1", "requests": "2.34.2"}


def finding(requirement: str, pins=PINS) -> Finding:
    (_, found) = compare("3.11.9", [requirement], "3.11", pins)
    return found


@pytest.mark.parametrize(("requirement", "level", "message"), [
    pytest.param("cloudpickle==3.1.3", "ok", "cloudpickle: model ==3.1.3, image 3.1.3", id="exact-match"),
    pytest.param("cloudpickle==3.1.2", "warn", "cloudpickle: model needs 3.1.2, image has 3.1.3",
                 id="cloudpickle-same-minor"),
    pytest.param("cloudpickle==3.0.0", "fail", "cloudpickle: model needs 3.0.0, image has 3.1.3: cloudpickle only "
                 "guarantees loading with the version that pickled", id="cloudpickle-other-minor"),
    pytest.param("scikit-learn==1.9.0", "warn", "scikit-learn: model needs 1.9.0, image has 1.9.1",
                 id="sklearn-same-minor"),
    pytest.param("scikit-learn==1.8.2", "fail", "scikit-learn: model needs 1.8.2, image has 1.9.1: scikit-learn "
                 "estimators do not unpickle across minor versions", id="sklearn-other-minor"),
    pytest.param("numpy==2.0.0", "warn", "numpy: model needs 2.0.0, image has 2.4.6", id="numpy-same-major"),
    pytest.param("numpy==1.26.4", "fail", "numpy: model needs 1.26.4, image has 2.4.6: numpy 1 and 2 pickles",
                 id="numpy-other-major"),
    pytest.param("mlflow==3.1.0", "warn", "mlflow: model needs 3.1.0, image has 3.17.2", id="mlflow-via-skinny"),
    pytest.param("mlflow-skinny==2.9.2", "fail", "mlflow-skinny: model needs 2.9.2, image has 3.17.2: MLmodel",
                 id="skinny-other-major"),
    pytest.param("Scikit_Learn==1.9.1", "ok", "scikit-learn: model ==1.9.1, image 1.9.1", id="name-normalised"),
    pytest.param("scipy==1.17.0", "warn", "scipy: model needs 1.17.0, image has 1.17.1", id="not-load-breaking"),
    pytest.param("pandas>=3,<4", "ok", "pandas: model <4,>=3, image 3.1.1", id="range-satisfied"),
    pytest.param("pandas<3", "fail", "pandas: model needs <3, image has 3.1.1: pandas objects", id="range-breaking"),
    pytest.param("requests<2", "warn", "requests: model needs <2, image has 2.34.2", id="range-not-breaking"),
    pytest.param("requests", "ok", "requests: model (any version), image 2.34.2", id="unversioned"),
    pytest.param("lightgbm==4.0.0", "warn", "lightgbm==4.0.0: required by the model, not pinned in the image",
                 id="not-in-image"),
    pytest.param("lightgbm", "warn", "lightgbm: required by the model, not pinned", id="not-in-image-unversioned"),
    pytest.param("numpy===2.4.6", "ok", "numpy: model ===2.4.6, image 2.4.6", id="arbitrary-equality"),
    pytest.param("scipy===weird", "warn", "scipy: cannot compare versions '===weird' and '1.17.1'",
                 id="uncomparable"),
    pytest.param("not a requirement!", "warn", "cannot parse model requirement 'not a requirement!'",
                 id="unparseable"),
])
def test_compare_package(requirement, level, message):
    found = finding(requirement)
    assert found.level == level
    assert found.message.startswith(message)


def test_cuda_libraries_in_the_image_are_named_with_the_cpu_index_setting():
    assert cuda_libraries({"torch": "2.13.0", "numpy": "2.4.6"}) == []
    [finding] = cuda_libraries({"torch": "2.13.0", "nvidia-cublas": "13.1", "nvidia-cudnn-cu13": "9.1",
                                "nvidia-nccl-cu13": "2.2", "nvidia-cufft": "12.0"})
    assert finding.level == "warn" and "4 CUDA libraries (nvidia-cublas, nvidia-cudnn-cu13, nvidia-cufft, …)" \
        in finding.message
    assert 'IMAGE_PACKAGE_INDEXES="torch torchvision torchaudio=https://download.pytorch.org/whl/cpu"' \
        in finding.message


def test_requirements_whose_marker_excludes_the_image_are_skipped():
    findings = compare("3.11.9", ['tomli>=1; python_version < "3.11"', 'pywin32==306; sys_platform == "win32"',
                                  'requests; python_version >= "3.8"'], "3.11", PINS)
    assert [f.check for f in findings] == ["python", "package:requests"]


@pytest.mark.parametrize(("model_python", "level", "message"), [
    pytest.param("3.11.9", "ok", "python: model 3.11.9, image 3.11", id="same-minor"),
    pytest.param("3.11", "ok", "python: model 3.11, image 3.11", id="minor-only"),
    pytest.param("3.12.1", "fail", "python: model saved with 3.12.1, image has 3.11: pickled code does not load "
                 "across Python minor versions", id="newer-minor"),
    pytest.param("3.1", "fail", "python: the model was saved with Python 3.1; images are built for Python "
                 "3.9–3.13 only: re-log the model from a supported Python (pickled code does not load across "
                 "minor versions)", id="3.1-is-unsupported"),
    pytest.param("3.14.0", "fail", "python: the model was saved with Python 3.14.0; images are built for Python "
                 "3.9–3.13 only: re-log the model from a supported Python (pickled code does not load across "
                 "minor versions)", id="3.14-is-unsupported"),
    pytest.param(None, "warn", "the model does not record its Python version; the image has 3.11", id="unknown"),
])
def test_compare_python(model_python, level, message):
    (found,) = compare(model_python, [], "3.11", PINS)
    assert (found.check, found.level, found.message) == ("python", level, message)


# -- the model's files -------------------------------------------------------------------------

@pytest.mark.parametrize(("files", "expected"), [
    pytest.param({"python_env.yaml": yaml.safe_dump({"python": "3.11.9", "dependencies": ["-r requirements.txt"]}),
                  "requirements.txt": "mlflow==3.17.2\n# comment\n\n-c constraints.txt\n  cloudpickle==3.1.3  \n"},
                 ("3.11.9", ["mlflow==3.17.2", "cloudpickle==3.1.3"]), id="mlflow-default-files"),
    pytest.param({"python_env.yaml": yaml.safe_dump({"python": "3.10.4", "dependencies": ["numpy==1.26.4", "-e ."]})},
                 ("3.10.4", ["numpy==1.26.4"]), id="python-env-dependencies"),
    pytest.param({"conda.yaml": yaml.safe_dump({"dependencies": ["python==3.9.18", {"pip": ["pandas==2.1.4"]}]})},
                 ("3.9.18", ["pandas==2.1.4"]), id="conda-double-equals"),
    pytest.param({"conda.yaml": yaml.safe_dump({"dependencies": ["pythonnet=3", "python=3.10"]})}, ("3.10", []),
                 id="conda-python-not-pythonnet"),
    pytest.param({"python_env.yaml": "python: 3.11.2\n", "conda.yaml": "dependencies: [python=3.8]\n"},
                 ("3.11.2", []), id="python-env-wins"),
    pytest.param({}, (None, []), id="no-files"),
    pytest.param({"python_env.yaml": "", "conda.yaml": ""}, (None, []), id="empty-files"),
])
def test_model_environment(files, expected):
    assert model_environment(files) == expected


@pytest.mark.parametrize("spec", [pytest.param("python<3.12", id="less-than"),
                                  pytest.param("python>3.8", id="greater-than")])
def test_model_environment_with_a_conda_python_range(spec):
    python, _ = model_environment({"conda.yaml": yaml.safe_dump({"dependencies": [spec]})})
    assert python is None or python[0].isdigit()


def test_model_environment_python_310_unquoted():
    assert model_environment({"python_env.yaml": "python: 3.10\n"})[0] == "3.10"


# -- the image's pins --------------------------------------------------------------------------

def test_read_pins(tmp_path):
    (tmp_path / "base.txt").write_text("numpy==2.4.6\npandas==3.1.1\n")
    (tmp_path / "more.txt").write_text("scipy==1.17.1\n")
    (tmp_path / "deep").mkdir()
    (tmp_path / "deep" / "c.txt").write_text("click==8.5.1\n")
    service = tmp_path / "service.txt"
    service.write_text("mlflow-skinny==3.17.2  # the image has no full mlflow\nnumpy==2.3.0\nfastapi>=0.100\n"
                       "Scikit_Learn==1.9.1\nrequests\n-r base.txt\n--requirement=more.txt\n"
                       "--constraint deep/c.txt\n# pandas==0.1\n")
    other = tmp_path / "other.txt"
    other.write_text("numpy==1.0.0\nuvicorn==0.54.0\n")
    assert read_pins([service, other]) == {
        "mlflow-skinny": "3.17.2", "numpy": "2.3.0", "scikit-learn": "1.9.1", "pandas": "3.1.1",
        "scipy": "1.17.1", "click": "8.5.1", "uvicorn": "0.54.0"}


def test_read_pins_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="image requirements file .*nope.txt not found"):
        read_pins([tmp_path / "nope.txt"])

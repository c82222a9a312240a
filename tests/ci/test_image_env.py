"""The image is built for the model, on the real registry, buildah and podman:

- a model pinned to an older stack than the service's (scikit-learn 1.3.2, pandas 2.0.3, numpy left
  open) gets exactly those pins and numpy 1.x, and LightGBM gets its OpenMP runtime (libgomp1);
- the load gate's expected answer is computed in the image, and fields the model answers differently
  each call (a timestamp, a random id) are reported as non-deterministic and left out;
- a private package index reaches pip as a build secret and stays out of the image and the log.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from ci.gates.load import expected_answer, run_load_gate
from ci.image.build import build
from devstack.fixture_models import register_image_env_fixtures
from devstack.oci import ContainerTools
from tests.ci.recording_http import RecordingServer

pytestmark = pytest.mark.containers

INDEX_USER, INDEX_SECRET = "ci-user", "idx-s3cret-5c1e"


@pytest.fixture(scope="module")
def env_models(mlflow_sqlite):
    return register_image_env_fixtures(mlflow_sqlite.url)


@pytest.fixture(scope="module")
def private_index():
    with RecordingServer() as server:
        yield server


@pytest.fixture(scope="module")
def images(oci_registry, mlflow_sqlite, env_models, private_index, tmp_path_factory):
    """old-pins through `build`; timestamped through `python -m ci -v build` with a private extra index."""
    repository = f"{oci_registry.address}/serving/image-env"
    old = build(env_models["old-pins"], repository=repository, commit="01d9175a", tracking_uri=mlflow_sqlite.url,
                env=oci_registry.env)
    model = env_models["timestamped"]
    reports = tmp_path_factory.mktemp("image-env-reports")
    index = private_index.url.replace("http://", f"http://{INDEX_USER}:{INDEX_SECRET}@") + "/simple/"
    # its own empty storage: from the session's layer cache, a pip layer built by an earlier run
    # would be reused and pip would never ask the index
    tools = ContainerTools(tmp_path_factory.mktemp("private-index-tools"))
    tools.trust(oci_registry.address)
    env = {**os.environ, **tools.env, "MLFLOW_TRACKING_URI": mlflow_sqlite.url, "PIP_EXTRA_INDEX_URL": index}
    argv = [sys.executable, "-m", "ci", "-v", "build", "--model-name", model.name, "--model-version", model.version,
            "--image-repository", repository, "--commit", "7153a3bd", "--output-dir", str(reports)]
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=1500, check=False)
    finally:
        tools.close()
    assert done.returncode == 0, done.stderr[-3000:]
    stamped = json.loads((reports / "image.json").read_text())["reference"]
    return {"old-pins": old.reference, "timestamped": stamped, "timestamped-log": done.stdout + done.stderr}


def _gate(key, images, env_models, mlflow_sqlite, oci_registry, tmp_path):
    model = env_models[key]
    return run_load_gate(images[key], expected_version=model.version,
                         env=oci_registry.env, ready_timeout=120)


def test_the_models_pins_win_and_lightgbm_gets_its_openmp_runtime(images, env_models, mlflow_sqlite,
                                                                  oci_registry, tmp_path):
    result = _gate("old-pins", images, env_models, mlflow_sqlite, oci_registry, tmp_path)
    assert result.rows == 3 and result.non_deterministic == []
    answer = expected_answer(images["old-pins"], env=oci_registry.env, requirements=False).answers[0]
    row = answer["predictions"][0]
    assert (row["sklearn_version"], row["pandas_version"], row["lightgbm_version"]) == ("1.3.2", "2.0.3", "4.6.0")
    assert row["numpy_version"].startswith("1."), row  # numpy<2: scikit-learn 1.3 and pandas 2.0 predate it
    ran = oci_registry.run("podman", "run", "--rm", "--entrypoint", "sh", images["old-pins"], "-c",
                           "dpkg-query -W -f '${Status}' libgomp1; python --version")
    assert ran.stdout.startswith("install ok installed") and "Python 3.11" in ran.stdout


def test_non_deterministic_fields_are_reported_and_left_out(images, env_models, mlflow_sqlite, oci_registry,
                                                            tmp_path):
    result = _gate("timestamped", images, env_models, mlflow_sqlite, oci_registry, tmp_path)
    assert result.non_deterministic == ["predictions.predictions[*].request_id",
                                        "predictions.predictions[*].timestamp"]
    assert result.rows == 3 and result.max_abs_diff == 0.0  # x * 2 still compared


def test_private_index_is_a_build_secret_kept_out_of_the_image_and_the_log(images, private_index, oci_registry):
    token = base64.b64encode(f"{INDEX_USER}:{INDEX_SECRET}".encode()).decode()
    asked = [r for r in private_index.requests if r.path.startswith("/simple/")]
    assert asked, "pip in the image build never asked the private index"
    assert {r.headers.get("authorization") for r in asked} == {f"Basic {token}"}
    image = images["timestamped"]
    assert "buildah bud output" in images["timestamped-log"]  # the build log is in what was checked
    oci_registry.run("podman", "pull", "--quiet", image)  # built in a storage of its own
    inspected = oci_registry.run("podman", "image", "inspect", image).stdout
    history = oci_registry.run("podman", "history", "--no-trunc", image).stdout
    files = oci_registry.run("podman", "run", "--rm", "--entrypoint", "sh", image, "-c",
                             "env; ls -a /run/secrets 2>&1; grep -rl -- '" + INDEX_SECRET + "' /etc /app /opt /tmp "
                             "/usr/local/bin /usr/local/lib/python3.11/site-packages/pip 2>/dev/null; true").stdout
    for where, text in (("build log", images["timestamped-log"]), ("image inspect", inspected),
                        ("history", history), ("image files", files)):
        assert INDEX_SECRET not in text, f"the index password is in the {where}"
        assert token not in text, f"the index credentials are in the {where}"

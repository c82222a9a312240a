"""`ci build` against the real local registry, buildah and skopeo, with a real MLflow model.

The service Dockerfile is replaced by a tiny one here, so these tests pin the build mechanics
(context layout, tags, digests, retag, credentials); tests/ci/test_gate_load.py builds the real one.
"""
from __future__ import annotations

import base64
import json
import os
import subprocess
import sys

import pytest

from ci.image.build import build, source_tag, write_outputs
from ci.image.credentials import Credentials
from ci.outputs import read_dotenv
from ci.tools import skopeo
from devstack.procs import free_port

pytestmark = pytest.mark.containers


def _digest(stack, image: str) -> str:
    info = skopeo.inspect(image, env=stack.env)
    assert info is not None, f"{image} is not in the registry"
    return info["Digest"]


def test_build_pushes_tags_with_the_registry_digest(oci_registry, mlflow_sqlite, model, tiny_service,
                                                    tmp_path):
    repository = f"{oci_registry.address}/serving/build-digest"
    result = build(model, repository=repository, commit="0123456789abcdef", tracking_uri=mlflow_sqlite.url,
                   service_dir=tiny_service, env=oci_registry.env)
    assert result.rebuilt
    assert result.tag == f"credit-risk-v{model.version}-01234567"
    assert set(result.tags) >= {result.tag, f"credit-risk-v{model.version}", "credit-risk-latest",
                                result.source_tag}
    assert result.source_tag.startswith(f"credit-risk-v{model.version}-src")
    assert result.source_tag != source_tag(model, tiny_service)  # the image spec is part of the key
    for tag in result.tags:
        assert _digest(oci_registry, f"{repository}:{tag}") == result.digest
    labels = skopeo.inspect(f"{repository}:{result.tag}", env=oci_registry.env)["Labels"]
    assert labels["org.opencontainers.image.revision"] == "0123456789abcdef"

    ran = oci_registry.run("podman", "run", "--rm", f"{repository}:{result.tag}")
    assert ran.stdout.strip() == model.version
    listing = oci_registry.run("podman", "run", "--rm", f"{repository}:{result.tag}", "ls", "/opt/model")
    assert "MLmodel" in listing.stdout.split()

    json_path, env_path = write_outputs(result, tmp_path / "reports")
    assert f"IMAGE_REF={repository}@{result.digest}" in env_path.read_text().splitlines()
    assert json.loads(json_path.read_text())["digest"] == result.digest


def test_same_model_and_source_is_retagged_not_rebuilt(oci_registry, mlflow_sqlite, model, tiny_service):
    repository = f"{oci_registry.address}/serving/build-retag"
    kwargs = {"repository": repository, "tracking_uri": mlflow_sqlite.url, "service_dir": tiny_service,
              "env": oci_registry.env}
    first = build(model, commit="aaaaaaaa11", **kwargs)
    second = build(model, commit="bbbbbbbb22", **kwargs)
    assert first.rebuilt and not second.rebuilt
    assert second.digest == first.digest
    assert _digest(oci_registry, f"{repository}:{second.tag}") == first.digest
    assert second.seconds < first.seconds

    (tiny_service / "app.py").write_text("print('changed')\n")
    third = build(model, commit="cccccccc33", **kwargs)
    assert third.rebuilt and third.source_tag != first.source_tag
    assert _digest(oci_registry, f"{repository}:credit-risk-latest") == third.digest


def test_push_with_credentials_to_an_auth_registry(oci_registry, oci_auth_registry, mlflow_sqlite, model,
                                                   tiny_service):
    repository = f"{oci_auth_registry.address}/serving/with-auth"
    result = build(model, repository=repository, commit="dddddddd44", tracking_uri=mlflow_sqlite.url,
                   service_dir=tiny_service, env=oci_registry.env,
                   credentials=Credentials(oci_auth_registry.username, oci_auth_registry.password))
    assert result.rebuilt and result.digest.startswith("sha256:")


def test_cli_wrong_registry_password_exits_1_without_printing_it(oci_registry, oci_auth_registry,
                                                                mlflow_sqlite, model, tiny_service, tmp_path):
    secret = "not-the-password-7f3a"
    env = {**os.environ, **oci_registry.env, "CI_REGISTRY_USER": oci_auth_registry.username,
           "CI_REGISTRY_PASSWORD": secret, "MLFLOW_TRACKING_URI": mlflow_sqlite.url}
    argv = [sys.executable, "-m", "ci", "build", "--model-name", model.name, "--model-version", model.version,
            "--image-repository", f"{oci_auth_registry.address}/serving/refused", "--commit", "eeeeeeee55",
            "--service-dir", str(tiny_service), "--output-dir", str(tmp_path / "reports")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 1, done.stderr
    assert "refused the credentials" in done.stderr
    assert "CI_REGISTRY_PASSWORD" in done.stderr
    assert secret not in done.stdout + done.stderr
    assert not (tmp_path / "reports" / "image.env").exists()


def test_cli_a_registry_that_does_not_answer_is_retried_then_named(oci_registry, mlflow_sqlite, model,
                                                                  tiny_service, tmp_path):
    """The registry is down (nothing listens on its port): the tools retry with backoff, then the job
    exits 1 naming the registry and what to check, and writes no image.env."""
    down = f"127.0.0.1:{free_port()}"
    oci_registry.tools.trust(down)  # plain HTTP, as the tests' registries are
    env = {**os.environ, **oci_registry.env, "MLFLOW_TRACKING_URI": mlflow_sqlite.url}
    argv = [sys.executable, "-m", "ci", "build", "--model-name", model.name, "--model-version", model.version,
            "--image-repository", f"{down}/serving/down", "--commit", "ffffffff66",
            "--service-dir", str(tiny_service), "--output-dir", str(tmp_path / "reports")]
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 1, done.stderr
    assert f"registry {down} does not answer" in done.stderr, done.stderr[-3000:]
    assert "check that it is up and that this runner reaches it" in done.stderr, done.stderr[-3000:]
    assert "retrying in 4s ... (3/3)" in done.stderr, done.stderr[-3000:]  # skopeo backed off: 1, 2, 4 s
    assert not (tmp_path / "reports" / "image.env").exists()


def test_cli_builds_with_a_docker_config_and_writes_the_dotenv(oci_registry, oci_auth_registry, mlflow_sqlite,
                                                              model, tiny_service, tmp_path):
    token = base64.b64encode(f"{oci_auth_registry.username}:{oci_auth_registry.password}".encode()).decode()
    config_dir = tmp_path / "docker"
    config_dir.mkdir()
    auths = {"auths": {oci_auth_registry.address: {"auth": token}}}
    (config_dir / "config.json").write_text(json.dumps(auths))
    repository = f"{oci_auth_registry.address}/serving/docker-config"
    env = {**os.environ, **oci_registry.env, "DOCKER_CONFIG": str(config_dir), "CI_COMMIT_SHA": "f" * 40,
           "MLFLOW_TRACKING_URI": mlflow_sqlite.url, "MODEL_NAME": model.name, "MODEL_VERSION": model.version,
           "IMAGE_REPOSITORY": repository, "CI_REPORTS_DIR": str(tmp_path / "reports")}
    env.pop("CI_REGISTRY_USER", None)
    done = subprocess.run([sys.executable, "-m", "ci", "build", "--service-dir", str(tiny_service)], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    dotenv = read_dotenv(tmp_path / "reports" / "image.env")
    assert dotenv["IMAGE_TAG"] == f"credit-risk-v{model.version}-ffffffff"
    assert dotenv["IMAGE_REF"] == f"{repository}@{dotenv['IMAGE_DIGEST']}"
    assert token not in done.stdout + done.stderr

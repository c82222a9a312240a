"""`ci build --builder docker|kaniko` and `ci gate load --container-cli docker`.

The docker CLI runs for real against podman's docker-compatible API (`docker_api`: there is no Docker
engine here). kaniko cannot run here, so a stand-in executor records its argv and pushes with skopeo,
writing the digest file the way kaniko does.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ci.image.build import build
from ci.image.credentials import Credentials, registry_authfile
from ci.outputs import read_dotenv
from ci.tools import skopeo

pytestmark = pytest.mark.containers

# What the stand-in kaniko does: record argv, then push an existing image to each --destination with
# the auth kaniko reads ($DOCKER_CONFIG/config.json) and write the digest the registry reports.
STAND_IN_KANIKO = """\
#!/usr/bin/env bash
set -euo pipefail
printf '%s\\n' "$@" > "$RECORD_DIR/argv"
ls "$DOCKER_CONFIG" > "$RECORD_DIR/docker-config"
context= dockerfile= digestfile= destinations=()
while [ $# -gt 0 ]; do
  case "$1" in
    --context) context=$2; shift 2;;
    --dockerfile) dockerfile=$2; shift 2;;
    --destination) destinations+=("$2"); shift 2;;
    --digest-file) digestfile=$2; shift 2;;
    --build-arg) shift 2;;
    *) echo "stand-in kaniko: unexpected argument $1" >&2; exit 2;;
  esac
done
test -f "$dockerfile" && test -f "$context/build/model/MLmodel"
for destination in "${destinations[@]}"; do
  skopeo --registries-conf "$CONTAINERS_REGISTRIES_CONF" copy --quiet \\
    --authfile "$DOCKER_CONFIG/config.json" --digestfile "$digestfile" \\
    "docker://$SOURCE_IMAGE" "docker://$destination"
done
"""


def _registry_digest(env: dict[str, str], image: str, authfile: Path | None = None) -> str:
    info = skopeo.inspect(image, authfile=authfile, env=env)
    assert info is not None, f"{image} is not in the registry"
    return info["Digest"]


def _ci(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ci", *argv], env={**os.environ, **env}, capture_output=True,
                          text=True, timeout=900, check=False)


def test_docker_builds_the_real_image_and_the_load_gate_runs_it_with_docker(oci_registry, docker_api,
                                                                            mlflow_sqlite, model, tmp_path):
    repository = f"{oci_registry.address}/serving/docker-built"
    env = {**docker_api.env, "MLFLOW_TRACKING_URI": mlflow_sqlite.url, "MODEL_NAME": model.name,
           "MODEL_VERSION": model.version, "MODEL_RUN_ID": model.run_id, "IMAGE_REPOSITORY": repository,
           "CI_COMMIT_SHA": "d0c4e7b1" * 5, "CI_REPORTS_DIR": str(tmp_path / "reports")}
    built = _ci("build", "--builder", "docker", env=env)
    assert built.returncode == 0, built.stderr
    dotenv = read_dotenv(tmp_path / "reports" / "image.env")
    assert dotenv["IMAGE_REBUILT"] == "true"
    for tag in (dotenv["IMAGE_TAG"], f"credit-risk-v{model.version}", "credit-risk-latest"):
        assert _registry_digest(env, f"{repository}:{tag}") == dotenv["IMAGE_DIGEST"]

    gated = _ci("gate", "load", "--container-cli", "docker", "--ready-timeout", "90",
                env={**env, "IMAGE_REF": dotenv["IMAGE_REF"]})
    assert gated.returncode == 0, gated.stderr
    assert json.loads((tmp_path / "reports" / "load.json").read_text())["model_version"] == model.version
    containers = subprocess.run(["docker", "ps", "--all", "--format", "{{.Names}} {{.Image}}"], capture_output=True,
                                text=True, env={**os.environ, **docker_api.env}, check=True).stdout.splitlines()
    # the gate's container is gone (other workers' gates share the storage: only this image's count)
    assert not [c for c in containers if c.startswith("load-gate-") and c.endswith(dotenv["IMAGE_REF"])]


def test_docker_pushes_with_credentials_through_a_private_docker_config(docker_api, oci_auth_registry,
                                                                       mlflow_sqlite, model, tiny_service):
    repository = f"{oci_auth_registry.address}/serving/docker-auth"
    credentials = Credentials(oci_auth_registry.username, oci_auth_registry.password)
    env = {key: value for key, value in docker_api.env.items() if key != "DOCKER_CONFIG"}
    result = build(model, repository=repository, commit="a17b0c3d9e", tracking_uri=mlflow_sqlite.url,
                   service_dir=tiny_service, credentials=credentials, builder="docker", env=env)
    assert result.rebuilt
    with registry_authfile(repository, credentials) as authfile:
        assert _registry_digest(env, f"{repository}:{result.tag}", authfile) == result.digest


def test_kaniko_gets_context_dockerfile_tags_and_args_but_no_secret(oci_registry, oci_auth_registry,
                                                                    mlflow_sqlite, model, tiny_service,
                                                                    tmp_path):
    executor = tmp_path / "executor"
    executor.write_text(STAND_IN_KANIKO)
    executor.chmod(0o755)
    repository = f"{oci_auth_registry.address}/serving/kaniko"
    env = {**oci_registry.env, "KANIKO_EXECUTOR": str(executor), "RECORD_DIR": str(tmp_path),
           "SOURCE_IMAGE": oci_registry.base_image, "MLFLOW_TRACKING_URI": mlflow_sqlite.url,
           "MODEL_NAME": model.name, "MODEL_VERSION": model.version, "MODEL_RUN_ID": model.run_id,
           "IMAGE_REPOSITORY": repository, "CI_COMMIT_SHA": "c0ffee42" * 5, "CI_PROJECT_URL": "https://git.example/p",
           "CI_REGISTRY_USER": oci_auth_registry.username, "CI_REGISTRY_PASSWORD": oci_auth_registry.password,
           "IMAGE_BUILDER": "kaniko", "CI_REPORTS_DIR": str(tmp_path / "reports")}
    built = _ci("build", "--service-dir", str(tiny_service), env=env)
    assert built.returncode == 0, built.stderr

    argv = (tmp_path / "argv").read_text().splitlines()
    pairs = list(zip(argv[::2], argv[1::2], strict=True))
    context = dict(pairs)["--context"]
    assert dict(pairs)["--dockerfile"] == f"{context}/service/Dockerfile"
    key_tag = json.loads((tmp_path / "reports" / "image.json").read_text())["source_tag"]
    assert [v for k, v in pairs if k == "--destination"] == [f"{repository}:{key_tag}"]
    assert sorted(v for k, v in pairs if k == "--build-arg") == sorted([
        "BASE_IMAGE=python:3.11-slim", f"MODEL_NAME={model.name}", f"MODEL_VERSION={model.version}",
        f"MODEL_RUN_ID={model.run_id}",
        f"VCS_REF={'c0ffee42' * 5}", "SOURCE_URL=https://git.example/p"])
    assert "--digest-file" in dict(pairs)
    assert not any(oci_auth_registry.password in arg for arg in argv)
    assert (tmp_path / "docker-config").read_text().split() == ["config.json"]

    dotenv = read_dotenv(tmp_path / "reports" / "image.env")
    with registry_authfile(repository, Credentials(oci_auth_registry.username, oci_auth_registry.password)) as auth:
        assert _registry_digest(env, f"{repository}:{dotenv['IMAGE_TAG']}", auth) == dotenv["IMAGE_DIGEST"]
    assert oci_auth_registry.password not in built.stdout + built.stderr

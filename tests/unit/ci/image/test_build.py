"""ci/image/build.py: tag naming, the source key of a service directory, registry auth files, the dotenv."""
from __future__ import annotations

import base64
import json
import pathlib
import stat

import pytest

from ci.errors import CheckFailed, ConfigError, ToolError
from ci.image.build import BuildResult, _registry_errors, source_tag
from ci.image.credentials import Credentials, registry_authfile
from ci.registry.model_ref import ModelRef, image_tag, moving_tags, slug


@pytest.mark.parametrize(("name", "expected"), [
    pytest.param("credit-risk", "credit-risk", id="already-a-tag"),
    pytest.param("Credit Risk", "credit-risk", id="upper-and-space"),
    pytest.param("team/model@prod", "team-model-prod", id="slash-and-at"),
    pytest.param("..model__v2..", "model__v2", id="leading-trailing-separators"),
    pytest.param("Modèle été", "mod-le-t", id="non-ascii"),
    pytest.param("a" * 100, "a" * 80, id="cut-at-80"),
    pytest.param("x.y_z-1", "x.y_z-1", id="allowed-punctuation"),
])
def test_slug(name, expected):
    assert slug(name) == expected


@pytest.mark.parametrize("name", [pytest.param("", id="empty"), pytest.param("///", id="only-separators"),
                                  pytest.param("é", id="only-non-ascii")])
def test_slug_refuses_names_without_a_usable_character(name):
    with pytest.raises(ConfigError, match="has no character usable in an image tag"):
        slug(name)


@pytest.mark.parametrize(("model", "commit", "tag", "moving"), [
    pytest.param(ModelRef("Credit Risk", "3"), "0123456789abcdef", "credit-risk-v3-01234567",
                 ["credit-risk-v3", "credit-risk-latest"], id="long-commit-cut"),
    pytest.param(ModelRef("m", "12", "run"), "abc", "m-v12-abc", ["m-v12", "m-latest"], id="short-commit"),
])
def test_image_and_moving_tags(model, commit, tag, moving):
    assert image_tag(model, commit) == tag
    assert moving_tags(model) == moving


@pytest.fixture
def service(tmp_path):
    root = tmp_path / "service"
    (root / "pkg").mkdir(parents=True)
    (root / "app.py").write_text("print('app')\n")
    (root / "pkg" / "mod.py").write_text("x = 1\n")
    return root


MODEL = ModelRef("credit-risk", "3", "run-a")


def test_source_tag_shape_and_stability(service):
    tag = source_tag(MODEL, service)
    assert tag.startswith("credit-risk-v3-src") and len(tag) == len("credit-risk-v3-src") + 12
    assert source_tag(MODEL, service) == tag


@pytest.mark.parametrize(("change", "same"), [
    pytest.param(lambda root: (root / "__pycache__").mkdir() or (root / "__pycache__" / "a.pyc").write_bytes(b"1"),
                 True, id="pycache-ignored"),
    pytest.param(lambda root: (root / "pkg" / "mod.cpython-311.pyc").write_bytes(b"1"), True, id="pyc-ignored"),
    pytest.param(lambda root: (root / ".ruff_cache").mkdir() or (root / ".ruff_cache" / "x").write_text("1"),
                 True, id="ruff-cache-ignored"),
    pytest.param(lambda root: (root / "app.py").write_text("print('changed')\n"), False, id="content"),
    pytest.param(lambda root: (root / "pkg" / "mod.py").rename(root / "pkg" / "other.py"), False, id="rename"),
    pytest.param(lambda root: (root / "pkg" / "new.txt").write_text(""), False, id="new-empty-file"),
])
def test_source_tag_follows_the_source_only(service, change, same):
    before = source_tag(MODEL, service)
    change(service)
    assert (source_tag(MODEL, service) == before) is same


@pytest.mark.parametrize("other", [
    pytest.param(ModelRef("credit-risk", "3", "run-b"), id="run-id"),
    pytest.param(ModelRef("credit-risk", "4", "run-a"), id="version"),
    pytest.param(ModelRef("Credit-Risk", "3", "run-a"), id="name-case"),
])
def test_source_tag_follows_the_model(service, other):
    assert source_tag(other, service) != source_tag(MODEL, service)


def test_source_tag_of_an_empty_service_directory(tmp_path):
    with pytest.raises(ConfigError, match="no service source under"):
        source_tag(MODEL, tmp_path)


# -- registry auth -------------------------------------------------------------------------------

def test_registry_authfile_from_user_and_password_is_private_and_removed():
    with registry_authfile("registry.example:5000/team/web", Credentials("bot", "s3cret")) as path:
        assert path.name == "config.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        auths = json.loads(path.read_text())["auths"]
        assert list(auths) == ["registry.example:5000"]
        assert base64.b64decode(auths["registry.example:5000"]["auth"]) == b"bot:s3cret"
    assert not path.exists() and not path.parent.exists()


def test_registry_authfile_without_credentials_is_the_tools_default():
    with registry_authfile("r/x", Credentials()) as path:
        assert path is None


@pytest.mark.parametrize("credentials", [pytest.param(Credentials("bot", None), id="user-only"),
                                         pytest.param(Credentials(None, "pw"), id="password-only")])
def test_registry_authfile_needs_both_user_and_password(credentials):
    with pytest.raises(ConfigError, match="set both CI_REGISTRY_USER and CI_REGISTRY_PASSWORD"), \
            registry_authfile("r/x", credentials):
        pass


@pytest.mark.parametrize("as_dir", [pytest.param(True, id="directory"), pytest.param(False, id="file")])
def test_registry_authfile_from_a_docker_config(tmp_path, as_dir):
    config = tmp_path / "config.json"
    config.write_text("{}")
    with registry_authfile("r/x", Credentials("ignored", "ignored", tmp_path if as_dir else config)) as path:
        assert path == config
    assert config.exists(), "the project's own docker config must not be removed"


def test_registry_authfile_missing_docker_config(tmp_path):
    with pytest.raises(ConfigError, match="docker config .*config.json does not exist"), \
            registry_authfile("r/x", Credentials(docker_config=tmp_path)):
        pass


def test_credentials_repr_hides_the_password():
    assert "s3cret" not in repr(Credentials("bot", "s3cret"))


def test_build_result_reference_and_dotenv():
    result = BuildResult(repository="reg/web", tag="m-v1-abc", tags=["m-v1-abc"], digest="sha256:00",
                         rebuilt=False, source_tag="m-v1-src0", seconds=1.0)
    assert result.reference == "reg/web@sha256:00"
    assert result.dotenv() == {"IMAGE_REPOSITORY": "reg/web", "IMAGE_TAG": "m-v1-abc", "IMAGE_DIGEST": "sha256:00",
                               "IMAGE_REF": "reg/web@sha256:00", "IMAGE_REBUILT": "false"}


def test_pip_index_variables_become_build_secrets_named_not_valued(monkeypatch):
    from ci.image.build import pip_secrets

    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_EXTRA_INDEX_URL", raising=False)
    assert pip_secrets("docker", {}) == {}
    secrets = pip_secrets("buildah", {"PIP_EXTRA_INDEX_URL": "https://u:p@idx.example/simple"})
    assert secrets == {"pip_extra_index_url": "PIP_EXTRA_INDEX_URL"}
    with pytest.raises(ConfigError, match="only the buildah builder passes here"):
        pip_secrets("kaniko", {"PIP_INDEX_URL": "https://u:p@idx.example/simple"})


def test_buildah_names_the_secret_variable_only(monkeypatch, tmp_path):
    from ci.tools import buildah

    seen = []
    monkeypatch.setattr(buildah, "run_tool", lambda argv, env=None: seen.append(argv) or
                        type("Done", (), {"stdout": ""})())
    buildah.build(tmp_path, dockerfile=tmp_path / "Dockerfile", tags=["r/x:1"], build_args={"BASE_IMAGE": "b"},
                  secrets={"pip_index_url": "PIP_INDEX_URL"},
                  env={"PIP_INDEX_URL": "https://u:hidden@idx.example/simple"})
    assert "id=pip_index_url,env=PIP_INDEX_URL" in seen[0]
    assert not any("hidden" in arg for arg in seen[0])


@pytest.mark.parametrize(("setting", "flags"), [(None, []), ("gzip", []), ("none", ["--disable-compression"])])
def test_buildah_pushes_compressed_unless_told_not_to(monkeypatch, setting, flags):
    from ci.tools import buildah

    seen = []

    def fake_push(argv, env=None):
        seen.append(argv)
        pathlib.Path(argv[argv.index("--digestfile") + 1]).write_text("sha256:d")

    monkeypatch.setattr(buildah, "run_tool", fake_push)
    monkeypatch.delenv("IMAGE_PUSH_COMPRESSION", raising=False)
    assert buildah.push("r/x:1", env={} if setting is None else {"IMAGE_PUSH_COMPRESSION": setting}) == "sha256:d"
    assert seen[0][4:-1] == flags


def test_an_unknown_push_compression_names_the_choices():
    from ci.tools import buildah

    with pytest.raises(ConfigError, match="IMAGE_PUSH_COMPRESSION='zip': choose one of gzip, none"):
        buildah.push("r/x:1", env={"IMAGE_PUSH_COMPRESSION": "zip"})


# What buildah 1.28 prints when the registry goes away between the build and the push, and when the
# base image's registry is the one down.
PUSH_DOWN = ('`buildah push` failed (exit 125):\nError: pushing image "r.example:5000/m/x:1" to "docker://r.example:5000'
             '/m/x:1": trying to reuse blob sha256:ab at destination: pinging container registry r.example:5000: '
             'Get "https://r.example:5000/v2/": dial tcp 10.0.0.7:5000: connect: connection refused')
BASE_DOWN = ('`buildah bud` failed (exit 125):\nError: creating build container: initializing source '
             'docker://mirror.example/library/python:3.11-slim: pinging container registry mirror.example: Get '
             '"https://mirror.example/v2/": dial tcp: lookup mirror.example: no such host')


@pytest.mark.parametrize(("error", "named"), [(PUSH_DOWN, "r.example:5000"), (BASE_DOWN, "mirror.example")])
def test_a_registry_that_does_not_answer_is_named(error, named):
    refused = pytest.raises(CheckFailed, match=f"^registry {named} does not answer .*check that it is up")
    with refused, _registry_errors("r.example:5000/m/x"):
        raise ToolError(error)


def test_another_tool_failure_passes_through():
    with pytest.raises(ToolError, match="no space left"), _registry_errors("r.example:5000/m/x"):
        raise ToolError("`buildah bud` failed (exit 1):\nwrite /var/tmp: no space left on device")

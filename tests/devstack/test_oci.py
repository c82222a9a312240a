"""The OCI harness is real: buildah builds FROM the stand-in base, the registry stores and serves the
image by digest, podman runs it, skopeo retags it remotely, and auth refuses a wrong password."""
from __future__ import annotations

import json

import pytest

from devstack.oci import MODEL_LABEL, ContainerTools
from tests.devstack.oci_fixtures import AuthRegistry, OciStack

pytestmark = pytest.mark.containers


@pytest.fixture(scope="module")
def pushed_image(oci_registry: OciStack, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    context = tmp_path_factory.mktemp("context")
    (context / "hello.py").write_text("import sys\nprint('hello from', sys.version_info[:2])\n")
    (context / "Dockerfile").write_text(
        "FROM python:3.11-slim\n"
        "RUN python -m venv /opt/venv && /opt/venv/bin/python -c 'import ssl, json'\n"
        "COPY hello.py /app/hello.py\n"
        'CMD ["python", "/app/hello.py"]\n')
    image = f"{oci_registry.address}/test/hello:1"
    digestfile = context.parent / "digest"
    oci_registry.run("buildah", "bud", "--layers", "-t", image, str(context))
    oci_registry.run("buildah", "push", "--digestfile", str(digestfile), image)
    return image, digestfile.read_text().strip()


def _remote_digest(stack: OciStack, image: str) -> str:
    result = stack.run("skopeo", "inspect", "--tls-verify=false", f"docker://{image}")
    return json.loads(result.stdout)["Digest"]


def test_build_push_and_pull_back_by_digest(oci_registry: OciStack, pushed_image: tuple[str, str]):
    image, digest = pushed_image
    assert digest.startswith("sha256:")
    assert _remote_digest(oci_registry, image) == digest
    oci_registry.run("podman", "rmi", "--force", image)
    oci_registry.run("podman", "pull", "--quiet", image)
    pulled = oci_registry.run("podman", "image", "inspect", "--format", "{{.Digest}}", image)
    assert pulled.stdout.strip() == digest


def test_built_image_runs_with_host_network(oci_registry: OciStack, pushed_image: tuple[str, str]):
    image, _ = pushed_image
    default = oci_registry.run("podman", "run", "--rm", "--network", "host", image)
    assert "hello from (3, 11)" in default.stdout
    limits = oci_registry.run("podman", "run", "--rm", "--network", "host", image,
                              "python", "-c", "import resource; print(resource.getrlimit(7)[0])")
    assert limits.stdout.strip() == "20000"


def test_skopeo_adds_a_tag_without_rebuilding(oci_registry: OciStack, pushed_image: tuple[str, str]):
    image, digest = pushed_image
    moved = f"{oci_registry.address}/test/hello:latest"
    oci_registry.run("skopeo", "copy", "--src-tls-verify=false", "--dest-tls-verify=false",
                     f"docker://{image}", f"docker://{moved}")
    assert _remote_digest(oci_registry, moved) == digest


def test_auth_registry_refuses_a_wrong_password(oci_registry: OciStack, oci_auth_registry: AuthRegistry,
                                                pushed_image: tuple[str, str]):
    image, _ = pushed_image
    target = f"docker://{oci_auth_registry.address}/test/hello:1"
    source = ["--src-tls-verify=false", "--dest-tls-verify=false", f"docker://{image}", target]
    refused = oci_registry.run("skopeo", "copy", "--dest-creds", f"{oci_auth_registry.username}:wrong",
                               *source, check=False)
    assert refused.returncode != 0
    assert "unauthorized" in refused.stderr.lower() or "authentication required" in refused.stderr.lower()
    anonymous = oci_registry.run("skopeo", "inspect", "--tls-verify=false", target, check=False)
    assert anonymous.returncode != 0
    creds = f"{oci_auth_registry.username}:{oci_auth_registry.password}"
    oci_registry.run("skopeo", "copy", "--dest-creds", creds, *source)
    login = oci_registry.run("podman", "login", "--tls-verify=false", "-u", oci_auth_registry.username,
                             "--password-stdin", oci_auth_registry.address,
                             input_text=oci_auth_registry.password)
    assert "Login Succeeded" in login.stdout



def test_the_layer_cache_outlives_its_holder_and_is_shared_by_the_holders_of_one_run(oci_registry: OciStack,
                                                                                      tmp_path):
    """What a warm and a parallel test run rely on: a layer and a cache mount written by one holder are
    reused by the next, even after the first was killed with a container running; a second holder at
    the same time (another xdist worker) shares them and leaves the first's containers alone."""
    cache = tmp_path / "cache"
    (tmp_path / "context").mkdir()
    (tmp_path / "context" / "Containerfile").write_text(
        "FROM python:3.11-slim\nRUN date +%s%N > /built-at\n"
        "RUN --mount=type=cache,id=stamps,target=/stamps ls /stamps > /stamps-seen && touch /stamps/$(date +%s%N)\n")

    def holder(name: str) -> ContainerTools:
        tools = ContainerTools.with_layer_cache(tmp_path / name, cache=cache)
        tools.trust(oci_registry.address)
        return tools

    def build(tools: ContainerTools, *flags: str) -> str:
        tools.run("buildah", "bud", "--layers", *flags, "-t", "localhost/stamp", str(tmp_path / "context"))
        return tools.run("podman", "image", "inspect", "--format", "{{.Id}}", "localhost/stamp").stdout.strip()

    def stamps_seen(tools: ContainerTools) -> list[str]:
        return tools.run("podman", "run", "--rm", "localhost/stamp", "cat", "/stamps-seen").stdout.split()

    first = holder("first")
    built = build(first)
    first.run("podman", "run", "-d", "--name", "left-running", "localhost/stamp", "sleep", "600")
    second = holder("second")
    try:
        assert second.storage == first.storage == cache, "the second holder did not share the cache"
        assert build(second) == built, "the second holder did not reuse the first one's layer"
    finally:
        second.close()
    assert first.run("podman", "ps", "--quiet", "--filter", "name=left-running").stdout.strip(), \
        "the second holder's close removed the first holder's running container"
    first._cache_lock.close()  # killed: no close(), the container still runs
    third = holder("third")
    try:
        assert third.storage == cache
        assert third.run("podman", "ps", "--all", "--quiet").stdout.strip() == "", "the killed run's container"
        assert build(third) == built, "the third build did not reuse the first one's layer"
        build(third, "--no-cache")
        assert len(stamps_seen(third)) == 1, "the cache mount written by the first holder was not kept"
    finally:
        third.close()
    containerfile = tmp_path / "context" / "Containerfile"
    model_version = tmp_path / "model-version"  # an earlier run's model image: it goes, the layers under it stay
    model_version.mkdir()
    (model_version / "Containerfile").write_text(containerfile.read_text() + f"LABEL {MODEL_LABEL}=credit-risk\n")
    third = holder("model-images")
    try:
        third.run("buildah", "bud", "--layers", "-t", "localhost/model-version", str(model_version))
    finally:
        third.close()
    third = holder("after-model-images")
    try:
        assert third.run("podman", "image", "exists", "localhost/model-version", check=False).returncode == 1
        assert build(third) == built, "the layers under a model image went with it"
    finally:
        third.close()
    (cache / "seed").write_text("another set of stand-in bases")
    fourth = holder("fourth")
    try:
        assert build(fourth) != built, "a layer built on other stand-in bases was reused"
        assert stamps_seen(fourth) == [], "the cache mounts outlived a wipe"
    finally:
        fourth.close()

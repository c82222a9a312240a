"""The pipeline image, built for real with buildah on the stand-in python:3.11-slim from the local
registry: `python -m ci` works without any pip install, the container tools and kubectl are there, no
test tool is, and a second publish with the same inputs only adds tags."""
from __future__ import annotations

import pytest

from ci import pipeline_image
from tests.devstack.oci_fixtures import OciStack

pytestmark = pytest.mark.containers

TEST_TOOLS = ("pytest", "_pytest", "ruff", "schemathesis", "check_jsonschema", "piptools", "httpx")
PROBE = f"""
import importlib.metadata as md, importlib.util as u, shutil
print("test tools:", [m for m in {TEST_TOOLS!r} if u.find_spec(m)])
print("tools:", [t for t in ("buildah", "podman", "skopeo", "kubectl") if not shutil.which(t)], "missing")
names = {{d.metadata["Name"].lower() for d in md.distributions()}}
print("mlflow:", sorted(n for n in names if n.startswith("mlflow")))
"""


@pytest.fixture(scope="module")
def published(oci_registry: OciStack) -> tuple[str, pipeline_image.PipelineImage]:
    repository = f"{oci_registry.address}/pyfunc-deploy/pipeline"
    result = pipeline_image.publish(repository, ["0.0.0-test", "a" * 40], base_image=oci_registry.base_image,
                                    env=oci_registry.env)
    return repository, result


def _run(oci: OciStack, image: str, *argv: str):
    return oci.run("podman", "run", "--rm", "--network", "none", image, *argv, check=False, timeout=120)


def test_jobs_run_ci_without_installing_anything(oci_registry: OciStack, published):
    repository, result = published
    assert result.rebuilt and result.reference.startswith(f"{repository}:inputs-")
    # pip itself refused to run: nothing may be installed when the job starts
    done = _run(oci_registry, f"{repository}:0.0.0-test", "sh", "-c",
                "cd /tmp && PIP_NO_INDEX=1 python -m ci --help && python -m ci pipeline-image --help")
    assert done.returncode == 0, done.stderr
    assert "resolve" in done.stdout and "deploy" in done.stdout


def test_image_holds_the_tools_and_no_test_tool(oci_registry: OciStack, published):
    repository, _ = published
    done = _run(oci_registry, f"{repository}:{'a' * 40}", "python", "-c", PROBE)
    assert done.returncode == 0, done.stderr
    assert "test tools: []" in done.stdout, done.stdout
    assert "tools: [] missing" in done.stdout, done.stdout
    assert "mlflow: ['mlflow-skinny']" in done.stdout, done.stdout  # not the full mlflow


def test_same_inputs_are_not_rebuilt_only_tagged(oci_registry: OciStack, published):
    repository, first = published
    again = pipeline_image.publish(repository, ["0.0.1-test"], base_image=oci_registry.base_image,
                                   env=oci_registry.env)
    assert not again.rebuilt and again.reference == first.reference
    digests = {oci_registry.run("skopeo", "--registries-conf", str(oci_registry.registries_conf), "inspect",
                                "--format", "{{.Digest}}", f"docker://{repository}:{tag}").stdout.strip()
               for tag in ("0.0.0-test", "0.0.1-test", first.reference.rsplit(":", 1)[1])}
    assert len(digests) == 1, digests

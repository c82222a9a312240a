"""The pipeline image, built with buildah on the stand-in python:3.11-slim from the local registry
(once per inputs hash; devstack/pipeline_image.py caches it): `python -m ci` works with nothing
installed at start, the container tools and kubectl are there, no test tool is, and publishing
the same inputs again only adds tags."""
from __future__ import annotations

import pytest

from ci.image import job_image as logic
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


def _run(oci: OciStack, image: str, *argv: str):
    return oci.run("podman", "run", "--rm", "--network", "none", image, *argv, check=False, timeout=300)


def test_jobs_run_ci_without_installing_anything(oci_registry: OciStack, pipeline_image: str):
    # no network, no index: nothing can be installed when the job starts
    done = _run(oci_registry, pipeline_image, "sh", "-c",
                "cd /tmp && PIP_NO_INDEX=1 python -m ci --help && python -m ci pipeline-image --help")
    assert done.returncode == 0, done.stderr
    assert "resolve" in done.stdout and "deploy" in done.stdout


def test_image_holds_the_tools_and_no_test_tool(oci_registry: OciStack, pipeline_image: str):
    done = _run(oci_registry, pipeline_image, "python", "-c", PROBE)
    assert done.returncode == 0, done.stderr
    assert "test tools: []" in done.stdout, done.stdout
    assert "tools: [] missing" in done.stdout, done.stdout
    assert "mlflow: ['mlflow-skinny']" in done.stdout, done.stdout  # not the full mlflow


def test_same_inputs_are_not_rebuilt_only_tagged(oci_registry: OciStack, pipeline_image: str):
    repository = pipeline_image.rsplit(":", 1)[0]
    again = logic.publish(repository, ["0.0.1-test", "a" * 40], env=oci_registry.env)
    assert not again.rebuilt and again.reference == pipeline_image
    digests = {oci_registry.run("skopeo", "--registries-conf", str(oci_registry.registries_conf), "inspect",
                                "--format", "{{.Digest}}", f"docker://{repository}:{tag}").stdout.strip()
               for tag in ("0.0.1-test", "a" * 40, pipeline_image.rsplit(":", 1)[1])}
    assert len(digests) == 1, digests

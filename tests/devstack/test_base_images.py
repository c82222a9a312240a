"""The stand-in `python:X.Y-slim` bases are in every local registry: `FROM python:3.9-slim` (bullseye),
`3.11-slim` (bookworm) and `3.13-slim` (trixie) build, with the interpreter, pip and venv a Dockerfile
expects, no libgomp1 (like the real images), and apt and pip (through this machine's CA) working."""
from __future__ import annotations

import pytest

from devstack import base_images
from tests.devstack.oci_fixtures import OciStack

pytestmark = [pytest.mark.containers, pytest.mark.zoo]

CHECK = ("import sys, ssl, sqlite3, venv, ctypes.util; "
         "assert '%d.%d' % sys.version_info[:2] == sys.argv[1], sys.version; "
         "assert ctypes.util.find_library('gomp') is None, 'libgomp1 is in the base'")


# 3.11 (bookworm) is built from by test_oci.py and every service image build.
@pytest.mark.parametrize("minor", [m for m in base_images.MINORS if m != base_images.DEFAULT_MINOR])
def test_from_the_short_name_builds_with_its_python_and_apt_adds_libgomp(oci_registry: OciStack, tmp_path,
                                                                           minor: str):
    (tmp_path / "Dockerfile").write_text(
        f"FROM python:{minor}-slim\n"
        f"RUN python -c \"{CHECK}\" {minor} && pip --version | grep -F '(python {minor})' "
        "&& python -m venv /tmp/venv\n"
        "RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends libgomp1 >/dev/null "
        "&& rm -rf /var/lib/apt/lists/*\n"
        "RUN python -c \"import ctypes; ctypes.CDLL('libgomp.so.1')\" && pip install -q --no-cache-dir six\n")
    image = f"{oci_registry.address}/test/zoo-base:{minor}"
    oci_registry.run("buildah", "bud", "-t", image, str(tmp_path), timeout=900)
    result = oci_registry.run("podman", "run", "--rm", "--network", "host", image, "python", "-c",
                              "import six, sys; print('%d.%d' % sys.version_info[:2])")
    assert result.stdout.strip() == minor

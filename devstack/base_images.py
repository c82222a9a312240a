"""The stand-in `python:X.Y-slim` base images: which Python minors have one, their cached rootfs tarballs.

No registry outside this machine is reachable, so `FROM python:X.Y-slim` is served by a Debian rootfs
(built by devstack/base_image.sh with mmdebstrap, one suite per minor) that devstack/oci.py imports
and pushes into every local registry as `library/python:X.Y-slim`. Like the real images they lack
libgomp1 and other runtime libraries: a build adds what a model needs.
"""
from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path

from devstack.procs import CACHE_DIR, InfraError

SCRIPT = Path(__file__).parent / "base_image.sh"
SUITES = {"3.9": "bullseye", "3.11": "bookworm", "3.13": "trixie"}  # Debian suite per Python minor
MINORS = tuple(SUITES)
DEFAULT_MINOR = "3.11"


def repo(minor: str) -> str:
    """The repository:tag in a local registry, e.g. library/python:3.9-slim."""
    return f"library/python:{minor}-slim"


def tarball(minor: str) -> Path:
    """Named after the script's hash, as base_image.sh names it: a changed recipe is built anew."""
    recipe = hashlib.sha256(SCRIPT.read_bytes()).hexdigest()[:12]
    return CACHE_DIR / "base-image" / f"python-{minor}-slim-{recipe}.tar"


def changes(minor: str) -> tuple[str, ...]:
    """What `podman import` adds to the rootfs (part of the registry seed's cache key)."""
    return (
        "ENV PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        f"ENV PYTHON_VERSION={minor}",
        'CMD ["python3"]',
    )


def ensure_tarball(minor: str = DEFAULT_MINOR) -> Path:
    """Build the stand-in rootfs for `minor` if it is not cached (the script is a no-op then)."""
    if minor not in SUITES:
        raise InfraError(f"no stand-in base image for Python {minor}: only {', '.join(MINORS)} "
                         "(one Debian suite each; no suite ships 3.10 or 3.12)")
    result = subprocess.run(["bash", str(SCRIPT), str(CACHE_DIR), minor],
                            capture_output=True, text=True, check=False)
    path = tarball(minor)
    if result.returncode != 0 or not path.is_file():
        raise InfraError(f"building the python:{minor}-slim base image tarball failed:\n{result.stderr[-3000:]}")
    return path

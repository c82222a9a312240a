"""The pipeline image in a local registry for the tests, the box and the benchmarks: built by
`ci.image.job_image.publish` once per inputs hash and kept as an OCI archive under the cache, since a
cold build (apt + ~85 wheels) takes minutes and every session starts with an empty registry.

The base is the short name `python:3.11-slim`, which the builder's registries.conf maps to the local
registry's stand-in, so the hash (and the cached archive) does not depend on the registry's port.
"""
from __future__ import annotations

import os
from pathlib import Path

from ci.image import job_image as pipeline_image
from devstack.oci import ContainerTools
from devstack.procs import CACHE_DIR, file_lock

PATH = "pyfunc-deploy/pipeline"
KEEP = 3  # archives of other input hashes kept (other branches on this machine)


def ensure(registry: str, tools: ContainerTools) -> tuple[str, bool]:
    """`REGISTRY/pyfunc-deploy/pipeline:inputs-<hash>` present in `registry`; True when built now."""
    repository = f"{registry}/{PATH}"
    key = pipeline_image.inputs_hash(pipeline_image.DEFAULT_BASE_IMAGE)
    archive = CACHE_DIR / f"pipeline-image-{key}.tar"
    reference = f"{repository}:inputs-{key}"
    skopeo = ["skopeo", "--registries-conf", str(tools.registries_conf)]
    with file_lock(CACHE_DIR / "pipeline-image.lock"):
        if archive.is_file():
            tools.run(*skopeo, "copy", "--quiet", f"oci-archive:{archive}", f"docker://{reference}")
            return reference, False
        pipeline_image.publish(repository, [], env=tools.env)
        partial = archive.with_suffix(".partial")
        partial.unlink(missing_ok=True)
        tools.run(*skopeo, "copy", "--quiet", f"docker://{reference}", f"oci-archive:{partial}")
        os.replace(partial, archive)
        _prune(archive)
    return reference, True


def _prune(current: Path) -> None:
    others = sorted((p for p in CACHE_DIR.glob("pipeline-image-*.tar") if p != current),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    for old in others[KEEP:]:
        old.unlink(missing_ok=True)

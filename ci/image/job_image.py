"""The pipeline image: built from exactly the files it copies, tagged by the hash of those files, so
it is rebuilt only when they change; otherwise the existing image gets the new tags (no build).

Why a hash and not `rules:changes`: the tag a job's `image:` names must exist for every commit,
and a hash of the inputs is right whatever the commit's history (force pushes, first pipelines).
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ci.project import REPO_ROOT
from ci.tools import buildah, skopeo

CONTAINERFILE = Path("images/pipeline/Containerfile")
# Everything the Containerfile copies; nothing else enters the build context or the hash.
INPUTS = (CONTAINERFILE, Path("requirements/ci.txt"), Path("ci"), Path("service"), Path("manifests"),
          Path("loadtests"))
DEFAULT_BASE_IMAGE = "python:3.11-slim"


@dataclass(frozen=True)
class PipelineImage:
    reference: str  # repository:inputs-<hash>
    tags: tuple[str, ...]
    rebuilt: bool
    seconds: float


def input_files(root: Path = REPO_ROOT) -> list[Path]:
    """The image's input files, relative to `root`, in a stable order."""
    files = []
    for entry in INPUTS:
        path = root / entry
        candidates = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [p.relative_to(root) for p in candidates if not _generated(p.relative_to(root))]
    return files


def _generated(relative: Path) -> bool:
    """Caches a checkout may hold but git does not track (__pycache__, .ruff_cache, .pytest_cache)."""
    return relative.suffix == ".pyc" or any(part == "__pycache__" or part.startswith(".") for part in relative.parts)


def inputs_hash(base_image: str, root: Path = REPO_ROOT) -> str:
    """12 hex digits over the base image's name and every input file's path and bytes."""
    digest = hashlib.sha256(f"base={base_image}\n".encode())
    for relative in input_files(root):
        digest.update(f"{relative}\n".encode())
        digest.update(hashlib.sha256((root / relative).read_bytes()).digest())
    return digest.hexdigest()[:12]


def publish(repository: str, tags: Sequence[str], *, base_image: str = DEFAULT_BASE_IMAGE,
            root: Path = REPO_ROOT, authfile: Path | None = None,
            env: Mapping[str, str] | None = None) -> PipelineImage:
    """Build and push `repository:inputs-<hash>` unless the registry has it, then add `tags`."""
    started = time.monotonic()
    reference = f"{repository}:inputs-{inputs_hash(base_image, root)}"
    rebuilt = skopeo.inspect(reference, authfile=authfile, env=env) is None
    if rebuilt:
        with tempfile.TemporaryDirectory(prefix="pipeline-image-") as tmp:
            context = Path(tmp)
            for relative in input_files(root):
                (context / relative).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(root / relative, context / relative)
            buildah.build(context, dockerfile=context / CONTAINERFILE, tags=[reference],
                          build_args={"BASE_IMAGE": base_image}, authfile=authfile, env=env)
            buildah.push(reference, authfile=authfile, env=env)
    for tag in dict.fromkeys(t for t in tags if t):
        skopeo.copy(reference, f"{repository}:{tag}", authfile=authfile, env=env)
    return PipelineImage(reference, tuple(dict.fromkeys(t for t in tags if t)), rebuilt,
                         time.monotonic() - started)

"""IMAGE_PACKAGE_INDEXES: named packages come from an index of their own (PyTorch's CPU index for torch,
torchvision and torchaudio), every other package from the usual index.

pip has no per-package index, and `--extra-index-url` lets every package come from either index. So
each named package the image requires is resolved here on its own index alone (`pip install --dry-run
--no-deps --report` for the image's Python and platform, the preflight's resolution), and the image's
requirement becomes that one file, by URL and hash: `torch @ https://…/torch-2.13.0+cpu-….whl#sha256=…`.
Preflight and the build read the same rewritten list, any builder (buildah, docker, kaniko) installs it
with no extra setting, and a model pinned to a plain `torch==2.13.0` gets the index's CPU build
(`2.13.0+cpu` satisfies `==2.13.0`). Its dependencies still come from the usual index.

    IMAGE_PACKAGE_INDEXES="torch torchvision torchaudio=https://download.pytorch.org/whl/cpu; other=URL"
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from ci.errors import CheckFailed, ConfigError
from ci.image.requirements import ImageSpec
from ci.image.resolve import CUDA_BUILD, PIP_NOISE, RESOLVE_TIMEOUT_S, build_pip_env, pip_argv
from ci.tools import run_tool, tail

SETTING = "IMAGE_PACKAGE_INDEXES"


def parse(text: str) -> dict[str, str]:
    """`"a b=URL; c=URL2"` as {canonical package name: index URL}; ConfigError naming the bad entry."""
    indexes: dict[str, str] = {}
    for entry in filter(None, (part.strip() for part in text.split(";"))):
        names, _, url = entry.partition("=")
        parsed = urllib.parse.urlsplit(url.strip())
        if not names.split() or parsed.scheme not in ("http", "https", "file") or not (parsed.netloc or parsed.path):
            raise ConfigError(f"{SETTING} entry {entry!r} is not `package [package ...]=index URL` (entries "
                              "separated by `;`), e.g. torch torchvision=https://download.pytorch.org/whl/cpu")
        if parsed.username or parsed.password:
            raise ConfigError(f"{SETTING}: the index for {names.strip()} carries credentials, which would be written "
                              "into the image's requirements: name a mirror reachable without them, or put the "
                              "index in PIP_EXTRA_INDEX_URL (the build gets it as a secret)")
        indexes.update({canonicalize_name(name): url.strip() for name in names.split()})
    return indexes


def _name(line: str) -> str | None:
    try:
        return canonicalize_name(Requirement(line).name)
    except InvalidRequirement:
        return None


def from_own_indexes(spec: ImageSpec, setting: str, *, env: Mapping[str, str] | None = None,
                     timeout: float = RESOLVE_TIMEOUT_S) -> ImageSpec:
    """`spec` with each requirement `setting` maps to an index replaced by the file that index serves
    for it (by URL and sha256); `spec.sources` says which. CheckFailed when the index has no fitting
    build, or only a CUDA one."""
    indexes = parse(setting)
    lines, sources = [], []
    for line in spec.requirements:
        url = indexes.get(_name(line) or "")
        if url is None:
            lines.append(line)
            continue
        direct, version = _resolve_on(spec, line, url, env, timeout)
        lines.append(direct)
        sources.append(f"{Requirement(line).name}=={version} from {url} ({SETTING})")
    return dataclasses.replace(spec, requirements=lines, sources=sources) if sources else spec


def _resolve_on(spec: ImageSpec, line: str, url: str, env: Mapping[str, str] | None, timeout: float) -> tuple[str, str]:
    """(`name @ file-url#sha256=…`, version) of what `url` alone serves for `line` on the image's platform."""
    pip_env = {k: v for k, v in build_pip_env(env).items() if k not in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL")}
    with tempfile.TemporaryDirectory(prefix="package-index-") as tmp:
        requirement, report = Path(tmp) / "requirement.txt", Path(tmp) / "report.json"
        requirement.write_text(line + "\n")
        argv = [*pip_argv(spec, requirement, report), "--no-deps", "--index-url", url]
        done = run_tool(argv, env=pip_env, inherit_env=False, timeout=timeout, check=False)
        if done.returncode != 0 or not report.is_file():
            says = "\n".join(entry for entry in done.stderr.splitlines() if not entry.startswith(PIP_NOISE))
            raise CheckFailed(f"{line}: {SETTING} names {url} for it, and pip finds no build there for Python "
                              f"{spec.python} on Linux x86_64:\n{tail(says, 8)}\nCheck the index URL, or the "
                              "pin (the index may publish other versions)")
        installed = json.loads(report.read_text())["install"][0]
    version = installed["metadata"]["version"]
    if CUDA_BUILD.search(version):
        raise CheckFailed(f"{line}: {url} serves {installed['metadata']['name']} {version}, a CUDA build, and the "
                          "image serves on CPU nodes: name the CPU index (e.g. https://download.pytorch.org/whl/cpu) "
                          f"in {SETTING}")
    info = installed["download_info"]
    digest = (info.get("archive_info") or {}).get("hashes", {}).get("sha256")
    file_url = info["url"] + (f"#sha256={digest}" if digest else "")
    return f"{installed['metadata']['name']} @ {file_url}", version

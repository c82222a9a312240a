"""Tiny FROM-scratch images as docker-archive tars, written without an image builder: the
cluster's pause image and the tests' fake model images."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path


def write_image_archive(path: Path, ref: str, files: Mapping[str, Path | bytes],
                        entrypoint: Sequence[str], cmd: Sequence[str] = ()) -> Path:
    """Write a one-layer, FROM-scratch image as a docker-archive tar (what `ctr images import`
    and `skopeo copy docker-archive:...` read) - no image builder needed for tiny test images."""
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as tar:
        dirs: set[str] = set()
        for name, content in sorted(files.items()):
            for parent in reversed(Path(name).parents[:-1]):
                if str(parent) not in dirs:
                    dirs.add(str(parent))
                    info = tarfile.TarInfo(str(parent))
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            data = content.read_bytes() if isinstance(content, Path) else content
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    layer_bytes = layer.getvalue()
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Entrypoint": list(entrypoint), "Cmd": list(cmd) or None, "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers",
                   "diff_ids": ["sha256:" + hashlib.sha256(layer_bytes).hexdigest()]}}).encode()
    config_name = hashlib.sha256(config).hexdigest() + ".json"
    manifest = json.dumps([{"Config": config_name, "RepoTags": [ref], "Layers": ["layer.tar"]}])
    with tarfile.open(path, "w") as archive:
        for name, data in ((config_name, config), ("layer.tar", layer_bytes),
                           ("manifest.json", manifest.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path

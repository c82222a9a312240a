"""A package index on 127.0.0.1: a PEP 503 "simple" directory served over HTTP, as a company mirror or
PyTorch's own wheel index serves it, for the builds that need one (PIP_INDEX_URL / PIP_EXTRA_INDEX_URL).

`PackageIndex(root).start()` serves every file given to `add()` (a wheel or an sdist, linked, not
copied) at `.url` (`http://127.0.0.1:PORT/simple/`), each link with its sha256 as pip checks it. pip
treats 127.0.0.0/8 as a secure origin: no --trusted-host. `local_wheel(pattern)` finds a wheel that lies
on this machine (the CPU build of torch, in the machine's pip find-links: ../shared/REAL-INFRA.md).
"""
from __future__ import annotations

import configparser
import hashlib
import html
import os
import re
import sys
from pathlib import Path

from devstack.procs import InfraError, ManagedProcess, free_port, http_ok, wait_until

PIP_CONFIG_FILES = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "~/.config/pip/pip.conf", "~/.pip/pip.conf")


def _project(filename: str) -> str:
    """The PEP 503 normalised project name of a wheel or sdist file name."""
    name = re.split(r"-\d", filename, maxsplit=1)[0]
    return re.sub(r"[-_.]+", "-", name).lower()


class PackageIndex:
    def __init__(self, root: Path, port: int = 0) -> None:
        """`port`: the one to serve on if it is free (a URL that stays the same between runs, so an
        image build whose requirements name files on this index hits the layer cache), else any."""
        self.root = root
        self.port = free_port(port)
        self.url = f"http://127.0.0.1:{self.port}/simple/"
        self.process: ManagedProcess | None = None
        for sub in ("files", "simple"):
            (root / sub).mkdir(parents=True, exist_ok=True)

    def add(self, *paths: Path) -> PackageIndex:
        for path in paths:
            link = self.root / "files" / path.name
            if not link.exists():
                link.symlink_to(path.resolve())
        self._write_pages()
        return self

    def _write_pages(self) -> None:
        projects: dict[str, list[Path]] = {}
        for path in sorted((self.root / "files").iterdir()):
            projects.setdefault(_project(path.name), []).append(path)
        for project, files in projects.items():
            page = self.root / "simple" / project / "index.html"
            page.parent.mkdir(parents=True, exist_ok=True)
            links = "".join(
                f'<a href="../../files/{html.escape(f.name)}#sha256={hashlib.sha256(f.read_bytes()).hexdigest()}">'
                f"{html.escape(f.name)}</a>\n" for f in files)
            page.write_text(f"<!DOCTYPE html><html><body>\n{links}</body></html>\n")

    def start(self) -> PackageIndex:
        self.process = ManagedProcess([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(self.port),
                                       "--directory", str(self.root)], log=self.root.parent / "package-index.log")
        wait_until(lambda: http_ok(self.url), 15, f"package index on {self.url}", log=self.process.log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None


def local_wheel(pattern: str) -> Path:
    """A wheel matching `pattern` (a glob) in this machine's pip find-links directories."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read([os.path.expanduser(path) for path in PIP_CONFIG_FILES])
    places = os.environ.get("PIP_FIND_LINKS", "").split() + parser.get("global", "find-links", fallback="").split()
    for place in places:
        found = sorted(Path(place.removeprefix("file://")).glob(pattern))
        if found:
            return found[-1]
    raise InfraError(f"no wheel {pattern} in this machine's pip find-links ({', '.join(places) or 'none set'}): "
                     "the machines this project runs on keep the CPU build of torch there "
                     "(../shared/REAL-INFRA.md, PyTorch)")

"""`python -m devstack.locks`: compile the lock files (pip-tools) from their `.in` lists, for the
Python the pipeline image runs (this interpreter's, 3.11).

requirements/ci.in -> requirements/ci.txt: every package the pipeline image installs, pinned, so the
image's `pip install --no-deps` + `pip check` is reproducible. tests/unit/test_requirements.py checks
that the locks agree with their inputs and with the development list.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LOCKS = {REPO / "requirements" / "ci.in": REPO / "requirements" / "ci.txt"}
# Locust requires pytest only to run pytest-style locustfiles (imported lazily; ours is a plain
# locustfile): the image leaves pytest and what only it needs out (Containerfile: `pip check`
# allows exactly that gap).
LEFT_OUT = ("pytest", "iniconfig", "pluggy", "pygments")
COMPILE_OPTIONS = ("--quiet", "--strip-extras", "--no-emit-index-url", "--no-emit-trusted-host", "--no-emit-find-links",
                   "--newline=lf", *(f"--unsafe-package={name}" for name in LEFT_OUT))


def compile_lock(source: Path, lock: Path, upgrade: bool = False) -> None:
    """pip-compile `source` into `lock` (pins kept unless `upgrade`); the header names this command."""
    pip_compile = Path(sys.executable).with_name("pip-compile")
    argv = [str(pip_compile), *COMPILE_OPTIONS, "--output-file", str(lock.relative_to(REPO)),
            str(source.relative_to(REPO))]
    if upgrade:
        argv.append("--upgrade")
    env = {**os.environ, "CUSTOM_COMPILE_COMMAND": "python -m devstack.locks"}
    subprocess.run(argv, cwd=REPO, env=env, check=True)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.locks", description=__doc__)
    parser.add_argument("--upgrade", action="store_true", help="let unpinned dependencies move to the newest")
    args = parser.parse_args()
    for source, lock in LOCKS.items():
        compile_lock(source, lock, args.upgrade)
        print(f"{lock.relative_to(REPO)}: {sum(1 for line in lock.read_text().splitlines() if '==' in line)} pins")
    return 0


if __name__ == "__main__":
    sys.exit(main())

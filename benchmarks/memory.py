"""Memory benchmark (not a test): PSS of the service's process group with 1 and with 4 preloaded
workers, after a short load.

    $VENV/bin/python -m benchmarks.memory MODEL_DIR    (benchmarks.serving runs it for its model)

Run it while no other process maps the model's libraries: PSS splits a shared page among every
process mapping it, so a benchmark (or test) process holding numpy, pandas and scikit-learn takes
part of the server's pages off the 1-worker figure (1.31-1.32x instead of 1.27x). A pod holds only
the server. `benchmarks.serving` runs it first, with the model trained in a child process.
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from benchmarks.serving import BODY
from benchmarks.wrk_load import WRK_SCRIPT, pss_mb, wrk
from devstack.model_servers import start_service


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="a local MLflow model directory")
    args = parser.parse_args(argv)
    pss = {}
    with tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp:
        script = Path(tmp) / "post.lua"
        script.write_text(WRK_SCRIPT % BODY)
        for workers in (1, 4):
            server = start_service(args.model_dir, Path(tmp) / f"pss{workers}.log", workers=workers)
            try:
                wrk(server.url, 16, 2, script)  # every worker has served: its private pages are counted
                pss[workers] = pss_mb(server)
            finally:
                server.stop()
    print(f"PSS, service with 1 worker: {pss[1]:.0f} MB; with 4 preloaded workers: {pss[4]:.0f} MB "
          f"({pss[4] / pss[1]:.2f}x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

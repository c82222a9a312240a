"""Benchmark (not a test): the capacity figures of docs/capacity.md in one command. The credit-risk
example is built into its image, `ci gate latency --capacity` steps the load on one container limited
like the production pod, and `ci capacity` plans the page's two targets from that measurement.

    $VENV/bin/python -m benchmarks.capacity [--target-rps 200 11500] [--peak-factor 1.5] [--out DIR]

Prints the measured steps and each plan (the tables the commands print) and leaves latency.json,
capacity-<target>/capacity.json and capacity.svg in --out. The gate's thresholds are its defaults; on
a shared machine the figures are the machine's, not the model's (the gate prints the load average).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from benchmarks.image import bench_stack
from ci.cli import main as ci
from ci.image.build import build
from ci.registry.model_ref import ModelRef


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target-rps", type=float, nargs="+", default=[200, 11500])
    parser.add_argument("--peak-factor", type=float, default=1.5)
    parser.add_argument("--out", type=Path, default=Path("capacity-bench"))
    args = parser.parse_args(argv)
    from examples.credit_risk.train import train_and_register

    print(f"load average before: {os.getloadavg()}", flush=True)
    with bench_stack("bench-capacity-") as (_, registry, tools, server):
        saved = dict(os.environ)
        try:
            version = train_and_register(server.url, "pyfunc")
            image = build(ModelRef(version.name, str(version.version), version.run_id),
                          repository=f"{registry.address}/bench/capacity", commit="bench000",
                          tracking_uri=server.url, env=tools.env).reference
            os.environ.update(tools.env)  # podman's configuration, as a CI job has it
            code = ci(["gate", "latency", "--image", image, "--tracking-uri", server.url, "--model-name",
                       version.name, "--model-version", str(version.version), "--output-dir", str(args.out),
                       "--capacity"])
            print(f"gate latency --capacity exited {code}; load average after: {os.getloadavg()}", flush=True)
            for target in args.target_rps:
                ci(["capacity", "--target-rps", f"{target:g}", "--peak-factor", f"{args.peak_factor:g}",
                    "--from", str(args.out / "latency.json"), "--output-dir", str(args.out / f"capacity-{target:g}")])
        finally:
            os.environ.clear()
            os.environ.update(saved)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

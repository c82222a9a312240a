"""Shadow copies' cost to the live traffic (not a test): the stable service with copies off, on for
every request and for a tenth, side by side in alternating slices at c=64.

    $VENV/bin/python -m benchmarks.shadow [--duration 10] [--rounds 3]

Trains the credit-risk example (`benchmarks.serving`), starts a candidate and three stable services
(2 workers each), and loads each stable one with wrk in turn, `--rounds` times. Prints per
configuration the median rps, p50 and p99 (ms), the stable service's CPU ms per request, and its
copies by outcome. The candidate is the floor (`benchmarks.floor`, 1 worker: a constant one-row
answer, which each copy's comparison reads like any): in a cluster the candidate runs on its own pod,
and a candidate that shared these two cores would measure its own CPU, not the copies' cost.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
from pathlib import Path

import requests

from benchmarks.serving import BODY, floor, train_model_apart
from benchmarks.wrk_load import WRK_SCRIPT, cpu_seconds, wrk
from devstack.model_servers import start_service

CONFIGS = {"copies off": {}, "copies on, every request": {"shadow_sample_rate": 1.0},
           "copies on, 10% of requests": {"shadow_sample_rate": 0.1}}


def copies(url: str) -> str:
    text = requests.get(f"{url}/metrics", timeout=10).text
    found = re.findall(r'^service_shadow_requests_total\{outcome="(\w+)"\} (\S+)$', text, re.MULTILINE)
    return ", ".join(f"{outcome} {float(n):.0f}" for outcome, n in found) or "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk slice")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print("load average at start (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-shadow-") as tmp:
        work = Path(tmp)
        model = train_model_apart(work)
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT % BODY)
        candidate = floor(model, work / "candidate.log", workers=1)
        servers = {}
        try:
            for index, (name, settings) in enumerate(CONFIGS.items()):
                shadow = {"shadow_url": candidate.url} if settings else {}
                servers[name] = start_service(model, work / f"stable-{index}.log", workers=2, **shadow, **settings)
            results: dict[str, list[tuple[dict, float]]] = {name: [] for name in servers}
            for server in servers.values():
                wrk(server.url, 16, 2, script)  # warm every worker
            for _ in range(args.rounds):
                for name, server in servers.items():
                    before = cpu_seconds(server)
                    result = wrk(server.url, 64, args.duration, script)
                    results[name].append((result, cpu_seconds(server) - before))
            print(f"\nc=64, 1 row, {args.rounds} x {args.duration} s each, medians:")
            print(f"  {'stable service':30} {'rps':>7} {'p50':>7} {'p99':>7} {'err':>5} {'cpu ms/req':>10}  copies")
            for name, runs in results.items():
                rps = statistics.median(r["requests"] / r["seconds"] for r, _ in runs)
                p50 = statistics.median(r["p50"] / 1000 for r, _ in runs)
                p99 = statistics.median(r["p99"] / 1000 for r, _ in runs)
                errors = sum(r["errors"] + r["non2xx"] for r, _ in runs)
                cpu = statistics.median(1000 * c / max(r["requests"], 1) for r, c in runs)
                print(f"  {name:30} {rps:>7.0f} {p50:>7.2f} {p99:>7.2f} {errors:>5} {cpu:>10.2f}  "
                      f"{copies(servers[name].url)}")
        finally:
            for server in servers.values():
                server.stop()
            candidate.stop()
    print("load average after (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

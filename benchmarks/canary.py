"""Canary benchmark (not a test): `ci deploy --strategy canary` against today's rolling deploy of the
same bad versions, on the real test cluster, with outside traffic running.

    $VENV/bin/python -m benchmarks.canary [--window 60] [--interval 5]

For each bad version (30% errors, 0.5 s slower, shifted predictions: each starts, turns ready and
smokes fine) one namespace serving version 1 gets the canary of it (one 50% step), another gets it
through the rolling deploy. A thread sends predictions through the Service all along. Printed side
by side, over the same window from the deploy's start: seconds from the first bad evidence (the
first outside request the bad version served) to the abort (the canary out of the Service), and the
share of outside requests that reached the bad version.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from benchmarks.undo import namespace_with_v1, target
from ci.deploy import rolling as deploy
from ci.deploy.smoke import Smoke
from ci.progressive import canary
from ci.progressive.canary_analysis import Thresholds
from devstack.cluster import Cluster
from devstack.fake_model_images import load_fake_images
from devstack.service_traffic import Traffic

NAME = "pyfunc-model"
BODY = b'{"dataframe_split": {"columns": ["x"], "data": [[1.0]]}}'
CASES = {"30% errors": ("errors", "7"), "0.5 s slower": ("slower", "8"), "shifted predictions": ("shifted", "9")}


def bad_answers(traffic: Traffic, version: str, start: float, end: float) -> tuple[int, int, float | None]:
    """(answers from the bad version or failed, all answers, epoch of the first bad one) in the window."""
    answers = traffic.between(start, end)
    bad = [a for a in answers if a.served_by == version or a.status != 200]
    return len(bad), len(answers), (bad[0].at if bad else None)


def run_canary(cluster: Cluster, images: dict[str, str], image: str, version: str, limits: deploy.Limits,
               window: float, interval: float) -> tuple[float | None, float, str]:
    kube = namespace_with_v1(cluster, images, limits)
    plan = canary.Plan(steps=(50,), interval=interval, thresholds=Thresholds(min_requests=100), bodies=(BODY,),
                       service=NAME)
    with Traffic(namespace_with_traffic(cluster, kube.namespace), NAME, BODY) as traffic:
        start = time.time()
        result = canary.run(kube, target(kube.namespace, images[image], version), limits, plan,
                            Smoke(NAME, "http", BODY, timeout=20))
        time.sleep(max(0.0, start + window - time.time()))
    bad, total, first = bad_answers(traffic, version, start, start + window)
    to_abort = (result.removed_at - first) if first and result.outcome != "promoted" else None
    return to_abort, bad / max(total, 1), f"{result.outcome} ({(result.failing or {}).get('check', '-')})"


def run_rolling(cluster: Cluster, images: dict[str, str], image: str, version: str, limits: deploy.Limits,
                window: float) -> tuple[float | None, float, str]:
    kube = namespace_with_v1(cluster, images, limits)
    with Traffic(namespace_with_traffic(cluster, kube.namespace), NAME, BODY) as traffic:
        start = time.time()
        result = deploy.deploy(kube, target(kube.namespace, images[image], version), limits,
                               Smoke(NAME, "http", BODY, timeout=20))
        time.sleep(max(0.0, start + window - time.time()))
    bad, total, _ = bad_answers(traffic, version, start, start + window)
    return None, bad / max(total, 1), "rolled out" if result.ok else f"undone ({result.failure})"


def namespace_with_traffic(cluster: Cluster, namespace: str):
    from ci.clients.kube import Kube

    return Kube(cluster.api_client(), namespace)  # its own client: the traffic thread shares none


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=60.0, help="seconds measured from each deploy's start")
    parser.add_argument("--interval", type=float, default=5.0, help="the canary step's interval")
    args = parser.parse_args()
    limits = deploy.Limits(timeout=300, readiness=30)
    cluster = Cluster().start()
    rows = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            images = load_fake_images(cluster, Path(tmp))
        for case, (image, version) in CASES.items():
            rows[case] = (run_canary(cluster, images, image, version, limits, args.window, args.interval),
                          run_rolling(cluster, images, image, version, limits, args.window))
    finally:
        cluster.stop()

    def seconds(value: float | None) -> str:
        return "never" if value is None else f"{value:.1f}"

    print(f"\nOutside traffic through the Service, one request at a time; window {args.window:.0f}s from each "
          f"deploy's start; canary: one 50% step, interval {args.interval:g}s, 100 requests a side. "
          "Timings on a shared 2-core machine: noisy.")
    print(f"{'bad version':<20} | {'canary: evidence->abort s':>25} {'bad share':>9} {'outcome':<34} | "
          f"{'rolling: evidence->abort s':>26} {'bad share':>9} outcome")
    for case, ((c_abort, c_share, c_out), (r_abort, r_share, r_out)) in rows.items():
        print(f"{case:<20} | {seconds(c_abort):>25} {c_share:>9.1%} {c_out:<34} | "
              f"{seconds(r_abort):>26} {r_share:>9.1%} {r_out}")


if __name__ == "__main__":
    main()

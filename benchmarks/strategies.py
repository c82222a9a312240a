"""Deploy strategies benchmark (not a test): rolling, canary and shadow deploys of the same bad versions of
a real model, each built by `ci build` into the real service image, on the test cluster with outside
traffic running.

    $VENV/bin/python -m benchmarks.strategies [--window 90]

The bad versions (devstack/fixture_models/shadow_models.py) start, turn ready and smoke fine: "few rows changed"
flips the class of every 10th row and moves its score by 0.05; "shifted predictions" doubles every
score. For each, three namespaces serve version 1 and each gets the bad version through one strategy,
as `ci deploy` runs it (canary: one 50% step; shadow: copies of stable's requests and of 200 requests of
its own). A thread sends the same 10-row request through the Service all along; an answer that differs
from version 1's came from the bad version. Printed side by side: seconds from the deploy's start to its
verdict, the share of outside answers the bad version gave within the window from the start, and how
the deploy ended. The live p99 cost of the stable pods' copies is `benchmarks.shadow`.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

from ci.cli import main as ci_main
from ci.clients.kube import Kube
from ci.image.build import build
from devstack.cluster import Cluster, delete_namespace, new_namespace
from devstack.fixture_models import register_shadow_versions
from devstack.mlflow_server import MlflowServer
from devstack.oci import ContainerTools, seed_storage
from devstack.oci_registry import OciRegistry
from devstack.service_traffic import Traffic

REPO = Path(__file__).resolve().parents[1]
OVERLAY = REPO / "manifests" / "overlays" / "staging"
NAME = "pyfunc-model"
CASES = {"few rows changed": "changed", "shifted predictions": "shifted"}
TRAFFIC = json.dumps({"dataframe_split": {"columns": ["x"], "data": [[float(x)] for x in range(1, 11)]}}).encode()
STRATEGIES = {
    "rolling": ["--strategy", "rolling"],
    "canary": ["--strategy", "canary", "--canary-steps", "50", "--canary-interval", "2",
               "--canary-min-requests", "100"],
    "shadow": ["--strategy", "shadow", "--shadow-duration", "2", "--shadow-min-rows", "150",
               "--shadow-max-wait", "150"],
}
REPORT = {"rolling": "deploy.json", "canary": "canary.json", "shadow": "shadow.json"}


def deploy(cluster: Cluster, namespace: str, image: str, version: str, work: Path,
           strategy: str = "rolling") -> tuple[int, dict]:
    """`ci deploy` as a job runs it: (its exit code, its strategy's report, else deploy.json's)."""
    out = Path(tempfile.mkdtemp(dir=work))
    (out / "smoke.json").write_bytes(TRAFFIC)
    rows = out / "rows.jsonl"
    rows.write_text("".join(json.dumps({"dataframe_split": {"columns": ["x"], "data": [[float(x)]]}}) + "\n"
                            for x in range(200)))
    own_rows = {"canary": ["--canary-input", str(rows)], "shadow": ["--shadow-input", str(rows)]}.get(strategy, [])
    code = ci_main(["deploy", "--kubeconfig", str(cluster.kubeconfig), "--namespace", namespace,
                    "--manifests", str(OVERLAY), "--image", image, "--model-name", "shadow-model",
                    "--model-version", version, "--smoke-input", str(out / "smoke.json"),
                    "--output-dir", str(out), "--readiness-timeout", "60", "--timeout", "180",
                    "--smoke-timeout", "30", *STRATEGIES[strategy], *own_rows])
    report = next((out / name for name in (REPORT[strategy], "deploy.json") if (out / name).exists()), None)
    return code, json.loads(report.read_text()) if report else {}


def outcome(strategy: str, code: int, report: dict) -> str:
    if strategy == "rolling":
        return "rolled out" if report.get("ok") else f"undone ({report.get('failure', '?')[:40]})"
    failing = (report.get("failing") or {}).get("check") or ",".join(
        c["name"] for c in report.get("checks", []) if not c.get("passed"))
    return f"{report.get('outcome', f'exit {code}')}" + (f" ({failing})" if failing else "")


def run(cluster: Cluster, images: dict[str, tuple[str, str]], bad: str, strategy: str, window: float,
        work: Path) -> tuple[float, float, str]:
    namespace = new_namespace(cluster, f"bench-{strategy}")
    try:
        stable_image, stable_version = images["stable"]
        code, _ = deploy(cluster, namespace, stable_image, stable_version, work)
        if code != 0:
            raise RuntimeError(f"version 1 did not roll out in {namespace} (exit {code})")
        kube = Kube(cluster.api_client(), namespace)
        status, stable_answer = kube.proxy("POST", NAME, "http", "invocations", body=TRAFFIC, timeout=10)
        assert status == 200, stable_answer[:300]
        image, version = images[bad]
        with Traffic(Kube(cluster.api_client(), namespace), NAME, TRAFFIC,
                     served_by=lambda body: "stable" if body == stable_answer else "bad") as traffic:
            start = time.time()
            code, report = deploy(cluster, namespace, image, version, work, strategy)
            verdict = time.time() - start
            time.sleep(max(0.0, start + window - time.time()))
        answers = traffic.between(start, start + window)
        reached = sum(1 for a in answers if a.served_by == "bad") / max(len(answers), 1)
        return verdict, reached, outcome(strategy, code, report)
    finally:
        delete_namespace(cluster, namespace)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window", type=float, default=90.0, help="seconds of outside traffic from each start")
    args = parser.parse_args(argv)
    rows: dict[str, dict[str, tuple[float, float, str]]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-strategies-") as tmp:
        work = Path(tmp)
        registry = OciRegistry(work / "registry", seed=seed_storage()).start()
        tools = ContainerTools.with_layer_cache(work / "tools")
        tools.trust(registry.address)
        server = MlflowServer(work / "mlflow").start(timeout=300)
        os.environ["MLFLOW_TRACKING_URI"] = server.url
        cluster = Cluster().start()
        try:
            env = {**tools.env, "IMAGE_PUSH_COMPRESSION": "none"}
            images = {key: (build(model, repository=f"{registry.address}/bench/shadow-model", commit="be4c4",
                                  tracking_uri=server.url, env=env).reference, model.version)
                      for key, model in register_shadow_versions(server.url).items()
                      if key in ("stable", *CASES.values())}
            for case, bad in CASES.items():
                rows[case] = {strategy: run(cluster, images, bad, strategy, args.window, work)
                              for strategy in STRATEGIES}
                print(case, rows[case], flush=True)
        finally:
            cluster.stop()
            server.stop()
            tools.close()
            registry.stop()
    print(f"\nOutside traffic: one 10-row request at a time through the Service, {args.window:.0f} s from each "
          "deploy's start. Verdict: seconds from the start to the deploy's end. Timings on a shared 2-core "
          "machine: noisy.")
    print(f"{'bad version':<20} {'strategy':<8} {'verdict s':>9} {'bad answers':>11}  outcome")
    for case, by_strategy in rows.items():
        for strategy, (verdict, reached, ended) in by_strategy.items():
            print(f"{case:<20} {strategy:<8} {verdict:>9.1f} {reached:>11.1%}  {ended}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

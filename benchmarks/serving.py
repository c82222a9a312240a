"""Serving benchmark (not a test): this service against `mlflow models serve` and MLServer on the same model.

    $VENV/bin/python -m benchmarks.serving [--duration 10] [--soak 60] [--only c1|c64|tracing]
        [--against REF] [--profile FILE] [--model DIR]

Trains the plain sklearn credit-risk example into a throw-away MLflow store, starts each server in
turn on 127.0.0.1 and loads it with Debian's `wrk` (1-row `dataframe_split` POSTs) at concurrency
1, 16 and 64, the floor too (`benchmarks.floor`: a constant answer under the same Gunicorn workers,
what the HTTP stack alone costs), and MLServer 1.7.1 with its MLflow runtime (2 inference workers;
on /invocations, and with adaptive batching on its V2 `infer` route, the same row as a V2 request:
MLServer batches only that route). Prints rps, p50/p95/p99 (ms), errors, server CPU ms per request,
the ratio to `mlflow models serve` (defaults), PSS of the server's process group and start-to-ready
seconds. Then the c=64 comparison: the floor, the service with batching off and on and MLServer with
adaptive batching, all up at
once and loaded in alternating slices, CPU ms per request side by side (`--against REF` adds the
service of git revision REF: before/after figures in one command; `--profile FILE` then samples a
batching worker, and REF's, with py-spy under that load and prints where its CPU goes, by request
step). Then the c=1 p50 of the
service with batching off, on (the default), with tracing exported over OTLP/HTTP and with an OTLP
endpoint set but no exporter installed, against the in-process `predict` p50 (in alternating
slices: the c=1 cost of batching and of tracing); the same tracing configurations at c=64; the PSS
of 4 preloaded workers against 1 (`benchmarks.memory`), and (with --soak) errors at c=256 for both
service configurations, and for batching with workers recycled during the soak.
Traced runs send a `traceparent` on every request (every configuration of that comparison does) and
export to `devstack.otlp_receiver` in its own process. `--only c1` runs just the c=1 comparison
(~1.5 min), `--only c64` the c=64 one (~1 min), `--only tracing` the c=64 tracing one; `--model DIR`
serves an MLflow model directory instead of training.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

from benchmarks.serving_c1 import BATCHING_OFF, COLUMNS, c1_comparison, start_receiver, tracing_c64
from benchmarks.wrk_load import WRK_SCRIPT, cpu_seconds, group, pss_mb, wrk
from devstack.model_servers import ServerProcess, extract_service, start_mlflow_serve, start_mlserver, start_service

BODY = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [[34.0, 48000.0, "employed", 2]]}})
# The same row for MLServer's V2 `infer` (the route its adaptive batching applies to), as a DataFrame
V2_INFER = "/v2/models/model/infer"
V2_BODY = json.dumps({"parameters": {"content_type": "pd"}, "inputs": [
    {"name": "age", "shape": [1], "datatype": "FP64", "data": [34.0]},
    {"name": "income", "shape": [1], "datatype": "FP64", "data": [48000.0]},
    {"name": "employment_status", "shape": [1], "datatype": "BYTES", "data": ["employed"],
     "parameters": {"content_type": "str"}},
    {"name": "num_credit_cards", "shape": [1], "datatype": "INT64", "data": [2]}]})
MLSERVER_NAME = "MLServer 1.7.1"
# MLServer's adaptive batching as the peer figures ran it: up to 64 requests, 2 ms (this
# service's SERVICE_BATCH_MAX_WAIT_MS default)
MLSERVER_BATCHING = {"max_batch_size": 64, "max_batch_time": 0.002}
MLSERVER_V2 = f"{MLSERVER_NAME}, adaptive batching, V2 infer"
CONCURRENCY = (1, 16, 64)
TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def train_model(work: Path) -> Path:
    """The plain sklearn example, logged to a sqlite store in `work` and downloaded like the build does."""
    import mlflow

    from examples.credit_risk.train import train_and_register

    cwd = os.getcwd()
    os.chdir(work)  # the sqlite store keeps artifacts under ./mlruns
    try:
        uri = f"sqlite:///{work / 'mlflow.db'}"
        version = train_and_register(uri, "sklearn")
        return Path(mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{version.name}/{version.version}", tracking_uri=uri,
            dst_path=str(work / "model")))
    finally:
        os.chdir(cwd)


def train_model_apart(work: Path) -> Path:
    """`train_model` in a child process, so that this one never maps numpy, pandas or scikit-learn
    before `benchmarks.memory` has run: PSS splits a shared page among every process mapping it."""
    code = ("import sys; from pathlib import Path; from benchmarks.serving import train_model; "
            "print('MODEL_DIR=' + str(train_model(Path(sys.argv[1]))))")
    out = subprocess.run([sys.executable, "-c", code, str(work)], capture_output=True, text=True, check=True).stdout
    return Path(next(line for line in out.splitlines() if line.startswith("MODEL_DIR="))[len("MODEL_DIR="):])


def measure(name: str, server: ServerProcess, duration: int, script: Path,
            path: str = "/invocations") -> list[dict]:
    wrk(server.url, 16, 2, script, path=path)  # warm every worker
    rows = []
    for concurrency in CONCURRENCY:
        before = cpu_seconds(server)
        result = wrk(server.url, concurrency, duration, script, path=path)
        cpu = cpu_seconds(server) - before
        rows.append({"server": name, "c": concurrency, "rps": result["requests"] / result["seconds"],
                     "p50": result["p50"] / 1000, "p95": result["p95"] / 1000, "p99": result["p99"] / 1000,
                     "errors": result["errors"] + result["non2xx"],
                     "cpu_ms": 1000 * cpu / max(result["requests"], 1), "pss": pss_mb(server),
                     "ready": server.ready_seconds})
    return rows


def floor(model: Path, log: Path, workers: int = 2) -> ServerProcess:
    """The constant-answer app under this service's entry point, config and worker class."""
    return start_service(model, log, workers=workers, module="benchmarks.floor")


def c64_configs(model: Path, work: Path, against: str | None) -> dict[str, Callable[[], ServerProcess]]:
    """name -> how to start it: the floor, the service with batching off and on (and of `against`),
    MLServer with adaptive batching."""
    configs: dict[str, Callable[[], ServerProcess]] = {
        "floor: constant answer": lambda: floor(model, work / "c64-floor.log"),
        "service, batching off": lambda: start_service(model, work / "c64-off.log", **BATCHING_OFF),
        "service, batching on": lambda: start_service(model, work / "c64-on.log"),
        MLSERVER_V2: lambda: start_mlserver(model, work / "c64-mlserver.log", **MLSERVER_BATCHING),
    }
    if against:
        source = extract_service(against, work)
        configs[f"service@{against}, batching off"] = lambda: start_service(
            model, work / "c64-against-off.log", source=source, **BATCHING_OFF)
        configs[f"service@{against}, batching on"] = lambda: start_service(
            model, work / "c64-against-on.log", source=source)
    return configs


def load_of(name: str, script: Path) -> dict[str, object]:
    """wrk's script and route for the server called `name`: `script` on /invocations, or for MLServer's
    V2 configuration the same row in a V2 body (written beside `script`) on its `infer` route."""
    if name != MLSERVER_V2:
        return {"script": script}
    v2_script = script.with_name("post-v2.lua")
    if not v2_script.exists():
        v2_script.write_text(WRK_SCRIPT % V2_BODY)
    return {"script": v2_script, "path": V2_INFER}


def c64_comparison(model: Path, work: Path, script: Path, duration: int, against: str | None,
                   profile: Path | None, slice_seconds: int = 5) -> None:
    """Every configuration up at once (2 workers each), loaded at c=64 in alternating slices so a
    shared machine's drifting speed hits all alike; CPU ms per request side by side."""
    servers: dict[str, ServerProcess] = {}
    totals: dict[str, dict[str, float]] = {}
    try:
        for name, start in c64_configs(model, work, against).items():
            servers[name] = start()
            wrk(servers[name].url, 16, 2, **load_of(name, script))  # warm every worker
            totals[name] = {"requests": 0, "seconds": 0, "cpu": 0, "errors": 0, "p99": 0}
        for _ in range(max(1, round(duration / slice_seconds))):
            for name, server in servers.items():
                before = cpu_seconds(server)
                result = wrk(server.url, 64, slice_seconds, **load_of(name, script))
                total = totals[name]
                total["cpu"] += cpu_seconds(server) - before
                total["requests"] += result["requests"]
                total["seconds"] += result["seconds"]
                total["errors"] += result["errors"] + result["non2xx"]
                total["p99"] = max(total["p99"], result["p99"] / 1000)
        print(f"\nc=64 (1 row), alternating {slice_seconds} s slices, {duration} s each:")
        print(f"  {'server (2 workers)':44} {'rps':>7} {'p99 max':>8} {'err':>5} {'cpu ms/req':>10} {'x floor':>8} "
              f"{'req/batch':>9}")
        floor_cpu = totals["floor: constant answer"]["cpu"] / max(totals["floor: constant answer"]["requests"], 1)
        for name, total in totals.items():
            cpu = total["cpu"] / max(total["requests"], 1)
            print(f"  {name:44} {total['requests'] / total['seconds']:>7.0f} {total['p99']:>8.2f} "
                  f"{total['errors']:>5.0f} {1000 * cpu:>10.3f} {cpu / floor_cpu:>8.1f} "
                  f"{requests_per_predict(servers[name]) if name != MLSERVER_V2 else '-':>9}")
        print("  load average (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
        if profile:  # the service's batching worker, and that of `against` into FILE-<REF>
            against_out = profile.with_name(f"{profile.name}-{str(against).replace('/', '-')}")
            for name, out in (("service, batching on", profile), (f"service@{against}, batching on", against_out)):
                if name in servers:
                    profile_worker(name, servers[name], out, script, duration)
    finally:
        for server in servers.values():
            server.stop()


def requests_per_predict(server: ServerProcess) -> str:
    """Mean requests per predict call since start, from the service's /metrics ("-" for the floor)."""
    import urllib.request

    with urllib.request.urlopen(server.url + "/metrics", timeout=10) as response:  # noqa: S310 - loopback
        text = response.read().decode()
    found = dict(re.findall(r"^service_batch_size_requests_(sum|count) (\S+)$", text, re.MULTILINE))
    return f"{float(found['sum']) / float(found['count']):.1f}" if found.get("count") else "-"


def profile_worker(name: str, server: ServerProcess, out: Path, script: Path, duration: int) -> None:
    """py-spy on one worker of `server` while wrk loads the server at c=64; its stacks into `out`."""
    from benchmarks import worker_profile

    worker = group(server)[1]
    before = {thread.id: thread.user_time + thread.system_time for thread in worker.threads()}
    sampler = worker_profile.record(worker.pid, duration, out)
    wrk(server.url, 64, duration + 1, script)
    _, errors = sampler.communicate()
    if sampler.returncode != 0:
        raise RuntimeError(f"py-spy failed: {errors.strip()}")
    used = {thread.id: thread.user_time + thread.system_time - before.get(thread.id, 0.0)
            for thread in worker.threads()}
    print(f"\nwhere a worker's CPU goes at c=64, {name} (py-spy, {duration} s, into {out}; CPU s per thread: "
          + ", ".join(f"{tid}: {seconds:.2f}" for tid, seconds in used.items()) + ")")
    print(worker_profile.summarise(out.read_text()))


def print_table(rows: list[dict]) -> None:
    baseline = {row["c"]: row["rps"] for row in rows if row["server"] == "mlflow models serve"}
    print(f"{'server':44} {'c':>3} {'rps':>8} {'p50':>7} {'p95':>7} {'p99':>7} {'err':>5} "
          f"{'cpu ms/req':>10} {'x mlflow':>8} {'PSS MB':>7} {'ready s':>7}")
    for row in rows:
        ratio = row["rps"] / baseline[row["c"]] if baseline.get(row["c"]) else float("nan")
        print(f"{row['server']:44} {row['c']:>3} {row['rps']:>8.0f} {row['p50']:>7.2f} "
              f"{row['p95']:>7.2f} {row['p99']:>7.2f} {row['errors']:>5} {row['cpu_ms']:>10.2f} "
              f"{ratio:>8.1f} {row['pss']:>7.0f} {row['ready']:>7.1f}")


def full_comparison(model: Path, work: Path, script: Path, duration: int) -> None:
    """Memory (`benchmarks.memory`), then each server at every concurrency, printed as one table."""
    # first, and in a fresh process: later this one maps the model's libraries (the in-process
    # predict) and would take a share of their pages off the server's PSS
    subprocess.run([sys.executable, "-m", "benchmarks.memory", str(model)], check=True)
    servers = [
        ("mlflow models serve", lambda: start_mlflow_serve(model, work / "m1.log")),
        ("mlflow models serve --workers 2",
         lambda: start_mlflow_serve(model, work / "m2.log", workers=2)),
        ("service (2 workers)", lambda: start_service(model, work / "s.log", workers=2, **BATCHING_OFF)),
        ("service (2 workers, batching)", lambda: start_service(model, work / "sb.log", workers=2)),
        (f"{MLSERVER_NAME} (2 workers)", lambda: start_mlserver(model, work / "mlserver.log")),
        (MLSERVER_V2, lambda: start_mlserver(model, work / "mlserver-batching.log", **MLSERVER_BATCHING)),
        ("floor: constant answer (2 workers)", lambda: floor(model, work / "floor.log")),
    ]
    rows = []
    for name, start in servers:
        server = start()
        try:
            rows += measure(name, server, duration, **load_of(name, script))
        finally:
            server.stop()
    print_table(rows)
    print("load average after the wrk runs (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    parser.add_argument("--soak", type=int, default=0, help="also run c=256 for this many seconds")
    parser.add_argument("--only", choices=["c1", "c64", "tracing"],
                        help="run only the c=1, the c=64 or the c=64 tracing comparison")
    parser.add_argument("--against", metavar="REF",
                        help="the c=64 and c=1 comparisons also serve the service of this git revision")
    parser.add_argument("--profile", type=Path, metavar="FILE",
                        help="after the c=64 comparison, where a batching worker's CPU goes (py-spy; its "
                             "collapsed stacks are written to FILE, --against's to FILE-REF)")
    parser.add_argument("--model", type=Path, help="an MLflow model directory to serve (default: train one)")
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    print("load average at start (1/5/15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        work = Path(tmp)
        model = args.model.resolve() if args.model else train_model_apart(work)
        script, traced = work / "post.lua", work / "post-traced.lua"
        script.write_text(WRK_SCRIPT % BODY)
        traced.write_text(WRK_SCRIPT.replace('wrk.body', f'wrk.headers["traceparent"] = "{TRACEPARENT}"\nwrk.body', 1)
                          % BODY)
        if args.only is None:
            full_comparison(model, work, script, args.duration)
        if args.only in (None, "c64"):
            c64_comparison(model, work, script, args.duration, args.against, args.profile)
        if args.only == "c64":
            return 0
        receiver, endpoint = start_receiver(work)
        try:
            if args.only in (None, "c1"):
                c1_comparison(model, work, traced, endpoint, args.against)
            if args.only in (None, "tracing"):
                tracing_c64(model, work, traced, endpoint, args.duration)
        finally:
            receiver.terminate()
            receiver.wait()
        # both configurations: overload shows how each queues; then recycles under it
        if args.soak and args.only is None:
            for name, settings in (("service (2 workers)", BATCHING_OFF),
                                   ("service (2 workers, batching)", {}),
                                   ("service (2 workers, batching, recycled every ~20k requests)",
                                    {"max_requests": 20_000})):
                server = start_service(model, work / "soak.log", workers=2, **settings)
                try:
                    result = wrk(server.url, 256, args.soak, script)
                finally:
                    server.stop()
                recycles = server.process.log.read_text().count('"recycling the worker"')
                name += f" [{recycles} recycles]" if "max_requests" in settings else ""
                print(f"soak c=256 {args.soak}s, {name}: {result['requests']} requests, "
                      f"{result['requests'] / result['seconds']:.0f} rps, {result['errors'] + result['non2xx']} "
                      f"errors ({result['timeouts']} over wrk's 10 s timeout), p99 {result['p99'] / 1000:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

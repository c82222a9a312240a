"""The serving benchmark's c=1 and tracing comparisons (`benchmarks.serving --only c1|tracing`): the c=1
cost of batching and of tracing against the in-process `predict`, measured in alternating slices, and
tracing's cost at c=64."""
from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.wrk_load import cpu_seconds, group, wrk
from devstack.model_servers import REPO, ServerProcess, extract_service, start_service

COLUMNS = ["age", "income", "employment_status", "num_credit_cards"]
WITHOUT_EXPORTER = Path(__file__).resolve().parents[1] / "devstack" / "without_otel_exporter"
BATCHING_OFF = {"batching_enabled": "false"}


def in_process_p50_ms(model: Any, seconds: float) -> float:
    """p50 of `model.predict` on the benchmark's row, called in a loop for `seconds`."""
    import pandas as pd

    frame = pd.DataFrame([[34.0, 48000.0, "employed", 2]], columns=COLUMNS)
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        model.predict(frame)
        samples.append(time.perf_counter() - started)
    return 1000 * statistics.median(samples)


def c1_against_in_process(servers: dict[str, ServerProcess], model_dir: Path, script: Path, rounds: int = 12,
                          seconds: int = 2) -> tuple[dict[str, float], float]:
    """Median c=1 p50 of each server and median in-process `predict` p50 (ms), measured in alternating
    slices so a shared machine's drifting speed hits all alike, and on the same CPU (the servers'
    processes and this one pinned to CPU 0, wrk to CPU 1): unpinned, one run could put a server on the
    busier core for its whole length and the difference moved by +-0.2 ms from run to run."""
    import mlflow.pyfunc

    model = mlflow.pyfunc.load_model(str(model_dir))
    measured_cpu, client_cpu = 0, 1 % (os.cpu_count() or 1)
    for server in servers.values():
        for proc in group(server):
            proc.cpu_affinity([measured_cpu])
    original = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {measured_cpu})
    try:
        in_process_p50_ms(model, 1)  # warm
        served: dict[str, list[float]] = {name: [] for name in servers}
        local = []
        for _ in range(rounds):
            for name, server in servers.items():
                served[name].append(wrk(server.url, 1, seconds, script, cpu=client_cpu)["p50"] / 1000)
            local.append(in_process_p50_ms(model, seconds))
    finally:
        os.sched_setaffinity(0, original)
    return {name: statistics.median(values) for name, values in served.items()}, statistics.median(local)


def start_receiver(work: Path) -> tuple[subprocess.Popen, str]:
    """`devstack.otlp_receiver` in its own process (its CPU is not the server's), and its endpoint."""
    from devstack.procs import free_port, wait_until

    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-m", "devstack.otlp_receiver", "--port", str(port), "--quiet"],
                                stdout=(work / "receiver.log").open("w"), stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    wait_until(lambda: (work / "receiver.log").read_text().startswith("OTEL_EXPORTER_OTLP_ENDPOINT"), 30,
               "the OTLP receiver")
    return receiver, endpoint


def tracing_configs(endpoint: str) -> dict[str, tuple[dict, dict]]:
    """name -> (SERVICE_* settings, environment): tracing off, on, and on without an exporter."""
    exporting = {"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint}
    return {"batching on, tracing off": ({}, {}),
            "batching on, tracing on": ({}, exporting),
            "batching on, tracing on, no SDK": ({}, {**exporting, "PYTHONPATH": str(WITHOUT_EXPORTER)})}


def c1_comparison(model: Path, work: Path, script: Path, endpoint: str, against: str | None) -> None:
    """The c=1 cost of batching and of tracing: all servers up at once, measured in alternating slices
    (with `against`: that revision's service too, batching off and on, tracing off)."""
    configs = {"batching off": (BATCHING_OFF, {}), **tracing_configs(endpoint)}
    sources = dict.fromkeys(configs, REPO)
    if against:
        source = extract_service(against, work)
        for name, settings in ((f"@{against}, batching off", BATCHING_OFF), (f"@{against}, batching on", {})):
            configs[name], sources[name] = (settings, {}), source
    servers = {}
    try:
        for index, (name, (settings, env)) in enumerate(configs.items()):
            servers[name] = start_service(model, work / f"c1-{index}.log", workers=1, env=env,
                                          source=sources[name], **settings)
            wrk(servers[name].url, 4, 1, script)  # warm
        served, local = c1_against_in_process(servers, model, script)
    finally:
        for server in servers.values():
            server.stop()
    print(f"\nc=1 (1 row, traceparent sent), alternating 2 s slices, p50: in-process predict {local:.2f} ms")
    baseline = {name: "batching on, tracing off" for name in served if "tracing on" in name}
    baseline["batching on, tracing off"] = "batching off"
    if against:
        baseline[f"@{against}, batching on"] = f"@{against}, batching off"
    for name, p50 in served.items():
        base = baseline.get(name)
        note = f"{p50 - served[base]:+.2f} ms against {base}" if base else ""
        print(f"  service, {name:34} {p50:6.2f} ms  {p50 - local:+.2f} ms against predict  {note}")


def tracing_c64(model: Path, work: Path, script: Path, endpoint: str, duration: int) -> None:
    """Tracing off, on and on without an exporter at c=64, one server after the other."""
    print(f"\nc=64 (1 row, traceparent sent), {duration} s each:")
    print(f"  {'service':42} {'rps':>7} {'p50':>7} {'p99':>7} {'err':>5} {'cpu ms/req':>10}")
    for index, (name, (settings, env)) in enumerate(tracing_configs(endpoint).items()):
        server = start_service(model, work / f"t64-{index}.log", workers=2, env=env, **settings)
        try:
            wrk(server.url, 16, 2, script)  # warm every worker
            before = cpu_seconds(server)
            result = wrk(server.url, 64, duration, script)
            cpu = cpu_seconds(server) - before
        finally:
            server.stop()
        print(f"  {name:42} {result['requests'] / result['seconds']:>7.0f} {result['p50'] / 1000:>7.2f} "
              f"{result['p99'] / 1000:>7.2f} {result['errors'] + result['non2xx']:>5} "
              f"{1000 * cpu / max(result['requests'], 1):>10.2f}")

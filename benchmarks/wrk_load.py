"""Load from Debian's `wrk` and what the loaded server spent: the benchmarks' one way to measure a server
(requests, latency percentiles and errors from wrk's own summary; CPU seconds and PSS of the server's
whole process group from psutil)."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import psutil

from devstack.model_servers import ServerProcess

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[%s]==]
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%.0f, "seconds": %%.6f, "p50": %%.0f, "p95": %%.0f, '
    .. '"p99": %%.0f, "errors": %%.0f, "timeouts": %%.0f, "non2xx": %%.0f}\\n', summary.requests,
    summary.duration / 1e6, latency:percentile(50), latency:percentile(95), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.timeout, e.status))
end
"""



def group(server: ServerProcess) -> list[psutil.Process]:
    root = psutil.Process(server.process.pid)
    return [root, *root.children(recursive=True)]



def cpu_seconds(server: ServerProcess) -> float:
    total = 0.0
    for proc in group(server):
        try:
            times = proc.cpu_times()
            total += times.user + times.system
        except psutil.NoSuchProcess:
            pass
    return total



def pss_mb(server: ServerProcess) -> float:
    return sum(proc.memory_full_info().pss for proc in group(server)) / 2**20



def wrk(url: str, concurrency: int, duration: int, script: Path, cpu: int | None = None,
        path: str = "/invocations") -> dict:
    threads = 1 if concurrency < 4 else 2
    pinned = ["taskset", "-c", str(cpu)] if cpu is not None else []
    out = subprocess.run([*pinned, "wrk", "-t", str(threads), "-c", str(concurrency), "-d", f"{duration}s",
                          "--timeout", "10s", "-s", str(script), f"{url}{path}"],
                         capture_output=True, text=True, check=True).stdout
    line = next(line for line in out.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])

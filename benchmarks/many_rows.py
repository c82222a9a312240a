"""Many rows per request (not a test): this service against `mlflow models serve` and MLServer on 100-
and 1,000-row requests, JSON `dataframe_split` and CSV, at concurrency 1 and 16.

    $VENV/bin/python -m benchmarks.many_rows [--duration 5] [--rows 100 1000] [--model DIR]

The same model as `benchmarks.serving` (the plain sklearn credit-risk example, trained into a
throw-away store), 2 workers each (MLServer 1.7.1 with its MLflow runtime: 2 inference workers,
the same bodies on its MLflow-compatible /invocations), all up at once and loaded in turn with `wrk` for `--duration`
seconds per cell. Prints rows per second, p50/p99 and the servers' CPU ms per 1,000 rows (their whole
process group), with the floor (`benchmarks.floor`: a constant answer after reading the same body, what
the HTTP stack alone costs for that body size) and the in-process reference: this process parsing
the same body (`json.loads` and a DataFrame, or `pandas.read_csv`) and calling the model's `predict`,
CPU ms per 1,000 rows. The ratio column is a server's CPU per row against that reference (goal: within
1.5x).
"""
from __future__ import annotations

import argparse
import io
import json
import tempfile
import time
from pathlib import Path

from benchmarks.serving import floor, train_model_apart
from benchmarks.wrk_load import WRK_SCRIPT, cpu_seconds, wrk
from devstack.model_servers import ServerProcess, start_mlflow_serve, start_mlserver, start_service
from examples.credit_risk.data import make_applications

FORMATS = ("json", "csv")
CONCURRENCY = (1, 16)


def body(n: int, form: str) -> str:
    """`n` of the example's synthetic applicants as a request body of `form`."""
    frame, _ = make_applications(n)
    if form == "csv":
        return frame.to_csv(index=False)
    data = [[float(age), float(income), status, int(cards)] for age, income, status, cards in
            frame.itertuples(index=False)]
    return json.dumps({"dataframe_split": {"columns": list(frame.columns), "data": data}})


def script(text: str, form: str, path: Path) -> Path:
    lua = WRK_SCRIPT % text
    path.write_text(lua if form == "json" else lua.replace("application/json", "text/csv", 1))
    return path


def in_process_ms_per_1000(model, text: str, form: str, n: int, seconds: float = 2.0) -> float:
    """CPU ms per 1,000 rows of parsing `text` into a frame and predicting it, in this process."""
    import pandas as pd

    def once() -> None:
        if form == "json":
            split = json.loads(text)["dataframe_split"]
            frame = pd.DataFrame(split["data"], columns=split["columns"])
        else:
            frame = pd.read_csv(io.StringIO(text))
        model.predict(frame)

    once()  # warm
    calls, started, deadline = 0, time.process_time(), time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        once()
        calls += 1
    return 1000 * (time.process_time() - started) / (calls * n) * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds of load per cell")
    parser.add_argument("--rows", type=int, nargs="+", default=[100, 1000])
    parser.add_argument("--model", type=Path, help="an MLflow model directory (default: train the example)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="many-rows-") as tmp:
        work = Path(tmp)
        model_dir = args.model or train_model_apart(work)
        import mlflow.pyfunc

        model = mlflow.pyfunc.load_model(str(model_dir))
        servers: dict[str, ServerProcess] = {}
        try:
            servers["this service (defaults)"] = start_service(model_dir, work / "service.log")
            servers["mlflow models serve --workers 2"] = start_mlflow_serve(model_dir, work / "mlflow.log", workers=2)
            servers["MLServer 1.7.1, /invocations"] = start_mlserver(model_dir, work / "mlserver.log")
            servers["floor: constant answer, same body"] = floor(model_dir, work / "floor.log")
            print(f"load average at start (1/5/15 min): {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
            for n in args.rows:
                for form in FORMATS:
                    text = body(n, form)
                    lua = script(text, form, work / f"{form}-{n}.lua")
                    reference = in_process_ms_per_1000(model, text, form, n)
                    print(f"\n{n} rows a request, {form} ({len(text.encode()) / 1024:,.1f} KiB); in-process parse "
                          f"+ predict: {reference:.3f} CPU ms per 1,000 rows")
                    print(f"  {'server (2 workers)':36} {'c':>3} {'rows/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
                          f"{'err':>5} {'cpu ms/1k rows':>14} {'x in-process':>12}")
                    for concurrency in CONCURRENCY:
                        for name, server in servers.items():
                            wrk(server.url, concurrency, 1, lua)  # warm
                            before = cpu_seconds(server)
                            result = wrk(server.url, concurrency, args.duration, lua)
                            cpu = cpu_seconds(server) - before
                            predicted = max(result["requests"], 1) * n
                            per_1000 = 1000 * cpu / predicted * 1000
                            print(f"  {name:36} {concurrency:>3} {result['requests'] * n / result['seconds']:>9,.0f} "
                                  f"{result['p50'] / 1000:>8.2f} {result['p99'] / 1000:>8.2f} "
                                  f"{result['errors'] + result['non2xx']:>5.0f} {per_1000:>14.3f} "
                                  f"{per_1000 / reference:>12.2f}")
            print(f"load average at the end (1/5/15 min): {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        finally:
            for server in servers.values():
                server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Locust users for the latency gate and the scheduled load test: MLflow scoring requests to
/invocations, built from the model's own serving input example.

Why from the example: it is the one input the model is known to accept, so a failed request means
the service failed, not the load generator. Each request draws a batch size from
LOADTEST_BATCH_SIZES and that many rows at random from the example, with float values scaled by
up to +-10 %, so the server sees varied rows and sizes, not one cached body. Bodies are prepared
once per process: Locust shares the CPU with the server and should spend it on sending.

Environment (set by `ci.loadtest.live`):
  LOADTEST_PAYLOAD_FILE  JSON file with the serving input example ({"dataframe_split": ...}) [required]
  LOADTEST_BATCH_SIZES   comma-separated rows per request                                  [1,4,16]
  LOADTEST_USER_RPS      requests per second per user; 0 = as fast as the server answers      [0]
"""
from __future__ import annotations

import json
import os
import random

from locust import FastHttpUser, constant, constant_throughput, task

BODIES_PER_SIZE = 50
JITTER = 0.1


def _rows(example: dict, count: int, rng: random.Random) -> list[list]:
    def vary(value):
        if isinstance(value, float):
            return value * rng.uniform(1 - JITTER, 1 + JITTER)
        return value

    return [[vary(value) for value in rng.choice(example["data"])] for _ in range(count)]


def prepared_bodies(serving_example: dict, batch_sizes: list[int], seed: int = 0) -> list[tuple[int, bytes]]:
    """(rows, JSON body) pairs; a non-tabular example is sent as it is."""
    split = serving_example.get("dataframe_split")
    if not split:
        return [(0, json.dumps(serving_example).encode())]
    rng = random.Random(seed)
    return [(size, json.dumps({"dataframe_split": {"columns": split["columns"],
                                                   "data": _rows(split, size, rng)}}).encode())
            for size in batch_sizes for _ in range(BODIES_PER_SIZE)]


def _from_env() -> tuple[list[tuple[int, bytes]], float]:
    with open(os.environ["LOADTEST_PAYLOAD_FILE"], encoding="utf-8") as handle:
        example = json.load(handle)
    sizes = [int(size) for size in os.environ.get("LOADTEST_BATCH_SIZES", "1,4,16").split(",")
             if size.strip()]
    return prepared_bodies(example, sizes, seed=os.getpid()), float(os.environ.get("LOADTEST_USER_RPS", "0"))


BODIES, USER_RPS = _from_env()


class ScoringUser(FastHttpUser):
    """POSTs prepared MLflow `dataframe_split` bodies to /invocations; non-2xx counts as a failure."""

    wait_time = constant_throughput(USER_RPS) if USER_RPS > 0 else constant(0)

    @task
    def invocations(self) -> None:
        rows, body = random.choice(BODIES)
        self.client.post("/invocations", data=body, headers={"Content-Type": "application/json"},
                         name=f"/invocations [{rows} rows]" if rows else "/invocations")

"""Micro-batching: concurrent requests share a predict call and get exactly the answers they get
unbatched, for both example models; a bad request fails alone; unsplittable outputs fall back.
Batching is on only for a model proven to answer the same batched (service.batch_proof)."""
from __future__ import annotations

import asyncio
import json
import logging
import random
import re
from pathlib import Path

import httpx
import pytest

from service import tracing
from service.app import create_app
from service.batch_proof import PROOF_FILE, decide
from service.core import Predictor
from service.settings import Settings

STATUSES = ["employed", "self-employed", "unemployed", "retired", "student"]


def random_rows(rng: random.Random, count: int) -> list[list]:
    return [[float(rng.randint(18, 80)), round(rng.uniform(5000, 200000), 2), rng.choice(STATUSES),
             rng.randint(0, 9)] for _ in range(count)]


def bodies(seed: int = 11, requests: int = 60) -> list[dict]:
    rng = random.Random(seed)
    columns = ["age", "income", "employment_status", "num_credit_cards"]
    out = []
    for index in range(requests):
        rows = random_rows(rng, rng.randint(1, 7))
        if index % 3 == 0:
            out.append({"dataframe_records": [dict(zip(columns, row, strict=True)) for row in rows]})
        else:
            out.append({"dataframe_split": {"columns": columns, "data": rows}})
    return out


async def post_all(app, payloads: list[dict], headers: list[dict] | None = None) -> list[httpx.Response]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return await asyncio.gather(*(client.post("/invocations", json=body, headers=headers[i] if headers else None)
                                      for i, body in enumerate(payloads)))


def batched_app(model, **overrides):
    settings = Settings(model_uri="x", batching_enabled=True, batch_max_wait_ms=20, **overrides)
    return create_app(settings, model)


@pytest.mark.parametrize("flavor", ["sklearn", "pyfunc"])
def test_batched_answers_equal_unbatched_answers(loaded_models, flavor):
    payloads = bodies()
    plain = asyncio.run(post_all(create_app(Settings(model_uri="x", batching_enabled=False),
                                            loaded_models[flavor]), payloads))
    app = batched_app(loaded_models[flavor])
    batched = asyncio.run(post_all(app, payloads))
    assert [r.status_code for r in batched] == [200] * len(payloads)
    assert [r.json() for r in batched] == [r.json() for r in plain]
    assert [r.content for r in batched] == [r.content for r in plain]  # byte for byte
    metrics = asyncio.run(_metrics(app))
    count = _value(metrics, "service_batch_size_requests_count")
    assert 0 < count < len(payloads), "requests were not coalesced"


@pytest.mark.parametrize("batching", [False, True])
def test_every_predicted_row_is_in_the_prediction_histogram(loaded_models, batching):
    """The canary analysis compares these histograms: a batch observes its rows once (per predict
    call), as many as requests predicted one by one would."""
    payloads = bodies(seed=5, requests=30)
    rows = sum(len(body.get("dataframe_records") or body["dataframe_split"]["data"]) for body in payloads)
    app = create_app(Settings(model_uri="x", batching_enabled=batching, batch_max_wait_ms=20), loaded_models["sklearn"])
    assert all(r.status_code == 200 for r in asyncio.run(post_all(app, payloads)))
    metrics = asyncio.run(_metrics(app))
    counts = re.findall(r'^service_prediction_value_count\{output="[^"]+"\} (\S+)$', metrics, re.MULTILINE)
    assert counts and all(float(count) == rows for count in counts)
    assert _value(metrics, "service_rows_predicted_total") == rows
    assert (_value(metrics, "service_batch_size_requests_count") < len(payloads)) is batching


def test_row_limit_closes_a_batch(loaded_models):
    app = batched_app(loaded_models["sklearn"], batch_max_rows=8)
    answers = asyncio.run(post_all(app, bodies(requests=30)))
    assert all(r.status_code == 200 for r in answers)
    metrics = asyncio.run(_metrics(app))
    assert _value(metrics, 'service_batch_size_rows_bucket{le="16.0"}') == \
        _value(metrics, "service_batch_size_rows_count")


def test_a_bad_request_fails_alone(loaded_models):
    payloads = bodies(requests=10)
    payloads[4] = {"dataframe_records": [{"age": "not a number"}]}
    answers = asyncio.run(post_all(batched_app(loaded_models["sklearn"]), payloads))
    assert [r.status_code for r in answers] == [200] * 4 + [400] + [200] * 5


def test_model_failure_in_a_batch_fails_only_its_request(toy_models):
    """...and the failing request's own error line carries its request id (its trace ids with it)."""
    payloads = [{"dataframe_records": [{"x": float(i), "label": "boom" if i == 3 else "ok"}]}
                for i in range(8)]
    errors = []

    class Recorder(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            errors.append((record.getMessage(), getattr(tracing.current.get(), "request_id", None)))

    recorder = Recorder(logging.ERROR)
    logging.getLogger("service").addHandler(recorder)
    try:
        answers = asyncio.run(post_all(batched_app(toy_models["frame"]), payloads,
                                       headers=[{"X-Request-ID": f"r{i}"} for i in range(8)]))
    finally:
        logging.getLogger("service").removeHandler(recorder)
    assert [r.status_code for r in answers] == [200] * 3 + [500] + [200] * 4
    assert answers[0].json()["predictions"] == [{"double": 0.0, "label": "ok"}]
    assert ("model predict failed", "r3") in errors


def test_output_that_does_not_split_by_rows_falls_back_to_one_call_per_request(toy_models):
    payloads = [{"dataframe_records": [{"x": float(i), "label": "a"}, {"x": 1.0, "label": "b"}]}
                for i in range(6)]
    answers = asyncio.run(post_all(batched_app(toy_models["dict"]), payloads))
    assert [r.json()["predictions"]["total"] for r in answers] == [float(i) + 1.0 for i in range(6)]


@pytest.mark.parametrize("batching", [True, False])
def test_a_model_answering_another_number_of_rows_is_a_500_naming_both_never_a_misaligned_answer(toy_models,
                                                                                                   batching):
    two_rows = {"dataframe_records": [{"x": 1.0, "label": "a"}, {"x": 2.0, "label": "b"}]}
    payloads = [two_rows] + [{"dataframe_records": [{"x": float(i), "label": "a"}]} for i in range(5)]
    app = create_app(Settings(model_uri="x", batch_max_wait_ms=20, batching_enabled=batching),
                     toy_models["drops-a-row"])
    answers = asyncio.run(post_all(app, payloads))
    assert answers[0].status_code == 500, answers[0].text
    assert answers[0].json()["message"].startswith("the model answered 1 rows for the 2 rows sent; quote error_id")
    assert [r.json()["predictions"] for r in answers[1:]] == [[{"double": 2.0 * i}] for i in range(5)]


@pytest.mark.parametrize("flavor", ["sklearn", "pyfunc"])
def test_the_example_models_are_proven_at_start_up(loaded_models, flavor):
    client_app = create_app(Settings(model_uri="x"), loaded_models[flavor])
    batching = asyncio.run(_get(client_app, "/version"))["batching"]
    assert batching["enabled"] is True and batching["decided_by"] == "start-up proof"
    assert "answer as one by one" in batching["reason"]


@pytest.mark.parametrize(("toy", "reason"), [
    ("batch-stats", "answers differ when batched (at predictions[0][0].centred"),
    ("dict", "output does not split by rows"),
    ("row-at-a-time", "the model fails on several rows at once"),
])
def test_a_model_that_answers_differently_batched_is_served_unbatched(toy_models, toy, reason):
    """Batching stays off and /version says why; concurrent answers equal one-by-one answers."""
    app = create_app(Settings(model_uri="x", batch_max_wait_ms=20), toy_models[toy])
    batching = asyncio.run(_get(app, "/version"))["batching"]
    assert batching["enabled"] is False and reason in batching["reason"], batching
    payloads = [{"dataframe_records": [{"x": float(i), "label": "a"}]} for i in range(8)]
    answers = asyncio.run(post_all(app, payloads))
    alone = [asyncio.run(post_all(app, [body]))[0] for body in payloads]
    assert [r.json() for r in answers] == [r.json() for r in alone]


def test_the_image_proof_decides_and_the_setting_can_only_turn_batching_off(toy_models, tmp_path):
    model = toy_models["batch-stats"]
    settings = Settings(model_uri="x")
    predictor = Predictor(model, settings.max_rows)
    (Path(model.directory) / PROOF_FILE).write_text('{"batched": true, "reason": "proven at build"}')
    try:
        assert decide(settings, predictor, model).as_dict() == {
            "enabled": True, "reason": "proven at build", "decided_by": "image proof"}
    finally:
        (Path(model.directory) / PROOF_FILE).unlink()
    assert decide(Settings(model_uri="x", batching_enabled=False), predictor, model).as_dict() == {
        "enabled": False, "reason": "SERVICE_BATCHING_ENABLED=false", "decided_by": "setting"}


def test_python_m_service_batch_proof_writes_the_finding_into_the_model_directory(toy_models, tmp_path):
    import shutil
    import subprocess
    import sys

    model_dir = tmp_path / "model"
    shutil.copytree(toy_models["batch-stats"].directory, model_dir)
    out = subprocess.run([sys.executable, "-m", "service.batch_proof", str(model_dir)], capture_output=True,
                         text=True, check=True, timeout=120).stdout
    proof = json.loads((model_dir / PROOF_FILE).read_text())
    assert proof["batched"] is False and "answers differ when batched" in proof["reason"]
    assert json.loads(out.splitlines()[-1])["batching"] is False


async def _get(app, path: str) -> dict:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return (await client.get(path)).json()


async def _metrics(app) -> str:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as client:
        return (await client.get("/metrics")).text


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    raise AssertionError(f"{name} not in metrics")

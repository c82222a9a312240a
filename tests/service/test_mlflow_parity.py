"""Drop-in for `mlflow models serve`: on the same model and body, both real servers answer
with the same predictions, for every input format, both example models."""
from __future__ import annotations

import json

import pytest
import requests

COLUMNS = ["age", "income", "employment_status", "num_credit_cards"]
ROWS = [[34.0, 48000.0, "employed", 2], [52.0, 91000.0, "self-employed", 4], [23.0, 15500.0, "unemployed", 7],
        [67, 30000, "retired", 0], [41.5, 120000.25, "unknown-status", 3]]
RECORDS = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
CSV = ",".join(COLUMNS) + "\n" + "\n".join(",".join(map(str, r)) for r in ROWS) + "\n"
BODIES = [
    ("application/json", json.dumps({"dataframe_split": {"columns": COLUMNS, "data": ROWS}})),
    ("application/json", json.dumps({"dataframe_split": {"columns": COLUMNS, "data": ROWS[:1]}})),
    ("application/json", json.dumps({"dataframe_records": RECORDS})),
    ("application/json", json.dumps({"instances": RECORDS})),
    ("application/json", json.dumps({"inputs": {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}})),
    ("application/json", json.dumps({"inputs": RECORDS, "params": {}})),
    ("text/csv", CSV),
]


@pytest.fixture(scope="module", params=["sklearn", "pyfunc"])
def servers(request, model_servers):
    return model_servers("service", request.param), model_servers("mlflow", request.param)


@pytest.mark.parametrize(("content_type", "body"), BODIES, ids=lambda v: v[:40] if isinstance(v, str) else v)
def test_same_predictions_as_mlflow_models_serve(servers, content_type, body):
    ours, theirs = servers
    answers = [requests.post(f"{server.url}/invocations", data=body, headers={"Content-Type": content_type},
                             timeout=30) for server in servers]
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text + answers[1].text
    assert answers[0].json() == answers[1].json()
    assert answers[0].headers["content-type"] == "application/json"


def test_float32_answers_carry_the_same_digits_as_mlflow_models_serve(model_servers):
    """A dict of float32 arrays, as ONNX and PyTorch models answer: the same numbers, digit for digit (MLflow
    writes the widened double, 0.8175883293151855, where a float32 encoder would write 0.8175883)."""
    body = json.dumps({"dataframe_split": {"columns": ["x", "label"], "data": [[1.0, "a"], [2.5, "b"], [-4.2, "c"]]}})
    answers = [requests.post(f"{model_servers(kind, 'float32').url}/invocations", data=body, timeout=30,
                             headers={"Content-Type": "application/json"}) for kind in ("service", "mlflow")]
    assert [answer.status_code for answer in answers] == [200, 200], answers[0].text + answers[1].text
    ours, theirs = (answer.json() for answer in answers)
    assert ours == theirs
    assert all(not float(p).is_integer() for row in ours["predictions"]["probabilities"] for p in row)

"""The prediction core without HTTP: the MLflow scoring protocol in, predictions or a 4xx that
names the field out; a model failure is a 5xx with an error id; payloads are never echoed."""
from __future__ import annotations

import json
import logging

import orjson
import pytest

from service.core import Predictor
from service.errors import BadRequest, ModelError, UnsupportedMediaType

COLUMNS = ["age", "income", "employment_status", "num_credit_cards"]
ROWS = [[34.0, 48000.0, "employed", 2], [52.0, 91000.0, "self-employed", 4]]
RECORDS = [dict(zip(COLUMNS, row, strict=True)) for row in ROWS]
SECRET = "s3cr3t-applicant-name"
JSON = "application/json"


@pytest.fixture(scope="module")
def predictor(loaded_models) -> Predictor:
    return Predictor(loaded_models["sklearn"], max_rows=100)


def predictions(predictor: Predictor, body, content_type=JSON):
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return orjson.loads(predictor.invoke(raw, content_type).body)["predictions"]


def test_every_json_format_and_csv_give_the_same_predictions(predictor):
    expected = predictions(predictor, {"dataframe_split": {"columns": COLUMNS, "data": ROWS}})
    assert len(expected) == 2
    assert predictions(predictor, {"dataframe_records": RECORDS}) == expected
    assert predictions(predictor, {"instances": RECORDS}) == expected
    columns = {c: [r[i] for r in ROWS] for i, c in enumerate(COLUMNS)}
    assert predictions(predictor, {"inputs": columns}) == expected
    csv = (b"age,income,employment_status,num_credit_cards\n"
           b"34.0,48000.0,employed,2\n52.0,91000.0,self-employed,4\n")
    assert predictions(predictor, csv, "text/csv") == expected
    assert predictions(predictor, csv, "application/csv; charset=utf-8") == expected


def test_pyfunc_wrapper_dataframe_output_serialises_as_records(loaded_models):
    out = predictions(Predictor(loaded_models["pyfunc"], 100), {"dataframe_records": RECORDS})
    assert [set(row) for row in out] == [{"score", "risk_level"}] * 2
    assert all(isinstance(row["score"], float) for row in out)
    assert all(row["risk_level"] in ("low", "medium", "high") for row in out)


def test_custom_wrappers_returning_dict_and_dataframe(toy_models):
    records = [{"x": 1.5, "label": "a"}, {"x": 2.0, "label": "b"}]
    assert predictions(Predictor(toy_models["dict"], 10), {"dataframe_records": records}) == \
        {"total": 3.5, "labels": ["a", "b"]}
    assert predictions(Predictor(toy_models["frame"], 10), {"dataframe_records": records}) == \
        [{"double": 3.0, "label": "a"}, {"double": 4.0, "label": "b"}]


BAD_INPUTS = [
    # (body, content type, error class, field)
    (b'{"dataframe_split": ', JSON, BadRequest, "body"),
    (b"", JSON, BadRequest, "body"),
    (b"[1, 2]", JSON, BadRequest, "body"),
    (b'{"rows": []}', JSON, BadRequest, "body"),
    (json.dumps({"dataframe_records": RECORDS}).encode(), "text/plain", UnsupportedMediaType, "Content-Type"),
    (json.dumps({"dataframe_records": RECORDS}).encode(), None, UnsupportedMediaType, "Content-Type"),
    (json.dumps({"dataframe_records": RECORDS}).encode(), "application/json; charset=latin-1",
     UnsupportedMediaType, "Content-Type"),
    (json.dumps({"dataframe_records": []}).encode(), JSON, BadRequest, "dataframe_records"),
    (json.dumps({"dataframe_records": [{k: v for k, v in RECORDS[0].items() if k != "income"}]}).encode(),
     JSON, BadRequest, "income"),
    (json.dumps({"dataframe_records": [{**RECORDS[0], "nickname": SECRET}]}).encode(), JSON, BadRequest,
     "nickname"),
    (json.dumps({"dataframe_records": [{**RECORDS[0], "age": SECRET}]}).encode(), JSON, BadRequest, "age"),
    (json.dumps({"dataframe_records": [{**RECORDS[0], "num_credit_cards": SECRET}]}).encode(), JSON,
     BadRequest, "num_credit_cards"),
    (json.dumps({"dataframe_records": [{**RECORDS[0], "income": None}]}).encode(), JSON, BadRequest,
     "income"),
    (b'{"dataframe_records": [{"age": NaN, "income": 1.0, "employment_status": "x", "num_credit_cards": 1}]}',
     JSON, BadRequest, "age"),
    (json.dumps({"dataframe_records": [{**RECORDS[0], "num_credit_cards": None}]}).encode(), JSON,
     BadRequest, "num_credit_cards"),
    (json.dumps({"dataframe_split": {"columns": COLUMNS, "data": SECRET}}).encode(), JSON, BadRequest,
     "dataframe_split"),
    (json.dumps({"dataframe_records": RECORDS * 51}).encode(), JSON, BadRequest, "dataframe_records"),
    (f"age,income,employment_status,num_credit_cards\n{SECRET},1,employed,2\n".encode(), "text/csv",
     BadRequest, "age"),
]


@pytest.mark.parametrize(("body", "content_type", "error", "field"), BAD_INPUTS)
def test_bad_input_is_a_4xx_naming_the_field_without_echoing_it(predictor, body, content_type, error, field):
    with pytest.raises(error) as raised:
        predictor.invoke(body, content_type)
    assert 400 <= raised.value.status < 500
    assert raised.value.field == field
    assert raised.value.expected
    assert SECRET not in json.dumps(raised.value.body())


def test_model_failure_is_a_5xx_with_an_error_id_in_the_log_and_no_payload(toy_models, caplog):
    body = json.dumps({"dataframe_records": [{"x": 1.0, "label": "boom"}, {"x": 2.0, "label": SECRET}]})
    with caplog.at_level(logging.ERROR, logger="service"), pytest.raises(ModelError) as raised:
        Predictor(toy_models["frame"], 10).invoke(body.encode(), JSON)
    error = raised.value
    assert error.status == 500 and len(error.error_id) == 32
    assert any(getattr(record, "error_id", None) == error.error_id for record in caplog.records)
    assert SECRET not in caplog.text and SECRET not in json.dumps(error.body())


def test_plain_flavors_skip_mlflows_second_schema_enforcement_with_the_same_answers(predictor, loaded_models,
                                                                                   monkeypatch):
    """A fast-path frame already is what MLflow's enforcement returns: sklearn's predict is called
    directly; anything else still goes through PyFuncModel.predict, and so does every pyfunc model."""
    split = {"dataframe_split": {"columns": COLUMNS, "data": ROWS}}
    instances = {"instances": RECORDS}  # general path
    expected = predictions(predictor, split)
    assert predictor.flavor_predict is not None
    assert Predictor(loaded_models["pyfunc"], 100).flavor_predict is None

    calls = []
    real = predictor.model.pyfunc.predict
    monkeypatch.setattr(predictor.model.pyfunc, "predict", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert predictions(predictor, split) == expected and calls == []
    assert predictions(predictor, instances) == expected and calls == [1]
    assert predictions(predictor, {**split, "params": {"k": 1}}) == expected and calls == [1, 1]

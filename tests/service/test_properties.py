"""Properties of the real service (Gunicorn, plain and micro-batched) under generated requests:
JSON documents in every format, CSV bodies and header combinations, valid and not.

For every request: no 5xx, no reset connection, an error body of at most 4 KiB that quotes no
value the client sent (every generated string value carries a mark no name has) and no name longer
than 64 characters, and for a valid document exactly the predictions `mlflow models serve` gives
for the same body. Whatever this service predicts on, `mlflow models serve` predicts on too, with
the same answer; a number that does not fit `num_credit_cards` (a long) is refused naming it."""
from __future__ import annotations

import csv
import io
import json

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from service.errors import ERROR_BODY_LIMIT, NAME_LIMIT

COLUMNS = ["age", "income", "employment_status", "num_credit_cards"]
MARK = "\u00a7"  # in every generated string value, in no generated name
JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON",
              'application/json;charset="UTF-8"']
CSV_TYPES = ["text/csv", "application/csv", "text/csv; charset=utf-8"]
WRONG_TYPES = [None, "text/plain", "application/json; charset=latin-1", "application/x-www-form-urlencoded",
               "multipart/form-data; boundary=x", "application/json; q=1"]
CSV_NA = frozenset({"", "NA", "N/A", "NULL", "NaN", "nan", "null", "None", "n/a", "#N/A", "<NA>", "-NaN", "-nan",
                    "1.#IND", "1.#QNAN", "#NA", "#N/A N/A", "-1.#IND", "-1.#QNAN"})
RUN = settings(deadline=None, database=None, phases=[Phase.generate], derandomize=False,
               suppress_health_check=list(HealthCheck))

LONG_MIN, LONG_MAX = -(2**63), 2**63 - 1
name_characters = st.characters(blacklist_characters=MARK, blacklist_categories=("Cs",))
names = st.text(name_characters, max_size=12) | st.text(name_characters, min_size=65, max_size=3000)
values = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(lambda text: MARK + text)
doubles = st.floats(-1e9, 1e9, allow_nan=False) | st.integers(-10**9, 10**9)
longs = st.integers(LONG_MIN, LONG_MAX) | st.integers(-50, 50) | st.integers(-50, 50).map(float)
rows = st.fixed_dictionaries({"age": doubles, "income": doubles, "employment_status": values,
                              "num_credit_cards": longs})


class Deep:
    """A list nested `depth` levels, written into the body as text (json.dumps would recurse)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def encode(document: object) -> str:
    deep: list[Deep] = []

    def placeholder(item: object) -> str:
        deep.append(item)
        return f"deep-{len(deep) - 1}"

    body = json.dumps(document, default=placeholder)
    for index, item in enumerate(deep):
        body = body.replace(f'"deep-{index}"', "[" * item.depth + "]" * item.depth, 1)
    return body


any_json = st.recursive(st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | values
                        | st.integers(500, 5000).map(Deep),
                        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(names, inner, max_size=4),
                        max_leaves=16)
not_a_long = (st.integers(LONG_MAX + 1, 2**80) | st.integers(-(2**80), LONG_MIN - 1)
              | st.floats(-1e6, 1e6).filter(lambda number: not number.is_integer()) | st.floats(1e19, 1e300))
wrong_cells = not_a_long | any_json


def refused(value: object) -> bool:
    """Must a `num_credit_cards` of `value` be refused (a number a long cannot hold exactly)?"""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return not (float(value).is_integer() and LONG_MIN <= int(value) <= LONG_MAX)


def _no_lossy_mix(table: list[dict]) -> list[dict]:
    """Whole floats (3.0) beside ints beyond 2**53 in num_credit_cards are refused on purpose: pandas makes
    one float64 column of them and the big ints lose digits (service/casting.py), where MLflow answers
    for numbers nobody sent. So a valid table writes its whole floats as ints when it holds such an int."""
    cards = [row["num_credit_cards"] for row in table]
    if any(isinstance(card, float) for card in cards) and any(
            isinstance(card, int) and abs(card) > 2**53 for card in cards):
        for row in table:
            if isinstance(row["num_credit_cards"], float):
                row["num_credit_cards"] = int(row["num_credit_cards"])
    return table


@st.composite
def documents(draw, valid: bool) -> tuple[dict, bool]:
    """A request document in one of the four JSON formats, its rows valid or (`valid=False`) one
    cell, column or the shape changed; and whether it must be refused naming num_credit_cards."""
    table = _no_lossy_mix(draw(st.lists(rows, min_size=1, max_size=4)))
    columns = draw(st.permutations(COLUMNS))
    must_refuse = False
    if not valid:
        change = draw(st.sampled_from(["cell", "cards", "drop", "extra", "shape"]))
        if change == "shape":
            return {draw(st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs",
                                          "params", "x"])): draw(any_json)}, False
        row = table[draw(st.integers(0, len(table) - 1))]
        if change == "cell":
            row[draw(st.sampled_from(COLUMNS))] = draw(wrong_cells)
        elif change == "cards":
            row["num_credit_cards"] = draw(not_a_long)
            must_refuse = True
        elif change == "drop":
            columns = columns[1:]
        else:
            name = draw(names.filter(lambda name: name not in COLUMNS))
            columns = [*columns, name]
            for each in table:
                each[name] = draw(any_json)
    table = [{name: row.get(name) for name in columns} for row in table]
    fmt = draw(st.sampled_from(["dataframe_split", "dataframe_records", "instances", "inputs-records",
                                "inputs-columns"]))
    if fmt == "dataframe_split":
        return {fmt: {"columns": columns, "data": [[row[name] for name in columns] for row in table]}}, must_refuse
    if fmt == "inputs-columns":
        return {"inputs": {name: [row[name] for row in table] for name in columns}}, must_refuse
    return {fmt.removesuffix("-records"): table}, must_refuse


def csv_body(table: list[dict], columns: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([[row[name] for name in columns] for row in table])
    return out.getvalue()


@st.composite
def csv_documents(draw, valid: bool) -> tuple[str, bool]:
    table = _no_lossy_mix(draw(st.lists(rows.filter(lambda row: row["employment_status"].strip() not in CSV_NA
                                                    and "\r" not in row["employment_status"]),
                                        min_size=1, max_size=4)))
    columns = draw(st.permutations(COLUMNS))
    if valid:
        return csv_body(table, columns), False
    change = draw(st.sampled_from(["cell", "cards", "extra", "text"]))
    if change == "text":
        return draw(st.text(max_size=200)), False
    if change == "cell":
        table[0][draw(st.sampled_from(COLUMNS))] = draw(not_a_long | values)
    elif change == "cards":
        table[0]["num_credit_cards"] = draw(not_a_long)
    else:
        columns = [*columns, draw(names.filter(lambda name: name not in COLUMNS and "\r" not in name))]
        table[0][columns[-1]] = draw(values)
    return csv_body([{name: row.get(name, 1) for name in columns} for row in table], columns), change == "cards"


def headers(draw_type: str | None, extra: dict) -> dict:
    return {**({"Content-Type": draw_type} if draw_type is not None else {}), **extra}


extras = st.fixed_dictionaries({}, optional={
    "Expect": st.just("100-continue"),
    # A header value is not sent with leading or trailing blanks (requests refuses them itself).
    "X-Request-ID": st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=40).map(str.strip),
    "Accept": st.sampled_from(["*/*", "application/json", "text/html"]),
    "Content-Encoding": st.sampled_from(["gzip", "identity"]),
})


def marked_or_long(document: object) -> list[str]:
    """The values of `document` an error must not quote: marked strings and numbers of 10+ digits."""
    found: list[str] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, int) and not isinstance(item, bool) and abs(item) >= 10**9:
            found.append(str(item))
    return found


@pytest.fixture(scope="module")
def servers(model_servers):
    return ([model_servers("service", "sklearn"), model_servers("service", "sklearn", batching_enabled=True)],
            model_servers("mlflow", "sklearn"))


def send(url: str, body: str, content_type: str | None, extra: dict, chunked: bool) -> requests.Response:
    data = iter([body.encode()[:7], body.encode()[7:]]) if chunked else body.encode()
    return requests.post(f"{url}/invocations", data=data, headers=headers(content_type, extra), timeout=60)


def check(servers, body: str, content_type: str | None, extra: dict, chunked: bool, valid: bool,
          canonical_type: str, ours_index: int, document: object = None, must_refuse: bool = False) -> None:
    ours_all, theirs = servers
    ours = ours_all[ours_index]
    answer = send(ours.url, body, content_type, extra, chunked)  # a reset raises: the example fails
    assert answer.status_code < 500, (answer.status_code, answer.text[:300])
    if answer.status_code >= 400:
        assert len(answer.content) <= ERROR_BODY_LIMIT
        error = answer.json()
        assert {"error_code", "message"} <= set(error)
        shown = json.dumps({key: value for key, value in error.items() if key not in ("request_id", "error_id")},
                           ensure_ascii=False)
        assert MARK not in shown, shown[:300]
        quoted = error["message"] + error.get("field", "")  # `expected` names the type's range
        assert not [value for value in marked_or_long(document) if value in quoted], shown[:300]
        assert len(error.get("field", "")) <= NAME_LIMIT
    if must_refuse and answer.status_code != 415:
        assert answer.status_code == 400 and answer.json()["field"] == "num_credit_cards", answer.text[:300]
    if valid or answer.status_code == 200:
        expected = requests.post(f"{theirs.url}/invocations", data=body.encode(), timeout=60,
                                 headers={"Content-Type": canonical_type})
        assert (answer.status_code, expected.status_code) == (200, 200), (answer.text[:300], expected.text[:300])
        assert answer.json() == expected.json()


KINDS = {  # documents, valid content types, the type mlflow models serve is sent, examples (valid, changed)
    "json": (documents, JSON_TYPES, "application/json", (60, 120)),
    "csv": (csv_documents, CSV_TYPES, "text/csv", (30, 60)),
}


@pytest.mark.parametrize("valid", [True, False], ids=["valid", "changed"])
@pytest.mark.parametrize("kind", list(KINDS))
def test_generated_requests(servers, kind, valid):
    generate, types, canonical, examples = KINDS[kind]

    @settings(RUN, max_examples=examples[0] if valid else examples[1])
    @given(generated=generate(valid), extra=extras, chunked=st.booleans(), ours=st.integers(0, 1),
           content_type=st.sampled_from(types if valid else types + WRONG_TYPES))
    def run(generated, content_type, extra, chunked, ours) -> None:
        document, must_refuse = generated
        body = encode(document) if kind == "json" else document
        encoded = extra.get("Content-Encoding") == "gzip"  # we send it plain: a lie the server must survive
        check(servers, body, content_type, extra, chunked, valid and not encoded, canonical, ours,
              document if kind == "json" else None, must_refuse and not encoded)

    run()

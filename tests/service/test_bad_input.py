"""Nothing wrong gets through, against the real service (Gunicorn + uvicorn worker, 127.0.0.1):
a number that does not fit its column is a 400 naming the column on every input path; whatever
fails before `predict` is the client's 4xx; errors quote no value and stay small; a body over
the limit gets a 413 that Python's HTTP clients really read."""
from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request

import pytest
import requests

from service.errors import ERROR_BODY_LIMIT, NAME_LIMIT
from service.settings import DEFAULT_MAX_BODY_BYTES

COLUMNS = ["age", "income", "employment_status", "num_credit_cards"]
ROW = [34.0, 48000.0, "employed", 2]
JSON = {"Content-Type": "application/json"}
CARDS = COLUMNS.index("num_credit_cards")
COLUMNS_OF_ROW = {name: [value] for name, value in zip(COLUMNS, ROW, strict=True)}


def bodies(cards: object) -> dict[str, tuple[str, str]]:
    """One row whose `num_credit_cards` is `cards`, in every request format (content type, body)."""
    row = [*ROW[:CARDS], cards]
    record = dict(zip(COLUMNS, row, strict=True))
    raw = json.dumps(cards) if not isinstance(cards, str) else cards
    return {
        "fast-split": ("application/json", json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}})),
        "fast-records": ("application/json", json.dumps({"dataframe_records": [record, record]})),
        "mlflow-split-index": ("application/json", json.dumps(
            {"dataframe_split": {"columns": COLUMNS, "data": [row], "index": [7]}})),
        "instances": ("application/json", json.dumps({"instances": [record]})),
        "inputs-columns": ("application/json", json.dumps({"inputs": {name: [cell] for name, cell in record.items()}})),
        "csv": ("text/csv", ",".join(COLUMNS) + "\n" + ",".join(map(str, ROW[:CARDS])) + f",{raw}\n"),
    }


@pytest.fixture(scope="module")
def services(model_servers):
    """This service unbatched and micro-batched (every request goes through the batcher)."""
    return [model_servers("service", "sklearn"), model_servers("service", "sklearn", batching_enabled=True)]


def post(server, content_type: str, body: str | bytes, **headers: str) -> requests.Response:
    return requests.post(f"{server.url}/invocations", data=body, timeout=60,
                         headers={"Content-Type": content_type, **headers})


# --- a number outside its column's type --------------------------------------------------------
OUT_OF_TYPE = [2**63, 2**70, -(2**63) - 1, 2.5, -0.5, 1e20, 2**64 + 2]


@pytest.mark.parametrize("path", list(bodies(1)))
def test_a_number_that_does_not_fit_its_column_is_a_400_naming_it_on_every_path(services, path):
    for cards in OUT_OF_TYPE:
        content_type, body = bodies(cards)[path]
        for server in services:
            answer = post(server, content_type, body)
            assert answer.status_code == 400, (path, cards, server.url, answer.text)
            error = answer.json()
            assert error["field"] == "num_credit_cards", (path, cards, error)
            assert "long" in error["expected"]
            quoted = json.dumps({key: error[key] for key in ("message", "field")})
            assert str(cards) not in quoted and json.dumps(cards) not in quoted


@pytest.mark.parametrize("cards", [2**63 - 1, -(2**63), 3.0, 0])
def test_a_whole_number_within_long_is_predicted_on_as_mlflow_does(services, model_servers, cards):
    theirs = model_servers("mlflow", "sklearn")
    for path, (content_type, body) in bodies(cards).items():
        expected = post(theirs, content_type, body)
        for server in services:
            answer = post(server, content_type, body)
            assert (answer.status_code, expected.status_code) == (200, 200), (path, answer.text, expected.text)
            assert answer.json() == expected.json(), path


# --- failures before predict are the client's --------------------------------------------------
DEEP = 100_000


@pytest.mark.parametrize("body", [
    "[" * DEEP + "]" * DEEP,
    '{"inputs": ' + "[" * DEEP + "]" * DEEP + "}",
    '{"dataframe_split": {"columns": ["age"], "data": ' + "[" * 5000 + "]" * 5000 + "}}",
    '{"inputs": ' + "[" * 900 + "1" + "]" * 900 + "}",
    '{"dataframe_records": [{"age": ' + '{"a":' * 2000 + "1" + "}" * 2000 + "}]}",
    '{"inputs": [{"age": 1}], "params": ' + '{"a":' * 3000 + "1" + "}" * 3000 + "}",
], ids=["top-level", "inputs", "split-data", "inputs-900", "records-cell", "params"])
def test_deeply_nested_json_is_the_clients_400_not_a_model_failure(services, body):
    for server in services:
        answer = post(server, "application/json", body)
        assert answer.status_code == 400, (server.url, answer.status_code, answer.text[:300])
        assert answer.json()["error_code"] == "BAD_REQUEST" and "error_id" not in answer.json()


# --- a string no encoding holds ----------------------------------------------------------------
def _with_status(status: str) -> dict[str, str]:
    """One row whose employment_status is `status`, in each JSON format (json.dumps escapes a surrogate)."""
    row = [*ROW[:2], status, ROW[3]]
    record = dict(zip(COLUMNS, row, strict=True))
    return {"dataframe_split": json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [row]}}),
            "dataframe_records": json.dumps({"dataframe_records": [record]}),
            "instances": json.dumps({"instances": [record]}),
            "inputs": json.dumps({"inputs": {name: [cell] for name, cell in record.items()}})}


@pytest.mark.parametrize("fmt", list(_with_status("x")))
def test_a_lone_surrogate_is_a_400_naming_its_column_and_every_request_beside_it_is_answered(services, fmt):
    """"\\ud800" is legal JSON and no character: it once broke the batch it was in, and every request of
    that batch waited until its client gave up. Now it is the client's 400; the others are answered."""
    from concurrent.futures import ThreadPoolExecutor

    bad, good = _with_status("em\ud800ployed")[fmt], _with_status("employed")[fmt]
    for server in services:
        with ThreadPoolExecutor(max_workers=16) as pool:
            answers = list(pool.map(lambda body, url=server.url: requests.post(
                f"{url}/invocations", data=body, headers=JSON, timeout=10), [bad, good] * 8))
        assert [a.status_code for a in answers] == [400, 200] * 8, [a.text[:200] for a in answers]
        refused = answers[0].json()
        assert refused["field"] == "employment_status" and "lone surrogate" in refused["message"], refused


# --- no unbounded echo -------------------------------------------------------------------------
LONG_NAME = "n" * 1_000_000
HOSTILE_NAME = "\x1b[31mred\u202e" + "\x00" * 10 + "end"


@pytest.mark.parametrize(("content_type", "body"), [
    ("application/json", json.dumps({"dataframe_records": [{LONG_NAME: 1, **dict(zip(COLUMNS, ROW, strict=True))}]})),
    ("application/json", json.dumps({"dataframe_split": {"columns": [*COLUMNS, LONG_NAME], "data": [[*ROW, 1]]}})),
    ("application/json", json.dumps({"inputs": {LONG_NAME: [1], **COLUMNS_OF_ROW}})),
    ("text/csv", ",".join([*COLUMNS, LONG_NAME]) + "\n" + ",".join(map(str, ROW)) + ",1\n"),
    ("application/json", json.dumps({"dataframe_split": {"columns": [*COLUMNS, LONG_NAME, LONG_NAME],
                                                         "data": [[*ROW, 1, 1]]}})),
], ids=["records", "split", "inputs", "csv", "repeated"])
def test_an_unknown_column_name_is_quoted_shortened_and_the_body_capped(services, content_type, body):
    for server in services:
        answer = post(server, content_type, body)
        assert answer.status_code == 400, answer.text[:200]
        assert len(answer.content) <= ERROR_BODY_LIMIT
        assert len(answer.json()["field"]) <= NAME_LIMIT
        assert "n" * (NAME_LIMIT + 1) not in answer.text


def test_a_hostile_name_is_escaped_and_a_long_value_never_quoted(services):
    value = "applicant-" + "v" * 5000
    record = dict(zip(COLUMNS, ROW, strict=True))
    for server in services:
        named = post(server, "application/json", json.dumps({"dataframe_records": [{**record, HOSTILE_NAME: 1}]}))
        assert named.status_code == 400
        field = named.json()["field"]
        assert field.isprintable() and "red" in field and "\x1b" not in named.text
        valued = post(server, "application/json", json.dumps({"dataframe_records": [{**record, "age": value}]}))
        assert valued.status_code == 400 and valued.json()["field"] == "age"
        assert "applicant-" not in valued.text and len(valued.content) <= ERROR_BODY_LIMIT


# --- a 413 the client sees ---------------------------------------------------------------------
LIMIT = DEFAULT_MAX_BODY_BYTES
OVER = [LIMIT + 1, LIMIT + 7 * 2**20, 64 * 10**6]  # 64 MB: once reset, the server closed mid-body


def oversized(size: int) -> bytes:
    return b'{"inputs": "' + b"x" * (size - 14) + b'"}'


def chunks(body: bytes, size: int = 65536):
    for start in range(0, len(body), size):
        yield body[start:start + size]


@pytest.mark.parametrize("size", OVER)
def test_urllib_reads_the_413_with_content_length_and_chunked(services, size):
    body = oversized(size)
    for server in services:
        for data in (body, chunks(body)):  # urllib sends `Connection: close`
            request = urllib.request.Request(f"{server.url}/invocations", data=data, headers=JSON)  # noqa: S310
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=60)  # noqa: S310 - http://127.0.0.1
            assert refused.value.code == 413
            assert json.loads(refused.value.read())["error_code"] == "REQUEST_TOO_LARGE"


@pytest.mark.parametrize("size", OVER)
def test_requests_reads_the_413_and_the_connection_stays_usable(services, size):
    body = oversized(size)
    ok = json.dumps({"dataframe_split": {"columns": COLUMNS, "data": [ROW]}})
    for server in services:
        with requests.Session() as session:
            for data in (body, chunks(body)):
                refused = session.post(f"{server.url}/invocations", data=data, headers=JSON, timeout=60)
                assert refused.status_code == 413 and refused.json()["expected"] == f"at most {LIMIT} bytes"
                answered = session.post(f"{server.url}/invocations", data=ok, headers=JSON, timeout=60)
                assert answered.status_code == 200


def test_a_declared_length_over_the_limit_with_expect_100_continue_is_refused_before_the_body(services):
    """The client waits for `100 Continue` before it sends: it gets the 413 instead, and sends nothing."""
    for server in services:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\nExpect: 100-continue\r\n\r\n" % (LIMIT * 20))
            answer = http.client.HTTPResponse(sock)
            answer.begin()
            assert answer.status == 413
            assert json.loads(answer.read())["error_code"] == "REQUEST_TOO_LARGE"
            assert answer.getheader("connection") == "close"


def test_a_declared_length_over_the_limit_is_answered_before_the_body_is_sent(services):
    """No `Expect`: the 413 is on the wire at once (curl stops sending when it sees it)."""
    for server in services:
        with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
            sock.sendall(b"POST /invocations HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         b"Content-Length: %d\r\n\r\n" % (LIMIT + 1))
            assert sock.recv(64).startswith(b"HTTP/1.1 413 ")

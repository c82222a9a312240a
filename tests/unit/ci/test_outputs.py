"""ci/outputs.py: dotenv files GitLab accepts (names, newlines, blanks, limits), atomic writes, JSON."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ci.errors import ConfigError
from ci.outputs import (
    DOTENV_MAX_BYTES,
    DOTENV_MAX_VARIABLES,
    dotenv_text,
    read_dotenv,
    write_dotenv,
    write_json,
)


@pytest.mark.parametrize(("variables", "text"), [
    pytest.param({"A": "1", "B_2": "x"}, "A=1\nB_2=x\n", id="plain"),
    pytest.param({"_PRIVATE": "v"}, "_PRIVATE=v\n", id="leading-underscore"),
    pytest.param({"EMPTY": "", "NONE": None}, "EMPTY=\nNONE=\n", id="empty-and-none"),
    pytest.param({"N": 3, "F": 0.5, "B": False}, "N=3\nF=0.5\nB=False\n", id="non-strings-as-str"),
    pytest.param({"URL": "https://x/?a=b&c=d"}, "URL=https://x/?a=b&c=d\n", id="equals-sign-in-value"),
    pytest.param({"Q": '"quoted" \'as is\''}, "Q=\"quoted\" 'as is'\n", id="quotes-kept"),
    pytest.param({"INNER": "a b\tc"}, "INNER=a b\tc\n", id="inner-blanks"),
    pytest.param({}, "", id="no-variables"),
])
def test_dotenv_text_accepts(variables, text):
    assert dotenv_text(variables) == text


@pytest.mark.parametrize(("variables", "message"), [
    pytest.param({"1ST": "x"}, "dotenv variable name '1ST'", id="leading-digit"),
    pytest.param({"A-B": "x"}, "dotenv variable name 'A-B'", id="dash"),
    pytest.param({"A.B": "x"}, "dotenv variable name 'A.B'", id="dot"),
    pytest.param({"ÉTÉ": "x"}, "dotenv variable name 'ÉTÉ'", id="non-ascii"),
    pytest.param({"": "x"}, "dotenv variable name ''", id="empty-name"),
    pytest.param({"A\n": "x"}, "dotenv variable name 'A\\n'", id="newline-in-name"),
    pytest.param({"A": "x\ny"}, "dotenv variable A: value has a newline", id="newline"),
    pytest.param({"A": "x\r"}, "dotenv variable A: value has a newline", id="carriage-return"),
    pytest.param({"A": " x"}, "dotenv variable A: value has a newline or surrounding blanks", id="leading-blank"),
    pytest.param({"A": "x\t"}, "dotenv variable A: value has a newline or surrounding blanks", id="trailing-tab"),
    pytest.param({f"V{i}": "x" for i in range(DOTENV_MAX_VARIABLES + 1)},
                 "dotenv report has 21 variables; GitLab accepts 20 by default", id="too-many"),
    pytest.param({"A": "é" * 2600}, f"dotenv report is 5203 bytes; GitLab accepts {DOTENV_MAX_BYTES}",
                 id="too-many-bytes-not-characters"),
])
def test_dotenv_text_rejects(variables, message):
    with pytest.raises(ConfigError) as raised:
        dotenv_text(variables)
    assert message in str(raised.value)


@pytest.mark.parametrize(("variables", "ok"), [
    pytest.param({f"V{i}": "x" for i in range(DOTENV_MAX_VARIABLES)}, True, id="exactly-20-variables"),
    pytest.param({"A": "x" * (DOTENV_MAX_BYTES - 3)}, True, id="exactly-5KiB"),
    pytest.param({"A": "x" * (DOTENV_MAX_BYTES - 2)}, False, id="one-byte-over"),
])
def test_dotenv_limits_are_inclusive(variables, ok):
    if ok:
        assert len(dotenv_text(variables).encode()) <= DOTENV_MAX_BYTES
    else:
        with pytest.raises(ConfigError):
            dotenv_text(variables)


def test_dotenv_round_trip(tmp_path):
    variables = {"MODEL_NAME": "credit-risk", "MODEL_URI": "models:/credit-risk/3", "EMPTY": "",
                 "QUERY": "a=b=c"}
    path = write_dotenv(tmp_path / "nested" / "model.env", variables)
    assert path == tmp_path / "nested" / "model.env"
    assert read_dotenv(path) == variables


def test_a_rejected_dotenv_leaves_the_previous_file(tmp_path):
    path = write_dotenv(tmp_path / "model.env", {"A": "1"})
    with pytest.raises(ConfigError):
        write_dotenv(path, {"A": "2\n"})
    assert path.read_text() == "A=1\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.env"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path):
    target = tmp_path / "report.json"
    target.mkdir()  # os.replace onto a directory fails after the temporary file was written
    with pytest.raises(OSError):
        write_json(target, {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json"]


@dataclass
class Figures:
    p95: float
    where: Path


@pytest.mark.parametrize(("data", "expected"), [
    pytest.param({"b": 1, "a": [1, 2]}, '{\n  "a": [\n    1,\n    2\n  ],\n  "b": 1\n}\n', id="sorted-indented"),
    pytest.param({"f": Figures(1.5, Path("/tmp/x"))}, '{\n  "f": {\n    "p95": 1.5,\n    "where": "/tmp/x"\n  }\n}\n',
                 id="dataclass-and-path"),
    pytest.param(Path("/r"), '"/r"\n', id="bare-path"),
])
def test_write_json(tmp_path, data, expected):
    path = write_json(tmp_path / "out.json", data)
    assert path.read_text() == expected
    json.loads(path.read_text())


def test_write_json_refuses_other_objects(tmp_path):
    with pytest.raises(TypeError, match="not JSON serialisable: set"):
        write_json(tmp_path / "out.json", {"x": {1, 2}})
    assert not (tmp_path / "out.json").exists()

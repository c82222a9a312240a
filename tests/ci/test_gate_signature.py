"""`python -m ci gate signature`: the comparison rules, then the command against a real MLflow
registry (live = alias, or the live service's /version) and the real service for the batching check."""
import contextlib
import json
import uuid

import mlflow
import mlflow.pyfunc
import pytest
from mlflow.models import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema

from ci.cli import main
from ci.gates.signature import compare
from tests.ci import gate_models
from tests.ci.served import serving

SCORE = ColSpec("double", "score")


def sig(inputs, outputs=(SCORE,), params=None):
    return ModelSignature(Schema(list(inputs)), Schema(list(outputs)),
                          ParamSchema(params) if params else None)


BASE = gate_models.base_inputs()


def breaking(changes):
    return sorted(str(change) for change in changes if change.breaking)


def test_same_signature_has_no_change():
    assert compare(sig(BASE), sig(gate_models.base_inputs())) == []


def test_removed_and_retyped_inputs_are_breaking():
    changes = compare(sig(BASE), sig([ColSpec("double", "a"), ColSpec("string", "b")]))
    assert breaking(changes) == ["input `b`: type long -> string (breaking)", "input `c`: removed (breaking)"]


def test_additive_optional_input_is_not_breaking_but_required_is():
    optional = compare(sig(BASE), sig([*BASE, ColSpec("double", "d", required=False)]))
    assert [str(c) for c in optional] == ["input `d`: added (optional)"]
    required = compare(sig(BASE), sig([*BASE, ColSpec("double", "d")]))
    assert breaking(required) == ["input `d`: added (required) (breaking)"]


def test_optionality_changes():
    loosened = [ColSpec("double", "a", required=False), *BASE[1:]]
    assert not breaking(compare(sig(BASE), sig(loosened)))
    assert breaking(compare(sig(loosened), sig(BASE))) == ["input `a`: optional -> required (breaking)"]


def test_changed_output_is_breaking():
    changes = compare(sig(BASE), sig(BASE, outputs=[ColSpec("double", "score"), ColSpec("string", "risk")]))
    assert breaking(changes) == ["outputs: [score: double] -> [score: double, risk: string] (breaking)"]


def test_params_removed_or_retyped_are_breaking_added_is_not():
    old = sig(BASE, params=[ParamSpec("threshold", "double", 0.5)])
    assert breaking(compare(old, sig(BASE))) == ["param `threshold`: removed (breaking)"]
    assert breaking(compare(old, sig(BASE, params=[ParamSpec("threshold", "long", 1)]))) == [
        "param `threshold`: type double -> long (breaking)"]
    added = sig(BASE, params=[ParamSpec("threshold", "double", 0.5), ParamSpec("top_k", "long", 3)])
    assert not breaking(compare(old, added))


# -- the command against a real registry -------------------------------------------------------

def register(tracking_uri: str, name: str, model_dir, alias: str | None = None) -> str:
    """Log the saved model directory's model as a new version of `name`; returns the version."""
    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(str(model_dir))
    meta = model.metadata
    with mlflow.start_run():
        info = mlflow.pyfunc.log_model(name="model", python_model=model.unwrap_python_model(),
                                       signature=meta.signature, input_example=gate_models.example(),
                                       pip_requirements=gate_models.PIP_REQUIREMENTS)
    version = mlflow.register_model(info.model_uri, name).version
    if alias:
        MlflowClient(tracking_uri).set_registered_model_alias(name, alias, version)
    return str(version)


@pytest.fixture(scope="module")
def candidates(tmp_path_factory):
    root = tmp_path_factory.mktemp("signature-models")
    return {
        "base": gate_models.save(root / "base"),
        "breaking": gate_models.save(  # servable: its model reads only a and b
            root / "breaking", inputs=[ColSpec("double", "a"), ColSpec("long", "b"), ColSpec("double", "d")],
            input_example=gate_models.example().assign(d=[0.5, 1.0, 1.5, 2.0]).drop(columns=["c"])),
        "additive": gate_models.save(
            root / "additive", inputs=[*BASE, ColSpec("double", "d", required=False)]),
    }


@pytest.fixture(scope="module")
def served(candidates, tmp_path_factory):
    """The real service serving each candidate (the gate's batching check needs a running candidate)."""
    workdir = tmp_path_factory.mktemp("signature-served")
    with contextlib.ExitStack() as stack:
        yield {key: stack.enter_context(serving(candidates[key], workdir)) for key in ("additive", "breaking")}


@pytest.fixture(scope="module")
def live_model(mlflow_sqlite, candidates):
    """A registered model whose version 1 (the base signature) has the alias @production."""
    name = f"signature-gate-{uuid.uuid4().hex[:8]}"
    return name, register(mlflow_sqlite.url, name, candidates["base"], alias="production")


def gate(tracking_uri, name, *args):
    return main(["gate", "signature", "--tracking-uri", tracking_uri, "--model-name", name, *args])


def test_breaking_change_against_the_alias_fails(mlflow_sqlite, live_model, candidates, served, tmp_path,
                                                capsys):
    name, _ = live_model
    assert gate(mlflow_sqlite.url, name, "--model-uri", str(candidates["breaking"]), "--url", served["breaking"],
                "--output-dir", str(tmp_path)) == 1
    captured = capsys.readouterr()
    assert "FAIL  breaking change against registry alias @production" in captured.out
    assert "input `c`: removed (breaking)" in captured.out
    assert "input `d`: added (required) (breaking)" in captured.out
    assert "signature gate failed (compatibility)" in captured.err
    summary = json.loads((tmp_path / "signature.json").read_text())
    assert summary["passed"] is False and len(summary["changes"]) == 2
    assert 'failures="1"' in (tmp_path / "signature-junit.xml").read_text()


def test_breaking_change_passes_with_the_override(mlflow_sqlite, live_model, candidates, served, tmp_path,
                                                  monkeypatch, capsys):
    monkeypatch.setenv("SIGNATURE_ALLOW_BREAKING", "true")
    name, _ = live_model
    assert gate(mlflow_sqlite.url, name, "--model-uri", str(candidates["breaking"]), "--url", served["breaking"],
                "--output-dir", str(tmp_path)) == 0
    assert "breaking change allowed by SIGNATURE_ALLOW_BREAKING" in capsys.readouterr().out


def test_additive_version_passes_and_the_verdict_is_a_version_tag(mlflow_sqlite, live_model, candidates,
                                                                  served, tmp_path, capsys):
    name, _ = live_model
    version = register(mlflow_sqlite.url, name, candidates["additive"])
    assert gate(mlflow_sqlite.url, name, "--model-version", version, "--url", served["additive"],
                "--output-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "input `d`: added (optional)" in out and "signature gate passed" in out
    tags = MlflowClient(mlflow_sqlite.url).get_model_version(name, version).tags
    assert tags["pyfunc_deploy.gate.signature"] == "passed"
    summary = json.loads(tags["pyfunc_deploy.gate.signature.summary"])
    assert summary["changes"] == ["input `d`: added (optional)"]
    assert summary["batching"].startswith("batching on (start-up proof): 4 example rows alone")


def test_invalid_input_example_fails(mlflow_sqlite, live_model, tmp_path, capsys):
    model_dir = gate_models.save(tmp_path / "model")
    example = json.loads((model_dir / "input_example.json").read_text())
    example["data"] = [[row[0], "not a number", row[2]] for row in example["data"]]
    (model_dir / "input_example.json").write_text(json.dumps(example))
    assert gate(mlflow_sqlite.url, live_model[0], "--model-uri", str(model_dir), "--output-dir",
                str(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "FAIL  the input example does not match the signature" in out
    assert "Failed to convert column b to type 'int64'" in out
    assert "not a number" not in out


def test_live_service_and_batching(mlflow_sqlite, live_model, candidates, served, tmp_path, capsys):
    """Live contract from the live service's /version; batched answers equal unbatched ones."""
    name, version = live_model
    with serving(f"models:/{name}/{version}", tmp_path, {"MLFLOW_TRACKING_URI": mlflow_sqlite.url}) as live:
        assert gate(mlflow_sqlite.url, name, "--model-uri", str(candidates["additive"]), "--live-url", live,
                    "--url", served["additive"], "--output-dir", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert f"compatible with live service {live} ({name} version {version})" in out
    assert ("PASS  batching on (start-up proof): 4 example rows alone, in one request and 16 concurrent "
            "requests agree") in out


def test_no_candidate_fails_the_batching_check(mlflow_sqlite, live_model, candidates, tmp_path, capsys):
    assert gate(mlflow_sqlite.url, live_model[0], "--model-uri", str(candidates["additive"]),
                "--output-dir", str(tmp_path)) == 1
    assert "FAIL  no candidate to check batching on: give --image" in capsys.readouterr().out


def test_an_image_that_proved_its_model_differs_batched_passes_with_its_reason(tmp_path, capsys):
    """The candidate serves unbatched because its proof found answers that depend on the batch: the
    gate passes and its report carries the image's reason."""
    from tests.service import toy_models

    model_dir = toy_models.save(toy_models.BatchStatsModel(), tmp_path / "batch-stats")
    with serving(model_dir, tmp_path) as url:
        assert main(["gate", "signature", "--model-uri", str(model_dir), "--url", url,
                     "--output-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "PASS  batching off in this image (start-up proof): answers differ when batched" in out
    report = json.loads((tmp_path / "signature.json").read_text())
    assert report["batching"].startswith("batching off in this image (start-up proof)")


def test_batching_check_catches_answers_that_depend_on_the_batch():
    """A server that batches and whose answer for a row depends on what it was batched with fails the
    check; a timestamp that changes from call to call does not."""
    from ci.gates.signature import check_batching
    from tests.ci.recording_http import RecordingServer

    def batch_dependent(request):
        rows = request.json()["dataframe_split"]["data"]
        return 200, {"predictions": [{"score": float(len(rows)), "at": uuid.uuid4().hex} for _ in rows]}

    version = {"batching": {"enabled": True, "reason": "proven", "decided_by": "image proof"}}
    with RecordingServer([("POST", "/invocations", batch_dependent),
                          ("GET", "/version", lambda _: (200, version))]) as server:
        check = check_batching(server.url, {"dataframe_split": {"columns": ["a", "b", "c"],
                                                                "data": [[1.0, 1, "x"], [2.0, 2, "y"]]}})
    assert not check.passed
    assert "one request of all rows" in check.detail


def test_merge_request_gets_the_gate_summary_as_a_note(candidates, served, tmp_path, monkeypatch, capsys):
    from tests.ci.recording_http import RecordingServer, gitlab_routes

    with RecordingServer(gitlab_routes("42")) as server:
        for key, value in {"CI_SERVER_URL": server.url, "GITLAB_API_TOKEN": "glpat-mr-secret",
                           "CI_PROJECT_ID": "42", "CI_MERGE_REQUEST_IID": "12"}.items():
            monkeypatch.setenv(key, value)
        assert main(["gate", "signature", "--model-uri", str(candidates["additive"]), "--url", served["additive"],
                     "--output-dir", str(tmp_path)]) == 0
    [note] = server.calls("POST", "/api/v4/projects/42/merge_requests/12/notes")
    body = note.json()["body"]
    assert body.startswith("**signature gate passed**")
    assert "PASS  the input example validates against the signature" in body
    assert "glpat-mr-secret" not in capsys.readouterr().out

"""ci/gates/signature.py: the compatibility rules on in-memory ModelSignatures, the input-example
check and the gate's verdict with an in-memory ModelMeta (no registry, no live service)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from mlflow.models import ModelSignature
from mlflow.types import ColSpec, ParamSchema, ParamSpec, Schema, TensorSpec

from ci.gates.signature import Live, check_example, compare, signature_gate
from ci.registry.model_meta import ModelMeta
from ci.reports import Check

A, B = ColSpec("double", "a"), ColSpec("long", "b")
SCORE = ColSpec("double", "score")


def sig(inputs=(A, B), outputs=(SCORE,), params=None) -> ModelSignature:
    return ModelSignature(Schema(list(inputs)), Schema(list(outputs)) if outputs is not None else None,
                          ParamSchema(list(params)) if params else None)


def tensor_sig(shape=(-1, 4), dtype="float32") -> ModelSignature:
    return ModelSignature(Schema([TensorSpec(np.dtype(dtype), shape)]), Schema([SCORE]))


@pytest.mark.parametrize(("live", "candidate", "changes"), [
    pytest.param(sig(), sig(), [], id="same"),
    pytest.param(sig(), sig((B, A)), [], id="reordered-columns"),
    pytest.param(sig(), sig((A, ColSpec("double", "b"))), ["input `b`: type long -> double (breaking)"],
                 id="widened-type-is-still-a-change"),
    pytest.param(sig(), sig((A,)), ["input `b`: removed (breaking)"], id="removed"),
    pytest.param(sig(), sig((A, B, ColSpec("string", "c", required=False))), ["input `c`: added (optional)"],
                 id="optional-added"),
    pytest.param(sig(), sig((A, B, ColSpec("string", "c"))), ["input `c`: added (required) (breaking)"],
                 id="required-added"),
    pytest.param(sig(), sig((ColSpec("double", "a", required=False), B)), ["input `a`: required -> optional"],
                 id="loosened"),
    pytest.param(sig((ColSpec("double", "a", required=False), B)), sig(),
                 ["input `a`: optional -> required (breaking)"], id="tightened"),
    pytest.param(sig(), sig(outputs=(ColSpec("float", "score"),)),
                 ["outputs: [score: double] -> [score: float] (breaking)"], id="output-retyped"),
    pytest.param(sig(), sig(outputs=None), ["outputs: [score: double] -> none (breaking)"], id="outputs-dropped"),
    pytest.param(sig(params=[ParamSpec("k", "long", 3)]), sig(params=[ParamSpec("k", "long", 5)]), [],
                 id="param-default-changed-only"),
    pytest.param(sig(), sig(params=[ParamSpec("k", "long", 3)]), ["param `k`: added"], id="param-added"),
    pytest.param(sig(params=[ParamSpec("k", "long", 3)]), sig(params=[ParamSpec("k", "long", [3], (-1,))]),
                 ['param `k`: type long -> {"shape": [-1], "type": "long"} (breaking)'], id="param-became-a-list"),
    pytest.param(tensor_sig(), tensor_sig(), [], id="same-tensor"),
    pytest.param(tensor_sig(), tensor_sig((-1, 5)), ["inputs: unnamed inputs changed (breaking)"],
                 id="tensor-shape"),
    pytest.param(sig(), tensor_sig(), ["inputs: unnamed inputs changed (breaking)"], id="columns-to-tensor"),
])
def test_compare(live, candidate, changes):
    assert [str(change) for change in compare(live, candidate)] == changes


def test_compare_reports_every_change_in_order():
    live = sig((A, B, ColSpec("string", "c")), params=[ParamSpec("t", "double", 0.5)])
    candidate = sig((ColSpec("string", "a"), B, ColSpec("long", "d", required=False)), outputs=(A,))
    assert [(c.where, c.breaking) for c in compare(live, candidate)] == [
        ("input `c`", True), ("input `a`", True), ("input `d`", False), ("outputs", True), ("param `t`", True)]


# -- the input example -------------------------------------------------------------------------

EXAMPLE = pd.DataFrame({"a": [1.5, 2.0], "b": [1, 2]})
SERVING = {"dataframe_split": {"columns": ["a", "b"], "data": [[1.5, 1], [2.0, 2]]}}


def meta(signature=None, example=EXAMPLE, serving=SERVING, error=None, source="cand v2") -> ModelMeta:
    return ModelMeta(source, signature if signature is not None else sig(), example, serving, error)


@pytest.mark.parametrize(("candidate", "passed", "detail"), [
    pytest.param(meta(), True, "the input example validates against the signature", id="valid"),
    pytest.param(ModelMeta("cand v2", None, EXAMPLE, SERVING), False, "cand v2 has no signature: log the model with "
                 "`signature=infer_signature(example, predictions)`", id="no-signature"),
    pytest.param(meta(error="Failed to convert column b"), False,
                 "the input example does not match the signature: Failed to convert column b", id="load-error"),
    pytest.param(meta(example=None), False, "cand v2 has no input example: log the model with `input_example=` "
                 "(a few realistic rows)", id="no-example"),
    pytest.param(meta(serving=None), False, "cand v2 has no input example", id="no-serving-example"),
    pytest.param(meta(example=pd.DataFrame({"a": [1.5]})), False,
                 "the input example does not match the signature: ", id="missing-column"),
    pytest.param(meta(example=pd.DataFrame({"a": ["SECRET-ROW-VALUE"], "b": [1]})), False,
                 "the input example does not match the signature: ", id="wrong-type"),
])
def test_check_example(candidate, passed, detail):
    check = check_example(candidate)
    assert (check.name, check.passed) == ("input_example", passed)
    assert check.detail.startswith(detail)
    assert "SECRET-ROW-VALUE" not in check.detail, "the example's data must not be quoted"


# -- the gate ----------------------------------------------------------------------------------

LIVE = Live(meta(source="live v1"), "registry alias @production (m version 1)")
NOTHING = Live(None, "nothing live ('m' has no alias @production): first deployment")
BREAKING = meta(signature=sig((A,)))


@pytest.mark.parametrize(("candidate", "live", "allow", "passed", "compatibility"), [
    pytest.param(meta(), NOTHING, False, True,
                 Check("compatibility", True, "nothing to compare with: nothing live ('m' has no alias @production): "
                                              "first deployment"), id="first-deployment"),
    pytest.param(meta(), Live(ModelMeta("live v1", None, None, None), "live service x"), False, True,
                 Check("compatibility", True, "nothing to compare with: live service x"), id="live-without-signature"),
    pytest.param(meta(signature=sig((A, B, ColSpec("string", "c", required=False)))), LIVE, False, True,
                 Check("compatibility", True, "compatible with registry alias @production (m version 1): input `c`: "
                                              "added (optional)"), id="additive"),
    pytest.param(meta(), LIVE, False, True,
                 Check("compatibility", True, "compatible with registry alias @production (m version 1): no change"),
                 id="unchanged"),
    pytest.param(BREAKING, LIVE, True, True,
                 Check("compatibility", True, "breaking change allowed by SIGNATURE_ALLOW_BREAKING against registry "
                                              "alias @production (m version 1): input `b`: removed (breaking)"),
                 id="breaking-allowed"),
])
def test_signature_gate_passes(candidate, live, allow, passed, compatibility):
    """The contract checks pass; without a running candidate the batching check fails the gate."""
    result = signature_gate(candidate, live, allow_breaking=allow)
    assert all(check.passed for check in result.checks[:2]) is passed
    assert result.checks[1] == compatibility
    assert result.checks[2] == Check("batching", False, "no candidate to check batching on: give --image (the built "
                                                        "image, IMAGE_REF) or --url (CANDIDATE_URL)")
    assert result.passed is False
    assert (result.report["candidate"], result.report["live"]) == ("cand v2", live.found_by)


def test_signature_gate_fails_a_breaking_change_and_says_how_to_proceed():
    result = signature_gate(BREAKING, LIVE)
    assert result.passed is False
    assert result.summary["changes"] == ["input `b`: removed (breaking)"]
    check = result.checks[1]
    assert not check.passed
    assert check.detail.startswith("breaking change against registry alias @production (m version 1): input `b`: "
                                   "removed (breaking). Keep the old columns")
    assert "SIGNATURE_ALLOW_BREAKING=true" in check.detail


def test_signature_gate_without_candidate_signature_fails_both_checks():
    result = signature_gate(ModelMeta("cand v2", None, None, None), LIVE)
    assert (result.passed, [c.passed for c in result.checks]) == (False, [False, False, False])
    assert result.checks[1].detail == "cand v2 has no signature to compare"


def test_a_bad_example_fails_the_gate_even_when_compatible():
    result = signature_gate(meta(example=None), LIVE)
    assert result.passed is False
    assert [(c.name, c.passed) for c in result.checks] == [("input_example", False), ("compatibility", True),
                                                           ("batching", False)]

"""ci/registry/resolution.py: the dotenv contract later jobs read."""
from __future__ import annotations

import pytest

from ci.registry.resolution import ResolvedModel, dotenv_variables


def resolved(**overrides) -> ResolvedModel:
    fields = dict(name="Credit Risk", version="12", run_id=None, source="runs:/r/model",
                  model_uri="models:/Credit Risk/12", artifact_uri="s3://b/12", status="READY", current_stage=None,
                  aliases=[], tags={}, description=None, creation_timestamp=0, created_at="", last_updated_at=None,
                  selector="@production", resolved_by="alias @production")
    return ResolvedModel(**{**fields, **overrides})


@pytest.mark.parametrize(("model", "run_id", "tag"), [
    pytest.param(resolved(), "", "credit-risk-v12-0123abcd", id="no-run-id"),
    pytest.param(resolved(run_id="abc"), "abc", "credit-risk-v12-0123abcd", id="run-id"),
])
def test_dotenv_variables(model, run_id, tag):
    assert dotenv_variables(model, "0123abcdef99") == {
        "MODEL_NAME": "Credit Risk", "MODEL_VERSION": "12", "MODEL_RUN_ID": run_id, "MODEL_SOURCE": "runs:/r/model",
        "MODEL_URI": "models:/Credit Risk/12", "IMAGE_TAG": tag}

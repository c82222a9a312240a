"""Model sources: a local directory, `models:/name@alias`, `models:/name/Production`, `runs:/`.
A registry URI is pinned to the version it resolved to, and that identity is reported."""
from __future__ import annotations

import pytest

from service.loading import load_model
from service.settings import Settings

URIS = ["models:/{name}@production", "models:/{name}/Production", "runs:/{run}/model"]


@pytest.mark.parametrize("uri", URIS)
def test_registry_and_run_uris_load_and_report_the_resolved_version(credit_risk_versions, mlflow_sqlite,
                                                                     monkeypatch, uri):
    version = credit_risk_versions["sklearn"]
    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_sqlite.url)
    loaded = load_model(Settings(model_uri=uri.format(name=version.name, run=version.run_id)))
    identity = loaded.identity
    assert identity.run_id == version.run_id
    if uri.startswith("models:"):
        assert (identity.name, identity.version) == (version.name, str(version.version))
        assert identity.source == f"models:/{version.name}/{version.version}"
    assert loaded.serving_example and loaded.load_seconds > 0


def test_identity_from_the_image_build_wins(model_dirs):
    loaded = load_model(Settings(model_uri=str(model_dirs["pyfunc"]), model_name="credit-risk",
                                 model_version="7", model_run_id="abc"))
    identity = loaded.identity
    assert (identity.name, identity.version, identity.run_id) == ("credit-risk", "7", "abc")
    assert loaded.identity.signature_digest.startswith("sha256:")


def test_settings_are_read_from_service_env(monkeypatch):
    monkeypatch.setenv("SERVICE_PORT", "9000")
    monkeypatch.setenv("SERVICE_BATCHING_ENABLED", "true")
    settings = Settings()
    assert (settings.port, settings.batching_enabled, settings.model_uri) == (9000, True, "/opt/model")

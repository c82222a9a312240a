"""`python -m ci gate latency --image`: the credit-risk example built into the real image, run with
podman as the pipeline runs it, measured, and the verdict recorded on the model version."""
import json

import pytest
from mlflow.tracking import MlflowClient

from ci.build import build
from ci.cli import main
from ci.model_ref import ModelRef

pytestmark = pytest.mark.containers


def test_built_image_passes_and_the_verdict_is_recorded(oci_registry, mlflow_sqlite, credit_risk_versions,
                                                        tmp_path, monkeypatch, capsys):
    version = credit_risk_versions["pyfunc"]
    image = build(ModelRef(version.name, version.version, version.run_id),
                  repository=f"{oci_registry.address}/serving/gate-latency", commit="1a7e2c3d",
                  tracking_uri=mlflow_sqlite.url, env=oci_registry.env).reference
    for key, value in oci_registry.env.items():  # a CI job has podman's configuration in its environment
        monkeypatch.setenv(key, value)
    code = main(["gate", "latency", "--image", image, "--tracking-uri", mlflow_sqlite.url,
                 "--model-name", version.name, "--model-version", str(version.version),
                 "--output-dir", str(tmp_path), "--users", "8", "--rate", "24", "--warmup", "3s",
                 "--duration", "10s", "--min-rps", "12"])
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "latency.json").read_text())
    assert summary["image"] == image and summary["stats"]["failures"] == 0
    tags = MlflowClient(mlflow_sqlite.url).get_model_version(version.name, version.version).tags
    assert tags["pyfunc_deploy.gate.latency"] == "passed"
    assert json.loads(tags["pyfunc_deploy.gate.latency.summary"])["requests"] == summary["stats"]["requests"]
    containers = oci_registry.run("podman", "ps", "--all", "--format", "{{.Names}}").stdout
    assert "gate-" not in containers  # the candidate container is removed afterwards

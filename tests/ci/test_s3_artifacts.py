"""The pipeline against MLflow servers whose artifacts live in a real S3 server (SeaweedFS), both ways
production runs it: proxied (the tracking server holds the store's keys, the job has none) and direct
(the job reads the bucket itself with MLFLOW_S3_ENDPOINT_URL and the AWS_* keys).

Per mode, resolve → preflight → build → gate load → gate signature → gate latency run once, as a
pipeline runs them (one image per mode, shared by the tests); the keys never appear in a command's
output, in a report or in the image. A wrong or missing key in direct mode fails with an error that
names the store and what to set.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest

from ci.outputs import read_dotenv
from devstack.mlflow_server import MlflowServer
from tests.ci.registry_helpers import COMMIT_SHA, ci_env, run_ci
from tests.devstack.s3_fixtures import S3_MODES

pytestmark = pytest.mark.containers

S3_VARIABLES = ("MLFLOW_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
                "AWS_PROFILE")
STEPS = ("resolve", "preflight", "build", "gate load", "gate signature", "gate latency")
# The latency gate's figures are not what is tested here (tests/ci/test_gate_latency*.py): a short run
# with loose thresholds, so a busy machine does not fail it.
LATENCY_ARGS = ("--users", "4", "--rate", "12", "--warmup", "2s", "--duration", "6s", "--min-rps", "4",
                "--p95-ms", "2000", "--p99-ms", "4000")


@dataclass
class S3Pipeline:
    mode: str
    server: MlflowServer
    name: str
    version: str
    env: dict[str, str]
    out: Path
    runs: dict[str, subprocess.CompletedProcess] = field(default_factory=dict)

    def run(self, step: str, *args: str, timeout: float = 180) -> bool:
        self.runs[step] = run_ci(*step.split(), *args, "--output-dir", str(self.out), env=self.env,
                                 timeout=timeout)
        return self.runs[step].returncode == 0

    @property
    def image(self) -> str:
        return read_dotenv(self.out / "image.env")["IMAGE_REF"]


def job_env(server: MlflowServer, oci_registry, **store: str) -> dict[str, str]:
    """A `ci` job's environment: the tracking server, podman's configuration and `store` (the direct
    store's endpoint and keys), nothing else of S3; no credential files or cloud metadata probes."""
    env = ci_env(server, **oci_registry.env)
    for name in S3_VARIABLES:
        env.pop(name, None)
    env.update({"AWS_EC2_METADATA_DISABLED": "true", "AWS_CONFIG_FILE": "/nonexistent",
                "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent", **store})
    return env


@pytest.fixture(scope="module")
def s3_models(seaweed_s3, mlflow_s3) -> dict[str, tuple[MlflowServer, str, str]]:
    """The credit-risk example (artifacts and code in subdirectories) registered once per mode; in direct
    mode this process writes the bucket with the store's keys, as a training job would."""
    from examples.credit_risk.train import train_and_register

    models = {}
    for mode, server in mlflow_s3.items():
        with mock.patch.dict(os.environ, seaweed_s3.env() if mode == "direct" else {}):
            version = train_and_register(server.url, "pyfunc", name=f"credit-risk-s3-{mode}")
        models[mode] = (server, version.name, str(version.version))
    return models


@pytest.fixture(scope="module", params=S3_MODES)
def pipeline(request, s3_models, seaweed_s3, oci_registry, tmp_path_factory) -> S3Pipeline:
    """Each step as its own job, stopping at the first that fails (the tests show which and why)."""
    mode = request.param
    server, name, version = s3_models[mode]
    store = seaweed_s3.env() if mode == "direct" else {}
    run = S3Pipeline(mode, server, name, version, job_env(server, oci_registry, **store),
                     tmp_path_factory.mktemp(f"s3-{mode}-reports"))
    model = ("--model-name", name, "--model-version", version)
    _ = (run.run("resolve", "--model-name", name)
         and run.run("preflight", "--model-name", name)
         and run.run("build", *model, "--image-repository", f"{oci_registry.address}/serving/s3-{mode}",
                     "--commit", COMMIT_SHA, timeout=900)
         and run.run("gate load", *model, "--image", run.image)
         and run.run("gate signature", *model, "--image", run.image)
         and run.run("gate latency", *model, "--image", run.image, *LATENCY_ARGS))
    return run


def test_every_step_passes(pipeline):
    for step in STEPS:
        assert step in pipeline.runs, f"{step} did not run: {list(pipeline.runs)[-1]} failed"
        done = pipeline.runs[step]
        assert done.returncode == 0, f"{pipeline.mode}: {step} exited {done.returncode}\n{done.stdout}\n{done.stderr}"
    assert f"-> version {pipeline.version}" in pipeline.runs["resolve"].stdout
    assert json.loads((pipeline.out / "load.json").read_text())["passed"]
    assert json.loads((pipeline.out / "latency.json").read_text())["stats"]["failures"] == 0


def test_the_artifacts_live_in_the_bucket(pipeline, seaweed_s3):
    artifact_uri = json.loads((pipeline.out / "model.json").read_text())["artifact_uri"]
    if pipeline.mode == "proxied":  # the job only ever sees the tracking server
        assert artifact_uri.startswith("mlflow-artifacts:/"), artifact_uri
        assert not set(S3_VARIABLES) & set(pipeline.env)
    else:
        assert artifact_uri.startswith(f"s3://{seaweed_s3.bucket}/direct/"), artifact_uri
    listed = seaweed_s3.client().list_objects_v2(Bucket=seaweed_s3.bucket, Prefix=f"{pipeline.mode}/")
    keys = [item["Key"] for item in listed.get("Contents", [])]
    assert any(key.endswith("/artifacts/estimator.joblib") for key in keys), keys
    assert any(key.endswith("/code/credit_risk_wrapper.py") for key in keys), keys


def test_the_keys_appear_in_no_output_and_no_report(pipeline, seaweed_s3):
    keys = (seaweed_s3.keys.secret_key, seaweed_s3.keys.access_key)
    for step, done in pipeline.runs.items():
        for key in keys:
            assert key not in done.stdout + done.stderr, f"{pipeline.mode}: {step} printed a key"
    reports = [path for path in pipeline.out.rglob("*") if path.is_file()]
    assert {"model.json", "image.json", "load.json", "signature.json", "latency.json"} <= {p.name for p in reports}
    for path in reports:
        data = path.read_bytes()
        assert not any(key.encode() in data for key in keys), f"{pipeline.mode}: {path.name} holds a key"


def test_the_keys_are_not_in_the_image(pipeline, seaweed_s3, oci_registry):
    image = pipeline.image
    keys = {seaweed_s3.keys.secret_key, seaweed_s3.keys.access_key}
    config = oci_registry.run("podman", "image", "inspect", image).stdout
    history = oci_registry.run("podman", "history", "--no-trunc", image).stdout
    assert "MODEL_RUN_ID" in history  # the build's arguments are there: the check can see them
    assert not any(key in config + history for key in keys)
    run_id = json.loads((pipeline.out / "model.json").read_text())["run_id"]
    assert run_id
    root = oci_registry.run("podman", "image", "mount", image).stdout.strip()
    try:  # one pass over every file; the run id (in the baked-in MLmodel) shows the search finds things
        found = subprocess.run(["grep", "-rahoF", "-e", run_id, *(arg for key in keys for arg in ("-e", key)), root],
                               capture_output=True, text=True, timeout=300)
    finally:
        oci_registry.run("podman", "image", "unmount", image)
    assert found.returncode == 0, found.stderr
    assert set(found.stdout.split()) == {run_id}


def _direct_failure(s3_models, seaweed_s3, oci_registry, tmp_path, step: str, **store: str):
    server, name, version = s3_models["direct"]
    args = {"resolve": ("--model-name", name),
            "build": ("--model-name", name, "--model-version", version, "--commit", COMMIT_SHA,
                      "--image-repository", f"{oci_registry.address}/serving/s3-refused")}[step]
    return run_ci(step, *args, "--output-dir", str(tmp_path), env=job_env(server, oci_registry, **store))


@pytest.mark.parametrize("step", ["resolve", "build"])
def test_a_wrong_secret_key_fails_naming_the_store_and_the_variables(step, s3_models, seaweed_s3, oci_registry,
                                                                    tmp_path):
    wrong = "wrong-" + secrets.token_urlsafe(16)
    done = _direct_failure(s3_models, seaweed_s3, oci_registry, tmp_path, step, **seaweed_s3.env(wrong))
    assert done.returncode == 2, done.stderr
    assert (f"S3 artifact store s3://{seaweed_s3.bucket} at {seaweed_s3.endpoint_url} refused the credentials "
            "(SignatureDoesNotMatch)") in done.stderr
    assert "AWS_SECRET_ACCESS_KEY" in done.stderr and "Traceback" not in done.stderr
    for key in (wrong, seaweed_s3.keys.secret_key, seaweed_s3.keys.access_key):
        assert key not in done.stdout + done.stderr
    assert not list(tmp_path.iterdir())  # no model.env / image.env for later jobs


def test_no_keys_in_direct_mode_names_the_variables(s3_models, seaweed_s3, oci_registry, tmp_path):
    done = _direct_failure(s3_models, seaweed_s3, oci_registry, tmp_path, "resolve",
                           MLFLOW_S3_ENDPOINT_URL=seaweed_s3.endpoint_url)
    assert done.returncode == 2, done.stderr
    assert "no S3 credentials" in done.stderr and "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in done.stderr
    assert "Traceback" not in done.stderr

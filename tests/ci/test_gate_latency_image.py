"""`python -m ci gate latency --image`: the credit-risk example built into the real image, run with
podman as the pipeline runs it, measured, and the verdict recorded on the model version; with
--capacity, a short step load on a container with the production pod's limits, and
`python -m ci capacity` planning from it."""
import json

import pytest
from mlflow.tracking import MlflowClient

from ci.cli import main
from ci.errors import EXIT_USAGE
from ci.image.build import build
from ci.registry.model_ref import ModelRef

pytestmark = pytest.mark.containers
# Shares 2 cores with whatever else runs: the capacity test checks the mechanism, not this machine's speed.
RELAXED = ["--p95-ms", "2000", "--p99-ms", "5000", "--min-rps", "1"]
SHORT_RUN = ["--users", "8", "--rate", "24", "--warmup", "3s", "--duration", "10s", "--min-rps", "12"]


@pytest.fixture(scope="module")
def latency_image(oci_registry, mlflow_sqlite, credit_risk_versions):
    version = credit_risk_versions["pyfunc"]
    return version, build(ModelRef(version.name, version.version, version.run_id),
                          repository=f"{oci_registry.address}/serving/gate-latency", commit="1a7e2c3d",
                          tracking_uri=mlflow_sqlite.url, env=oci_registry.env).reference


@pytest.fixture
def podman_env(oci_registry, monkeypatch):
    for key, value in oci_registry.env.items():  # a CI job has podman's configuration in its environment
        monkeypatch.setenv(key, value)


def _containers_of(oci_registry, image: str) -> str:
    """The containers left from `image` (the storage is shared with the other workers' containers)."""
    image_id = oci_registry.run("podman", "image", "inspect", "--format", "{{.Id}}", image).stdout.strip()
    return oci_registry.run("podman", "ps", "--all", "--filter", f"ancestor={image_id}", "--format",
                            "{{.Names}}").stdout.strip()


def gate(image, version, mlflow_sqlite, output_dir, *extra):
    return main(["gate", "latency", "--image", image, "--tracking-uri", mlflow_sqlite.url,
                 "--model-name", version.name, "--model-version", str(version.version),
                 "--output-dir", str(output_dir), *SHORT_RUN, *extra])


def test_built_image_passes_and_the_verdict_is_recorded(latency_image, podman_env, oci_registry, mlflow_sqlite,
                                                        tmp_path, capsys):
    version, image = latency_image
    code = gate(image, version, mlflow_sqlite, tmp_path)
    out = capsys.readouterr().out
    assert code == 0, out
    summary = json.loads((tmp_path / "latency.json").read_text())
    assert summary["image"] == image and summary["stats"]["failures"] == 0
    assert "capacity" not in summary  # opt-in
    tags = MlflowClient(mlflow_sqlite.url).get_model_version(version.name, version.version).tags
    assert tags["pyfunc_deploy.gate.latency"] == "passed"
    assert json.loads(tags["pyfunc_deploy.gate.latency.summary"])["requests"] == summary["stats"]["requests"]
    assert _containers_of(oci_registry, image) == ""  # the candidate container is removed afterwards


def test_a_miss_prints_the_candidates_last_log_lines(latency_image, podman_env, oci_registry, mlflow_sqlite,
                                                    tmp_path, capsys):
    """What the container said is gone with it: a failed gate shows its tail (the service logs no payload)."""
    version, image = latency_image
    code = gate(image, version, mlflow_sqlite, tmp_path, "--duration", "2s", "--warmup", "1s", "--p95-ms", "0.001")
    out = capsys.readouterr().out
    assert code == 1, out
    assert "FAIL  p95 latency" in out
    tail = out.split("the candidate's last log lines:\n", 1)[1]
    assert '"message":"request"' in tail and '"path":"/invocations"' in tail, tail
    assert "employment_status" not in tail  # no payload
    assert _containers_of(oci_registry, image) == ""


def test_capacity_steps_one_pod_and_the_plan_follows(latency_image, podman_env, oci_registry, mlflow_sqlite,
                                                     tmp_path, capsys):
    """Two short steps (8 and 16 req/s) on a container limited like the production pod: each has its CPU,
    the report carries the pod and the sustainable rate, and `ci capacity` plans from it."""
    version, image = latency_image
    code = gate(image, version, mlflow_sqlite, tmp_path, "--capacity", "--capacity-start-rps", "8",
                "--capacity-factor", "2", "--capacity-max-steps", "2", "--capacity-step", "5s",
                "--capacity-step-warmup", "1s", *RELAXED)
    out = capsys.readouterr().out
    assert code == 0, out
    section = json.loads((tmp_path / "latency.json").read_text())["capacity"]
    assert section["pod"] == {"cpu_request": 0.5, "cpu_limit": 1.0, "memory_limit": 2 ** 30}  # production overlay
    assert [p["offered_rps"] for p in section["points"]] == [8, 16]
    for step in section["points"]:
        assert step["achieved_rps"] > 0 and step["error_rate"] == 0
        assert 0 < step["cpu_cores"] <= 1.0 + 0.1  # measured, and held by the 1-CPU limit
    assert section["sustainable_rps"] > 0 and section["cpu_cores"] > 0
    assert "capacity step     8.0 req/s offered" in out and "sustainable per pod:" in out
    tags = MlflowClient(mlflow_sqlite.url).get_model_version(version.name, version.version).tags
    assert json.loads(tags["pyfunc_deploy.gate.latency.summary"])["capacity_rps"] == section["sustainable_rps"]
    assert _containers_of(oci_registry, image) == ""

    code = main(["capacity", "--target-rps", "200", "--from", str(tmp_path / "latency.json"),
                 "--output-dir", str(tmp_path / "plan")])
    out = capsys.readouterr().out
    assert code == 0, out
    plan = json.loads((tmp_path / "plan" / "capacity.json").read_text())["plan"]
    # per_pod_rps is reported rounded to 2 decimals; the plan is made from the unrounded rate
    assert plan["min_replicas"] * (plan["per_pod_rps"] + 0.005) >= 200
    assert f"| HPA minReplicas | {plan['min_replicas']} |" in out
    assert (tmp_path / "plan" / "capacity.svg").read_text().startswith("<svg")


def test_capacity_needs_the_image_not_a_url(tmp_path, capsys):
    code = main(["gate", "latency", "--url", "http://127.0.0.1:9", "--model-uri", str(tmp_path), "--capacity",
                 "--output-dir", str(tmp_path)])
    assert code == EXIT_USAGE
    assert "--capacity runs the built image" in capsys.readouterr().err


def test_capacity_without_a_measured_pod_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "latency.json").write_text(json.dumps({"passed": True, "thresholds": {"p95_ms": 100}}))
    code = main(["capacity", "--target-rps", "200", "--from", str(tmp_path / "latency.json"),
                 "--output-dir", str(tmp_path)])
    assert code == EXIT_USAGE
    assert "LATENCY_CAPACITY=true" in capsys.readouterr().err

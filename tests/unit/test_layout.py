"""tests/unit mirrors the code: ci/deploy/rolling.py is tested in tests/unit/ci/deploy/test_rolling.py. A module
without a unit test file is a choice, written down here with where it is tested instead."""
from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
UNIT = REPO / "tests" / "unit"
# A path (a module, or a folder for all of its modules) -> where it is tested instead, and why.
ELSEWHERE = {
    "ci/alerts/": "through the package's face, notify(): tests/unit/ci/test_alerts.py; each channel against a "
                  "local server that answers as the real one: tests/ci/test_alert_channels.py",
    "ci/commands/": "the CLI layer only parses and prints: run as the pipeline runs it, in tests/ci/",
    "ci/tools/": "one seam per external program, run for real (buildah, podman, skopeo, kubectl, locust, docker's "
                 "CLI) by tests/ci/test_build.py, test_builders.py, test_gate_*.py, test_rbac.py, test_loadtest.py",
    "ci/cli.py": "the command group: tests/ci/ run `python -m ci` as the jobs do",
    "ci/errors.py": "exit codes and the exception family, asserted by every command's test",
    "ci/project.py": "paths of this checkout",
    "ci/redact.py": "its every caller's test asserts that no secret is printed (tests/ci/test_registry_faults.py)",
    "ci/capacity/plot.py": "drawn by tests/unit/ci/capacity/test_report.py (the SVG in the report)",
    "ci/clients/gitlab_api.py": "against a local server that answers as GitLab's API: tests/ci/test_gitlab_api.py",
    "ci/deploy/fields.py": "the fields a deploy sets: tests/unit/ci/deploy/test_apply.py, test_rolling.py",
    "ci/gates/answers.py": "tests/unit/ci/gates/test_load.py (the load gate's comparison)",
    "ci/gates/candidate.py": "the candidate container on a free port: tests/ci/test_gate_load.py",
    "ci/gates/latency.py": "tests/ci/test_gate_latency.py, test_gate_latency_image.py",
    "ci/gates/load_failures.py": "tests/unit/ci/gates/test_load.py; real failing models: tests/ci/test_gate_load.py",
    "ci/gates/record.py": "every gate's report: tests/ci/test_gate_*.py",
    "ci/gates/result.py": "every gate's report: tests/ci/test_gate_*.py",
    "ci/image/artifacts.py": "a registered model's files: tests/ci/test_build.py, test_s3_artifacts.py",
    "ci/image/credentials.py": "tests/unit/ci/image/test_build.py; login registries: tests/ci/test_build.py",
    "ci/loadtest/measure.py": "a real Locust run: tests/ci/test_loadtest.py, tests/ci/test_gate_latency.py",
    "ci/progressive/canary.py": "on the cluster: tests/ci/test_canary.py, test_model_versions_deploy.py",
    "ci/progressive/shadow.py": "on the cluster: tests/ci/test_model_versions_deploy.py",
    "ci/progressive/pod_metrics.py": "pods' /metrics through the API server: tests/ci/test_canary.py",
    "ci/progressive/prometheus_metrics.py": "against a real Prometheus: tests/ci/test_prometheus_metrics.py",
    "ci/progressive/shadow_report.py": "tests/unit/ci/progressive/test_shadow_analysis.py (the reports)",
    "ci/registry/audit.py": "tests/unit/ci/registry/test_promotion.py and a real MLflow: tests/ci/test_promote.py",
    "ci/registry/model_ref.py": "image tags and slugs: tests/unit/ci/image/test_build.py",
    "ci/registry/versions.py": "a real MLflow: tests/ci/test_resolve.py",
    "service/": "the service runs under Gunicorn in tests/service/ (every protocol, bad input, fuzzers, parity "
                "with mlflow models serve); tests/unit/service/ holds the pure parts",
}
OWN_FOLDERS = ("ci/",)  # the code whose unit tests mirror it


def modules() -> list[str]:
    return sorted(str(path.relative_to(REPO)) for folder in OWN_FOLDERS for path in (REPO / folder).rglob("*.py")
                  if path.name not in {"__init__.py", "__main__.py"})


def unit_test_of(module: str) -> Path:
    path = Path(module)
    return UNIT / path.parent / f"test_{path.name}"


def written_down(module: str) -> bool:
    return any(module == path or (path.endswith("/") and module.startswith(path)) for path in ELSEWHERE)


def test_every_module_has_its_unit_test_file_or_a_reason() -> None:
    missing = [module for module in modules() if not unit_test_of(module).exists() and not written_down(module)]
    assert not missing, f"no tests/unit/<path>/test_<name>.py and no reason in ELSEWHERE: {missing}"


def test_every_unit_test_file_names_a_module() -> None:
    """A test file left behind by a move or a rename tests a module that is no longer there."""
    stray = [str(test.relative_to(REPO)) for test in (UNIT / "ci").rglob("test_*.py")
             if not (REPO / test.relative_to(UNIT).parent / (test.name.removeprefix("test_"))).exists()
             and str(test.relative_to(UNIT)) not in OTHER_TEST_FILES]
    assert not stray, stray


def test_a_reason_is_given_only_for_what_exists_and_has_no_unit_test() -> None:
    stale = [path for path in ELSEWHERE if not (REPO / path).exists()
             or (not path.endswith("/") and unit_test_of(path).exists())]
    assert not stale, stale


# Unit test files named after no module: a package tested through its face, one aspect of a module.
OTHER_TEST_FILES = {"ci/test_alerts.py": "ci/alerts/ through notify()",
                    "ci/deploy/test_rollout_startup.py": "ci/deploy/rollout.py: the startup probe's verdicts"}

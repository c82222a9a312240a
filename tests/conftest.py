"""Shared fixtures. Each area of real infrastructure has its own plugin module under
tests/devstack/ (the harness they start is the top-level `devstack` package) so it can be read
(and started) on its own; a fixture that cannot start its infrastructure raises — a test that
needs it fails, it never skips."""
import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

pytest_plugins = [
    "tests.module_times",
    "tests.parallel",
    "tests.devstack.mlflow_fixtures",
    "tests.devstack.oci_fixtures",
    "tests.devstack.cluster_fixtures",
    "tests.devstack.zoo_fixtures",
    "tests.devstack.otlp_fixtures",
    "tests.devstack.s3_fixtures",
]

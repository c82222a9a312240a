"""Shared fixtures. Each area of real infrastructure lives in its own plugin module under
tests/infra/ so it can be read (and started) on its own; a fixture that cannot start its
infrastructure raises — a test that needs it fails, it never skips."""
import os

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

pytest_plugins = [
    "tests.infra.mlflow_fixtures",
    "tests.infra.oci_fixtures",
    "tests.infra.cluster_fixtures",
]

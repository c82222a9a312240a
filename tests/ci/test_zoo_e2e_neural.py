"""The half of the zoo a deep-learning team brings, through the whole pipeline
(tests/ci/zoo_pipeline.py says how): the PyTorch model built with torch from the CPU index named in
IMAGE_PACKAGE_INDEXES, a scikit-learn model whose MLflow-inferred requirements captured torch (named
as not needed, then left out), and a model with 1.1 GB of weights (its pod's memory, the production
pod's OOM kill named by the load gate)."""
from __future__ import annotations

from tests.ci.zoo_pipeline import (  # noqa: F401 - fixtures and the per-model tests, collected here
    MARKS,
    pytest_generate_tests,
    test_deploy_serves_the_version_and_the_models_answer,
    test_latency_gate,
    test_load_gate,
    test_signature_gate,
    test_the_large_model_fits_its_own_pod_and_reports_its_memory_and_load_time,
    test_torch_captured_into_a_sklearn_model_is_reported_then_left_out,
    torch_index,
    zoo_deploys,
    zoo_gates,
    zoo_image,
    zoo_images,
    zoo_overlays,
    zoo_rollouts,
)
from tests.devstack.zoo_fixtures import NEURAL

pytestmark = MARKS
KEYS = NEURAL

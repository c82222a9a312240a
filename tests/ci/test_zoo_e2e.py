"""The classic half of the zoo through the whole pipeline (tests/ci/zoo_pipeline.py says how):
scikit-learn on Python 3.13, XGBoost, LightGBM, CatBoost, ONNX, the float32 tensor and params
`PythonModel`s, and the Python 3.9 / MLflow 2.10 wrapper."""
from __future__ import annotations

from tests.ci.zoo_pipeline import (  # noqa: F401 - fixtures and the per-model tests, collected here
    MARKS,
    pytest_generate_tests,
    test_deploy_serves_the_version_and_the_models_answer,
    test_latency_gate,
    test_load_gate,
    test_signature_gate,
    torch_index,
    zoo_deploys,
    zoo_gates,
    zoo_image,
    zoo_images,
    zoo_overlays,
    zoo_rollouts,
)
from tests.devstack.zoo_fixtures import CLASSIC

pytestmark = MARKS
KEYS = CLASSIC

"""The classic half of the zoo registered and predicting again in its own environments
(tests/devstack/zoo_registration.py says how): scikit-learn on Python 3.13, XGBoost, LightGBM, CatBoost,
ONNX, the float32 tensor and params `PythonModel`s, and the Python 3.9 / MLflow 2.10 wrapper."""
from __future__ import annotations

import pytest

from devstack.model_zoo import ZOO
from tests.devstack.zoo_fixtures import CLASSIC, NEURAL
from tests.devstack.zoo_registration import (  # noqa: F401 - fixtures and tests, collected here
    registered,
    test_each_model_predicts_again_in_its_own_environment,
    test_every_zoo_model_is_registered_with_signature_example_and_pins,
    test_flavours_and_shapes_are_what_the_zoo_promises,
    zoo_models,
)

pytestmark = pytest.mark.zoo
KEYS = CLASSIC


def test_the_two_halves_are_the_whole_zoo():
    assert sorted(CLASSIC + NEURAL) == sorted(ZOO)

"""The half of the zoo a deep-learning team brings, registered and predicting again in its own
environment (tests/devstack/zoo_registration.py says how): the PyTorch model, the scikit-learn model
whose inferred requirements captured torch, and the model with 1.1 GB of weights."""
from __future__ import annotations

import pytest

from tests.devstack.zoo_fixtures import NEURAL
from tests.devstack.zoo_registration import (  # noqa: F401 - fixtures and tests, collected here
    registered,
    test_each_model_predicts_again_in_its_own_environment,
    test_every_zoo_model_is_registered_with_signature_example_and_pins,
    test_flavours_and_shapes_are_what_the_zoo_promises,
    zoo_models,
)

pytestmark = pytest.mark.zoo
KEYS = NEURAL

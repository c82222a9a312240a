"""ci/progressive/canary_objects.py: the canary Deployment made from the live stable one, steps and decisions."""
from __future__ import annotations

import pytest

from ci.deploy.apply import FOR_DEPLOYMENT, MANAGED_BY
from ci.deploy.fields import IMAGE_TAG_KEY, MODEL_VERSION_KEY, Target
from ci.errors import ConfigError
from ci.progressive import canary_objects as objects

TARGET = Target("ns", "web", "web", "reg/web@sha256:abc", "credit-risk", "7", image_tag="credit-risk-v7")


def stable() -> dict:
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u1", "resourceVersion": "42", "generation": 3,
                         "managedFields": [{}], "labels": {MANAGED_BY: "pyfunc-deploy", FOR_DEPLOYMENT: "web",
                                                           "team": "risk"},
                         "annotations": {"deployment.kubernetes.io/revision": "3", "owner": "risk"}},
            "spec": {"replicas": 4, "paused": False, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", MODEL_VERSION_KEY: "6"}},
                                  "spec": {"containers": [{"name": "web", "image": "reg/web@sha256:old"}]}}},
            "status": {"replicas": 4}}


def test_the_canary_is_stable_with_the_new_image_and_the_track_label() -> None:
    canary = objects.manifest(stable(), TARGET, 1)
    assert canary["metadata"]["name"] == "web-canary"
    assert canary["spec"]["replicas"] == 1
    assert canary["spec"]["selector"] == {"matchLabels": {"app": "web", objects.TRACK_LABEL: "canary"}}
    pod = canary["spec"]["template"]
    assert pod["metadata"]["labels"] == {"app": "web", MODEL_VERSION_KEY: "7", objects.TRACK_LABEL: "canary",
                                         "pyfunc-deploy.io/model-name": "credit-risk"}
    assert pod["metadata"]["annotations"][IMAGE_TAG_KEY] == "credit-risk-v7"
    assert pod["spec"]["containers"][0]["image"] == "reg/web@sha256:abc"
    assert "status" not in canary and "paused" not in canary["spec"]
    assert not {"uid", "resourceVersion", "generation", "managedFields"} & set(canary["metadata"])


def test_the_canary_is_not_one_of_the_overlays_objects_and_carries_no_revision() -> None:
    metadata = objects.manifest(stable(), TARGET, 1)["metadata"]
    assert metadata["labels"] == {"team": "risk", objects.TRACK_LABEL: "canary"}
    assert "deployment.kubernetes.io/revision" not in metadata["annotations"]
    assert metadata["annotations"]["owner"] == "risk"


def test_the_stable_object_is_not_modified() -> None:
    before = stable()
    objects.manifest(before, TARGET, 2)
    assert before == stable()


def test_selectors_tell_the_sides_apart() -> None:
    assert objects.stable_pods_selector(stable()) == f"app=web,{objects.TRACK_LABEL}!=canary"
    assert objects.canary_pods_selector(stable()) == f"app=web,{objects.TRACK_LABEL}=canary"


@pytest.mark.parametrize(("stable_replicas", "percent", "expected"), [(4, 10, 1), (4, 50, 2), (4, 100, 4),
                                                                       (3, 50, 2), (1, 10, 1), (10, 25, 3)])
def test_replicas_per_step_at_least_one(stable_replicas: int, percent: int, expected: int) -> None:
    assert objects.replicas(stable_replicas, percent) == expected


def test_steps_parse_and_bad_steps_say_what_to_give() -> None:
    assert objects.parse_steps("10, 50,100") == (10, 50, 100)
    assert objects.parse_steps("25") == (25,)
    for bad in ("", "50,10", "0,50", "10,150", "ten", "10,10"):
        with pytest.raises(ConfigError, match="CANARY_STEPS=10,50,100"):
            objects.parse_steps(bad)


def test_decision_annotation_round_trip() -> None:
    patch = objects.decision_patch("abort")
    assert patch == [{"op": "add", "path": "/metadata/annotations/pyfunc-deploy.io~1canary-decision", "value": "abort"}]
    assert objects.decision({"metadata": {"annotations": {objects.DECISION_KEY: "promote"}}}) == "promote"
    assert objects.decision({"metadata": {"annotations": {objects.DECISION_KEY: "maybe"}}}) is None
    assert objects.decision(None) is None
    with pytest.raises(ConfigError, match="promote, abort"):
        objects.decision_patch("later")

"""ci/deploy/rollout_owner.py: a pod template changed under a deploy, and who changed it (managedFields)."""
from __future__ import annotations

import copy

import pytest

from ci.deploy.rollout_owner import Owned, changed_under, template_managers

TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "model", "image": "img:v2"}]}}


def entry(manager: str, time: str, fields: dict, operation: str = "Update") -> dict:
    return {"manager": manager, "operation": operation, "time": time, "fieldsV1": fields}


TEMPLATE_FIELDS = {"f:spec": {"f:template": {"f:spec": {}}}}
MINE = entry("pyfunc-deploy", "2026-01-01T10:00:00Z", TEMPLATE_FIELDS, "Apply")


def deployment(template=TEMPLATE, generation=5, managed=(MINE,), replicas=2) -> dict:
    return {"metadata": {"generation": generation, "managedFields": list(managed)},
            "spec": {"replicas": replicas, "template": copy.deepcopy(template)}}


OWNED = Owned.of(deployment())


def with_image(image: str) -> dict:
    template = copy.deepcopy(TEMPLATE)
    template["spec"]["containers"][0]["image"] = image
    return template


def test_owned_records_template_generation_images_and_its_write_time():
    assert (OWNED.generation, OWNED.images, OWNED.written_at) == (5, ("img:v2",), "2026-01-01T10:00:00Z")


@pytest.mark.parametrize(("live", "expected"), [
    pytest.param(deployment(), None, id="unchanged"),
    pytest.param(deployment(generation=6, replicas=5, managed=[MINE, entry(
        "kube-controller-manager", "2026-01-01T10:00:09Z", {"f:spec": {"f:replicas": {}}})]), None,
                 id="hpa-scaled-not-a-change"),
    pytest.param(deployment(with_image("img:v3"), 6, [MINE, entry("kubectl-set", "2026-01-01T10:00:07Z",
                                                                   TEMPLATE_FIELDS)]),
                 "the Deployment's pod template was changed under this deploy (generation 5 -> 6): "
                 "spec.template.spec.containers[model].image (image now img:v3); by kubectl-set (Update "
                 "2026-01-01T10:00:07Z)", id="kubectl-set-image"),
    pytest.param(deployment({**TEMPLATE, "metadata": {"labels": {"app": "web", "x": "1"}}}, 6,
                            [MINE, entry("old-tool", "2025-01-01T00:00:00Z", TEMPLATE_FIELDS)]),
                 "the Deployment's pod template was changed under this deploy (generation 5 -> 6): "
                 "spec.template.metadata.labels.x; by old-tool (Update 2025-01-01T00:00:00Z)",
                 id="no-recent-manager-names-the-older-ones"),
    pytest.param(deployment(with_image("img:v4"), 7, [MINE]),
                 "the Deployment's pod template was changed under this deploy (generation 5 -> 7): "
                 "spec.template.spec.containers[model].image (image now img:v4); by an unknown manager (no "
                 "managedFields entry)", id="no-manager"),
    pytest.param(None, "the Deployment was deleted", id="deleted"),
])
def test_changed_under(live, expected):
    assert changed_under(OWNED, live) == expected


def test_template_managers_newest_first_and_only_recent_ones():
    live = deployment(managed=[MINE, entry("a", "2026-01-01T10:00:01Z", TEMPLATE_FIELDS),
                               entry("b", "2026-01-01T10:00:05Z", TEMPLATE_FIELDS),
                               entry("old", "2025-01-01T00:00:00Z", TEMPLATE_FIELDS),
                               entry("status", "2026-01-01T10:00:09Z", {"f:status": {}})])
    assert template_managers(live, "2026-01-01T10:00:00Z") == ["b (Update 2026-01-01T10:00:05Z)",
                                                               "a (Update 2026-01-01T10:00:01Z)"]

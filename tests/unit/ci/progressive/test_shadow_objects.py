"""ci/progressive/shadow_objects.py: the shadow Deployment made from the live stable one, and the copy targets."""
from __future__ import annotations

import json

import pytest

from ci.deploy.fields import MODEL_VERSION_KEY, Target
from ci.errors import ConfigError
from ci.progressive import shadow_objects as objects
from ci.progressive.canary_objects import TRACK_LABEL

TARGET = Target("ns", "web", "web", "reg/web@sha256:abc", "credit-risk", "7", image_tag="credit-risk-v7")


def stable() -> dict:
    """As the shipped manifests make it: the `shadow` ConfigMap volume, its mount and the setting."""
    container = {"name": "web", "image": "reg/web@sha256:old",
                 "env": [{"name": "SERVICE_SHADOW_CONFIG", "value": "/etc/pyfunc-shadow/shadow.json"},
                         {"name": "SERVICE_SHADOW_URL", "value": "http://elsewhere:8080"},
                         {"name": "SERVICE_WORKERS", "value": "2"}],
                 "volumeMounts": [{"name": "shadow", "mountPath": "/etc/pyfunc-shadow"},
                                  {"name": "tmp", "mountPath": "/tmp"}]}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "uid": "u1", "labels": {"team": "risk"}},
            "spec": {"replicas": 4, "paused": True, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web", MODEL_VERSION_KEY: "6"}},
                                  "spec": {"containers": [container],
                                           "volumes": [{"name": "shadow", "configMap": {"name": "web-shadow-cfg",
                                                                                          "optional": True}},
                                                       {"name": "tmp", "emptyDir": {}}]}}}}


def test_the_shadow_takes_no_user_traffic_and_copies_nothing_itself() -> None:
    shadow = objects.manifest(stable(), TARGET, 2)
    assert shadow["metadata"]["name"] == "web-shadow"
    assert shadow["spec"]["replicas"] == 2 and "paused" not in shadow["spec"]
    labels = {TRACK_LABEL: "shadow", objects.SHADOW_OF: "web"}
    assert shadow["spec"]["selector"] == {"matchLabels": labels}
    pod = shadow["spec"]["template"]
    assert "app" not in pod["metadata"]["labels"], "the stable Service would send it user traffic"
    assert pod["metadata"]["labels"][TRACK_LABEL] == "shadow"
    container = pod["spec"]["containers"][0]
    assert container["image"] == "reg/web@sha256:abc"
    assert [e["name"] for e in container["env"]] == ["SERVICE_WORKERS"]
    assert [m["name"] for m in container["volumeMounts"]] == ["tmp"]
    assert [v["name"] for v in pod["spec"]["volumes"]] == ["tmp"]
    assert stable()["spec"]["template"]["spec"]["containers"][0]["env"][0]["name"] == "SERVICE_SHADOW_CONFIG"


def test_the_config_map_is_the_stable_pods_volume_and_one_without_it_is_named() -> None:
    assert objects.config_map_name(stable()) == "web-shadow-cfg"
    bare = stable()
    bare["spec"]["template"]["spec"]["volumes"] = []
    with pytest.raises(ConfigError, match="no volume named 'shadow' from a ConfigMap"):
        objects.config_map_name(bare)


@pytest.mark.parametrize(("urls", "data"), [(["http://10.0.0.5:8080"], {"urls": ["http://10.0.0.5:8080"],
                                                                         "sample_rate": 0.25}),
                                             ([], {"urls": []})])
def test_the_config_map_holds_the_targets_or_none(urls: list[str], data: dict) -> None:
    written = objects.config_map("web-shadow-cfg", urls, 0.25)
    assert json.loads(written["data"][objects.CONFIG_KEY]) == data


def test_pod_urls_skip_pods_without_an_ip() -> None:
    pods = [{"status": {"podIP": "10.0.0.5"}}, {"status": {}}, {}]
    assert objects.pod_urls(pods, 8080) == ["http://10.0.0.5:8080"]

"""service/shadow.py: the config file the deploy job writes turns copies on and off while the pod runs."""
from __future__ import annotations

import json

from service.metrics import Metrics
from service.settings import Settings
from service.shadow import Shadow


def looked(shadow: Shadow) -> tuple[list[str], float]:
    shadow._next_look = 0.0  # as if CONFIG_POLL_S had passed
    shadow._look()
    return shadow.urls, shadow.sample_rate


def test_the_file_turns_copies_on_changes_them_and_off(tmp_path):
    config = tmp_path / "shadow.json"
    shadow = Shadow(Settings(shadow_config=str(config)), Metrics())
    assert shadow.enabled and looked(shadow) == ([], 1.0)  # no file yet: no copies
    config.write_text(json.dumps({"urls": ["http://10.244.0.7:8080/"], "sample_rate": 0.25}))
    assert looked(shadow) == (["http://10.244.0.7:8080"], 0.25)
    config.write_text(json.dumps({"urls": ["http://10.244.0.7:8080", "http://10.244.0.9:8080"]}))
    assert looked(shadow) == (["http://10.244.0.7:8080", "http://10.244.0.9:8080"], 1.0)
    config.write_text(json.dumps({"urls": [], "sample_rate": 0}))
    assert looked(shadow) == ([], 1.0)
    config.unlink()
    assert looked(shadow) == ([], 1.0)


def test_an_unreadable_file_means_no_copies_and_a_static_url_stays_the_fallback(tmp_path):
    config = tmp_path / "shadow.json"
    shadow = Shadow(Settings(shadow_config=str(config), shadow_url="http://candidate:8080",
                             shadow_sample_rate=0.5), Metrics())
    assert looked(shadow) == (["http://candidate:8080"], 0.5)
    config.write_text("{not json")
    assert looked(shadow) == ([], 0.0)
    config.write_text(json.dumps({"urls": ["http://a"], "sample_rate": 7}))
    assert looked(shadow) == (["http://a"], 1.0)  # a rate beyond 1 is all


def test_without_url_or_file_nothing_is_copied():
    assert not Shadow(Settings(), Metrics()).enabled

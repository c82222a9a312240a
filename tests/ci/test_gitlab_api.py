"""The GitLab seam reaches a local recording server with the expected requests (the alert channels are in
test_alert_channels.py)."""
import logging

import pytest

from ci.clients.gitlab_api import GitLabApi
from ci.errors import CheckFailed, ConfigError
from tests.ci.recording_http import RecordingServer, gitlab_routes

TOKEN = "glpat-secret-token-value"
PROJECT = "42"


@pytest.fixture
def gitlab_server():
    with RecordingServer(gitlab_routes(PROJECT)) as server:
        yield server


def test_opens_an_issue_then_comments_on_it(gitlab_server):
    api = GitLabApi.connect(gitlab_server.url, TOKEN, PROJECT)
    assert api.open_or_update_issue("Load test failed: credit-risk", "p95 300 ms > 100 ms",
                                    ["loadtest"]) == "opened issue #1"
    assert api.open_or_update_issue("Load test failed: credit-risk", "p95 310 ms > 100 ms",
                                    ["loadtest"]) == "updated issue #1"

    created = gitlab_server.calls("POST", "/api/v4/projects/42/issues")
    assert len(created) == 1
    assert created[0].json() == {"title": "Load test failed: credit-risk",
                                 "description": "p95 300 ms > 100 ms", "labels": "loadtest"}
    assert created[0].headers["private-token"] == TOKEN
    searches = gitlab_server.calls("GET", "/api/v4/projects/42/issues")
    assert searches[0].query["state"] == ["opened"]
    assert searches[0].query["search"] == ["Load test failed: credit-risk"]
    assert searches[0].query["in"] == ["title"]
    notes = gitlab_server.calls("POST", "/api/v4/projects/42/issues/1/notes")
    assert [n.json() for n in notes] == [{"body": "p95 310 ms > 100 ms"}]


def test_records_a_deployment(gitlab_server):
    api = GitLabApi.connect(gitlab_server.url, TOKEN, PROJECT)
    assert api.record_deployment("production", "0123abcd" * 5, "main") == 7
    [call] = gitlab_server.calls("POST", "/api/v4/projects/42/deployments")
    assert call.json() == {"environment": "production", "sha": "0123abcd" * 5, "ref": "main", "tag": False,
                           "status": "success"}


def test_posts_a_merge_request_note(gitlab_server):
    GitLabApi.connect(gitlab_server.url, TOKEN, PROJECT).post_merge_request_note("12", "latency gate: PASS")
    [call] = gitlab_server.calls("POST", "/api/v4/projects/42/merge_requests/12/notes")
    assert call.json() == {"body": "latency gate: PASS"}
    assert len(gitlab_server.requests) == 1  # lazy objects: no GET of the project or the MR


def test_skipped_with_a_message_without_url_or_token(caplog):
    with caplog.at_level(logging.WARNING, logger="ci.gitlab"):
        assert GitLabApi.connect("", TOKEN, PROJECT) is None
        assert GitLabApi.connect("http://127.0.0.1:9", None, PROJECT) is None
    assert "skipped: CI_SERVER_URL not set" in caplog.text
    assert "skipped: GITLAB_API_TOKEN not set" in caplog.text
    assert TOKEN not in caplog.text


def test_refused_token_is_a_config_error_without_the_token():
    with RecordingServer([("POST", r".*", (401, {"message": "401 Unauthorized"}))]) as server:
        api = GitLabApi.connect(server.url, TOKEN, PROJECT)
        with pytest.raises(ConfigError, match="refused GITLAB_API_TOKEN") as excinfo:
            api.record_deployment("staging", "a" * 40, "main")
    assert TOKEN not in str(excinfo.value)


def test_server_error_is_a_check_failure():
    with (RecordingServer([("POST", r".*", (500, {"message": "boom"}))]) as server,
          pytest.raises(CheckFailed, match="record a deployment failed")):
        GitLabApi.connect(server.url, TOKEN, PROJECT).record_deployment("staging", "a" * 40, "main")

"""ci/job.py: the commit identity of a job."""
from __future__ import annotations

import pytest

from ci.errors import ConfigError
from ci.job import short_commit


@pytest.mark.parametrize(("sha", "expected"), [
    pytest.param("0123456789ABCDEF0123456789abcdef01234567", "01234567", id="full-upper"),
    pytest.param("abcdef12", "abcdef12", id="exactly-8"),
])
def test_short_commit(sha, expected):
    assert short_commit(sha) == expected


@pytest.mark.parametrize("sha", [pytest.param("abc", id="too-short"), pytest.param("xyz12345", id="not-hex"),
                                 pytest.param("a" * 41, id="too-long")])
def test_short_commit_rejects(sha):
    with pytest.raises(ConfigError, match="no commit to tag the image with"):
        short_commit(sha)


def test_short_commit_reads_ci_commit_sha(monkeypatch):
    monkeypatch.setenv("CI_COMMIT_SHA", "FEEDBEEF00")
    assert short_commit() == "feedbeef"

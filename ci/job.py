"""The GitLab job this runs in: its commit, merge request, environment, links and user, and the GitLab
API client built from its variables. The one place that reads GitLab's predefined variables, but for
the trace attributes `ci/tracing.py` names its spans after (OpenTelemetry's CI/CD conventions).

Outside GitLab (a local run) every value is absent and the commit comes from the git checkout.
"""
from __future__ import annotations

import getpass
import logging
import os
import re
import subprocess

from ci.clients.gitlab_api import GitLabApi
from ci.errors import CiError, ConfigError

log = logging.getLogger("ci.job")

_SHA = re.compile(r"[0-9a-fA-F]{8,40}")


def commit_sha(explicit: str | None = None) -> str:
    """The commit being deployed: `explicit`, else CI_COMMIT_SHA, else `git rev-parse HEAD` in the
    working directory; lower-case hex."""
    sha = explicit or os.environ.get("CI_COMMIT_SHA")
    if not sha:
        try:
            result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False)
            sha = result.stdout.strip() if result.returncode == 0 else ""
        except OSError:
            sha = ""
    if not _SHA.fullmatch(sha or ""):
        raise ConfigError("no commit to tag the image with: set CI_COMMIT_SHA (or --commit) or run inside "
                          "a git checkout")
    return sha.lower()


def job_and_pipeline() -> str:
    """This job (its URL, else its id) and pipeline URL, as a lock holder names itself; "" outside GitLab."""
    env = os.environ
    job = env.get("CI_JOB_URL") or (f"job {env['CI_JOB_ID']}" if env.get("CI_JOB_ID") else "")
    pipeline = env.get("CI_PIPELINE_URL", "")
    return " ".join(p for p in (job, f"pipeline {pipeline}" if pipeline and pipeline not in job else "") if p)


def short_commit(explicit: str | None = None) -> str:
    """First 8 characters of `commit_sha`."""
    return commit_sha(explicit)[:8]


def merge_request() -> str | None:
    return os.environ.get("CI_MERGE_REQUEST_IID") or None


def environment(default: str = "") -> str:
    return os.environ.get("CI_ENVIRONMENT_NAME") or default


def job_url() -> str | None:
    return os.environ.get("CI_JOB_URL") or None


def actor() -> dict[str, str | None]:
    """Who and what acted, for audit entries: GitLab's user and links, or the local user."""
    env = os.environ
    return {"user": env.get("GITLAB_USER_LOGIN") or f"{getpass.getuser()} (local)",
            "user_name": env.get("GITLAB_USER_NAME"), "pipeline_url": env.get("CI_PIPELINE_URL"),
            "job_url": env.get("CI_JOB_URL"), "commit": env.get("CI_COMMIT_SHA")}


def gitlab() -> GitLabApi | None:
    """The project's GitLab API client, or None (with a logged reason) when a variable is missing."""
    return GitLabApi.connect(os.environ.get("CI_SERVER_URL"), os.environ.get("GITLAB_API_TOKEN"),
                             os.environ.get("CI_PROJECT_ID"))


def record_deployment(namespace: str, ok: bool) -> None:
    """Record a deploy's outcome with GitLab's deployments API (skipped without a GitLab URL/token).
    Bookkeeping only: a failure to record is a warning, never a reason to fail or undo a deploy."""
    client = gitlab()
    if client is None:
        return
    try:
        client.record_deployment(environment(namespace), os.environ.get("CI_COMMIT_SHA", ""),
                                 os.environ.get("CI_COMMIT_REF_NAME", ""), status="success" if ok else "failed")
    except CiError as exc:
        log.warning("deployment not recorded in GitLab: %s", exc)

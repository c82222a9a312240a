"""The one seam around python-gitlab: issues, deployments and merge-request notes.

Why a seam: the GitLab API is the one part of the pipeline that cannot run on a test machine, so
every call goes through `GitLabApi` and tests point it at a local recording server. Without a
server URL, token or project the calls are skipped with a message (a local run, or a project that
did not set GITLAB_API_TOKEN) instead of failing the job. The token is only handed to python-gitlab;
no message from this module contains it.
"""
from __future__ import annotations

import logging

from ci.errors import CheckFailed, ConfigError

log = logging.getLogger("ci.gitlab")

REQUEST_TIMEOUT_S = 10
SETTINGS = ("CI_SERVER_URL", "GITLAB_API_TOKEN", "CI_PROJECT_ID")


class GitLabApi:
    """A python-gitlab client bound to one project; every call is one REST request or two."""

    def __init__(self, url: str, token: str, project_id: str) -> None:
        import gitlab

        self.url = url.rstrip("/")
        self._gitlab = gitlab.Gitlab(self.url, private_token=token, timeout=REQUEST_TIMEOUT_S)
        self._project = self._gitlab.projects.get(project_id, lazy=True)  # lazy: no request yet

    @classmethod
    def connect(cls, url: str | None, token: str | None, project_id: str | None) -> GitLabApi | None:
        """A client, or None (and a logged reason) when a setting is missing."""
        missing = [name for name, value in zip(SETTINGS, (url, token, project_id), strict=True) if not value]
        if missing:
            log.warning("GitLab API calls skipped: %s not set", ", ".join(missing))
            return None
        return cls(url, token, project_id)

    def open_or_update_issue(self, title: str, description: str, labels: list[str]) -> str:
        """Comment on the open issue with this exact title, or open one; returns what was done."""
        found = self._call("search issues", self._project.issues.list, get_all=False,  # `in` is a keyword:
                           query_parameters={"state": "opened", "search": title, "in": "title"})
        for issue in found:
            if issue.title == title:
                self._call("comment on an issue", issue.notes.create, {"body": description})
                return f"updated issue #{issue.iid}"
        issue = self._call("open an issue", self._project.issues.create,
                           {"title": title, "description": description, "labels": ",".join(labels)})
        return f"opened issue #{issue.iid}"

    def record_deployment(self, environment: str, sha: str, ref: str, status: str = "success",
                          tag: bool = False) -> int:
        """Create a deployment record (the deployments API); returns its id."""
        deployment = self._call("record a deployment", self._project.deployments.create,
                                {"environment": environment, "sha": sha, "ref": ref, "tag": tag,
                                 "status": status})
        return deployment.id

    def post_merge_request_note(self, merge_request_iid: str | int, body: str) -> None:
        merge_request = self._project.mergerequests.get(merge_request_iid, lazy=True)
        self._call(f"comment on merge request !{merge_request_iid}", merge_request.notes.create,
                   {"body": body})

    def _call(self, what: str, fn, *args, **kwargs):
        import gitlab.exceptions as errors

        try:
            return fn(*args, **kwargs)
        except errors.GitlabAuthenticationError as exc:
            raise ConfigError(f"GitLab {self.url} refused GITLAB_API_TOKEN ({what}: {exc.response_code}): "
                              "use a project or group token with the `api` scope") from None
        except errors.GitlabError as exc:
            raise CheckFailed(f"GitLab {self.url}: {what} failed ({exc.response_code}: "
                              f"{str(exc.error_message)[:200]})") from None
        except OSError as exc:  # requests' connection errors derive from it
            raise CheckFailed(f"GitLab {self.url} is not answering ({what}: {type(exc).__name__})") from None

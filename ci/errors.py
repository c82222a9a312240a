"""One exception family for everything the user can act on; only `ci.cli` turns it into exit codes."""
from __future__ import annotations

EXIT_OK = 0
EXIT_FAILED = 1  # a gate, a rollout or a lookup failed: the pipeline must stop
EXIT_USAGE = 2  # usage or configuration error: fix the job's variables


class CiError(Exception):
    """Base of the family: the message says what is wrong and what to do."""

    exit_code = EXIT_FAILED


class CheckFailed(CiError):
    """A gate, a rollout, a smoke test or a registry lookup did not pass."""

    exit_code = EXIT_FAILED


class ConfigError(CiError):
    """A variable or option is missing or wrong; nothing was attempted."""

    exit_code = EXIT_USAGE


class ToolError(CiError):
    """An external program (buildah, podman, kubectl, locust, ...) failed."""

    exit_code = EXIT_FAILED

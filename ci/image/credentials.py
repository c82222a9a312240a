"""Container-registry credentials: who pushes and pulls images, and the private auth file the tools read.

The password is read from CI_REGISTRY_PASSWORD only (never an option, so it is not in a process
listing), kept out of `repr`, and written only to a 0600 file that is removed afterwards.
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ci.errors import ConfigError


@dataclass(frozen=True)
class Credentials:
    """Either a user/password pair (CI_REGISTRY_USER/PASSWORD) or a docker config file; repr hides it."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    docker_config: Path | None = None

    @classmethod
    def from_job(cls, user: str | None, docker_config: Path | None = None) -> Credentials:
        """`user` (an option) with CI_REGISTRY_PASSWORD; a docker config only when no user is given."""
        return cls(user=user, password=os.environ.get("CI_REGISTRY_PASSWORD"),
                   docker_config=None if user else docker_config)


@contextlib.contextmanager
def registry_authfile(repository: str, credentials: Credentials) -> Iterator[Path | None]:
    """A private auth file for the repository's registry, removed afterwards; None means the tools'
    own default (REGISTRY_AUTH_FILE, ~/.docker/config.json). It is named config.json so its directory
    is also a DOCKER_CONFIG for the docker CLI and kaniko."""
    if credentials.docker_config is not None:
        path = credentials.docker_config
        path = path / "config.json" if path.is_dir() else path
        if not path.is_file():
            raise ConfigError(f"docker config {path} does not exist")
        yield path
        return
    if not credentials.user and not credentials.password:
        yield None
        return
    if not (credentials.user and credentials.password):
        raise ConfigError("set both CI_REGISTRY_USER and CI_REGISTRY_PASSWORD, or neither")
    token = base64.b64encode(f"{credentials.user}:{credentials.password}".encode()).decode()
    with tempfile.TemporaryDirectory(prefix="registry-auth-") as tmp:
        path = Path(tmp) / "config.json"
        path.touch(mode=0o600)
        path.write_text(json.dumps({"auths": {repository.split("/")[0]: {"auth": token}}}))
        yield path


NO_CREDENTIALS = Credentials()  # the tools' own defaults

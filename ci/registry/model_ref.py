"""How a model version is named: its registry reference and the image tags built from it.

Why its own module: `resolve` writes IMAGE_TAG into its dotenv and `build` pushes that tag; both use
these functions, and neither has to import the other (nor every image builder).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ci.errors import ConfigError


@dataclass(frozen=True)
class ModelRef:
    name: str
    version: str
    run_id: str = ""


def slug(name: str) -> str:
    """A model name as an OCI tag fragment: lower case, [a-z0-9._-], no leading separator."""
    cleaned = re.sub(r"[^a-z0-9._-]+", "-", name.lower()).strip(".-_")
    if not cleaned:
        raise ConfigError(f"model name {name!r} has no character usable in an image tag")
    return cleaned[:80]


def image_tag(model: ModelRef, commit: str) -> str:
    """The immutable tag a pipeline pushes: <model>-v<version>-<short commit>."""
    return f"{slug(model.name)}-v{model.version}-{commit[:8]}"


def moving_tags(model: ModelRef) -> list[str]:
    """Tags that follow the newest image of a version and of the model."""
    return [f"{slug(model.name)}-v{model.version}", f"{slug(model.name)}-latest"]

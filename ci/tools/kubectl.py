"""kubectl: only to render a kustomize overlay (`kubectl kustomize`, kustomize built in).

Why only that: every API call goes through `ci.kube` (the Python client), so an ordinary deploy needs
no kubectl at all; rendering is needed only for the first deploy into an empty namespace."""
from __future__ import annotations

from pathlib import Path

import yaml

from ci.tools import run_tool


def kustomize(directory: Path) -> list[dict]:
    """The overlay's rendered objects."""
    result = run_tool(["kubectl", "kustomize", str(directory)], timeout=120)
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]

"""Where this project's own files are, for steps that use them: the service source the image is built
from, the kustomize overlays and the Locust file."""
from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SERVICE_DIR = REPO_ROOT / "service"
OVERLAYS_DIR = REPO_ROOT / "manifests" / "overlays"
LOCUSTFILE = REPO_ROOT / "loadtests" / "locustfile.py"

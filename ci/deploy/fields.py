"""What a deploy writes onto the Deployment: the target, its image, labels and annotations.

Used both on the rendered overlay (set before the server-side apply) and as the JSON patch of a
deploy without an overlay (what `kubectl set image` changes, plus the model's labels/annotations).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ci.errors import ConfigError

CHANGE_CAUSE = "kubernetes.io/change-cause"
MODEL_NAME_KEY = "pyfunc-deploy.io/model-name"
MODEL_VERSION_KEY = "pyfunc-deploy.io/model-version"
PIPELINE_KEY = "pyfunc-deploy.io/pipeline-url"
# Pod-template annotations the manifests hand to the container (downward API) as IMAGE_TAG and
# IMAGE_DIGEST, so every pod's /version names the exact image it runs.
IMAGE_TAG_KEY = "pyfunc-deploy.io/image-tag"
IMAGE_DIGEST_KEY = "pyfunc-deploy.io/image-digest"


@dataclass(frozen=True)
class Target:
    namespace: str
    deployment: str
    container: str
    image: str
    model_name: str
    model_version: str
    pipeline_url: str = ""
    image_tag: str = ""
    overlay: Path | None = None  # rendered and applied on every deploy; None: set the image only
    prune: bool = False  # delete the objects the overlay no longer renders (else only report them)


def _merged(obj: dict, section: str, extra: dict[str, str]) -> dict[str, str]:
    return {**(obj.get("metadata", {}).get(section) or {}), **extra}


def _model_keys(target: Target) -> dict[str, str]:
    return {MODEL_NAME_KEY: target.model_name, MODEL_VERSION_KEY: target.model_version}


def _pod_annotations(template: dict, target: Target) -> dict[str, str]:
    digest = target.image.rpartition("@")[2] if "@" in target.image else ""
    return _merged(template, "annotations", {**_model_keys(target), IMAGE_TAG_KEY: target.image_tag,
                                             IMAGE_DIGEST_KEY: digest})


def _deployment_annotations(deployment: dict, target: Target) -> dict[str, str]:
    cause = f"ci deploy: {target.model_name} v{target.model_version} {target.image}"
    extra = {CHANGE_CAUSE: cause + (f" {target.pipeline_url}" if target.pipeline_url else ""),
             MODEL_VERSION_KEY: target.model_version}
    if target.pipeline_url:
        extra[PIPELINE_KEY] = target.pipeline_url
    return _merged(deployment, "annotations", extra)


def container_index(deployment: dict, target: Target) -> int:
    names = [c["name"] for c in deployment["spec"]["template"]["spec"]["containers"]]
    if target.container not in names:
        raise ConfigError(f"deployment {target.deployment} has no container {target.container!r} "
                          f"(it has {', '.join(names)}): set --container")
    return names.index(target.container)


def set_fields(deployment: dict, target: Target) -> None:
    """Image, labels and annotations on a rendered Deployment (before it is applied)."""
    template = deployment["spec"]["template"]
    template["spec"]["containers"][container_index(deployment, target)]["image"] = target.image
    deployment["metadata"]["annotations"] = _deployment_annotations(deployment, target)
    template.setdefault("metadata", {})["labels"] = _merged(template, "labels", _model_keys(target))
    template["metadata"]["annotations"] = _pod_annotations(template, target)


def set_image_patch(deployment: dict, target: Target) -> list[dict]:
    """What `kubectl set image` (+ change-cause and the model's labels/annotations) changes, guarded
    by the resourceVersion that was checked for a rollout in progress."""
    template = deployment["spec"]["template"]
    index = container_index(deployment, target)
    return [
        {"op": "test", "path": "/metadata/resourceVersion", "value": deployment["metadata"]["resourceVersion"]},
        {"op": "replace", "path": f"/spec/template/spec/containers/{index}/image", "value": target.image},
        {"op": "add", "path": "/metadata/annotations", "value": _deployment_annotations(deployment, target)},
        {"op": "add", "path": "/spec/template/metadata/labels", "value": _merged(template, "labels",
                                                                                 _model_keys(target))},
        {"op": "add", "path": "/spec/template/metadata/annotations", "value": _pod_annotations(template, target)},
    ]

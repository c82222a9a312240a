"""`resolve`: the exact, READY model version a selector names, and the dotenv later jobs read."""
from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed
from ci.outputs import write_dotenv, write_json
from ci.registry.model_ref import ModelRef, image_tag
from ci.registry.selector import DEFAULT_SELECTOR, FALLBACK_STAGE, Selector, parse_selector
from ci.registry.versions import (
    REGISTRATION_TIMEOUT_S,
    client,
    no_versions_hint,
    registered_model,
    version_or_fail,
    wait_until_ready,
)

log = logging.getLogger("ci.registry")

MLMODEL = "MLmodel"
MODEL_ENV = "model.env"
MODEL_JSON = "model.json"


@dataclass
class ResolvedModel:
    name: str
    version: str
    run_id: str | None
    source: str
    model_uri: str  # models:/<name>/<version>: immutable, unlike the selector
    artifact_uri: str
    status: str
    current_stage: str | None
    aliases: list[str]
    tags: dict[str, str]
    description: str | None
    creation_timestamp: int
    created_at: str
    last_updated_at: str | None
    selector: str
    resolved_by: str
    signature: dict | None = None
    flavors: list[str] = field(default_factory=list)
    mlflow_version: str | None = None


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _by_alias(api: MlflowApi, name: str, selector: Selector, aliases: dict, fallback: bool):
    if selector.value in aliases:
        why = f" (alias {selector} points to it; move the alias with `python -m ci promote`)"
        return version_or_fail(api, name, aliases[selector.value], why), f"alias {selector}"
    if fallback:
        found = api.latest_in_stage(name, FALLBACK_STAGE)
        if found:
            log.warning("%r has no alias %s; using legacy stage %s (version %s). Set the alias "
                        "with `python -m ci promote` to stop relying on stages.",
                        name, selector, FALLBACK_STAGE, found[0].version)
            return found[0], f"stage {FALLBACK_STAGE} (no alias {selector})"
    raise CheckFailed(no_versions_hint(api, name) or (
        f"{name!r} has no alias {selector}"
        + (f" and no version in stage {FALLBACK_STAGE}" if fallback else "")
        + f" (aliases: {', '.join(f'@{a}={v}' for a, v in sorted(aliases.items())) or 'none'}): "
        f"promote a version (`python -m ci promote --version N --to {selector}`) "
        "or choose another MODEL_SELECTOR"))


def _select(api: MlflowApi, name: str, selector: Selector, fallback: bool):
    """The model version a selector names, and how it was found."""
    rm = registered_model(api, name)
    if selector.kind == "version":
        return version_or_fail(api, name, selector.value), f"version {selector.value}"
    if selector.kind == "alias":
        return _by_alias(api, name, selector, dict(rm.aliases or {}), fallback)
    found = api.latest_in_stage(name, selector.value)
    if not found:
        raise CheckFailed(no_versions_hint(api, name) or (
            f"no version of {name!r} is in stage {selector.value}: promote one "
            f"(`python -m ci promote --version N --to {selector.value}`) or choose another MODEL_SELECTOR"))
    return found[0], f"stage {selector.value}"


def _mlmodel(api: MlflowApi, artifact_uri: str) -> dict:
    import yaml

    text = api.read_model_files(artifact_uri, (MLMODEL,)).get(MLMODEL)
    return yaml.safe_load(text) if text else {}


def _signature(mlmodel: dict) -> dict | None:
    raw = mlmodel.get("signature")
    if not raw:
        return None
    return {key: json.loads(value) if isinstance(value, str) else value for key, value in raw.items()}


def resolve(name: str, selector: str | None = None, *, api: MlflowApi | None = None,
            registration_timeout: float = REGISTRATION_TIMEOUT_S) -> ResolvedModel:
    """The exact, READY version a selector names (None: `@production`, falling back to the stage)."""
    api = client(api)
    parsed = parse_selector(selector or DEFAULT_SELECTOR)
    mv, resolved_by = _select(api, name, parsed, fallback=selector is None)
    mv = wait_until_ready(api, mv, registration_timeout)
    artifact_uri = api.download_uri(name, mv.version)
    mlmodel = _mlmodel(api, artifact_uri)
    return ResolvedModel(
        name=name, version=str(mv.version), run_id=mv.run_id or None, source=mv.source,
        model_uri=f"models:/{name}/{mv.version}", artifact_uri=artifact_uri, status=mv.status,
        current_stage=mv.current_stage, aliases=sorted(mv.aliases or []), tags=dict(mv.tags or {}),
        description=mv.description or None, creation_timestamp=int(mv.creation_timestamp),
        created_at=_iso(mv.creation_timestamp), last_updated_at=_iso(mv.last_updated_timestamp),
        selector=str(parsed), resolved_by=resolved_by, signature=_signature(mlmodel),
        flavors=sorted(mlmodel.get("flavors", {})), mlflow_version=mlmodel.get("mlflow_version"))


def dotenv_variables(model: ResolvedModel, commit: str) -> dict[str, str]:
    """What later jobs get through `artifacts:reports:dotenv` (the contract build and deploy read)."""
    return {
        "MODEL_NAME": model.name, "MODEL_VERSION": model.version, "MODEL_RUN_ID": model.run_id or "",
        "MODEL_SOURCE": model.source, "MODEL_URI": model.model_uri,
        "IMAGE_TAG": image_tag(ModelRef(model.name, model.version), commit),
    }


def write_outputs(model: ResolvedModel, commit: str, output_dir: Path) -> dict[str, str]:
    """model.json (everything) and model.env (the dotenv); returns the dotenv's variables."""
    variables = dotenv_variables(model, commit)
    write_json(output_dir / MODEL_JSON, {**asdict(model), "image_tag": variables["IMAGE_TAG"], "commit": commit})
    write_dotenv(output_dir / MODEL_ENV, variables)
    return variables

"""The MLflow Model Registry as the pipeline's source of truth: resolve, gate results, promote,
roll back, audit. Functions take arguments and return dataclasses; `ci.commands.registry` wires
them to `python -m ci`.

Selectors: `@alias`, a legacy stage (`Production`, `Staging`) or a version number. With no selector
the pipeline asks for `@production` and, only because nothing was asked explicitly, falls back to
the legacy stage `Production` when that alias does not exist (teams migrating from stages to aliases
keep working, with a warning). An explicit `--selector @production` never falls back: asking for an
alias and silently getting something else is how the wrong model ships.

Registry state written here (all tags, so it lives with the model):
- `pyfunc_deploy.gate.<gate>` = `passed`/`failed` and `pyfunc_deploy.gate.<gate>.summary` (JSON)
  on the version, for the gates in REQUIRED_GATES.
- `pyfunc_deploy.audit.<UTC time>` (JSON AuditEntry) on the registered model and on the version
  that was promoted or rolled back to. Append-only: one tag per event, no read-modify-write.
"""
from __future__ import annotations

import dataclasses
import getpass
import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ci.build import ModelRef
from ci.build import image_tag as build_image_tag  # one definition of the tag the build pushes
from ci.errors import CheckFailed, ConfigError
from ci.mlflow_api import MlflowApi, NotFound

log = logging.getLogger("ci.registry")

DEFAULT_SELECTOR = "@production"
FALLBACK_STAGE = "Production"
STAGES = ("Staging", "Production", "Archived")
READY, PENDING = "READY", "PENDING_REGISTRATION"
REGISTRATION_TIMEOUT_S = 300.0
GATE_TAG_PREFIX = "pyfunc_deploy.gate."
AUDIT_TAG_PREFIX = "pyfunc_deploy.audit."
REQUIRED_GATES = ("load", "signature", "latency")
MLMODEL = "MLmodel"


@dataclass(frozen=True)
class Selector:
    kind: str  # "alias" | "stage" | "version"
    value: str

    def __str__(self) -> str:
        return {"alias": f"@{self.value}", "stage": self.value}.get(self.kind, self.value)


def parse_selector(text: str) -> Selector:
    text = (text or "").strip()
    if text.startswith("@") and len(text) > 1:
        return Selector("alias", text[1:])
    if text.isdigit() and int(text) > 0:
        return Selector("version", str(int(text)))
    for stage in STAGES:
        if text.lower() == stage.lower():
            return Selector("stage", stage)
    raise ConfigError(f"model selector {text!r}: use an alias (@production), a stage "
                      f"({', '.join(STAGES[:2])}) or a version number")


def parse_target(text: str) -> Selector:
    """Where promote/rollback write: an alias or a stage, never a version number."""
    target = parse_selector(text)
    if target.kind == "version":
        raise ConfigError(f"promotion target {text!r}: use an alias (@production) or a stage (Production)")
    return target


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


def _api(api: MlflowApi | None) -> MlflowApi:
    return api if api is not None else MlflowApi.from_env()


def _registered_model(api: MlflowApi, name: str):
    try:
        return api.registered_model(name)
    except NotFound:
        raise CheckFailed(f"registered model {name!r} not found on {api.safe_url}: check MODEL_NAME "
                          "(names are case-sensitive) or register a version first") from None


def _version_or_fail(api: MlflowApi, name: str, version: str, why: str = ""):
    try:
        return api.model_version(name, version)
    except NotFound:
        raise CheckFailed(f"{name!r} has no version {version}{why}: choose an existing version "
                          "(see the model's page in the MLflow UI)") from None


def _no_versions_hint(api: MlflowApi, name: str) -> str | None:
    if not api.versions(name):
        return f"registered model {name!r} has no versions: register one, then run the pipeline again"
    return None


def _select(api: MlflowApi, name: str, selector: Selector, fallback: bool):
    """The model version a selector names, and how it was found."""
    rm = _registered_model(api, name)
    if selector.kind == "version":
        return _version_or_fail(api, name, selector.value), f"version {selector.value}"
    if selector.kind == "alias":
        aliases = dict(rm.aliases or {})
        if selector.value in aliases:
            why = f" (alias {selector} points to it; move the alias with `python -m ci promote`)"
            return _version_or_fail(api, name, aliases[selector.value], why), f"alias {selector}"
        if fallback:
            found = api.latest_in_stage(name, FALLBACK_STAGE)
            if found:
                log.warning("%r has no alias %s; using legacy stage %s (version %s). Set the alias "
                            "with `python -m ci promote` to stop relying on stages.",
                            name, selector, FALLBACK_STAGE, found[0].version)
                return found[0], f"stage {FALLBACK_STAGE} (no alias {selector})"
        raise CheckFailed(_no_versions_hint(api, name) or (
            f"{name!r} has no alias {selector}"
            + (f" and no version in stage {FALLBACK_STAGE}" if fallback else "")
            + f" (aliases: {', '.join(f'@{a}={v}' for a, v in sorted(aliases.items())) or 'none'}): "
            f"promote a version (`python -m ci promote --version N --to {selector}`) "
            "or choose another MODEL_SELECTOR"))
    found = api.latest_in_stage(name, selector.value)
    if not found:
        raise CheckFailed(_no_versions_hint(api, name) or (
            f"no version of {name!r} is in stage {selector.value}: promote one "
            f"(`python -m ci promote --version N --to {selector.value}`) or choose another MODEL_SELECTOR"))
    return found[0], f"stage {selector.value}"


def wait_until_ready(api: MlflowApi, mv, timeout: float = REGISTRATION_TIMEOUT_S, poll: float = 1.0):
    """A version still PENDING_REGISTRATION is polled until READY, for at most `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while mv.status == PENDING:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise CheckFailed(f"{mv.name!r} version {mv.version} is still registering after {timeout:.0f}s "
                              "(status PENDING_REGISTRATION): retry the job when registration has "
                              "finished, or raise MODEL_REGISTRATION_TIMEOUT")
        log.info("%r version %s is still registering; waiting (%.0fs left)", mv.name, mv.version, remaining)
        time.sleep(min(poll, remaining))
        mv = api.model_version(mv.name, mv.version)
    if mv.status != READY:
        detail = f": {mv.status_message}" if mv.status_message else ""
        raise CheckFailed(f"{mv.name!r} version {mv.version} is not usable: status {mv.status}{detail}. "
                          "Register the model again.")
    return mv


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
    api = _api(api)
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


def short_commit(sha: str | None = None) -> str:
    """First 8 characters of CI_COMMIT_SHA, else of `git rev-parse HEAD` in the working directory."""
    sha = sha or os.environ.get("CI_COMMIT_SHA")
    if not sha:
        result = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
        sha = result.stdout.strip() if result.returncode == 0 else ""
    if not re.fullmatch(r"[0-9a-fA-F]{8,40}", sha):
        raise ConfigError("no commit to tag the image with: set CI_COMMIT_SHA or run inside a git checkout")
    return sha[:8].lower()


def dotenv_variables(model: ResolvedModel, commit: str) -> dict[str, str]:
    """What later jobs get through `artifacts:reports:dotenv` (the contract build and deploy read)."""
    return {
        "MODEL_NAME": model.name, "MODEL_VERSION": model.version, "MODEL_RUN_ID": model.run_id or "",
        "MODEL_SOURCE": model.source, "MODEL_URI": model.model_uri,
        "IMAGE_TAG": build_image_tag(ModelRef(model.name, model.version), commit),
    }


# -- gate results ------------------------------------------------------------------------------

def gate_tag(gate: str) -> str:
    return f"{GATE_TAG_PREFIX}{gate}"


def record_gate_result(name: str, version: str, gate: str, passed: bool, summary: dict, *,
                       api: MlflowApi | None = None) -> dict[str, str]:
    """Write a gate's verdict on the version; `promote` reads it. Returns the tags written."""
    if gate not in REQUIRED_GATES:
        raise ConfigError(f"unknown gate {gate!r}: one of {', '.join(REQUIRED_GATES)}")
    api = _api(api)
    tags = {gate_tag(gate): "passed" if passed else "failed",
            f"{gate_tag(gate)}.summary": json.dumps(summary, sort_keys=True, default=str)}
    for key, value in tags.items():
        api.set_version_tag(name, str(version), key, value)
    return tags


def gate_results(tags: dict[str, str]) -> dict[str, str]:
    """`passed` / `failed` / `missing` for each required gate, from a version's tags."""
    return {gate: tags.get(gate_tag(gate), "missing") for gate in REQUIRED_GATES}


# -- promote, rollback, audit ------------------------------------------------------------------

@dataclass
class AuditEntry:
    action: str  # "promote" | "rollback"
    target: str  # "@production" or "Production"
    from_version: str | None
    to_version: str
    time: str  # ISO 8601, UTC
    user: str
    user_name: str | None = None
    pipeline_url: str | None = None
    job_url: str | None = None
    commit: str | None = None
    forced: bool = False
    gates: dict[str, str] = field(default_factory=dict)


@dataclass
class Promotion:
    name: str
    target: str
    from_version: str | None
    to_version: str
    changed: bool
    audit: AuditEntry | None


def _current(api: MlflowApi, name: str, target: Selector) -> str | None:
    if target.kind == "alias":
        return dict(_registered_model(api, name).aliases or {}).get(target.value)
    found = api.latest_in_stage(name, target.value)
    return str(found[0].version) if found else None


def _move(api: MlflowApi, name: str, target: Selector, version: str) -> None:
    if target.kind == "alias":
        api.set_alias(name, target.value, version)
    else:  # legacy stages: the old holder is archived, as the registry UI does
        api.transition_stage(name, version, target.value)


def _record(api: MlflowApi, name: str, entry: AuditEntry) -> None:
    key = AUDIT_TAG_PREFIX + datetime.fromisoformat(entry.time).strftime("%Y%m%dT%H%M%S.%fZ")
    value = json.dumps(dataclasses.asdict(entry), sort_keys=True)
    api.set_version_tag(name, entry.to_version, key, value)
    api.set_model_tag(name, key, value)


def _entry(action: str, target: Selector, old: str | None, new: str, **extra) -> AuditEntry:
    env = os.environ
    return AuditEntry(
        action=action, target=str(target), from_version=old, to_version=new,
        time=datetime.now(UTC).isoformat(),
        user=env.get("GITLAB_USER_LOGIN") or f"{getpass.getuser()} (local)",
        user_name=env.get("GITLAB_USER_NAME"), pipeline_url=env.get("CI_PIPELINE_URL"),
        job_url=env.get("CI_JOB_URL"), commit=env.get("CI_COMMIT_SHA"), **extra)


def _parse_audit(tags: dict[str, str]) -> list[AuditEntry]:
    known = {f.name for f in dataclasses.fields(AuditEntry)}
    entries = []
    for key, value in tags.items():
        if key.startswith(AUDIT_TAG_PREFIX):
            try:
                entries.append(AuditEntry(**{k: v for k, v in json.loads(value).items() if k in known}))
            except (ValueError, TypeError):
                log.warning("ignoring unreadable audit tag %s", key)
    return sorted(entries, key=lambda e: e.time)


def audit_log(name: str, version: str | None = None, *, api: MlflowApi | None = None) -> list[AuditEntry]:
    """Audit entries, oldest first, of the registered model (or of one version)."""
    api = _api(api)
    holder = api.model_version(name, version) if version else _registered_model(api, name)
    return _parse_audit(dict(holder.tags or {}))


def promote(name: str, version: str, target: str = DEFAULT_SELECTOR, *, force: bool = False,
            api: MlflowApi | None = None) -> Promotion:
    """Point `target` at a READY version whose gates passed (unless `force`), with an audit entry."""
    api = _api(api)
    where = parse_target(target)
    mv = _version_or_fail(api, name, str(version))
    if mv.status != READY:
        raise CheckFailed(f"{name!r} version {mv.version} is {mv.status}, not READY: wait for its "
                          "registration to finish, then promote again")
    gates = gate_results(dict(mv.tags or {}))
    not_passed = {g: s for g, s in gates.items() if s != "passed"}
    if not_passed and not force:
        raise CheckFailed(f"{name!r} version {mv.version} cannot be promoted to {where}: gates not passed: "
                          + ", ".join(f"{g}={s}" for g, s in not_passed.items())
                          + ". Run the gate jobs for this version, or override with --force / "
                          "PROMOTE_SKIP_GATES=true (recorded in the audit entry).")
    old = _current(api, name, where)
    if old == str(mv.version):
        return Promotion(name, str(where), old, old, changed=False, audit=None)
    _move(api, name, where, str(mv.version))
    entry = _entry("promote", where, old, str(mv.version), forced=bool(not_passed), gates=gates)
    _record(api, name, entry)
    return Promotion(name, str(where), old, str(mv.version), changed=True, audit=entry)


def production_history(entries: list[AuditEntry], target: str) -> list[str]:
    """Versions that held `target`, oldest first, as a stack: a rollback pops the newest."""
    stack: list[str] = []
    for entry in (e for e in entries if e.target == target):
        if entry.action == "rollback":
            stack = stack[:-1]
            continue
        if not stack and entry.from_version:
            stack.append(entry.from_version)
        stack.append(entry.to_version)
    return stack


def rollback(name: str, target: str = DEFAULT_SELECTOR, *, api: MlflowApi | None = None) -> Promotion:
    """Point `target` back at the version that held it before the current one (from the audit)."""
    api = _api(api)
    where = parse_target(target)
    current = _current(api, name, where)
    history = production_history(audit_log(name, api=api), str(where))
    if current is None or not history or history[-1] != current:
        raise CheckFailed(
            f"cannot roll back {name!r} {where}: it points to {current or 'nothing'}, but the audit "
            f"entries say {history[-1] if history else 'nothing was promoted through pyfunc-deploy'}. "
            "Promote the version you want explicitly (`python -m ci promote --version N`).")
    if len(history) < 2:
        raise CheckFailed(f"cannot roll back {name!r} {where}: version {current} is the first one "
                          "promoted through pyfunc-deploy, there is no earlier version to return to")
    previous = history[-2]
    mv = _version_or_fail(api, name, previous, f" (it held {where} before version {current})")
    if mv.status != READY:
        raise CheckFailed(f"cannot roll back {name!r} to version {previous}: its status is {mv.status}")
    _move(api, name, where, previous)
    entry = _entry("rollback", where, current, previous)
    _record(api, name, entry)
    return Promotion(name, str(where), current, previous, changed=True, audit=entry)

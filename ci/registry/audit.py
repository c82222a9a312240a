"""The audit trail of alias and stage moves: one JSON tag per event on the model and on the version."""
from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ci import job
from ci.clients.mlflow_api import MlflowApi
from ci.registry.selector import Selector
from ci.registry.versions import client, registered_model

log = logging.getLogger("ci.registry")

AUDIT_TAG_PREFIX = "pyfunc_deploy.audit."


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


def entry(action: str, target: Selector, old: str | None, new: str, **extra) -> AuditEntry:
    """An entry for now, by the job's user (or the local one)."""
    return AuditEntry(action=action, target=str(target), from_version=old, to_version=new,
                      time=datetime.now(UTC).isoformat(), **job.actor(), **extra)


def record(api: MlflowApi, name: str, audit: AuditEntry) -> None:
    key = AUDIT_TAG_PREFIX + datetime.fromisoformat(audit.time).strftime("%Y%m%dT%H%M%S.%fZ")
    value = json.dumps(dataclasses.asdict(audit), sort_keys=True)
    api.set_version_tag(name, audit.to_version, key, value)
    api.set_model_tag(name, key, value)


def parse(tags: dict[str, str]) -> list[AuditEntry]:
    """The audit entries among `tags`, oldest first; an unreadable one is skipped with a warning."""
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
    api = client(api)
    holder = api.model_version(name, version) if version else registered_model(api, name)
    return parse(dict(holder.tags or {}))


def production_history(entries: list[AuditEntry], target: str) -> list[str]:
    """Versions that held `target`, oldest first, as a stack: a rollback pops the newest."""
    stack: list[str] = []
    for item in (e for e in entries if e.target == target):
        if item.action == "rollback":
            stack = stack[:-1]
            continue
        if not stack and item.from_version:
            stack.append(item.from_version)
        stack.append(item.to_version)
    return stack

"""`promote` and `rollback`: move an alias (or a legacy stage) to a version, with an audit entry."""
from __future__ import annotations

from dataclasses import dataclass

from ci.clients.mlflow_api import MlflowApi
from ci.errors import CheckFailed
from ci.registry import audit
from ci.registry.audit import AuditEntry
from ci.registry.gate_tags import gate_results
from ci.registry.selector import DEFAULT_SELECTOR, Selector, parse_target
from ci.registry.versions import READY, client, registered_model, version_or_fail


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
        return dict(registered_model(api, name).aliases or {}).get(target.value)
    found = api.latest_in_stage(name, target.value)
    return str(found[0].version) if found else None


def _move(api: MlflowApi, name: str, target: Selector, version: str) -> None:
    if target.kind == "alias":
        api.set_alias(name, target.value, version)
    else:  # legacy stages: the old holder is archived, as the registry UI does
        api.transition_stage(name, version, target.value)


def promote(name: str, version: str, target: str = DEFAULT_SELECTOR, *, force: bool = False,
            api: MlflowApi | None = None) -> Promotion:
    """Point `target` at a READY version whose gates passed (unless `force`), with an audit entry."""
    api = client(api)
    where = parse_target(target)
    mv = version_or_fail(api, name, str(version))
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
    entry = audit.entry("promote", where, old, str(mv.version), forced=bool(not_passed), gates=gates)
    audit.record(api, name, entry)
    return Promotion(name, str(where), old, str(mv.version), changed=True, audit=entry)


def rollback(name: str, target: str = DEFAULT_SELECTOR, *, api: MlflowApi | None = None) -> Promotion:
    """Point `target` back at the version that held it before the current one (from the audit)."""
    api = client(api)
    where = parse_target(target)
    current = _current(api, name, where)
    history = audit.production_history(audit.audit_log(name, api=api), str(where))
    if current is None or not history or history[-1] != current:
        raise CheckFailed(
            f"cannot roll back {name!r} {where}: it points to {current or 'nothing'}, but the audit "
            f"entries say {history[-1] if history else 'nothing was promoted through pyfunc-deploy'}. "
            "Promote the version you want explicitly (`python -m ci promote --version N`).")
    if len(history) < 2:
        raise CheckFailed(f"cannot roll back {name!r} {where}: version {current} is the first one "
                          "promoted through pyfunc-deploy, there is no earlier version to return to")
    previous = history[-2]
    mv = version_or_fail(api, name, previous, f" (it held {where} before version {current})")
    if mv.status != READY:
        raise CheckFailed(f"cannot roll back {name!r} to version {previous}: its status is {mv.status}")
    _move(api, name, where, previous)
    entry = audit.entry("rollback", where, current, previous)
    audit.record(api, name, entry)
    return Promotion(name, str(where), current, previous, changed=True, audit=entry)

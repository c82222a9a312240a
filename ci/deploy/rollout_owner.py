"""A deploy owns its rollout: the pod template it set, and who changed the Deployment under it (pure).

After its own write a deploy records the Deployment's pod template, generation and image
(`Owned.of`). While it watches, and again before it reports success, `changed_under` compares the
live Deployment with that record: a different template means someone else (another deploy, a
`kubectl set image`, an operator) changed it, named by the Deployment's managedFields. Changes
of spec.replicas (the HPA) are not changes of the rollout and are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

from ci.clients.kube import FIELD_MANAGER
from ci.deploy import diffs

PATHS_SHOWN = 5


@dataclass(frozen=True)
class Owned:
    """What this deploy set: compared with the live Deployment on every poll."""

    template: dict
    generation: int
    images: tuple[str, ...]
    written_at: str  # the time of this deploy's own managedFields entry ("" when unknown)

    @classmethod
    def of(cls, deployment: dict) -> Owned:
        spec = deployment["spec"]["template"]
        mine = [e.get("time", "") for e in deployment["metadata"].get("managedFields") or []
                if e.get("manager") == FIELD_MANAGER]
        return cls(template=spec, generation=deployment["metadata"]["generation"],
                   images=tuple(c.get("image", "") for c in spec["spec"]["containers"]),
                   written_at=max(mine, default=""))


def template_managers(deployment: dict, since: str = "", exclude: str = FIELD_MANAGER) -> list[str]:
    """Managers (not `exclude`) of fields under spec.template, written at or after `since` when any
    was; "name (Operation time)" each, newest first."""
    entries = [e for e in deployment["metadata"].get("managedFields") or []
               if e.get("manager") != exclude and "f:template" in ((e.get("fieldsV1") or {}).get("f:spec") or {})]
    recent = [e for e in entries if since and e.get("time", "") >= since] or entries
    recent.sort(key=lambda e: e.get("time", ""), reverse=True)
    return [f"{e.get('manager', '?')} ({e.get('operation', '?')} {e.get('time', '?')})" for e in recent]


def changed_under(owned: Owned, deployment: dict | None) -> str | None:
    """None while the live pod template is the one this deploy set; else what changed and by whom."""
    if deployment is None:
        return "the Deployment was deleted"
    live = deployment["spec"]["template"]
    if live == owned.template:
        return None
    paths = diffs.changed_paths(owned.template, live, "spec.template")
    shown = ", ".join(paths[:PATHS_SHOWN]) + (f" and {len(paths) - PATHS_SHOWN} more" if len(paths) > PATHS_SHOWN
                                               else "")
    images = [c.get("image", "") for c in live["spec"]["containers"]]
    image_note = f" (image now {', '.join(images)})" if tuple(images) != owned.images else ""
    managers = template_managers(deployment, owned.written_at)
    by = ", ".join(managers) if managers else "an unknown manager (no managedFields entry)"
    return (f"the Deployment's pod template was changed under this deploy (generation "
            f"{owned.generation} -> {deployment['metadata']['generation']}): {shown}{image_note}; by {by}")

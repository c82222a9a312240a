"""The MLflow Model Registry as the pipeline's source of truth: which version ships, whether its gates
passed, and who moved an alias when.

Registry state written by this package (all tags, so it lives with the model):
- `pyfunc_deploy.gate.<gate>` = `passed`/`failed` and `pyfunc_deploy.gate.<gate>.summary` (JSON)
  on the version, for the gates in `gate_tags.REQUIRED_GATES` (`gate_tags`).
- `pyfunc_deploy.audit.<UTC time>` (JSON `AuditEntry`) on the registered model and on the version
  that was promoted or rolled back to. Append-only: one tag per event, no read-modify-write (`audit`).

Modules: `selector` (what a selector or target means), `versions` (looking versions up, waiting for
registration), `resolution` (`resolve`), `gate_tags`, `audit`, `promotion` (`promote`, `rollback`).
"""

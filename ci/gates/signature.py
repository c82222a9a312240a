"""Signature gate: the candidate must keep the contract the live model's clients rely on.

Breaking: an input column removed, retyped or newly required; any change of the outputs; a param
removed or retyped. Not breaking: a new optional input, a new param, an input that became optional.
The input example must exist and validate against the candidate's signature, and the candidate image
must answer rows scored together as it answers them one by one: it batches only where its build proved
that (service.batch_proof); batching off in the image passes with the image's reason, which the report
and /version carry.
"""
from __future__ import annotations

import dataclasses
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ci.clients.mlflow_api import MlflowApi, NotFound
from ci.errors import CheckFailed
from ci.gates.answers import answer_precision, max_difference, unstable_paths
from ci.gates.result import GateResult
from ci.registry.model_meta import ModelMeta, from_registry, safe_reason
from ci.reports import Check
from ci.tracing import step, trace_headers

log = logging.getLogger("ci.gates.signature")

GATE = "signature"
HTTP_TIMEOUT_S = 30
CONCURRENT_COPIES = 4  # each example row is sent this many times at once, so the server batches them


@dataclass(frozen=True)
class Change:
    where: str  # "input `age`", "outputs", "param `k`"
    what: str
    breaking: bool

    def __str__(self) -> str:
        return f"{self.where}: {self.what}{' (breaking)' if self.breaking else ''}"


@dataclass(frozen=True)
class Live:
    """What is live: its contract (None when nothing is) and where that was learned."""

    meta: ModelMeta | None
    found_by: str


def _type(spec) -> str:
    """A column, tensor or param spec's type, without its name and `required` flag."""
    described = {k: v for k, v in spec.to_dict().items()
                 if k not in ("name", "required", "default") and v is not None}
    return str(described["type"]) if set(described) == {"type"} else json.dumps(described, sort_keys=True)


def _named(schema) -> dict | None:
    """{name: spec} for a schema of named specs, else None (compared as a whole)."""
    if schema is None or not schema.has_input_names():
        return None
    return {spec.name: spec for spec in schema.inputs}


def _compare_inputs(live, candidate) -> list[Change]:
    old, new = _named(live), _named(candidate)
    if old is None or new is None:
        same = (live.to_dict() if live else None) == (candidate.to_dict() if candidate else None)
        return [] if same else [Change("inputs", "unnamed inputs changed", True)]
    changes = [Change(f"input `{name}`", "removed", True) for name in old if name not in new]
    for name, spec in new.items():
        was = old.get(name)
        if was is None:
            optional = not getattr(spec, "required", True)
            changes.append(Change(f"input `{name}`", f"added ({'optional' if optional else 'required'})",
                                  not optional))
        elif _type(was) != _type(spec):
            changes.append(Change(f"input `{name}`", f"type {_type(was)} -> {_type(spec)}", True))
        elif getattr(spec, "required", True) and not getattr(was, "required", True):
            changes.append(Change(f"input `{name}`", "optional -> required", True))
        elif not getattr(spec, "required", True) and getattr(was, "required", True):
            changes.append(Change(f"input `{name}`", "required -> optional", False))
    return changes


def _compare_params(live, candidate) -> list[Change]:
    old = {p.name: p for p in (live.params if live else [])}
    new = {p.name: p for p in (candidate.params if candidate else [])}
    changes = [Change(f"param `{name}`", "removed", True) for name in old if name not in new]
    for name, spec in new.items():
        if name not in old:
            changes.append(Change(f"param `{name}`", "added", False))
        elif _type(old[name]) != _type(spec):
            changes.append(Change(f"param `{name}`", f"type {_type(old[name])} -> {_type(spec)}", True))
    return changes


def compare(live, candidate) -> list[Change]:
    """Differences between two `ModelSignature`s, each marked breaking or not."""
    changes = _compare_inputs(live.inputs, candidate.inputs)
    old_out = live.outputs.to_dict() if live.outputs else None
    new_out = candidate.outputs.to_dict() if candidate.outputs else None
    if old_out != new_out:
        changes.append(Change("outputs", f"{_schema_text(live.outputs)} -> {_schema_text(candidate.outputs)}",
                              True))
    return changes + _compare_params(live.params, candidate.params)


def _schema_text(schema) -> str:
    return "none" if schema is None else "[" + ", ".join(
        f"{getattr(s, 'name', None) or '-'}: {_type(s)}" for s in schema.inputs) + "]"


def check_example(meta: ModelMeta) -> Check:
    """The input example exists and validates against the signature (MLflow's own enforcement)."""
    from mlflow.exceptions import MlflowException
    from mlflow.models import validate_schema

    if meta.signature is None:
        return Check("input_example", False, f"{meta.source} has no signature: log the model with "
                                             "`signature=infer_signature(example, predictions)`")
    if meta.example_error:
        return Check("input_example", False, f"the input example does not match the signature: "
                                             f"{meta.example_error}")
    if meta.example is None or meta.serving_example is None:
        return Check("input_example", False, f"{meta.source} has no input example: log the model with "
                                             "`input_example=` (a few realistic rows)")
    try:
        validate_schema(meta.example, meta.signature.inputs)
    except MlflowException as exc:
        return Check("input_example", False, f"the input example does not match the signature: "
                                             f"{safe_reason(str(exc.message))}")
    return Check("input_example", True, "the input example validates against the signature")


def _predict(session, url: str, columns: list, rows: list, headers: dict[str, str]) -> list:
    response = session.post(f"{url}/invocations", timeout=HTTP_TIMEOUT_S, headers=headers,
                            json={"dataframe_split": {"columns": columns, "data": rows}})
    if response.status_code != 200:
        raise CheckFailed(f"/invocations answered HTTP {response.status_code} for {len(rows)} example rows")
    return response.json()["predictions"]


def served_batching(session, url: str) -> dict | None:
    """What the candidate's /version says about batching: enabled, reason, decided_by (None: an image
    from before batching was proven per model)."""
    response = session.get(f"{url}/version", timeout=HTTP_TIMEOUT_S)
    return response.json().get("batching") if response.status_code == 200 else None


def check_batching(url: str | None, serving_example: dict) -> Check:
    """The candidate as it will serve: batching off in its image passes with the image's reason; on,
    rows one at a time, then the same rows sent concurrently (the server batches them) and as one
    request, then one at a time again: every answer must equal the one-at-a-time answer of its row
    (fields that changed between the two one-at-a-time passes, a timestamp, are left out)."""
    import requests

    if not url:
        return Check("batching", False, "no candidate to check batching on: give --image (the built image, "
                                        "IMAGE_REF) or --url (CANDIDATE_URL)")
    split = (serving_example or {}).get("dataframe_split")
    with step("signature: batching", **{"url.full": url}), requests.Session() as session:
        try:
            batching = served_batching(session, url)
            if batching is not None and not batching.get("enabled"):
                return Check("batching", True, f"batching off in this image ({batching.get('decided_by')}): "
                                               f"{batching.get('reason')}")
            if not split:
                return Check("batching", False, "the image batches but the batching check needs a "
                                                "`dataframe_split` serving input example")
            columns, rows = split["columns"], split["data"]
            headers = trace_headers()  # the service's spans join this step's trace
            alone = [_predict(session, url, columns, [row], headers)[0] for row in rows]
            together = _predict(session, url, columns, rows, headers)
            with ThreadPoolExecutor(max_workers=len(rows) * CONCURRENT_COPIES) as pool:
                concurrent = list(pool.map(lambda row: _predict(requests, url, columns, [row], headers)[0],
                                           rows * CONCURRENT_COPIES))
            unstable = unstable_paths(alone, [_predict(session, url, columns, [row], headers)[0] for row in rows])
            precision = answer_precision(alone)
            max_difference(together, alone, "one request of all rows", _renamed(unstable, "one request of all rows"),
                           precision)
            max_difference(concurrent, alone * CONCURRENT_COPIES, "concurrent one-row requests",
                           _renamed(unstable, "concurrent one-row requests", len(rows), CONCURRENT_COPIES), precision)
        except (CheckFailed, requests.RequestException, ValueError) as exc:
            return Check("batching", False, f"the image batches and batched and unbatched predictions differ or "
                                            f"failed: {exc}. Serve it unbatched (SERVICE_BATCHING_ENABLED=false in "
                                            "the Deployment) or make the model's answers independent of the batch")
    return Check("batching", True, f"batching on ({(batching or {}).get('decided_by', 'setting')}): {len(rows)} "
                                   f"example rows alone, in one request and {len(rows) * CONCURRENT_COPIES} "
                                   f"concurrent requests agree at {precision}")


def _renamed(paths: list[str], where: str, rows: int = 0, copies: int = 1) -> set[str]:
    """Unstable paths of the one-at-a-time answers (`predictions[i]...`) as paths of `where`, for each copy."""
    renamed = set()
    for path in paths:
        index, _, rest = path.removeprefix("predictions[").partition("]")
        for copy in range(copies):
            renamed.add(f"{where}[{int(index) + copy * rows}]{rest}")
    return renamed


def find_live(api: MlflowApi | None, name: str | None, live_url: str | None, alias: str) -> Live:
    """The live model's contract: from the live service's /version (its name and version, read in the
    registry), else the registry alias; `Live(None, ...)` when nothing is live."""
    import requests

    if live_url:
        try:
            info = requests.get(f"{live_url.rstrip('/')}/version", timeout=HTTP_TIMEOUT_S).json()
        except (requests.RequestException, ValueError) as exc:
            log.warning("no live service answering at %s (%s); using the registry alias @%s",
                        live_url, type(exc).__name__, alias)
        else:
            if info.get("model_name") and info.get("model_version") and api is not None:
                meta = from_registry(api, info["model_name"], str(info["model_version"]))
                return Live(meta, f"live service {live_url} ({meta.source})")
            log.warning("the live service at %s does not report a registered model; using @%s",
                        live_url, alias)
    if api is None or not name:
        return Live(None, "nothing live known (no live URL answered and no registry to ask)")
    try:
        version = dict(api.registered_model(name).aliases or {}).get(alias)
    except NotFound:
        version = None
    if version is None:
        return Live(None, f"nothing live ({name!r} has no alias @{alias}): first deployment")
    return Live(from_registry(api, name, str(version)), f"registry alias @{alias} ({name} version {version})")


def signature_gate(candidate: ModelMeta, live: Live, *, allow_breaking: bool = False,
                   candidate_url: str | None = None) -> GateResult:
    """Compare, validate the example and check batched answers on the running candidate (a failed
    check without one); never raises for a failed check: the result says which ones failed."""
    checks = [check_example(candidate)]
    changes: list[Change] = []
    if candidate.signature is None:
        checks.append(Check("compatibility", False, f"{candidate.source} has no signature to compare"))
    elif live.meta is None or live.meta.signature is None:
        checks.append(Check("compatibility", True, f"nothing to compare with: {live.found_by}"))
    else:
        changes = compare(live.meta.signature, candidate.signature)
        breaking = [c for c in changes if c.breaking]
        listed = "; ".join(str(c) for c in changes) or "no change"
        if breaking and allow_breaking:
            checks.append(Check("compatibility", True, f"breaking change allowed by SIGNATURE_ALLOW_BREAKING "
                                                       f"against {live.found_by}: {listed}"))
        elif breaking:
            checks.append(Check("compatibility", False, f"breaking change against {live.found_by}: {listed}. "
                                                        "Keep the old columns and outputs, add new inputs as "
                                                        "optional, or set SIGNATURE_ALLOW_BREAKING=true "
                                                        "after the clients are updated"))
        else:
            checks.append(Check("compatibility", True, f"compatible with {live.found_by}: {listed}"))
    batching = check_batching(candidate_url, candidate.serving_example)
    checks.append(batching)
    return GateResult(GATE, checks, {"live": live.found_by, "changes": [str(c) for c in changes],
                                     "batching": batching.detail},
                      {"candidate": candidate.source, "live": live.found_by,
                       "changes": [dataclasses.asdict(c) for c in changes], "batching": batching.detail})

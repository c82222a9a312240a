"""Micro-batching is on only where it is proven, per model, to answer what one-by-one answers.

Some models answer differently in a batch (they normalise by batch statistics, pad to the longest
row, return one aggregate for the whole call) or return something that does not split by rows. The
proof runs the model's serving input example through the batcher's own path (`MicroBatcher`:
concatenate, predict once, split by rows, serialise) and compares each row's answer with its
one-by-one answer, numbers at the precision of the model's output (service/precision.py). Fields the
model answers differently call to call (a timestamp) are those that differ between two one-by-one
runs made before and after the batch, and are left out.

`python -m service.batch_proof [MODEL_DIR]` runs at image build (a `RUN` in service/Dockerfile) and
writes the finding into the model directory (`batching-proof.json`), so the decision is part of the
image digest every gate tests and every pod (or a `podman run` by hand) serves. A model without the
file (loaded from the registry, a directory made by hand) is proven at start-up, in the master,
before fork. A failing proof turns batching off; it never stops the service.
"""
from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson

from service import codec, fork_safety
from service.batching import MicroBatcher, batch_key
from service.core import Predictor
from service.errors import ServiceError
from service.loading import LoadedModel
from service.precision import differences
from service.settings import Settings

logger = logging.getLogger("service")
PROOF_FILE = "batching-proof.json"
COPIES = 3  # each example row is batched this many times, interleaved, so a batch holds >= 2 rows
JSON = "application/json"


@dataclass(frozen=True)
class Batching:
    """Whether this service batches, why, and what decided it (for /version and the start-up log)."""

    enabled: bool
    reason: str
    decided_by: str  # "setting" | "image proof" | "start-up proof"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Largest:
    """Stands in for a batch-size histogram (the proof's batches are not traffic): the largest seen."""

    def __init__(self) -> None:
        self.largest = 0.0

    def observe(self, value: float) -> None:
        self.largest = max(self.largest, value)


def _row(parsed: codec.ModelInput, i: int) -> codec.ModelInput:
    """Row `i` of a request as a request of its own, the way a client's one-row request is parsed
    (so a batch of them is built the way the service builds one)."""
    if parsed.columns is not None:
        return codec.ModelInput({name: values[i:i + 1] for name, values in parsed.columns.items()}, None, 1,
                                parsed.validated, parsed.fast)
    return codec.ModelInput(parsed.data.iloc[[i]].reset_index(drop=True), None, 1, parsed.validated)


def prove(predictor: Predictor, serving_example: str | None) -> tuple[bool, str]:
    """(batching may be on, why), from the serving input example's rows."""
    if serving_example is None:
        return False, "no serving input example to prove batching with: log the model with `input_example=`"
    try:
        parsed = predictor.parse(serving_example.encode(), JSON)
    except ServiceError as error:
        return False, f"the serving input example is refused ({error.message}): nothing to prove batching with"
    if batch_key(parsed) is None:
        return False, "this model's requests are not batched (params, or inputs that are not a DataFrame)"
    rows = [_row(parsed, i) for i in range(parsed.rows)]
    requests = _Largest()
    # The proof's batches and answers are not traffic: nothing of them reaches /metrics.
    metrics = SimpleNamespace(batch_rows=_Largest(), batch_requests=requests,
                              observe_predictions=lambda predictions: None)
    batcher = MicroBatcher(predictor, metrics,
                           max_rows=len(rows) * COPIES, max_wait_ms=0)
    try:
        before = [_answer(predictor.predict(row.data, None, row.validated)) for row in rows]
        batched = [_answer(outcome) for outcome in batcher._predict(rows * COPIES)]
        after = [_answer(predictor.predict(row.data, None, row.validated)) for row in rows]
    except ServiceError:
        return False, "the model failed on the example's rows (one by one or batched): see the log"
    if not batcher.splittable:
        return False, "the model's output does not split by rows (a dict, or another length than its input)"
    if requests.largest < 2:
        return False, "the model fails on several rows at once (one by one it answers): see the log"
    unstable = set(differences(after, before))
    differ = sorted({path for copy in range(COPIES)
                     for path in differences(batched[copy * len(rows):(copy + 1) * len(rows)], before)} - unstable)
    if differ:
        return False, f"answers differ when batched (at {', '.join(differ[:3])}): batching would change them"
    return True, (f"{len(rows)} example rows batched ({len(rows) * COPIES} at once) answer as one by one"
                  + (f"; left out as non-deterministic: {', '.join(sorted(unstable)[:3])}" if unstable else ""))


def _answer(outcome: Any) -> Any:
    if isinstance(outcome, ServiceError):
        raise outcome
    return orjson.loads(codec.serialise(outcome))["predictions"]


def decide(settings: Settings, predictor: Predictor, model: LoadedModel) -> Batching:
    """The setting can turn batching off; only a proof (the image's, else one made now) turns it on."""
    if not settings.batching_enabled:
        return Batching(False, "SERVICE_BATCHING_ENABLED=false", "setting")
    proof_file = Path(model.directory or "", PROOF_FILE)
    if model.directory and proof_file.is_file():
        try:
            proof = json.loads(proof_file.read_text())
            return Batching(bool(proof["batched"]), str(proof["reason"]), "image proof")
        except (ValueError, KeyError, TypeError):
            logger.warning("unreadable %s: proving batching again", proof_file)
    # in a forked child: this runs in the Gunicorn master, which must not start a native thread pool
    proven, _ = fork_safety.in_child(lambda: prove(predictor, model.serving_example), timeout=600)
    if proven is None:
        return Batching(False, "the start-up proof could not run the model: see the workers' warm-up", "start-up proof")
    enabled, reason = proven
    return Batching(enabled, reason, "start-up proof")


def main(argv: list[str]) -> int:
    """Prove the model in MODEL_DIR (default: SERVICE_MODEL_URI) and write PROOF_FILE into it. Exit 0
    even when the model does not load: the load gate names that failure; batching is then off."""
    from service.loading import load_model

    logging.basicConfig(level=logging.INFO, stream=sys.stderr)
    model_dir = argv[0] if argv else os.environ.get("SERVICE_MODEL_URI", "/opt/model")
    settings = Settings(model_uri=model_dir)
    try:
        model = load_model(settings)
        enabled, reason = prove(Predictor(model, settings.max_rows), model.serving_example)
    except Exception as exc:  # noqa: BLE001 - any failure means: no proof, no batching
        enabled, reason = False, f"the proof could not run the model ({type(exc).__name__}): see `ci gate load`"
    Path(model_dir, PROOF_FILE).write_text(json.dumps({"batched": enabled, "reason": reason}))
    print(json.dumps({"batching": enabled, "reason": reason}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

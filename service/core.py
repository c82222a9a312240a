"""The prediction core: parse -> validate -> predict -> serialise. No web framework in here.

Like mlflow's `invocations()`, so it is tested without HTTP and a new front end touches one file.
"""
from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from service import codec, validation
from service.casting import CastCheck
from service.errors import BadRequest, ModelError, ServiceError
from service.fastpath import FastParser
from service.loading import LoadedModel
from service.mlflow_compat import flavor_predict_fn, loader_module, refused_before_model

logger = logging.getLogger("service")
# Flavors whose PyFuncModel.predict only enforces the signature before calling the flavor's predict
# (no type hints, no params, no tracing context): for a frame the fast path built, which is already
# what that enforcement returns, the flavor's predict is called directly (~0.5 ms less per request).
ENFORCE_ONLY_FLAVORS = frozenset({"mlflow.sklearn", "mlflow.xgboost", "mlflow.lightgbm", "mlflow.catboost"})


def flavor_predict(pyfunc: Any) -> Callable[[Any], Any] | None:
    """The flavor's own predict behind `pyfunc`, or None where PyFuncModel.predict does more than
    enforce the signature (any other flavor, or a model that takes params)."""
    if loader_module(pyfunc) not in ENFORCE_ONLY_FLAVORS:
        return None
    if pyfunc.metadata.get_params_schema() is not None:
        return None
    return flavor_predict_fn(pyfunc)


@dataclass
class Prediction:
    body: bytes
    rows: int


def answered_rows(predictions: Any) -> int | None:
    """How many rows a model's answer holds, or None where it has no row axis (a scalar, a string, a
    dict whose parts differ in length)."""
    if isinstance(predictions, (list, tuple, pd.DataFrame, pd.Series)):
        return len(predictions)
    shape = getattr(predictions, "shape", None)
    if shape is not None:
        return shape[0] if len(shape) else None
    if isinstance(predictions, dict) and predictions:
        counts = {answered_rows(part) for part in predictions.values()}
        return counts.pop() if len(counts) == 1 else None
    return None


def answer(predictions: Any, rows: int) -> Prediction:
    """The response to a request of `rows` rows: a model that answered another number of rows is a
    ModelError naming both, never a misaligned answer."""
    answered = answered_rows(predictions)
    if answered is not None and answered != rows:
        error = ModelError(f"the model answered {answered} rows for the {rows} rows sent")
        logger.error("model answered another number of rows", extra={
            "error_id": error.error_id, "rows_sent": rows, "rows_answered": answered})
        raise error
    return Prediction(codec.serialise(predictions), rows)


class Predictor:
    """Scores request bodies with one loaded model; thread-safe as far as the model is."""

    def __init__(self, model: LoadedModel, max_rows: int) -> None:
        self.model = model
        self.schema = model.pyfunc.metadata.get_input_schema()
        self.max_rows = max_rows
        self.fast = FastParser(self.schema)
        self.casts = CastCheck(self.schema)
        self.flavor_predict = flavor_predict(model.pyfunc)

    def parse(self, body: bytes, content_type: str | None) -> codec.ModelInput:
        """Parse and validate one request on its own; raises a 4xx ServiceError naming the field.
        Whatever fails before the model runs is the request's fault (a 4xx), whatever raised it."""
        try:
            parsed = codec.parse(body, content_type, self.schema, self.max_rows, self.fast, self.casts)
            if not parsed.validated:
                validation.validate(parsed.data, self.schema)
        except ServiceError:
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. RecursionError deep in a parser
            # the exception's message may quote the input: log its type and where it was raised
            logger.warning("request not parsed", extra={  # the innermost frames: a RecursionError has ~1000
                "error_type": type(exc).__name__, "traceback": "".join(traceback.format_tb(exc.__traceback__, -12))})
            raise BadRequest("the request could not be read as model input", field="body",
                             expected="a request of the MLflow scoring protocol matching the signature") from None
        return parsed

    def predict(self, data: Any, params: dict[str, Any] | None, enforced: bool = False) -> Any:
        """Call the model; any exception becomes a ModelError whose id is in the log line.
        `enforced`: `data` is already what MLflow's schema enforcement would make of it."""
        try:
            if enforced and params is None and self.flavor_predict is not None:
                return self.flavor_predict(data)
            return self.model.pyfunc.predict(data, params=params)
        except Exception as exc:  # noqa: BLE001 - whatever the model raises is a server fault
            if refused_before_model(exc):  # MLflow's own check of the input or params, not the model
                raise BadRequest("the input or params do not match the model signature", field="inputs",
                                 expected="the model's input and params schema") from None
            error = ModelError()
            # the exception's message may quote the input: log its type and where it was raised
            logger.error("model predict failed", extra={
                "error_id": error.error_id, "error_type": type(exc).__name__,
                "traceback": "".join(traceback.format_tb(exc.__traceback__))})
            raise error from None

    def invoke(self, body: bytes, content_type: str | None) -> Prediction:
        parsed = self.parse(body, content_type)
        return answer(self.predict(parsed.data, parsed.params, enforced=parsed.validated), parsed.rows)

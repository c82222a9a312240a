"""The prediction core: parse -> validate -> predict -> serialise. No web framework in here.

Like mlflow's `invocations()`, so it is tested without HTTP and a new front end touches one file.
"""
from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Any

from service import codec, validation
from service.errors import ModelError
from service.fastpath import FastParser
from service.loading import LoadedModel

logger = logging.getLogger("service")


@dataclass
class Prediction:
    body: bytes
    rows: int


class Predictor:
    """Scores request bodies with one loaded model; thread-safe as far as the model is."""

    def __init__(self, model: LoadedModel, max_rows: int) -> None:
        self.model = model
        self.schema = model.pyfunc.metadata.get_input_schema()
        self.max_rows = max_rows
        self.fast = FastParser(self.schema)

    def parse(self, body: bytes, content_type: str | None) -> codec.ModelInput:
        """Parse and validate one request on its own; raises a 4xx ServiceError naming the field."""
        parsed = codec.parse(body, content_type, self.schema, self.max_rows, self.fast)
        if not parsed.validated:
            validation.validate(parsed.data, self.schema)
        return parsed

    def predict(self, data: Any, params: dict[str, Any] | None) -> Any:
        """Call the model; any exception becomes a ModelError whose id is in the log line."""
        try:
            return self.model.pyfunc.predict(data, params=params)
        except Exception as exc:  # noqa: BLE001 - whatever the model raises is a server fault
            error = ModelError()
            # the exception's message may quote the input: log its type and where it was raised
            logger.error("model predict failed", extra={
                "error_id": error.error_id, "error_type": type(exc).__name__,
                "traceback": "".join(traceback.format_tb(exc.__traceback__))})
            raise error from None

    def invoke(self, body: bytes, content_type: str | None) -> Prediction:
        parsed = self.parse(body, content_type)
        return Prediction(codec.serialise(self.predict(parsed.data, parsed.params)), parsed.rows)

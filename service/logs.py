"""JSON-lines logging for the `service` loggers (and Gunicorn's), configured once at start-up."""
from __future__ import annotations

import logging
import logging.config
import sys
from datetime import datetime, timezone

import orjson

from service import tracing

_RECORD_FIELDS = frozenset(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, the request's request/trace/span ids when
    logged while serving one, and every `extra=` field."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        trace = tracing.current.get()
        if trace is not None:  # a line logged while serving a request: whose, and in which trace
            line.update(request_id=trace.request_id, trace_id=trace.trace_id, span_id=trace.span_id)
        line.update({key: value for key, value in vars(record).items() if key not in _RECORD_FIELDS})
        if record.exc_info and record.exc_info[0] is not None:
            line["error_type"] = record.exc_info[0].__name__
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str) -> dict:
    """The dictConfig for the service and for Gunicorn/uvicorn (also used as gunicorn's logconfig_dict)."""
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "handlers": {"stdout": handler},
        "root": {"handlers": ["stdout"], "level": "WARNING"},
        "loggers": {
            "service": {"handlers": ["stdout"], "level": level, "propagate": False},
            "gunicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"handlers": ["stdout"], "level": "INFO", "propagate": False},
            # our own access log replaces these two; probes and /metrics stay out of it
            "gunicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
        },
    }


def configure_logging(level: str) -> None:
    # The JSON lines carry none of the caller, thread or process fields: skip collecting them for
    # every record (the logging docs' "Optimization" flags), a third of an access line's cost.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    logging.config.dictConfig(logging_config(level))
    sys.stdout.reconfigure(line_buffering=True)

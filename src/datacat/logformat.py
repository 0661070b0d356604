"""Log lines for machines: ``DATACAT_LOG_FORMAT=json`` writes one JSON object per line.

Each object has ``time`` (RFC 3339, UTC, microseconds), ``level``, ``logger``, ``message``,
``request_id`` when the line was written while a request was served, and ``exc_info``
(the formatted traceback) when there was one. uvicorn's access lines also carry their
parts as fields (``client``, ``method``, ``path``, ``http_version``, ``status``), so a log
pipeline need not parse the message. ``log_config`` builds the ``logging.config`` dict
``datacat serve`` hands to uvicorn, for datacat's own loggers and uvicorn's alike.
"""

from __future__ import annotations

import copy
import logging
from datetime import datetime, timezone
from typing import Any, Literal

import orjson

from datacat import requestid

LogFormat = Literal["text", "json"]

_ACCESS_FIELDS = ("client", "method", "path", "http_version", "status")
"""The arguments of uvicorn's access line, in its order (``uvicorn.protocols``)."""


class JsonFormatter(logging.Formatter):
    """One JSON object per record; never raises on odd arguments (they are stringified)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc)
            .isoformat(timespec="microseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = requestid.current.get()
        if request_id is not None:
            line["request_id"] = request_id
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            line.update(zip(_ACCESS_FIELDS, record.args, strict=False))
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()


def log_config(uvicorn_config: dict[str, Any], log_format: LogFormat) -> dict[str, Any]:
    """uvicorn's ``LOGGING_CONFIG`` with datacat's loggers added, in ``log_format``.

    uvicorn configures only its own loggers; without the ``datacat`` entry, datacat's INFO
    lines (the sweeper's abandoned sessions, retention's deletions) went nowhere.
    """
    config = copy.deepcopy(uvicorn_config)
    config["loggers"]["datacat"] = {"handlers": ["default"], "level": "INFO", "propagate": False}
    if log_format == "json":
        json_formatter = {"()": f"{__name__}.JsonFormatter"}
        config["formatters"] = {"default": json_formatter, "access": dict(json_formatter)}
    return config

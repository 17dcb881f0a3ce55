"""Structured logs: one JSON object per line, fields as keys, never formatted into the message.

`logger` is the one module-level logger of the functions. Business keys go in
`extra={"fields": {...}}`; the request id rides along as `correlationId` on every line. No
request body, header, address or upload key is ever logged: a DD-214 is personal, and so is
anything a veteran types.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

_correlation_id = ""
# Fields the modules add to the current request's log line (see `note`).
_notes: dict[str, Any] = {}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "correlationId": _correlation_id,
        }
        fields = getattr(record, "fields", None)
        if isinstance(fields, dict):
            line.update(fields)
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, separators=(",", ":"))


class _StdoutHandler(logging.StreamHandler):
    """Writes to whatever `sys.stdout` is at the time, which test runners swap."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stdout
        super().emit(record)


def _build() -> logging.Logger:
    # Named after the package so that the modules' own `logging.getLogger(__name__)` loggers
    # write through the same handler and format.
    log = logging.getLogger("vetroi_api")
    if not log.handlers:
        handler = _StdoutHandler(sys.stdout)
        handler.setFormatter(JsonFormatter())
        log.addHandler(handler)
    log.setLevel(logging.INFO)
    # The Lambda runtime puts its own handler on the root logger; without this every line
    # would be written twice, once in a format nobody parses.
    log.propagate = False
    return log


logger = _build()


def set_correlation_id(value: str) -> None:
    global _correlation_id
    _correlation_id = value


def note(name: str, value: Any) -> None:
    """Add a field to the log line of the request being served, rather than a line of its own."""
    _notes[name] = value


def take_notes() -> dict[str, Any]:
    notes = dict(_notes)
    _notes.clear()
    return notes

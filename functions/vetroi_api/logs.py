"""Structured logs: one JSON object per line, fields as keys, never formatted into the message.

`logger` is the one module-level logger of the functions. Business keys go in
`extra={"fields": {...}}`; the request id rides along as `correlationId` on every line. No
request body, header, address or upload key is ever logged: a DD-214 is personal, and so is
anything a veteran types.

A request writes exactly one line. Between `begin_request` and `end_request` nothing is
written: `note` and `warn` add named fields to the request's line, and a record any module logs
meanwhile (`log.warning(...)`, `log.exception(...)`) is folded into it too, its message in the
line's `warnings` list and its exception in `exception` and `traceback`. The line is written at
the highest level of what it carries, so a request that met a warning is a WARNING line, as the
warning was before, and `filter level = "WARNING"` finds it in CloudWatch Logs Insights; the
named fields (`cacheReadError`, `healthError`, ...) are scalars, which Logs Insights can filter
and group by directly (`stats count(*) by cacheReadError`), where the entries of a list would
first need `unnest` or `expand`. Outside a request (cold start, warm-up) every record is a line
of its own.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

_correlation_id = ""


@dataclass
class _RequestLine:
    """What the line of the request being served will carry besides its own fields."""

    fields: dict[str, Any] = field(default_factory=dict)
    level: int = logging.INFO
    warnings: list[str] = field(default_factory=list)


# The request being served (a function serves one at a time); None outside a request.
_request: _RequestLine | None = None


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
    """Writes to whatever `sys.stdout` is at the time, which test runners swap.

    During a request a record is folded into the request's line instead (see the module).
    """

    def emit(self, record: logging.LogRecord) -> None:
        if _request is not None:
            _fold(_request, record, self.formatter or JsonFormatter())
            return
        self.stream = sys.stdout
        super().emit(record)


def _fold(line: _RequestLine, record: logging.LogRecord, formatter: logging.Formatter) -> None:
    line.level = max(line.level, record.levelno)
    if record.levelno >= logging.WARNING:
        line.warnings.append(record.getMessage())
    fields = getattr(record, "fields", None)
    if isinstance(fields, dict):
        line.fields.update(fields)  # the latest value of a field, as `note` keeps it
    if record.exc_info and record.exc_info[0] is not None:
        line.fields.setdefault("exception", record.exc_info[0].__name__)
        line.fields.setdefault("traceback", formatter.formatException(record.exc_info))


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


def begin_request() -> None:
    """From now on, until `end_request`, everything logged goes into the request's line."""
    global _request
    _request = _RequestLine()


def end_request() -> tuple[int, dict[str, Any]]:
    """The level and the extra fields of the request's line; later records are lines again.

    Without a request begun: INFO and no fields.
    """
    global _request
    line, _request = _request, None
    if line is None:
        return logging.INFO, {}
    fields = dict(line.fields)
    if line.warnings:
        fields["warnings"] = line.warnings
    return line.level, fields


def note(name: str, value: Any) -> None:
    """Add a field to the log line of the request being served (outside a request: nothing)."""
    if _request is not None:
        _request.fields[name] = value


def warn(log: logging.Logger, name: str, value: Any, message: str) -> None:
    """A warning with a named field: during a request, folded into its line like any record
    (the field set, `message`, never anything personal, in `warnings`, the line raised to
    WARNING); outside a request, a WARNING line of its own carrying the field.
    """
    log.warning(message, extra={"fields": {name: value}})

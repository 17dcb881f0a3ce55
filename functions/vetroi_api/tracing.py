"""X-Ray subsegments for the table and for O*NET, sent without the X-Ray SDK.

Measured on this code's dependencies (fresh interpreters, best of five, and `python -X
importtime`): `aws_xray_sdk.core` adds 130-180 ms of imports on top of boto3 and requests, as
much as boto3 itself (140-165 ms) and seven times requests (about 20 ms). That is out of
proportion for a function whose first request after a failover is always a cold start, so the
SDK is not used.

Lambda's active tracing already records the function's segment. This module adds the
subsegments by sending their documents to the X-Ray daemon that Lambda runs beside the
function, the same UDP protocol the SDK uses: a `{"format": "json", "version": 1}` header line,
then one subsegment document whose `trace_id` and `parent_id` come from the invocation's trace
header (`_X_AMZN_TRACE_ID`). Nothing is sent when the trace is not sampled or when the function
runs outside Lambda.

Known limitations: subsegments are flat (each is a child of the function segment, none of
another); botocore's own calls inside a subsegment (retries, credential refresh) are not
broken down; no sampling decision is made here, the one in the trace header is followed.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

HEADER = b'{"format": "json", "version": 1}\n'
_socket: socket.socket | None = None


def _trace() -> tuple[str, str] | None:
    """(trace id, parent segment id) of the current invocation when it is sampled."""
    header = os.environ.get("_X_AMZN_TRACE_ID", "")
    parts = dict(p.split("=", 1) for p in header.split(";") if "=" in p)
    if parts.get("Sampled") != "1" or not parts.get("Root") or not parts.get("Parent"):
        return None
    return parts["Root"], parts["Parent"]


def _daemon() -> tuple[str, int] | None:
    # The variable reads "host:port" or "udp:host:port tcp:host:port".
    raw = os.environ.get("AWS_XRAY_DAEMON_ADDRESS", "")
    for item in raw.split():
        if item.startswith("tcp:"):
            continue
        host, _, port = item.removeprefix("udp:").rpartition(":")
        if host and port.isdigit():
            return host, int(port)
    return None


class Subsegment:
    """What a traced block records; callers add HTTP or AWS details as they learn them."""

    def __init__(self, name: str, namespace: str) -> None:
        self.doc: dict[str, Any] = {
            "name": name,
            "id": secrets.token_hex(8),
            "namespace": namespace,
            "start_time": time.time(),
            "type": "subsegment",
        }

    def aws(self, operation: str, **details: Any) -> None:
        self.doc["aws"] = {"operation": operation, **details}

    def http(self, method: str, url: str, status: int | None = None) -> None:
        http: dict[str, Any] = {"request": {"method": method, "url": url}}
        if status is not None:
            http["response"] = {"status": status}
            if status == 429:
                self.doc["throttle"] = True
            if 400 <= status < 500:
                self.doc["error"] = True
            elif status >= 500:
                self.doc["fault"] = True
        self.doc["http"] = http


@contextmanager
def subsegment(name: str, namespace: str = "remote") -> Iterator[Subsegment]:
    segment = Subsegment(name, namespace)
    try:
        yield segment
    except BaseException as exc:
        segment.doc["fault"] = True
        segment.doc["cause"] = {"exceptions": [{"type": type(exc).__name__}]}
        raise
    finally:
        segment.doc["end_time"] = time.time()
        _send(segment.doc)


def _send(doc: dict[str, Any]) -> None:
    global _socket
    trace, daemon = _trace(), _daemon()
    if trace is None or daemon is None:
        return
    doc["trace_id"], doc["parent_id"] = trace
    try:
        if _socket is None:
            _socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        _socket.sendto(HEADER + json.dumps(doc).encode(), daemon)
    except OSError:
        # Tracing must never fail a request.
        pass

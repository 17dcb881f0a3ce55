"""Requests in, responses out: one request object whatever called the function.

API Gateway sends a REST API event (payload format 1.0, `httpMethod` at the top), an HTTP API
event (payload format 2.0, the method under `requestContext.http`), and operators invoke the
functions directly (`aws lambda invoke`). `parse_event` turns each into the same `Request`;
`Response.to_api_gateway` answers in the shape both formats accept. Nothing in an event is
trusted: a field of the wrong type is treated as missing, never as a crash.

Every response carries CORS headers (see `cors_headers`), errors included, so a browser can
always read why a call failed.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from .config import Config

EXPOSED_HEADERS = "X-Data-Source,X-Request-Id"


class ApiError(Exception):
    """An answer other than success, with a stable machine-readable code."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = dict(fields or {})
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.fields:
            error["fields"] = self.fields
        return {"error": error}


@dataclass
class Request:
    method: str
    path: str
    path_params: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    # Lower-cased names: HTTP header names are case-insensitive and arrive in any case.
    headers: dict[str, str] = field(default_factory=dict)
    body: str | None = None
    request_id: str = ""
    body_error: str | None = None
    # The route template API Gateway matched (`/career/{socCode}`): a REST event's resource or
    # an HTTP API event's route key; None for `$default`, a greedy `{proxy+}` or no gateway.
    template: str | None = None
    # An HTTP API event's named stage, with which its rawPath starts; None otherwise.
    stage: str | None = None

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    @property
    def origin(self) -> str | None:
        return self.header("origin")

    def json_body(self) -> Any:
        """The body parsed as JSON; a 400 naming the problem when it is not JSON."""
        if self.body_error:
            raise ApiError(400, "invalid_body", self.body_error)
        if self.body is None or not self.body.strip():
            raise ApiError(400, "invalid_body", "The request body must be a JSON object.")
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid_body", "The request body is not valid JSON.") from None


@dataclass
class Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    def to_api_gateway(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.body is None:
            text = ""
        else:
            text = json.dumps(self.body, separators=(",", ":"), ensure_ascii=False)
            headers.setdefault("Content-Type", "application/json")
        return {
            "statusCode": self.status,
            "headers": headers,
            "body": text,
            "isBase64Encoded": False,
        }


def parse_event(event: Any, context: Any = None) -> Request:
    """Turn a v1, v2 or direct-invocation event into a Request."""
    request_id = str(getattr(context, "aws_request_id", "") or "")
    if not isinstance(event, dict):
        return Request(method="", path="", request_id=request_id, body_error="not an object")

    context_part = _mapping(event.get("requestContext"))
    http_part = _mapping(context_part.get("http"))
    request_id = _text(context_part.get("requestId")) or request_id

    if http_part:
        # HTTP API, payload format 2.0: repeated headers and query values arrive comma-joined,
        # and the cookies in a list of their own.
        method = _text(http_part.get("method"))
        path = _text(event.get("rawPath")) or _text(http_part.get("path"))
        headers = _lower_keys(_str_map(event.get("headers")))
        cookies = _joined(event.get("cookies"), "; ")
        if cookies:
            headers["cookie"] = cookies
        query = _str_map(event.get("queryStringParameters"))
        # "GET /career/{socCode}", "ANY /health", or "$default" (no route: the path decides).
        template = _text(event.get("routeKey") or context_part.get("routeKey")).partition(" ")[2]
        stage = _text(context_part.get("stage"))
    else:
        # REST API, payload format 1.0, or a direct invocation that names method and path.
        # The multi-value maps hold every value where the others keep only the last one:
        # joined as payload 2.0 joins them, so both formats give the same request.
        method = _text(event.get("httpMethod")) or _text(event.get("method"))
        path = _text(event.get("path")) or _text(event.get("rawPath"))
        headers = _lower_keys(_str_map(event.get("headers")))
        for name, values in _mapping(event.get("multiValueHeaders")).items():
            if isinstance(name, str):
                joined = _joined(values, "; " if name.lower() == "cookie" else ",")
                if joined:
                    headers[name.lower()] = joined
        query = _str_map(event.get("queryStringParameters") or event.get("query"))
        for name, values in _mapping(event.get("multiValueQueryStringParameters")).items():
            joined = _joined(values, ",")
            if isinstance(name, str) and joined:
                query[name] = joined
        template = _text(event.get("resource"))
        stage = ""

    body, body_error = _body(event)
    return Request(
        method=method.upper(),
        path=path,
        path_params=_str_map(event.get("pathParameters")),
        query=query,
        headers=headers,
        body=body,
        request_id=request_id,
        body_error=body_error,
        template=template if template.startswith("/") and "+}" not in template else None,
        stage=stage if stage and stage != "$default" else None,
    )


def cors_headers(config: Config, origin: str | None, methods: str) -> dict[str, str]:
    """CORS headers for one answer.

    An allowed `Origin` is echoed back with `Vary: Origin` so that caches keep one copy per
    origin; `*` is sent only when the settings allow any origin. A request from another origin
    (or with none, such as a health checker) gets the first allowed origin, which a browser on
    any other origin will refuse: the headers are present, the policy still holds.
    """
    headers = {
        "Access-Control-Allow-Methods": methods,
        "Access-Control-Allow-Headers": config.cors_allowed_headers,
        "Access-Control-Expose-Headers": EXPOSED_HEADERS,
    }
    if config.allow_any_origin:
        headers["Access-Control-Allow-Origin"] = "*"
        return headers
    if origin and origin in config.cors_origins:
        headers["Access-Control-Allow-Origin"] = origin
    elif config.cors_origins:
        headers["Access-Control-Allow-Origin"] = config.cors_origins[0]
    headers["Vary"] = "Origin"
    return headers


def preflight(config: Config, origin: str | None, methods: str) -> Response:
    headers = cors_headers(config, origin, methods)
    headers["Access-Control-Max-Age"] = str(config.cors_max_age)
    return Response(204, None, headers)


def _body(event: dict[str, Any]) -> tuple[str | None, str | None]:
    raw = event.get("body")
    if raw is None:
        return None, None
    if isinstance(raw, (dict, list)):
        # A direct invocation may pass the body as JSON rather than as a string.
        return json.dumps(raw), None
    if not isinstance(raw, str):
        return None, "The request body must be a JSON object."
    if event.get("isBase64Encoded") is True:
        try:
            return base64.b64decode(raw, validate=True).decode("utf-8"), None
        except (binascii.Error, ValueError):
            return None, "The request body is flagged as base64 but is not base64-encoded UTF-8."
    return raw, None


def _mapping(value: Any) -> dict[Any, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _str_map(value: Any) -> dict[str, str]:
    return {k: v for k, v in _mapping(value).items() if isinstance(k, str) and isinstance(v, str)}


def _joined(values: Any, separator: str) -> str:
    """The strings of a list joined with `separator`; "" for anything else."""
    if not isinstance(values, list):
        return ""
    return separator.join(v for v in values if isinstance(v, str))


def _lower_keys(values: dict[str, str]) -> dict[str, str]:
    return {k.lower(): v for k, v in values.items()}


def path_segments(path: str) -> list[str]:
    """The decoded, non-empty segments of a path."""
    return [unquote(part) for part in path.split("/") if part]

"""Lambda entry points: the monolith `lambda_handler` and one handler per route.

Every entry point takes a REST API (1.0), HTTP API (2.0) or direct-invocation event, answers
OPTIONS preflight for its route(s), answers a warm-up event (`{"warmup": true}` or an
EventBridge scheduled event) with `{"warm": true}` after creating the clients its route needs,
and wraps everything in a last-resort handler: an exception nobody caught still becomes a JSON
500 with CORS headers, and is logged with its traceback (the answer never carries one).

Each request writes one JSON log line: correlation id, route, status, latency, data source,
and whatever the request met on the way (see `logs`), its level the highest of them.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import routes
from .config import Config, ConfigError
from .http import (
    ApiError,
    Request,
    Response,
    cors_headers,
    parse_event,
    path_segments,
    preflight,
)
from .logs import begin_request, end_request, logger, set_correlation_id

# A request must finish before the function times out, so O*NET calls stop this much earlier.
DEADLINE_MARGIN_SECONDS = 1.0
DEFAULT_BUDGET_SECONDS = 8.0


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    template: str
    run: Callable[[routes.Context], Response]

    @property
    def allowed(self) -> str:
        return f"{self.method},OPTIONS"


ROUTES = {
    "recommend": Route("recommend", "POST", "/recommend", routes.recommend),
    "career": Route("career", "GET", "/career/{socCode}", routes.career),
    "health": Route("health", "GET", "/health", routes.health),
    "uploads": Route("uploads", "POST", "/uploads", routes.uploads),
}
ALL_METHODS = "GET,POST,OPTIONS"

_app: routes.App | None = None
_cold = True


def app() -> routes.App:
    global _app
    if _app is None:
        _app = routes.App(Config.from_env())
    return _app


def reset() -> None:
    """Forget the container's state: settings, clients, breaker, caches (used by tests)."""
    global _app, _cold
    from . import aws

    _app, _cold = None, True
    aws.reset()
    try:
        from . import onet

        onet.invalidate_credentials()
    except ImportError:  # pragma: no cover - onet ships in the same package
        pass


def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
    """The monolith: serves every route."""
    return _handle(event, context, None)


def recommend_handler(event: Any, context: Any) -> dict[str, Any]:
    return _handle(event, context, ROUTES["recommend"])


def career_handler(event: Any, context: Any) -> dict[str, Any]:
    return _handle(event, context, ROUTES["career"])


def health_handler(event: Any, context: Any) -> dict[str, Any]:
    return _handle(event, context, ROUTES["health"])


def uploads_handler(event: Any, context: Any) -> dict[str, Any]:
    return _handle(event, context, ROUTES["uploads"])


def is_warmup(event: Any) -> bool:
    return isinstance(event, dict) and (
        event.get("warmup") is True
        or event.get("source") == "aws.events"
        or event.get("detail-type") == "Scheduled Event"
    )


def _handle(event: Any, context: Any, only: Route | None) -> dict[str, Any]:
    try:
        return _handle_request(event, context, only)
    except Exception:
        # Only a fault in the error handling itself gets here: answer without any of it.
        answer = _last_resort(event, only)
        _, fields = end_request()
        fields.update(route=_name(only), status=500, errorCode="internal_error")
        logger.exception("unhandled error while answering", extra={"fields": fields})
        return answer


def _last_resort(event: Any, only: Route | None) -> dict[str, Any]:
    """A 500 built from the origins setting and the request's Origin alone.

    The CORS headers are the ones every other answer gets (the caller's origin echoed when it
    is allowed, `Vary: Origin`), so a browser on any allowed origin can read this one too.
    """
    methods = only.allowed if only else ALL_METHODS
    headers = {"Content-Type": "application/json", "Access-Control-Allow-Methods": methods}
    try:
        headers.update(cors_headers(_cors_settings(), parse_event(event).origin, methods))
    except Exception:
        logger.exception("no CORS headers for the last-resort answer")
    body = '{"error":{"code":"internal_error","message":"Something went wrong."}}'
    return {"statusCode": 500, "headers": headers, "body": body, "isBase64Encoded": False}


def _handle_request(event: Any, context: Any, only: Route | None) -> dict[str, Any]:
    global _cold
    started = time.perf_counter()
    cold, _cold = _cold, False
    end_request()  # nothing of an earlier request may leak into this one's line
    request_id = str(getattr(context, "aws_request_id", "") or "")
    set_correlation_id(request_id)  # nor its correlation id, warm-ups included

    if is_warmup(event):
        return _warm(only, cold)

    begin_request()

    origin: str | None = None
    route: Route | None = only
    try:
        request = parse_event(_direct(event, only), context)
        request_id = request.request_id or request_id
        set_correlation_id(request_id)
        origin = request.origin
        route = only or _route_for(request)
        response = _serve(request, route, context)
    except ApiError as error:
        response = Response(error.status, error.body(), dict(error.headers))
    except ConfigError as error:
        logger.error("bad settings: %s", error, extra={"fields": {"configError": str(error)}})
        response = _internal_error("configuration_error")
    except Exception:
        logger.exception("unhandled error", extra={"fields": {"route": _name(route)}})
        response = _internal_error("internal_error")

    return _finish(response, route, origin, request_id, started, cold)


def _serve(request: Request, route: Route | None, context: Any) -> Response:
    methods = route.allowed if route else ALL_METHODS
    if request.method == "OPTIONS":
        return _preflight(request, methods)
    if route is None:
        raise ApiError(404, "not_found", "No such route.")
    if request.method != route.method:
        raise ApiError(
            405,
            "method_not_allowed",
            f"{route.template} answers {route.method} only.",
            headers={"Allow": route.allowed},
        )
    ctx = routes.Context(app(), request, _deadline(context))
    return route.run(ctx)


def _finish(
    response: Response,
    route: Route | None,
    origin: str | None,
    request_id: str,
    started: float,
    cold: bool,
) -> dict[str, Any]:
    try:
        config = app().config
    except ConfigError:
        # Another setting is broken; the origins alone still let the browser read the error.
        config = _cors_settings()
    methods = route.allowed if route else ALL_METHODS
    for name, value in cors_headers(config, origin, methods).items():
        response.headers.setdefault(name, value)
    if request_id:
        response.headers["X-Request-Id"] = request_id
    fields: dict[str, Any] = {
        "route": _name(route),
        "status": response.status,
        "latencyMs": round((time.perf_counter() - started) * 1000, 1),
        "source": response.headers.get("X-Data-Source"),
        "coldStart": cold,
    }
    if isinstance(response.body, dict) and isinstance(response.body.get("error"), dict):
        fields["errorCode"] = response.body["error"].get("code")
    level, met = end_request()
    logger.log(level, "request", extra={"fields": {**met, **fields}})
    return response.to_api_gateway()


def _preflight(request: Request, methods: str) -> Response:
    """OPTIONS: a 204 with the CORS headers, also while a setting of the function is broken.

    A browser tells a page nothing of a failed preflight but a network error, so a 500 to the
    preflight would hide the configuration error the real request reports. With a broken
    setting the preflight is answered from the CORS settings alone (`_cors_settings`) with
    `Access-Control-Max-Age: 0`, so that no browser keeps it once the setting is fixed; the
    real request then gets the 500 `configuration_error`, with CORS headers, which the page can
    read. This lets nothing through that a working function would refuse: while a setting is
    broken every request but a preflight answers that 500. The allowed origins are never
    guessed: `VETROI_CORS_ORIGINS` is a list of names that cannot be malformed, only read, so a
    caller's origin not in it is refused as always. Only if even the CORS settings could not be
    read would the answer be the last-resort 500 (`_last_resort`).
    """
    try:
        config = app().config
    except ConfigError as error:
        logger.error("bad settings: %s", error, extra={"fields": {"configError": str(error)}})
        config = dataclasses.replace(_cors_settings(), cors_max_age=0)
    return preflight(config, request.origin, methods)


def _cors_settings() -> Config:
    """The CORS settings from the environment, each read on its own, every other value a default.

    A broken `VETROI_CORS_ALLOWED_HEADERS` or `VETROI_CORS_MAX_AGE` gives the stacks' default
    for that value alone, so one broken variable costs no other its value.
    """
    env = {"VETROI_CORS_ORIGINS": os.environ.get("VETROI_CORS_ORIGINS", "")}
    for name in ("VETROI_CORS_ALLOWED_HEADERS", "VETROI_CORS_MAX_AGE"):
        value = os.environ.get(name)
        if value is None:
            continue
        try:
            Config.from_env({name: value})
        except ConfigError:
            continue
        env[name] = value
    return Config.from_env(env)


def _warm(only: Route | None, cold: bool) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        app().warm(only.name if only else None)
    except Exception:
        # A warm-up must never fail: the next real request will report the problem itself.
        logger.exception("warm-up could not prepare every client")
    logger.info(
        "warm-up",
        extra={
            "fields": {
                "route": _name(only),
                "coldStart": cold,
                "latencyMs": round((time.perf_counter() - started) * 1000, 1),
            }
        },
    )
    return {"warm": True}


def _direct(event: Any, only: Route | None) -> Any:
    """A direct invocation of a per-route function may send just the body of its route."""
    if (
        only is not None
        and isinstance(event, dict)
        and not any(k in event for k in ("httpMethod", "requestContext", "method", "path"))
    ):
        return {"httpMethod": only.method, "path": only.template, "body": event}
    return event


def _route_for(request: Request) -> Route | None:
    """The monolith's route for a request; None (a 404) when no route serves it.

    API Gateway names the route it matched (`Request.template`), and that template alone
    decides, never the path, which a custom domain's base path or a stage can lengthen. Only a
    request without a template (a direct invocation, the HTTP API's `$default` route, a greedy
    `{proxy+}` resource) is routed by its path, whose segments must be those of a route's
    template exactly, `{socCode}` standing for one segment. An HTTP API event may carry one
    leading segment more, its stage: a named stage's rawPath starts with it. OPTIONS on a path
    no route serves still answers as a preflight (see `_serve`), so the browser goes on to read
    the 404 of the real request.
    """
    if request.template is not None:
        return next((r for r in ROUTES.values() if r.template == request.template), None)
    segments = path_segments(request.path)
    candidates = [segments]
    if request.stage and segments[:1] == [request.stage]:
        candidates.insert(0, segments[1:])
    for candidate in candidates:
        for route in ROUTES.values():
            params = _match(route.template, candidate)
            if params is not None:
                request.path_params.update(params)
                return route
    return None


def _match(template: str, segments: list[str]) -> dict[str, str] | None:
    """The path parameters when `segments` are those of `template`, else None."""
    parts = path_segments(template)
    if len(parts) != len(segments):
        return None
    params: dict[str, str] = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{") and part.endswith("}"):
            params[part[1:-1]] = segment
        elif part != segment:
            return None
    return params


def _deadline(context: Any) -> float:
    remaining = DEFAULT_BUDGET_SECONDS
    get_remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(get_remaining):
        try:
            remaining = float(get_remaining()) / 1000 - DEADLINE_MARGIN_SECONDS
        except (TypeError, ValueError):
            pass
    return time.monotonic() + max(0.0, remaining)


def _internal_error(code: str) -> Response:
    error = ApiError(500, code, "Something went wrong on our side; please try again.")
    return Response(500, error.body())


def _name(route: Route | None) -> str:
    return f"{route.method} {route.template}" if route else "unknown"

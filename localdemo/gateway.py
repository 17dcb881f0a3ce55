"""One local region: API Gateway (REST API, Lambda proxy integration) in front of the package.

This file runs as a script in its own interpreter, started as `python -I -S gateway.py CONFIG`:
isolated mode and no `site`, so the interpreter sees the standard library and nothing else. The
only other entry on `sys.path` is the unpacked function package, exactly as Lambda lays it out
in `/var/task`; an import that works here works because the package carries it. For the same
reason this module imports nothing but the standard library.

It turns each HTTP request into the REST API (payload format 1.0) event API Gateway sends,
calls the route's handler with a Lambda-like context, and turns the proxy response back into
HTTP. Where API Gateway answers by itself it does so here too, with the stacks' DEFAULT_4XX and
DEFAULT_5XX gateway responses (the CORS headers and the JSON error body): 403 for a route or
method that does not exist, 413 for a body over 10 MB, 502 when the handler raises, returns a
malformed response or runs past the function timeout.

Handlers are imported on the first request that needs them, so the first request after a start
pays the cold start, as in Lambda.

Known limitations:
- A handler that runs past the timeout gets a 502 as in Lambda, but its thread cannot be killed
  and finishes in the background; Lambda would freeze the sandbox and start a new one.
- Every route's handler lives in this one process and serves concurrent requests on threads,
  whereas Lambda runs one request at a time per sandbox and the per-route layout deploys one
  function per route: module globals (clients, the O*NET circuit breaker, its lock) are shared
  here by requests that would each have their own in AWS.
- Stage throttling (429) and request validation are not emulated.
"""

from __future__ import annotations

import base64
import ctypes
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_BODY_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit
ACCOUNT_ID = "123456789012"
_PR_SET_PDEATHSIG = 1

Handler = Callable[[dict[str, Any], Any], Any]


class GatewayError(Exception):
    """An answer API Gateway gives by itself, without (or instead of) the function's."""

    def __init__(self, status: int, message: str, error_type: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


class Route:
    def __init__(self, method: str, path: str, handler: str) -> None:
        self.method = method
        self.path = path
        self.handler = handler
        self.parts = path.strip("/").split("/")

    def match(self, parts: list[str]) -> dict[str, str] | None:
        """Path parameters when `parts` fits this route's resource path, else None."""
        if len(parts) != len(self.parts):
            return None
        params: dict[str, str] = {}
        for template, part in zip(self.parts, parts, strict=True):
            if template.startswith("{") and template.endswith("}"):
                if not part:
                    return None
                params[template[1:-1]] = unquote(part)
            elif template != part:
                return None
        return params


class LambdaContext:
    """The attributes and method of the Lambda context object that handlers use."""

    def __init__(self, function_name: str, memory_mb: int, timeout: float, region: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = (
            f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{function_name}:live"
        )
        self.memory_limit_in_mb = memory_mb
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = time.strftime("%Y/%m/%d/[$LATEST]") + uuid.uuid4().hex
        self.identity = None
        self.client_context = None
        self._deadline = time.monotonic() + timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


class Region:
    """The API's routes, their handlers (imported on first use) and the gateway responses."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.role: str = config["role"]
        self.region: str = config["region"]
        self.stage: str = config["stage"]
        self.timeout: float = float(config["timeout_seconds"])
        self.memory_mb: int = int(config.get("memory_mb", 512))
        self.function_prefix: str = config.get("function_prefix", f"vetroi-local-{self.role}")
        self.monolith: str | None = config.get("monolith_handler")
        self.routes = [Route(r["method"], r["path"], r["handler"]) for r in config["routes"]]
        self.cors_origins: list[str] = list(config.get("cors_origins", []))
        self.allow_any_origin: bool = bool(config.get("allow_any_origin", False))
        self.cors_headers: str = config["cors_headers"]
        self.api_id = f"local{self.role}"
        self.probes: dict[str, str] = dict(config.get("probes", {}))
        self.invocations = 0
        self.cold_starts: dict[str, float] = {}
        self._handlers: dict[str, Handler] = {}
        self._import_lock = threading.Lock()

    def resolve(self, method: str, path: str) -> tuple[Route, dict[str, str]]:
        """The route serving `method` on `path`; preflight goes to the route's own handler."""
        parts = path.strip("/").split("/")
        for route in self.routes:
            params = route.match(parts)
            if params is not None and method in (route.method, "OPTIONS"):
                return route, params
        # A REST API answers a resource or method it does not have with this 403.
        raise GatewayError(
            403, "Missing Authentication Token", "MissingAuthenticationTokenException"
        )

    def handler_name(self, route: Route) -> str:
        return self.monolith or route.handler

    def function_name(self, route: Route) -> str:
        if self.monolith:
            return f"{self.function_prefix}-monolith"
        return f"{self.function_prefix}-{route.path.strip('/').split('/')[0]}"

    def load(self, dotted: str) -> tuple[Handler, float]:
        """The handler and the seconds its import took (0 when already imported)."""
        with self._import_lock:
            if dotted in self._handlers:
                return self._handlers[dotted], 0.0
            started = time.perf_counter()
            module_name, _, attribute = dotted.rpartition(".")
            handler = getattr(importlib.import_module(module_name), attribute)
            self._handlers[dotted] = handler
            elapsed = time.perf_counter() - started
            self.cold_starts[dotted] = round(elapsed * 1000, 1)
            return handler, elapsed

    def preload(self) -> None:
        for name in {self.handler_name(route) for route in self.routes}:
            try:
                self.load(name)
            except Exception:  # the first request to need it reports the error, as Lambda does
                traceback.print_exc(file=sys.stderr)

    def state(self) -> dict[str, Any]:
        """What the supervisor shows about this region: invocations, cold starts, probes."""
        return {
            "role": self.role,
            "invocations": self.invocations,
            "coldStartsMs": dict(self.cold_starts),
            "probes": {name: _probe(spec) for name, spec in self.probes.items()},
        }

    def invoke(self, route: Route, event: dict[str, Any]) -> tuple[dict[str, Any], float]:
        """Run the handler as Lambda would: returns the proxy response and the cold-start time."""
        name = self.handler_name(route)
        result: dict[str, Any] = {}
        self.invocations += 1

        def run() -> None:
            try:
                handler, cold = self.load(name)
                result["cold"] = cold
                context = LambdaContext(
                    self.function_name(route), self.memory_mb, self.timeout, self.region
                )
                result["response"] = handler(event, context)
            except BaseException as error:  # noqa: BLE001 - Lambda reports any error the same
                result["error"] = error
                traceback.print_exc(file=sys.stderr)

        worker = threading.Thread(target=run, name=f"invoke-{route.path}", daemon=True)
        worker.start()
        worker.join(self.timeout)
        if worker.is_alive():
            print(
                json.dumps({"level": "ERROR", "message": f"Task timed out after {self.timeout} s"}),
                file=sys.stderr,
            )
            raise GatewayError(502, "Internal server error", "InternalServerErrorException")
        if "error" in result:
            raise GatewayError(502, "Internal server error", "InternalServerErrorException")
        return _check_proxy_response(result.get("response")), result.get("cold", 0.0)

    def error_headers(self, origin: str | None) -> dict[str, str]:
        """The DEFAULT_4XX / DEFAULT_5XX gateway responses' headers, as the stacks declare them."""
        headers = {
            "Content-Type": "application/json",
            "Access-Control-Allow-Headers": self.cors_headers,
            "Access-Control-Allow-Methods": "GET,POST,OPTIONS",
            "Vary": "Origin",
        }
        if self.allow_any_origin:
            headers["Access-Control-Allow-Origin"] = "*"
        elif len(self.cors_origins) == 1:
            headers["Access-Control-Allow-Origin"] = self.cors_origins[0]
        elif origin:
            # A gateway response can only echo the request's Origin when there are several.
            headers["Access-Control-Allow-Origin"] = origin
        return headers


def _probe(spec: str) -> str | None:
    """The value at `module:attr.attr` if that module is loaded and the chain exists.

    Never imports anything: a probe must not change what the handlers have loaded.
    """
    module_name, _, chain = spec.partition(":")
    value: Any = sys.modules.get(module_name)
    for attribute in chain.split(".") if chain else []:
        if value is None:
            return None
        value = getattr(value, attribute, None)
    return None if value is None else str(value)


def _check_proxy_response(response: Any) -> dict[str, Any]:
    """API Gateway's checks on a Lambda proxy response; a malformed one becomes a 502."""
    malformed = GatewayError(502, "Internal server error", "InternalServerErrorException")
    if not isinstance(response, dict):
        raise malformed
    status = response.get("statusCode")
    if isinstance(status, bool) or not isinstance(status, int) or not 100 <= status <= 599:
        raise malformed
    for key in ("headers", "multiValueHeaders"):
        if response.get(key) is not None and not isinstance(response[key], dict):
            raise malformed
    body = response.get("body")
    if body is not None and not isinstance(body, str):
        raise malformed
    return response


def build_event(
    region: Region,
    route: Route,
    params: dict[str, str],
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    body: bytes,
    client_ip: str,
    request_id: str,
) -> dict[str, Any]:
    """The REST API (payload format 1.0) proxy event for one request."""
    split = urlsplit(target)
    single: dict[str, str] = {}
    multi: dict[str, list[str]] = {}
    for name, value in headers:
        single[name] = value  # API Gateway keeps the last value of a repeated header
        multi.setdefault(name, []).append(value)
    forwarded = single.get("X-Forwarded-For")
    single["X-Forwarded-For"] = f"{forwarded}, {client_ip}" if forwarded else client_ip
    multi["X-Forwarded-For"] = [single["X-Forwarded-For"]]
    for name, value in (("X-Forwarded-Proto", "https"), ("X-Forwarded-Port", "443")):
        single.setdefault(name, value)
        multi.setdefault(name, [value])

    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(split.query, keep_blank_values=True):
        query[name] = value
        multi_query.setdefault(name, []).append(value)

    text: str | None = None
    encoded = False
    if body:
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            text, encoded = base64.b64encode(body).decode("ascii"), True

    now = time.time()
    path = unquote(split.path) or "/"
    return {
        "resource": route.path,
        "path": path,
        "httpMethod": method,
        "headers": single or None,
        "multiValueHeaders": multi or None,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": params or None,
        "stageVariables": None,
        "requestContext": {
            "accountId": ACCOUNT_ID,
            "apiId": region.api_id,
            "domainName": single.get("Host", "127.0.0.1"),
            "domainPrefix": region.api_id,
            "extendedRequestId": request_id,
            "httpMethod": method,
            "identity": {
                "accessKey": None,
                "accountId": None,
                "caller": None,
                "cognitoAuthenticationProvider": None,
                "cognitoAuthenticationType": None,
                "cognitoIdentityId": None,
                "cognitoIdentityPoolId": None,
                "principalOrgId": None,
                "sourceIp": client_ip,
                "user": None,
                "userAgent": single.get("User-Agent"),
                "userArn": None,
            },
            "path": path,
            "protocol": "HTTP/1.1",
            "requestId": request_id,
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "requestTimeEpoch": int(now * 1000),
            "resourceId": route.path.strip("/").replace("/", "-") or "root",
            "resourcePath": route.path,
            "stage": region.stage,
        },
        "body": text,
        "isBase64Encoded": encoded,
    }


class GatewayHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the edge can pool its connections
    server_version = "vetroi-local-gateway"
    region: Region  # set on the subclass made in serve()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Access lines are written as JSON in handle_any; the base class's are dropped."""

    def do_GET(self) -> None:
        self.handle_any()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_HEAD = do_GET

    def __getattr__(self, name: str) -> Any:
        # Any other method (TRACE, PROPFIND, ...) is a method the API does not have: API
        # Gateway's 403, not the HTTP server's own 501 page.
        if name.startswith("do_"):
            return self.handle_any
        raise AttributeError(name)

    def handle_any(self) -> None:
        started = time.perf_counter()
        request_id = str(uuid.uuid4())
        origin = self.headers.get("Origin")
        path = urlsplit(self.path).path
        resource, cold = "-", 0.0
        try:
            body = self._read_body()
            route, params = self.region.resolve(self.command, path)
            resource = route.path
            event = build_event(
                self.region,
                route,
                params,
                self.command,
                self.path,
                list(self.headers.items()),
                body,
                self.client_address[0],
                request_id,
            )
            response, cold = self.region.invoke(route, event)
            status, headers, payload = _http_response(response)
        except GatewayError as error:
            status = error.status
            gateway_headers = self.region.error_headers(origin)
            gateway_headers["x-amzn-ErrorType"] = error.error_type
            headers = list(gateway_headers.items())
            payload = json.dumps(
                {"error": {"code": "GATEWAY_ERROR", "message": error.message}}
            ).encode()
            # A request whose body was not read cannot share the connection with the next one.
            self.close_connection = self.close_connection or error.status == 413

        self._send(status, headers, payload, request_id)
        print(
            json.dumps(
                {
                    "requestId": request_id,
                    "method": self.command,
                    "path": path,
                    "resource": resource,
                    "status": status,
                    "latencyMs": round((time.perf_counter() - started) * 1000, 1),
                    "coldStartMs": round(cold * 1000, 1),
                }
            ),
            file=sys.stderr,
            flush=True,
        )

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            raise GatewayError(400, "Bad Request", "BadRequestException") from None
        if length > MAX_BODY_BYTES:
            raise GatewayError(413, "Request Too Long", "RequestTooLongException")
        return self.rfile.read(length) if length > 0 else b""

    def _read_chunked(self) -> bytes:
        data = bytearray()
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return bytes(data)
            data += self.rfile.read(size)
            self.rfile.readline()
            if len(data) > MAX_BODY_BYTES:
                raise GatewayError(413, "Request Too Long", "RequestTooLongException")

    def _send(
        self,
        status: int,
        headers: list[tuple[str, str]],
        payload: bytes,
        request_id: str,
    ) -> None:
        pairs = list(headers)
        names = {name.lower() for name, _ in pairs}
        if "content-type" not in names:
            pairs.append(("Content-Type", "application/json"))
        if "x-amzn-requestid" not in names:
            pairs.append(("x-amzn-RequestId", request_id))
        pairs.append(("x-amz-apigw-id", request_id[:16]))
        try:
            reason = HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        self.send_response_only(status, reason)
        self.send_header("Date", self.date_time_string())
        for name, value in pairs:
            if name.lower() not in ("content-length", "connection", "transfer-encoding"):
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)


def _http_response(response: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """The proxy response as status, headers and bytes; single values win over multi-values."""
    headers: dict[str, list[str]] = {}
    for name, values in (response.get("multiValueHeaders") or {}).items():
        if not isinstance(values, list):
            values = [values]
        headers[str(name)] = [_header_value(v) for v in values]
    for name, value in (response.get("headers") or {}).items():
        headers[str(name)] = [_header_value(value)]
    body = response.get("body") or ""
    if response.get("isBase64Encoded"):
        try:
            payload = base64.b64decode(body, validate=True)
        except ValueError:
            raise GatewayError(
                502, "Internal server error", "InternalServerErrorException"
            ) from None
    else:
        payload = body.encode("utf-8")
    pairs = [(name, value) for name, values in headers.items() for value in values]
    return response["statusCode"], pairs, payload


def _header_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise GatewayError(502, "Internal server error", "InternalServerErrorException")


def die_with_parent(parent_pid: int) -> None:
    """End this process when the supervisor ends, even if it was killed without cleaning up."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass  # not Linux: the watchdog thread below still notices
    if os.getppid() != parent_pid:
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


class ControlHandler(BaseHTTPRequestHandler):
    """GET /state on the control port, which only the supervisor knows; never the API's port."""

    region: Region

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base's name
        """Not logged: the supervisor polls this every second."""

    def do_GET(self) -> None:
        payload = json.dumps(self.region.state()).encode()
        self.send_response(200 if self.path == "/state" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


def serve(config: dict[str, Any]) -> None:
    sys.path.insert(0, config["code_dir"])
    die_with_parent(int(config["parent_pid"]))
    region = Region(config)
    handler = type("RegionHandler", (GatewayHandler,), {"region": region})
    ThreadingHTTPServer.request_queue_size = 128
    ThreadingHTTPServer.daemon_threads = True
    server = ThreadingHTTPServer((config.get("host", "127.0.0.1"), int(config["port"])), handler)
    control = ThreadingHTTPServer(
        (config.get("host", "127.0.0.1"), int(config["control_port"])),
        type("RegionControl", (ControlHandler,), {"region": region}),
    )
    threading.Thread(target=control.serve_forever, name="control", daemon=True).start()
    if config.get("preload"):
        # Lambda's init phase, run as soon as the sandbox exists (as with provisioned
        # concurrency) instead of on the first request; a request that comes sooner waits
        # for it on the import lock.
        threading.Thread(target=region.preload, name="preload", daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    print(
        json.dumps({"message": "listening", "role": region.role, "port": server.server_port}),
        file=sys.stderr,
        flush=True,
    )
    server.serve_forever(poll_interval=0.2)


if __name__ == "__main__":
    serve(json.loads(sys.argv[1]))

"""Helpers and fixtures for the API tests: real event shapes, moto, a local server playing O*NET.

Handler modules create AWS clients on first use, so every test starts from a fresh container
(`handlers.reset()`) inside an active moto mock, with fake credentials and small timeouts.
"""

from __future__ import annotations

import copy
import json
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import parse_qs, urlparse

import boto3
import botocore.loaders
import pytest
from moto import mock_aws

ROOT = Path(__file__).resolve().parents[2]
FUNCTIONS = ROOT / "functions"
EVENTS = Path(__file__).resolve().parent / "events"
for path in (ROOT, FUNCTIONS):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from vetroi_api import handlers  # noqa: E402

from localdemo.aws import create_table  # noqa: E402
from localdemo.regions import ROUTES as LOCAL_ROUTES  # noqa: E402

TABLE = "vetroi-test"
BUCKET = "vetroi-test-dd214"
ORIGIN = "https://vetroi.example.com"
OTHER_ORIGIN = "https://www.vetroi.example.com"
REGION = "us-east-2"


@dataclass
class LambdaContext:
    aws_request_id: str = "req-1234"
    function_name: str = "vetroi-api"
    remaining_ms: int = 10_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def load_event(kind: str) -> dict[str, Any]:
    """A fresh copy of one of the real event shapes: "v1" (REST API) or "v2" (HTTP API)."""
    name = {"v1": "rest-api-v1.json", "v2": "http-api-v2.json"}[kind]
    return copy.deepcopy(json.loads((EVENTS / name).read_text()))


# The routes the stacks create, as API Gateway matches them.
# The routes the stacks declare (held equal to components/api.py by a local demo test).
ROUTE_TEMPLATES = tuple(route["path"] for route in LOCAL_ROUTES)
MATCH = object()  # make_event's default template: the one API Gateway would match


def gateway_match(path: str) -> tuple[str, dict[str, str]] | None:
    """The route template API Gateway matches for `path`, with its path parameters."""
    parts = [part for part in path.split("/") if part]
    for template in ROUTE_TEMPLATES:
        names = template.strip("/").split("/")
        if len(names) == len(parts) and all(
            n == p or n.startswith("{") for n, p in zip(names, parts, strict=True)
        ):
            return template, {
                n[1:-1]: p for n, p in zip(names, parts, strict=True) if n.startswith("{")
            }
    return None


def make_event(
    kind: str,
    method: str,
    path: str,
    *,
    body: Any = None,
    origin: str | None = ORIGIN,
    path_params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    template: Any = MATCH,
    stage: str | None = None,
) -> dict[str, Any]:
    """Edit a copy of a real event so that it carries this request.

    `template` is the route API Gateway matched: by default the API's route for `path` (with
    its path parameters, unless `path_params` are given), else none, as a catch-all would
    send it (REST: the `/{proxy+}` resource; HTTP API: the `$default` route). `stage` names an
    HTTP API stage, which API Gateway puts in front of rawPath.
    """
    event = load_event(kind)
    if template is MATCH:
        matched = gateway_match(path)
        template = matched[0] if matched else None
        if matched and path_params is None:
            path_params = matched[1] or None
    text = body if isinstance(body, str) or body is None else json.dumps(body)
    event["body"] = text
    event["isBase64Encoded"] = False
    event["pathParameters"] = path_params
    event["headers"] = dict(headers or {})
    if origin is not None:
        event["headers"]["Origin"] = origin
    if kind == "v1":
        resource = template or "/{proxy+}"
        if template is None:
            event["pathParameters"] = {**(path_params or {}), "proxy": path.lstrip("/")}
        event["httpMethod"] = method
        event["path"] = path
        event["resource"] = resource
        event["requestContext"]["httpMethod"] = method
        event["requestContext"]["path"] = f"/prod{path}"
        event["requestContext"]["resourcePath"] = resource
        event["requestContext"]["stage"] = "prod"
        event["multiValueHeaders"] = {k: [v] for k, v in event["headers"].items()}
    else:
        route_key = f"{method} {template}" if template else "$default"
        raw_path = f"/{stage}{path}" if stage else path
        event["rawPath"] = raw_path
        event["routeKey"] = route_key
        event["requestContext"]["routeKey"] = route_key
        event["requestContext"]["stage"] = stage or "$default"
        event["requestContext"]["http"]["method"] = method
        event["requestContext"]["http"]["path"] = raw_path
    return event


def call(handler: Callable[..., dict[str, Any]], event: Any, **context: Any) -> Response:
    raw = handler(event, LambdaContext(**context))
    return Response(raw)


class Response:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw
        self.status: int = raw["statusCode"]
        self.headers: dict[str, str] = raw["headers"]
        self.text: str = raw["body"]
        self.body: Any = json.loads(raw["body"]) if raw["body"] else None

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.text[:200]}>"


@pytest.fixture(scope="session", autouse=True)
def shared_botocore_loader() -> Iterator[None]:
    """One botocore data loader for every session the tests create.

    moto gives each test a new default boto3 session, and each session would parse botocore's
    service models again (a tenth of a second per client). The loader only caches what it read
    from botocore's data files, which a single long-lived session shares between its clients
    anyway, so sharing it between sessions changes nothing the tests look at.
    """
    loader = botocore.loaders.create_loader()
    with mock.patch("botocore.session.create_loader", lambda *args, **kwargs: loader):
        yield


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Set the function's environment; returns a setter for per-test overrides."""
    values = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SECURITY_TOKEN": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "VETROI_TABLE": TABLE,
        "VETROI_UPLOAD_BUCKET": BUCKET,
        "VETROI_UPLOAD_MAX_BYTES": "1048576",
        "VETROI_CORS_ORIGINS": f"{ORIGIN},{OTHER_ORIGIN}",
        "VETROI_REGION_ROLE": "primary",
        # Small numbers so that failure tests take tenths of a second, not minutes.
        "VETROI_ONET_CONNECT_TIMEOUT": "0.5",
        "VETROI_ONET_READ_TIMEOUT": "0.3",
        "VETROI_ONET_ATTEMPTS": "3",
        "VETROI_ONET_BACKOFF_BASE": "0.01",
        "VETROI_ONET_BACKOFF_MAX": "0.05",
        "VETROI_ONET_RETRY_AFTER_MAX": "0.5",
        "VETROI_ONET_BUDGET_SECONDS": "2",
        "VETROI_BREAKER_FAIL_MAX": "3",
        "VETROI_BREAKER_RESET_SECONDS": "0.5",
    }
    for name in ("AWS_ENDPOINT_URL", "VETROI_ONET_SECRET", "ONET_USERNAME", "ONET_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)

    def setter(**overrides: str | None) -> None:
        for name, value in overrides.items():
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, value)
        handlers.reset()

    handlers.reset()
    return setter


@pytest.fixture
def aws(env: Callable[..., None]) -> Iterator[dict[str, Any]]:
    """moto's DynamoDB, S3 and Secrets Manager with the table and bucket the functions use."""
    with mock_aws():
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_table(dynamodb, TABLE)
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        handlers.reset()
        yield {"dynamodb": dynamodb, "s3": s3}
        handlers.reset()


# A local HTTP server that plays O*NET, and fails when told to.

OCCUPATIONS = {
    "11-1011.00": ("Chief Executives", "Determine and formulate policies (live answer)."),
    "33-3051.00": ("Police and Sheriff's Patrol Officers", "Maintain order (live answer)."),
    "33-9032.00": ("Security Guards", "Guard and patrol premises (live answer)."),
    "29-2042.00": ("Emergency Medical Technicians", "Assess injuries (live answer)."),
}
MILITARY = {
    "HM": {
        "military_matches": {
            "match": [{"branch": "navy", "code": "HM", "title": "Hospital Corpsman"}]
        },
        "career": [{"code": "29-2042.00", "title": "Emergency Medical Technicians"}],
    },
    "11B": {
        "military_matches": {
            "match": [{"branch": "army", "code": "11B", "title": "Infantryman", "active": True}]
        },
        "career": [
            {"code": "33-3051.00", "title": "Police and Sheriff's Patrol Officers"},
            {"code": "33-9032.00", "title": "Security Guards"},
            {"code": "11-1011.00", "title": "Chief Executives"},
        ],
    },
}


@dataclass
class OnetServer:
    """What the fake O*NET does: `mode` is ok, slow, hang, error (500), throttle (429) or
    trickle (a good answer sent a byte every `delay` seconds)."""

    url: str = ""
    mode: str = "ok"
    delay: float = 0.0
    retry_after: str = "0"
    requests: list[dict[str, Any]] = field(default_factory=list)
    # Failures before answering normally again (None: fail forever).
    failures_left: int | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(
        self, path: str, query: dict[str, list[str]]
    ) -> tuple[int, dict[str, str], Any, float]:
        """Status, headers, body, and the seconds to wait before each byte of the body."""
        with self.lock:
            failing = self.mode != "ok" and (self.failures_left is None or self.failures_left > 0)
            if failing and self.failures_left is not None:
                self.failures_left -= 1
        if failing and self.mode in ("slow", "hang"):
            time.sleep(self.delay if self.mode == "slow" else 30)
        elif failing and self.mode == "error":
            return 500, {}, {"error": "internal"}, 0.0
        elif failing and self.mode == "throttle":
            return 429, {"Retry-After": self.retry_after}, {"error": "slow down"}, 0.0
        elif failing and self.mode == "trickle":
            return *occupation_answer(path, query), self.delay
        return *occupation_answer(path, query), 0.0

    @property
    def calls(self) -> int:
        return len(self.requests)


def occupation_answer(path: str, query: dict[str, list[str]]) -> tuple[int, dict[str, str], Any]:
    parts = [p for p in path.split("/") if p]
    if parts[:3] == ["ws", "online", "occupations"] and len(parts) == 4:
        found = OCCUPATIONS.get(parts[3])
        if not found:
            return 404, {}, {"error": "not found"}
        title, description = found
        return (
            200,
            {},
            {
                "code": parts[3],
                "title": title,
                "description": description,
                "tags": {"bright_outlook": True},
                "sample_of_reported_job_titles": {"title": [f"{title} (live)"]},
            },
        )
    if parts[:3] == ["ws", "veterans", "military"]:
        keyword = query.get("keyword", [""])[0].upper()
        return 200, {}, MILITARY.get(keyword, {"military_matches": {"match": []}, "career": []})
    return 404, {}, {"error": "no such service"}


@pytest.fixture
def onet(env: Callable[..., None]) -> Iterator[OnetServer]:
    server_state = OnetServer()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
            parsed = urlparse(self.path)
            server_state.requests.append(
                {"path": parsed.path, "at": time.monotonic(), "auth": self.headers["Authorization"]}
            )
            answer = server_state.answer(parsed.path, parse_qs(parsed.query))
            status, headers, body, byte_delay = answer
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if not byte_delay:
                    self.wfile.write(data)
                for index in range(len(data) if byte_delay else 0):
                    self.wfile.write(data[index : index + 1])
                    self.wfile.flush()
                    time.sleep(byte_delay)
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server_state.url = f"http://127.0.0.1:{server.server_address[1]}/ws"
    env(VETROI_ONET_BASE_URL=server_state.url, ONET_USERNAME="demo", ONET_PASSWORD="secret")
    yield server_state
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def silent_endpoint() -> Iterator[str]:
    """The URL of a server that accepts connections and never answers: a hung AWS endpoint."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        yield f"http://127.0.0.1:{silent.getsockname()[1]}"

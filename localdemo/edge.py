"""The local edge: CloudFront and Route53 as the stacks configure them, in one aiohttp server.

What it does for each request, in the order CloudFront would:

- `GET|HEAD|OPTIONS /career/*` (the cached behaviour with an origin group): a fresh cached answer
  is served at once; otherwise the region the failover record points at is asked, then the
  other region, then the static-fallback bucket, moving on when an origin cannot be reached,
  times out or answers 500, 502, 503 or 504. When all of them fail, a cached answer still
  within its `stale-if-error` window is served.
- Everything else (the default behaviour, every method, no cache): the region the failover
  record points at, once; if it cannot answer, the edge's own 502 or 504.
- Every answer, the edge's own errors included, goes through the CORS response-headers policy
  (cors.py).

The failover record follows the health checks (health.py), which run in the background against
each region's own `/health`. `GET /_demo/status`, `POST /_demo/faults` and the status page at
`/` belong to the local environment, not to the API. The two `POST /_demo/*` routes change the
environment, so they answer only requests meant for the edge itself: a `Host` other than the
edge's own address (a DNS-rebinding page) or an `Origin` other than the edge's own (any other
web page, which may post a "simple" text/plain request without a preflight) gets a 403. Tools
such as curl send no `Origin` and the status page sends its own, so both work.

Known limitations: CloudFront origin groups hold two origins; the chain here has three
(serving region, other region, static data), which is what the development shape achieves
with the backup region as a second origin. The Host header is not forwarded, as the stacks'
origin request policy says; regions do not look at it anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from .cache import EdgeCache
from .config import DemoConfig
from .cors import CorsPolicy
from .health import BACKUP, PRIMARY, RegionHealth, serving_region

log = logging.getLogger(__name__)

PAGE_DIR = Path(__file__).resolve().parent / "page"
FAILOVER_STATUSES = frozenset({500, 502, 503, 504})
SOURCE = web.ResponseKey("source", str)  # which origin answered, for the record of requests
CAREER_PREFIX = "/career/"
CAREER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# What a distribution that allows "all" methods accepts; CloudFront refuses any other with 403.
CLOUDFRONT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE"})
# Request headers that belong to one hop, plus Host, which the origin request policy drops.
REQUEST_DROPPED = frozenset(
    {
        "host",
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "accept-encoding",
    }
)
RESPONSE_DROPPED = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "date", "server"}
)


class Controller(Protocol):
    """What the edge needs from the environment around it (environment.py)."""

    def region_url(self, role: str) -> str: ...

    async def static_object(self, key: str) -> tuple[bytes, dict[str, str]] | None: ...

    def check_faults(self, faults: dict[str, Any]) -> None: ...

    async def set_faults(self, faults: dict[str, Any]) -> None: ...

    def snapshot(self) -> dict[str, Any]: ...


class FaultError(ValueError):
    """A POST /_demo/faults body the environment cannot apply; `fields` names each problem."""

    def __init__(self, fields: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in fields.items()))
        self.fields = fields


@dataclass
class Answer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    source: str  # primary, backup, static, cache, stale-cache or edge
    cache: str | None = None  # X-Cache: Hit, Miss, RefreshHit or Error
    age: int | None = None


@dataclass
class Failure:
    """An origin that gave no usable answer: why, and its answer if it gave one."""

    reason: str
    answer: Answer | None = None
    timed_out: bool = False


@dataclass
class EdgeState:
    force_failover: bool = False
    cache_enabled: bool = True
    recent: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=60))
    events: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=30))
    served: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    without_cors: int = 0


class Edge:
    def __init__(self, config: DemoConfig, controller: Controller) -> None:
        self.config = config
        self.controller = controller
        self.policy = CorsPolicy(config.origins)
        self.cache = EdgeCache()
        self.state = EdgeState()
        self.health = {
            PRIMARY: RegionHealth(config.health_threshold),
            BACKUP: RegionHealth(config.health_threshold),
        }
        self._session: aiohttp.ClientSession | None = None
        self._checker_session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    # Lifecycle

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=256, limit_per_host=128, keepalive_timeout=15),
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        )
        # Health checkers open a new connection per check, as Route53's do.
        self._checker_session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(force_close=True)
        )

    def start_checks(self) -> None:
        """Begin checking both regions' health, every `health_interval` seconds."""
        for role in (PRIMARY, BACKUP):
            self._tasks.append(asyncio.create_task(self._check_forever(role)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for session in (self._session, self._checker_session):
            if session is not None:
                await session.close()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._policy_middleware], client_max_size=11 * 2**20)
        app.router.add_get("/", self._page)
        app.router.add_get("/_demo/page.js", self._asset)
        app.router.add_get("/_demo/page.css", self._asset)
        app.router.add_get("/favicon.ico", self._no_icon)
        app.router.add_get("/_demo/status", self._status)
        app.router.add_post("/_demo/faults", self._faults)
        app.router.add_post("/_demo/cache", self._cache_switch)
        # Any path, even one whose decoded form holds a newline, which "." would not match.
        app.router.add_route("*", r"/{tail:[\s\S]*}", self._proxy)
        app.on_startup.append(lambda _: self.start())
        app.on_cleanup.append(lambda _: self.close())
        return app

    @property
    def own_hosts(self) -> frozenset[str]:
        """The Host values that name this edge: its address, and localhost for a loopback one."""
        hosts = {f"{self.config.host}:{self.config.port}"}
        if self.config.host in ("127.0.0.1", "::1"):
            hosts.add(f"localhost:{self.config.port}")
        return frozenset(hosts)

    def _foreign(self, request: web.Request) -> web.Response | None:
        """A 403 for a state-changing request that did not come from this edge or a tool."""
        host = request.headers.get("Host", "").lower()
        if host not in self.own_hosts:
            return _json_error(
                403,
                "FOREIGN_HOST",
                f"The demo's controls answer only Host {' or '.join(sorted(self.own_hosts))}.",
            )
        origin = request.headers.get("Origin")
        if origin is not None and origin.lower() not in {f"http://{h}" for h in self.own_hosts}:
            return _json_error(
                403,
                "FOREIGN_ORIGIN",
                "The demo's controls answer only the status page and tools without an Origin.",
            )
        return None

    @property
    def serving(self) -> str:
        return serving_region(self.health[PRIMARY], self.health[BACKUP], self.state.force_failover)

    # Health checks and failover

    async def check_once(self, role: str) -> None:
        assert self._checker_session is not None
        url = self.controller.region_url(role) + "/health"
        started = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            timeout = aiohttp.ClientTimeout(total=self.config.health_timeout)
            async with self._checker_session.get(url, timeout=timeout) as response:
                status = response.status
                await response.read()
        except TimeoutError:
            error = "timed out"
        except aiohttp.ClientError as exc:
            error = type(exc).__name__
        latency = round((time.perf_counter() - started) * 1000, 1)
        passed = status is not None and 200 <= status < 400
        before = self.serving
        if self.health[role].record(passed, status, error, latency):
            state = "healthy" if self.health[role].healthy else "unhealthy"
            self._event(f"{role} region is {state} ({status or error})")
        after = self.serving
        if after != before:
            self._event(f"failover record now answers with the {after} region")

    async def _check_forever(self, role: str) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.check_once(role)
            except Exception:  # a checker must never die
                log.exception("health check of %s failed", role)
            await asyncio.sleep(
                max(0.0, self.config.health_interval - (time.monotonic() - started))
            )

    def note(self, message: str) -> None:
        """Add a line to the status page's event list."""
        self._event(message)

    def _event(self, message: str) -> None:
        log.info("%s", message)
        self.state.events.appendleft({"at": time.time(), "message": message})

    # The API's two behaviours

    async def _proxy(self, request: web.Request) -> web.StreamResponse:
        if request.method not in CLOUDFRONT_METHODS:
            return _json_error(
                403, "METHOD_NOT_ALLOWED", f"The edge does not accept {request.method} requests."
            )
        body = await request.read()
        path = request.path
        if path.startswith(CAREER_PREFIX) and request.method in CAREER_METHODS:
            answer = await self._career(request, body)
        else:
            answer = await self._default(request, body)
        return self._respond(request, answer)

    async def _default(self, request: web.Request, body: bytes) -> Answer:
        role = self.serving
        result = await self._fetch(role, request, body)
        if isinstance(result, Answer):
            return result
        return result.answer or self._origin_error(result)

    async def _career(self, request: web.Request, body: bytes) -> Answer:
        key = request.path
        cacheable = self.state.cache_enabled and request.method in ("GET", "HEAD")
        entry = self.cache.get(key) if cacheable else None
        now = time.time()
        if entry is not None and entry.fresh(now):
            self.cache.hits += 1
            return Answer(
                entry.status, entry.headers, entry.body, "cache", "Hit", int(entry.age(now))
            )
        self.cache.misses += cacheable

        serving = self.serving
        chain = [serving, BACKUP if serving == PRIMARY else PRIMARY]
        last: Failure | None = None
        for role in chain:
            result = await self._fetch(role, request, body)
            if isinstance(result, Answer):
                if cacheable:
                    self.cache.store(key, result.status, result.headers, result.body)
                result.cache = "RefreshHit" if entry is not None else "Miss"
                return result
            last = result
        if request.method == "GET":
            static = await self._static(request.path)
            if static is not None:
                self.cache.store(key, static.status, static.headers, static.body)
                return static
        assert last is not None
        if entry is not None and entry.usable_on_error(now):
            self.cache.stale_served += 1
            return Answer(
                entry.status, entry.headers, entry.body, "stale-cache", "Error", int(entry.age(now))
            )
        return last.answer or self._origin_error(last)

    async def _fetch(self, role: str, request: web.Request, body: bytes) -> Answer | Failure:
        """One origin, with the configured connection attempts; an Answer only if usable."""
        assert self._session is not None
        url = self.controller.region_url(role) + request.path_qs
        headers = self._forward_headers(request)
        timeout = aiohttp.ClientTimeout(
            sock_connect=self.config.origin_connect_timeout,
            sock_read=self.config.origin_read_timeout,
        )
        attempts = self.config.origin_attempts
        # A pooled connection the region closed (after a restart) fails before any request
        # reaches the region, so one extra try on a new connection cannot run a request twice.
        reconnects = 1
        while True:
            try:
                async with self._session.request(
                    request.method,
                    url,
                    headers=headers,
                    data=body or None,
                    timeout=timeout,
                    allow_redirects=False,
                ) as response:
                    payload = await response.read()
                    kept = [
                        (name, value)
                        for name, value in response.headers.items()
                        if name.lower() not in RESPONSE_DROPPED
                    ]
                    answer = Answer(response.status, kept, payload, role)
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as exc:
                if reconnects > 0 and not isinstance(exc, aiohttp.ClientConnectorError):
                    reconnects -= 1
                    continue
                if isinstance(exc, aiohttp.ClientConnectorError):
                    attempts -= 1
                    if attempts > 0:
                        continue
                return self._failed(f"{role}: cannot connect ({type(exc).__name__}: {exc})")
            except aiohttp.ConnectionTimeoutError as exc:
                attempts -= 1
                if attempts > 0:
                    continue
                return self._failed(f"{role}: cannot connect ({type(exc).__name__})")
            except TimeoutError:
                return self._failed(f"{role}: no answer within the origin timeout", timed_out=True)
            except aiohttp.ClientError as exc:
                return self._failed(f"{role}: {type(exc).__name__}: {exc}")
            if answer.status in FAILOVER_STATUSES:
                return self._failed(f"{role}: answered {answer.status}", answer=answer)
            return answer

    def _failed(
        self, reason: str, answer: Answer | None = None, timed_out: bool = False
    ) -> Failure:
        log.info("origin failed for this request: %s", reason)
        return Failure(reason, answer, timed_out)

    async def _static(self, path: str) -> Answer | None:
        key = path.lstrip("/")  # career/<socCode>, as the fallback bucket stores it
        try:
            found = await self.controller.static_object(key)
        except Exception:
            log.warning("static fallback bucket unreachable", exc_info=True)
            return None
        if found is None:
            return None
        data, stored = found
        # The object's own Content-Type and Cache-Control, as S3 serves them to CloudFront.
        headers = [*stored.items(), ("X-Data-Source", "static")]
        return Answer(200, headers, data, "static", "Miss")

    def _forward_headers(self, request: web.Request) -> CIMultiDict[str]:
        headers: CIMultiDict[str] = CIMultiDict(
            (name, value)
            for name, value in request.headers.items()
            if name.lower() not in REQUEST_DROPPED
        )
        peer = request.remote or "127.0.0.1"
        forwarded = headers.get("X-Forwarded-For")
        headers["X-Forwarded-For"] = f"{forwarded}, {peer}" if forwarded else peer
        headers["Via"] = "1.1 vetroi-local-edge (CloudFront)"
        headers["X-Amz-Cf-Id"] = uuid.uuid4().hex
        return headers

    def _origin_error(self, failure: Failure) -> Answer:
        if failure.timed_out:
            status, code = 504, "ORIGIN_TIMEOUT"
            message = "The API did not answer in time. Please try again."
        else:
            status, code = 502, "ORIGIN_UNREACHABLE"
            message = "The API cannot be reached right now. Please try again."
        body = json.dumps({"error": {"code": code, "message": message}}).encode()
        headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        return Answer(status, headers, body, "edge", "Error")

    # Responses, CORS, the record of recent requests

    def _respond(self, request: web.Request, answer: Answer) -> web.Response:
        headers: CIMultiDict[str] = CIMultiDict(answer.headers)
        headers["X-Vetroi-Source"] = answer.source
        if answer.cache:
            headers["X-Cache"] = f"{answer.cache} from local edge"
        if answer.age is not None:
            headers["Age"] = str(answer.age)
        response = web.Response(status=answer.status, body=answer.body, headers=headers)
        response[SOURCE] = answer.source
        return response

    @web.middleware
    async def _policy_middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        started = time.perf_counter()
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            response = _json_error(exc.status, "EDGE_ERROR", exc.reason)
        except Exception:
            log.exception("edge failed on %s %s", request.method, request.path)
            response = _json_error(500, "EDGE_ERROR", "The edge failed; see its log.")
        origin = request.headers.get("Origin")
        self.policy.apply(
            response.headers,
            origin,
            request.method,
            request.headers.get("Access-Control-Request-Method"),
        )
        if not request.path.startswith("/_demo/") and request.path not in ("/", "/favicon.ico"):
            self._record(request, response, origin, started)
        return response

    def _record(
        self, request: web.Request, response: web.StreamResponse, origin: str | None, started: float
    ) -> None:
        source = response.get(SOURCE, "edge")
        has_cors = "Access-Control-Allow-Origin" in response.headers
        self.state.requests += 1
        self.state.served[source] = self.state.served.get(source, 0) + 1
        if origin and self.policy.allows(origin) and not has_cors:
            self.state.without_cors += 1
        self.state.recent.appendleft(
            {
                "at": time.time(),
                "method": request.method,
                "path": request.path_qs[:120],
                "status": response.status,
                "source": source,
                "dataSource": response.headers.get("X-Data-Source"),
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "cors": has_cors,
            }
        )

    # The local environment's own routes

    async def _page(self, request: web.Request) -> web.StreamResponse:
        return _asset_response(PAGE_DIR / "index.html", "text/html; charset=utf-8")

    async def _no_icon(self, request: web.Request) -> web.StreamResponse:
        # Browsers ask for it on the status page; the API has none to give.
        return web.Response(status=204, headers={"Cache-Control": "max-age=86400"})

    async def _asset(self, request: web.Request) -> web.StreamResponse:
        name = request.path.rsplit("/", 1)[-1]
        kind = "text/javascript" if name.endswith(".js") else "text/css"
        return _asset_response(PAGE_DIR / name, f"{kind}; charset=utf-8")

    def status(self) -> dict[str, Any]:
        regions = self.controller.snapshot()
        for role in (PRIMARY, BACKUP):
            regions.setdefault("regions", {}).setdefault(role, {})["health"] = self.health[
                role
            ].snapshot()
        return {
            **regions,
            "serving": self.serving,
            # The functions' O*NET circuit breaker in each region (None: not created yet or the
            # region does not answer; see regions.*.stateKnown).
            "breaker": {
                role: regions["regions"][role].get("breaker") for role in (PRIMARY, BACKUP)
            },
            "forceFailover": self.state.force_failover,
            "edge": {
                "port": self.config.port,
                "origins": list(self.config.origins),
                "healthInterval": self.config.health_interval,
                "healthThreshold": self.config.health_threshold,
                "healthTimeout": self.config.health_timeout,
                "failoverBudgetSeconds": round(self.config.failover_budget, 2),
                "requests": self.state.requests,
                "servedBy": self.state.served,
                "withoutCors": self.state.without_cors,
                "cache": {
                    "enabled": self.state.cache_enabled,
                    "entries": len(self.cache),
                    "hits": self.cache.hits,
                    "misses": self.cache.misses,
                    "staleServed": self.cache.stale_served,
                },
            },
            "events": list(self.state.events),
            "recent": list(self.state.recent),
        }

    async def _status(self, request: web.Request) -> web.StreamResponse:
        return web.json_response(self.status(), headers={"Cache-Control": "no-store"})

    async def _cache_switch(self, request: web.Request) -> web.StreamResponse:
        """Turn the edge's cache of GET /career/* off or on, or empty it (benchmarks, demos)."""
        if (refused := self._foreign(request)) is not None:
            return refused
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _json_error(400, "invalid_body", 'Expected {"enabled": false} or similar.')
        try:
            enabled, clear = _cache_settings(body)
        except FaultError as error:
            return _json_error(400, "invalid_body", str(error), error.fields)
        if enabled is not None and enabled != self.state.cache_enabled:
            self.state.cache_enabled = enabled
            self._event(f"edge cache {'on' if enabled else 'off'}")
        if clear:
            self.cache.clear()
        return web.json_response(self.status(), headers={"Cache-Control": "no-store"})

    async def _faults(self, request: web.Request) -> web.StreamResponse:
        if (refused := self._foreign(request)) is not None:
            return refused
        try:
            faults = await request.json()
        except (ValueError, UnicodeDecodeError):
            return _json_error(400, "invalid_body", "The body must be a JSON object of faults.")
        if not isinstance(faults, dict) or not faults:
            return _json_error(
                400, "invalid_body", 'The body must be a JSON object, e.g. {"primary": "down"}.'
            )
        # Every fault is checked before any is applied: a 400 changes nothing.
        problems: dict[str, str] = {}
        forcing = "forceFailover" in faults
        force = faults.pop("forceFailover", None)
        if forcing and not isinstance(force, bool):
            problems["forceFailover"] = "expected true or false"
        try:
            self.controller.check_faults(faults)
        except FaultError as bad:
            problems.update(bad.fields)
        if problems:
            return _json_error(400, "invalid_fault", str(FaultError(problems)), problems)
        if isinstance(force, bool) and force != self.state.force_failover:
            self.state.force_failover = force
            self._event(f"forced failover {'on' if force else 'off'}")
        if faults:
            await self.controller.set_faults(faults)
        return web.json_response(self.status(), headers={"Cache-Control": "no-store"})


def _cache_settings(body: Any) -> tuple[bool | None, bool]:
    """(enabled, clear) from a POST /_demo/cache body; FaultError naming a bad field."""
    if not isinstance(body, dict) or not body.keys() <= {"enabled", "clear"}:
        raise FaultError({"body": 'expected {"enabled": true|false, "clear": true|false}'})
    enabled, clear = body.get("enabled"), body.get("clear", False)
    problems = {}
    if enabled is not None and not isinstance(enabled, bool):
        problems["enabled"] = "expected true or false"
    if not isinstance(clear, bool):
        problems["clear"] = "expected true or false"
    if problems:
        raise FaultError(problems)
    return enabled, clear


def _json_error(
    status: int, code: str, message: str, fields: dict[str, str] | None = None
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return web.json_response({"error": error}, status=status, headers={"Cache-Control": "no-store"})


def _asset_response(path: Path, content_type: str) -> web.Response:
    return web.Response(
        body=path.read_bytes(),
        headers={
            "Content-Type": content_type,
            "Cache-Control": "no-cache",
            "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
        },
    )

"""The local demo environment: its parts on their own, then the whole over real sockets.

The environment tests start `python -m localdemo` once for the module on a free port, with the
O*NET stand-in in replay mode and the O*NET cache seeded as expired (so requests go through
O*NET and its fallbacks), health checks every 0.5 s, and short origin and function timeouts so
that a hung region costs seconds, not the demo's defaults.
"""

from __future__ import annotations

import asyncio
import base64
import errno
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import pytest
import requests
from aiohttp import web
from moto import mock_aws
from multidict import CIMultiDict

from components.settings import declared_keys
from localdemo import cors, gateway, onetdata
from localdemo.aws import (
    BACKUP_REGION,
    PRIMARY_REGION,
    STATIC_CACHE_CONTROL,
    TABLE_NAME,
    TableReplicator,
    TcpRelay,
    create_table,
)
from localdemo.cache import CacheControl, EdgeCache
from localdemo.config import ConfigError, DemoConfig, from_environment
from localdemo.cors import CorsPolicy
from localdemo.drill import Outcome, Result, table
from localdemo.edge import Edge
from localdemo.health import BACKUP, PRIMARY, RegionHealth, serving_region
from localdemo.onet import OnetStandIn
from localdemo.processes import PortInUseError, check_port_free, free_port
from localdemo.regions import CORS_HEADERS, MONOLITH_HANDLER, ROUTES
from tests.localdemo_env import ORIGIN, ROOT, RunningDemo

# The copies of the real API Gateway event shapes that the API tests use.
EVENTS = ROOT / "tests" / "functions" / "events"
INTERVAL, THRESHOLD = 0.5, 2
DEMO_ARGS = [
    "--onet", "replay", "--stale-cache",
    "--health-interval", str(INTERVAL), "--health-threshold", str(THRESHOLD),
    "--origin-read-timeout", "4", "--function-timeout", "3",
]  # fmt: skip
# Health checks time out after 0.8 x interval; the budget is threshold failed checks.
BUDGET = THRESHOLD * INTERVAL + 0.8 * INTERVAL
SLACK = 1.0  # scheduling on a busy 2-core machine
ALLOW_ORIGIN = "Access-Control-Allow-Origin"


# The parts


def test_cache_control_parse_reads_max_age_and_stale_if_error() -> None:
    """s-maxage wins over max-age; stale-if-error is read; private answers are not kept."""
    control = CacheControl.parse("public, max-age=300, s-maxage=60, stale-if-error=86400")
    assert (control.max_age, control.stale_if_error, control.cacheable) == (60, 86400, True)
    assert not CacheControl.parse("private, max-age=300").cacheable
    assert not CacheControl.parse("no-store").cacheable
    assert not CacheControl.parse(None).cacheable


def test_edge_cache_serves_stale_only_within_stale_if_error() -> None:
    """Fresh for max-age, then usable on error for stale-if-error more, then gone."""
    now = [1000.0]
    cache = EdgeCache(clock=lambda: now[0])
    headers = [("Cache-Control", "max-age=10, stale-if-error=20"), ("Content-Length", "2")]
    assert cache.store("/career/x", 200, headers, b"{}")
    assert not cache.store("/career/y", 503, headers, b"{}")
    entry = cache.get("/career/x")
    assert entry is not None and entry.fresh(1005.0)
    assert not entry.fresh(1011.0) and entry.usable_on_error(1025.0)
    assert not entry.usable_on_error(1031.0)
    assert ("Content-Length", "2") not in entry.headers


class FakeOrigins:
    """Two regions whose answers the test sets, and a static bucket that holds nothing."""

    def __init__(self) -> None:
        self.status = {PRIMARY: 200, BACKUP: 200}
        self.urls: dict[str, str] = {}
        self.calls = {PRIMARY: 0, BACKUP: 0}

    def region_url(self, role: str) -> str:
        return self.urls[role]

    async def static_object(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        return None

    def check_faults(self, faults: dict[str, Any]) -> None:
        raise AssertionError("not used")

    async def set_faults(self, faults: dict[str, Any]) -> None:
        raise AssertionError("not used")

    def snapshot(self) -> dict[str, Any]:
        return {"regions": {PRIMARY: {}, BACKUP: {}}}

    def app(self, role: str) -> web.Application:
        async def answer(request: web.Request) -> web.Response:
            self.calls[role] += 1
            return web.json_response(
                {"socCode": request.match_info["soc"], "region": role},
                status=self.status[role],
                headers={"Cache-Control": "public, max-age=1, stale-if-error=60"},
            )

        app = web.Application()
        app.router.add_get("/career/{soc}", answer)
        return app


async def _stale_if_error_scenario() -> list[tuple[int, str, str | None]]:
    origins = FakeOrigins()
    runners = []
    for role in (PRIMARY, BACKUP):
        runner = web.AppRunner(origins.app(role))
        await runner.setup()
        port = free_port()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        origins.urls[role] = f"http://127.0.0.1:{port}"
        runners.append(runner)
    edge = Edge(DemoConfig(port=free_port(), origins=(ORIGIN,)), origins)
    runner = web.AppRunner(edge.app())
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", edge.config.port).start()
    runners.append(runner)
    seen = []
    try:
        async with aiohttp.ClientSession(headers={"Origin": ORIGIN}) as session:

            async def get(soc: str) -> None:
                url = f"http://127.0.0.1:{edge.config.port}/career/{soc}"
                async with session.get(url) as response:
                    await response.read()
                    source = response.headers["X-Vetroi-Source"]
                    seen.append((response.status, source, response.headers.get(ALLOW_ORIGIN)))

            await get("11-1011.00")  # from the primary, kept for 1 s
            origins.status = {PRIMARY: 503, BACKUP: 503}
            await get("11-1011.00")  # still fresh: the cache answers
            await asyncio.sleep(1.2)
            await get("11-1011.00")  # stale, every origin fails: stale-if-error
            await get("15-1232.00")  # never cached: the last origin's 503
    finally:
        for runner in reversed(runners):
            await runner.cleanup()
    assert origins.calls == {PRIMARY: 3, BACKUP: 2}
    return seen


def test_edge_serves_a_stale_career_while_every_origin_fails() -> None:
    """Fresh from the cache, then from both regions failing to stale-if-error, with CORS."""
    # A loop of its own: asyncio.run() would leave the main thread without a current loop,
    # which the Pulumi mock tests that run later in the same process rely on.
    loop = asyncio.new_event_loop()
    try:
        seen = loop.run_until_complete(_stale_if_error_scenario())
    finally:
        loop.close()
    assert seen == [
        (200, "primary", ORIGIN),
        (200, "cache", ORIGIN),
        (200, "stale-cache", ORIGIN),
        (503, "backup", ORIGIN),
    ]


class MotoClients:
    """In-process moto clients, in the shape TableReplicator asks LocalAws for them."""

    def client(self, service: str, region: str) -> Any:
        return boto3.client(service, region_name=region)


def test_replicator_copies_changes_both_ways_without_bouncing(monkeypatch: Any) -> None:
    """A write or delete in one region's table reaches the other; nothing comes back."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        clients = MotoClients()
        for region in (PRIMARY_REGION, BACKUP_REGION):
            create_table(clients.client("dynamodb", region))
        primary = clients.client("dynamodb", PRIMARY_REGION)
        backup = clients.client("dynamodb", BACKUP_REGION)
        replicator = TableReplicator(clients)  # type: ignore[arg-type]  # duck-typed LocalAws
        replicator.prime()
        key = {"pk": {"S": "onet#x"}, "sk": {"S": "v1"}}

        primary.put_item(TableName=TABLE_NAME, Item={**key, "body": {"S": "1"}})
        assert replicator.replicate_once() == 1
        assert backup.get_item(TableName=TABLE_NAME, Key=key)["Item"]["body"]["S"] == "1"

        backup.put_item(TableName=TABLE_NAME, Item={**key, "body": {"S": "2"}})
        assert replicator.replicate_once() == 1
        assert primary.get_item(TableName=TABLE_NAME, Key=key)["Item"]["body"]["S"] == "2"

        primary.delete_item(TableName=TABLE_NAME, Key=key)
        assert replicator.replicate_once() == 1
        assert "Item" not in backup.get_item(TableName=TABLE_NAME, Key=key)
        assert replicator.replicate_once() == 0


def test_static_bucket_is_in_the_backup_region(monkeypatch: Any, tmp_path: Path) -> None:
    """As the prod stack creates it: the static data must outlive the primary region."""
    from localdemo import aws as local_aws

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        demo_aws = local_aws.LocalAws("127.0.0.1", free_port(), tmp_path)
        monkeypatch.setattr(
            demo_aws,
            "client",
            lambda service, region=PRIMARY_REGION: boto3.client(service, region_name=region),
        )
        demo_aws.bootstrap()
        s3 = boto3.client("s3", region_name=BACKUP_REGION)

        location = s3.get_bucket_location(Bucket=local_aws.STATIC_BUCKET)
        assert location["LocationConstraint"] == BACKUP_REGION
        assert demo_aws.static_object("career/11-1011.00")
        assert demo_aws.static_object("career/00-0000.00") is None


class _WaitsForConnections:
    """A server whose `wait_closed` waits for its connections to end, as from Python 3.12.1."""

    def __init__(self, server: asyncio.Server, relay: TcpRelay) -> None:
        self.server, self.relay = server, relay

    def close(self) -> None:
        self.server.close()

    async def wait_closed(self) -> None:
        while self.relay._pipes:
            await asyncio.sleep(0.01)
        await self.server.wait_closed()


async def _relay_scenario() -> tuple[bytes, bool, str]:
    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(1024):
            writer.write(data)
        writer.close()

    target = await asyncio.start_server(echo, "127.0.0.1", 0)
    relay = TcpRelay("127.0.0.1", free_port(), "127.0.0.1", target.sockets[0].getsockname()[1])
    await relay.start()
    if sys.version_info < (3, 12, 1):
        assert relay._server is not None
        relay._server = _WaitsForConnections(relay._server, relay)  # type: ignore[assignment]
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
        writer.write(b"ping")
        echoed = await reader.read(4)
        # An open pipe while the table goes down: the fault must answer, and cut the pipe.
        await asyncio.wait_for(relay.set_down(True), 2)
        cut = await asyncio.wait_for(reader.read(), 2) == b""
        try:
            await asyncio.open_connection("127.0.0.1", relay.port)
            refused = "accepted"
        except OSError as error:
            refused = type(error).__name__
        writer.close()
    finally:
        await asyncio.wait_for(relay.close(), 2)
        target.close()
        await target.wait_closed()
    return echoed, cut, refused


def test_table_relay_goes_down_while_a_pipe_is_open() -> None:
    """`down` answers at once with a connection open, cuts it and refuses new ones."""
    loop = asyncio.new_event_loop()
    try:
        echoed, cut, refused = loop.run_until_complete(_relay_scenario())
    finally:
        loop.close()
    assert (echoed, cut, refused) == (b"ping", True, "ConnectionRefusedError")


async def _onet_scenario() -> list[Any]:
    async def upstream(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "path": request.match_info["path"],
                "query": dict(request.query),
                "authorized": request.headers.get("Authorization", "").startswith("Basic "),
            }
        )

    app = web.Application()
    app.router.add_get("/ws/{path:.*}", upstream)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    real = OnetStandIn("127.0.0.1", free_port(), "real", f"http://127.0.0.1:{port}/ws", 0.3)
    replay = OnetStandIn("127.0.0.1", free_port(), "replay", "unused", 0.3)
    await real.start()
    await replay.start()
    seen: list[Any] = []
    credentials = {"Authorization": "Basic " + base64.b64encode(b"user:secret").decode()}
    try:
        async with aiohttp.ClientSession() as session:

            async def get(base: str, path: str, signed: bool = True) -> None:
                started = time.monotonic()
                headers = credentials if signed else {}
                try:
                    async with session.get(f"{base}/{path}", headers=headers) as response:
                        body = await response.json()
                        seen.append((response.status, body, time.monotonic() - started))
                except aiohttp.ClientConnectionError as exc:
                    seen.append(type(exc).__name__)

            await get(real.base_url, "veterans/military?keyword=11B")
            await real.set_fault("slow")
            await get(real.base_url, "online/occupations/11-1011.00/")
            await real.set_fault("down")
            await get(real.base_url, "online/occupations/11-1011.00/")
            await real.set_fault("up")
            await get(real.base_url, "online/occupations/11-1011.00/")
            await get(replay.base_url, "online/occupations/11-1011.00/")
            await get(replay.base_url, "online/occupations/99-9999.99/")
            await get(replay.base_url, "veterans/military?keyword=11B", signed=False)
    finally:
        for closing in (real, replay):
            await closing.close()
        await runner.cleanup()
    return seen


def test_onet_stand_in_forwards_replays_and_fails_on_demand() -> None:
    """Real mode forwards path, query and credentials; faults slow it or close it; replay
    answers from the bundled data, 404 for what it lacks, 401 without credentials."""
    loop = asyncio.new_event_loop()
    try:
        seen = loop.run_until_complete(_onet_scenario())
    finally:
        loop.close()
    forwarded, slow, down, restored, replayed, missing, anonymous = seen
    assert forwarded[:2] == (
        200,
        {"path": "veterans/military", "query": {"keyword": "11B"}, "authorized": True},
    )
    assert slow[0] == 200 and slow[2] >= 0.3
    assert down == "ClientConnectorError"
    assert restored[0] == 200
    assert replayed[0] == 200 and replayed[1]["title"] == "Chief Executives"
    assert missing[0] == 404 and anonymous[0] == 401


def test_cors_policy_overrides_the_origin_and_needs_an_origin() -> None:
    """Allowed origin echoed with Vary; unknown or absent origin: no CORS header at all."""
    policy = CorsPolicy((ORIGIN,))
    from_region = CIMultiDict({"Access-Control-Allow-Origin": "*", "Vary": "Accept"})
    policy.apply(from_region, ORIGIN, "GET", None)
    assert from_region["Access-Control-Allow-Origin"] == ORIGIN
    assert from_region["Vary"] == "Accept, Origin"
    assert "Access-Control-Allow-Methods" not in from_region

    for origin in ("https://evil.example", None):
        headers = CIMultiDict({"Access-Control-Allow-Origin": "*"})
        policy.apply(headers, origin, "GET", None)
        assert not [h for h in headers if h.lower().startswith("access-control-")]
        assert headers["X-Content-Type-Options"] == "nosniff"


def test_cors_policy_answers_preflight_with_methods_headers_and_max_age() -> None:
    """A preflight gets what the browser asks about."""
    headers: CIMultiDict[str] = CIMultiDict()
    CorsPolicy((ORIGIN,)).apply(headers, ORIGIN, "OPTIONS", "POST")
    assert "POST" in headers["Access-Control-Allow-Methods"].split(",")
    assert "Content-Type" in headers["Access-Control-Allow-Headers"].split(",")
    assert headers["Access-Control-Max-Age"] == "600"


def test_region_health_changes_after_threshold_checks_in_a_row() -> None:
    """Route53's rule: N failures in a row to go down, N passes in a row to come back."""
    health = RegionHealth(threshold=2)
    assert not health.record(False) and health.healthy
    assert not health.record(True) and health.healthy  # a pass resets the failures
    assert not health.record(False)
    assert health.record(False) and not health.healthy
    assert not health.record(True) and not health.healthy
    assert health.record(True) and health.healthy


def test_serving_region_follows_the_failover_record_rules() -> None:
    """Primary when healthy, else backup when healthy, else primary; forced: the primary
    counts as unhealthy, so with the backup unhealthy too the primary answers, as Route53's
    record does when both halves are unhealthy."""
    up, down = RegionHealth(1), RegionHealth(1, healthy=False)
    assert serving_region(up, up, False) == PRIMARY
    assert serving_region(down, up, False) == BACKUP
    assert serving_region(down, down, False) == PRIMARY
    assert serving_region(up, up, True) == BACKUP
    assert serving_region(down, up, True) == BACKUP
    assert serving_region(up, down, True) == PRIMARY
    assert serving_region(down, down, True) == PRIMARY


def test_routes_are_the_stacks_routes() -> None:
    """The regions serve exactly the routes, handlers and CORS headers the stacks deploy."""
    from components import api

    assert [(r["method"], r["path"], r["handler"]) for r in ROUTES] == [
        (r.method, r.path, r.handler) for r in api.ROUTES
    ]
    assert MONOLITH_HANDLER == api.MONOLITH_HANDLER
    assert CORS_HEADERS.split(",") == declared_keys()["corsAllowedHeaders"]["default"]


def test_cors_policy_is_the_stacks_policy() -> None:
    """Methods, headers, max age and exposed headers as the stacks' CloudFront policy says
    with the default settings."""
    from components import edge

    assert cors.ALLOWED_METHODS.split(",") == edge.CORS_METHODS
    assert cors.ALLOWED_HEADERS.split(",") == declared_keys()["corsAllowedHeaders"]["default"]
    assert cors.MAX_AGE == str(declared_keys()["corsMaxAgeSeconds"]["default"])
    assert cors.EXPOSED_HEADERS.split(",")[: len(edge.CORS_EXPOSED_HEADERS)] == (
        edge.CORS_EXPOSED_HEADERS
    )


def _region(**overrides: Any) -> gateway.Region:
    config = {
        "role": "primary",
        "region": "us-east-2",
        "stage": "prod",
        "timeout_seconds": 1,
        "routes": list(ROUTES),
        "cors_origins": [ORIGIN],
        "cors_headers": CORS_HEADERS,
        **overrides,
    }
    return gateway.Region(config)


def test_gateway_event_has_the_rest_api_shape() -> None:
    """Every key of API Gateway's REST (1.0) sample event is there, with path parameters."""
    sample = json.loads((EVENTS / "rest-api-v1.json").read_text())
    region = _region()
    route, params = region.resolve("GET", "/career/11-1011.00")
    event = gateway.build_event(
        region,
        route,
        params,
        "GET",
        "/career/11-1011.00?x=1&x=2",
        [("Origin", ORIGIN), ("Accept", "a"), ("Accept", "b")],
        b"",
        "127.0.0.1",
        "req-1",
    )
    assert set(sample) - {"version"} <= set(event)
    assert set(sample["requestContext"]) - {"authorizer"} <= set(event["requestContext"])
    assert event["pathParameters"] == {"socCode": "11-1011.00"}
    assert event["resource"] == "/career/{socCode}"
    assert event["headers"]["Accept"] == "b"
    assert event["multiValueHeaders"]["Accept"] == ["a", "b"]
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"]}
    assert event["body"] is None and event["isBase64Encoded"] is False


def test_gateway_answers_a_missing_route_with_its_own_403() -> None:
    """A method or path the API does not have is API Gateway's 403, not the function's."""
    region = _region()
    for method, path in (("GET", "/nope"), ("DELETE", "/recommend"), ("GET", "/career/")):
        with pytest.raises(gateway.GatewayError) as caught:
            region.resolve(method, path)
        assert caught.value.status == 403
    headers = region.error_headers(ORIGIN)
    assert headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize(
    "response",
    [None, "text", {"body": "{}"}, {"statusCode": "200"}, {"statusCode": 200, "body": {}}],
)
def test_gateway_rejects_a_malformed_proxy_response(response: Any) -> None:
    """API Gateway turns a malformed Lambda proxy response into a 502."""
    with pytest.raises(gateway.GatewayError) as caught:
        gateway._check_proxy_response(response)
    assert caught.value.status == 502


HANDLERS = """
import time

def boom(event, context):
    raise ValueError("bug")

def slow(event, context):
    time.sleep(2)
    return {"statusCode": 200, "body": "late"}

def fine(event, context):
    return {
        "statusCode": 201,
        "headers": {"X-One": 1},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": "{}",
    }
"""


@pytest.fixture
def fake_package(tmp_path: Path) -> Iterator[str]:
    (tmp_path / "fake_handlers.py").write_text(HANDLERS)
    sys.path.insert(0, str(tmp_path))
    yield "fake_handlers"
    sys.path.remove(str(tmp_path))
    sys.modules.pop("fake_handlers", None)


@pytest.mark.parametrize("handler", ["boom", "slow"])
def test_gateway_answers_502_when_the_function_fails_or_times_out(
    fake_package: str, handler: str
) -> None:
    """A raising or timed-out function is API Gateway's 502, not a hang or a traceback."""
    route = {"method": "GET", "path": "/x", "handler": f"{fake_package}.{handler}"}
    region = _region(routes=[route], timeout_seconds=0.5)
    found, _ = region.resolve("GET", "/x")
    started = time.monotonic()
    with pytest.raises(gateway.GatewayError) as caught:
        region.invoke(found, {})
    assert caught.value.status == 502 and time.monotonic() - started < 1.5


def test_gateway_turns_the_proxy_response_into_http(fake_package: str) -> None:
    """Status, single and multi-value headers, body: as API Gateway maps them."""
    route = {"method": "POST", "path": "/x", "handler": f"{fake_package}.fine"}
    region = _region(routes=[route])
    found, _ = region.resolve("POST", "/x")
    response, cold = region.invoke(found, {})
    status, headers, body = gateway._http_response(response)
    assert (status, body) == (201, b"{}")
    assert ("X-One", "1") in headers
    assert [v for k, v in headers if k == "Set-Cookie"] == ["a=1", "b=2"]
    assert cold > 0 and region.invoke(found, {})[1] == 0.0  # imported once: one cold start


def test_seeded_cache_reads_as_the_bundled_career() -> None:
    """The O*NET documents made from the bundled data give the bundled answers back."""
    sys.path.insert(0, str(ROOT / "functions"))
    from vetroi_api.cache import Lookup, Source
    from vetroi_api.routes import _crosswalk_careers, career_body

    for soc, bundled in onetdata.careers().items():
        body = career_body(soc, Lookup(onetdata.occupation(bundled), Source.CACHE))
        assert body == {**bundled, "source": "cache"}, soc
    crosswalks = onetdata.military()
    document = onetdata.crosswalk("11B", crosswalks, onetdata.careers())
    title, careers = _crosswalk_careers(Lookup(document, Source.CACHE), "army", "11B")
    assert title == crosswalks["army"]["11B"]["title"]
    assert [soc for soc, _ in careers] == crosswalks["army"]["11B"]["careers"]


def test_drill_measures_recovery_from_the_last_failure() -> None:
    """Recovery: the first request sent after the last failure; never, if the last failed."""
    result = Result("primary down")
    result.post = [
        Outcome(at, ok, True, 0.01, "200" if ok else "502")
        for at, ok in ((0.0, False), (0.5, False), (1.0, True), (1.5, True))
    ]
    result.get = [Outcome(at, True, at != 0.2, 0.01, "200") for at in (0.2, 0.7, 1.2)]
    row = result.row()
    assert (row["recoveredAfter"], row["postCorrect"], row["getCorrect"]) == (0.7, 50.0, 100.0)
    # Correct but without CORS is of no use to a browser.
    assert (row["getCors"], row["getUsable"], row["postUsable"]) == (66.7, 66.7, 50.0)
    assert row["failures"] == {"POST 502": 2}
    assert "primary down" in table([row], 2.8) and "0.7 s" in table([row], 2.8)
    result.post.append(Outcome(2.0, False, True, 0.01, "502"))
    assert result.recovered_after() is None
    assert Result("fine", get=result.get).recovered_after() == 0.0


def test_real_onet_seeds_the_cache_as_expired() -> None:
    """With O*NET credentials the bundled cache is expired, so the regions ask O*NET first;
    without them it is fresh unless --stale-cache asks otherwise."""
    real = from_environment([], {"ONET_USERNAME": "user", "ONET_PASSWORD": "secret"})
    assert real.onet_effective_mode == "real" and real.cache_seeded_expired
    offline = from_environment([], {})
    assert offline.onet_effective_mode == "off" and not offline.cache_seeded_expired
    assert from_environment(["--stale-cache"], {}).cache_seeded_expired
    assert not from_environment(["--onet", "replay"], {}).cache_seeded_expired


def test_a_port_refused_for_permission_says_so(monkeypatch: Any) -> None:
    """EACCES (a port below 1024 without root) is named as such, not as a port in use."""

    def refuse(self: socket.socket, address: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(socket.socket, "bind", refuse)
    with pytest.raises(PortInUseError) as caught:
        check_port_free("127.0.0.1", 80)
    message = str(caught.value)
    assert "permission denied; ports below 1024 need root" in message
    assert "already in use" not in message and "VETROI_PORT=8000" in message


def test_config_rejects_bad_settings_with_a_clear_error() -> None:
    """A bad origin or threshold names the setting."""
    with pytest.raises(ConfigError, match="origin 'localhost:3000'"):
        from_environment([], {"VETROI_ORIGINS": "localhost:3000"})
    with pytest.raises(ConfigError, match="health threshold 0"):
        DemoConfig(health_threshold=0).check()
    assert from_environment([], {"VETROI_PORT": "8123"}).port == 8123


# The whole environment over real sockets


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    running = RunningDemo(
        tmp_path_factory.mktemp("demo"),
        DEMO_ARGS,
        {"VETROI_ORIGINS": f"{ORIGIN},http://localhost:3000"},
    ).start()
    yield running
    running.stop()


@pytest.fixture
def settled(demo: RunningDemo) -> RunningDemo:
    demo.settle()
    return demo


def _cors(response: requests.Response) -> bool:
    return response.headers.get("Access-Control-Allow-Origin") == ORIGIN


def test_every_route_answers_through_the_edge_with_cors(settled: RunningDemo) -> None:
    """Health, career, recommend, uploads, preflight and errors, all readable by a browser."""
    http, url = settled.http, settled.url
    answers = {
        "health": http.get(f"{url}/health"),
        "career": http.get(f"{url}/career/11-1011.00"),
        "recommend": http.post(f"{url}/recommend", json={"branch": "army", "code": "68W"}),
        "uploads": http.post(f"{url}/uploads", json={"contentType": "application/pdf"}),
        "preflight": http.options(
            f"{url}/recommend",
            headers={
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        ),
        "bad body": http.post(f"{url}/recommend", data="{not json"),
        "bad code": http.get(f"{url}/career/11-1011"),
        "no route": http.get(f"{url}/nowhere"),
    }
    statuses = {name: r.status_code for name, r in answers.items()}
    assert statuses == {
        "health": 200,
        "career": 200,
        "recommend": 200,
        "uploads": 201,
        "preflight": 204,
        "bad body": 400,
        "bad code": 400,
        "no route": 403,
    }, {name: r.text[:200] for name, r in answers.items()}
    assert all(_cors(r) for r in answers.values()), {n: dict(r.headers) for n, r in answers.items()}
    assert answers["career"].json()["socCode"] == "11-1011.00"
    assert answers["career"].headers["X-Data-Source"] == "onet"  # the cache is seeded stale
    assert answers["recommend"].json()["careers"]
    assert answers["uploads"].json()["url"].startswith("http://127.0.0.1:")
    assert "POST" in answers["preflight"].headers["Access-Control-Allow-Methods"]
    assert answers["no route"].json()["error"]["code"] == "GATEWAY_ERROR"
    assert answers["bad body"].json()["error"]["code"]


def test_edge_caches_career_answers(settled: RunningDemo) -> None:
    """The second GET of a career comes from the edge's cache."""
    first = settled.http.get(f"{settled.url}/career/15-1232.00")
    second = settled.http.get(f"{settled.url}/career/15-1232.00")
    assert first.headers["X-Cache"].startswith(("Miss", "RefreshHit"))
    assert second.headers["X-Cache"].startswith("Hit") and second.json() == first.json()
    assert _cors(second)


def test_origins_not_allowed_get_no_cors_headers(settled: RunningDemo) -> None:
    """The edge's policy, not the region's, decides: unknown origin or none, no header."""
    evil = requests.get(f"{settled.url}/health", headers={"Origin": "https://evil.example"})
    plain = requests.get(f"{settled.url}/health")
    for response in (evil, plain):
        assert response.status_code == 200
        assert "Access-Control-Allow-Origin" not in response.headers


def _first_success(demo: RunningDemo, started: float, timeout: float) -> tuple[float, str]:
    """Send POST /recommend until one succeeds; (seconds since `started`, region)."""
    while time.monotonic() - started < timeout:
        response = demo.http.post(
            f"{demo.url}/recommend", json={"branch": "navy", "code": "HM"}, timeout=10
        )
        assert _cors(response), (response.status_code, dict(response.headers))
        if response.status_code == 200:
            return time.monotonic() - started, response.headers["X-Vetroi-Source"]
        time.sleep(0.05)
    raise AssertionError(f"POST did not recover within {timeout} s")


@pytest.mark.parametrize("fault", ["down", "hung"])
def test_backup_takes_over_within_the_budget(settled: RunningDemo, fault: str) -> None:
    """Killed or hung primary: the edge moves traffic within the budget, POSTs then reach the
    backup, GETs never fail."""
    assert settled.faults(primary=fault).status_code == 200
    faulted_at, started = time.time(), time.monotonic()
    soc = {"down": "29-2042.00", "hung": "29-2043.00"}[fault]  # not in the edge's cache yet
    career = settled.http.get(f"{settled.url}/career/{soc}", timeout=10)
    assert career.status_code == 200 and _cors(career)  # the origin group's per-request fallback
    assert career.headers["X-Vetroi-Source"] in ("backup", "static")

    recovered, region = _first_success(settled, started, BUDGET + 4 + SLACK)
    status = settled.status()
    assert status["serving"] == "backup" and region == "backup"
    # The moment the edge's health record turned the primary unhealthy, which moved the
    # failover record: within the budget the settings imply, hung or killed alike.
    moved = status["regions"]["primary"]["health"]["changedAt"] - faulted_at
    assert 0 < moved <= BUDGET + SLACK, (moved, BUDGET)
    # A hung primary holds a request already sent to it until the origin timeout (4 s).
    assert recovered <= BUDGET + SLACK + (4 if fault == "hung" else 0), recovered

    assert settled.faults(primary="up").status_code == 200
    settled.wait_for(lambda s: s["serving"] == "primary", 15, "traffic back on the primary")


def test_table_down_moves_traffic_to_the_backup(settled: RunningDemo) -> None:
    """The primary's table replica unreachable: its /health fails, so the record fails over."""
    settled.faults(table="down")
    took = settled.wait_for(lambda s: s["serving"] == "backup", 10, "failover on table down")
    assert took <= BUDGET + SLACK
    response = settled.http.post(f"{settled.url}/recommend", json={"branch": "army", "code": "11B"})
    assert response.status_code == 200 and response.headers["X-Vetroi-Source"] == "backup"


def test_what_one_region_caches_the_other_reads(settled: RunningDemo) -> None:
    """The global table: O*NET's answer stored by the primary is fresh in the backup too."""
    url = f"{settled.url}/career/13-1071.00"
    first = settled.http.get(url)
    assert (first.headers["X-Vetroi-Source"], first.headers["X-Data-Source"]) == (
        "primary",
        "onet",
    )
    # The replication counter also moves for other writes: wait for this entry in the backup's
    # replica itself, fresh as the primary stored it.
    backup_table = boto3.client(
        "dynamodb",
        region_name=BACKUP_REGION,
        endpoint_url=settled.status()["aws"]["endpoint"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    key = {"pk": {"S": "onet#online/occupations/13-1071.00/"}, "sk": {"S": "v1"}}

    def replicated(_: Any) -> bool:
        item = backup_table.get_item(TableName=TABLE_NAME, Key=key).get("Item")
        return item is not None and int(item["freshUntil"]["N"]) > time.time()

    settled.wait_for(replicated, 5, "the entry replicated to the backup")
    settled.faults(forceFailover=True)
    requests.post(f"{settled.url}/_demo/cache", json={"clear": True}, timeout=5)
    second = settled.http.get(url)
    assert (second.headers["X-Vetroi-Source"], second.headers["X-Data-Source"]) == (
        "backup",
        "cache",
    )


def test_onet_down_is_answered_from_the_stale_cache(settled: RunningDemo) -> None:
    """O*NET down: the function's own fallback answers; the region stays healthy."""
    settled.faults(onet="down")
    response = settled.http.get(f"{settled.url}/career/53-3032.00", timeout=10)
    assert response.status_code == 200 and _cors(response)
    assert response.headers["X-Data-Source"] == "stale-cache"
    assert settled.status()["serving"] == "primary"


def test_both_regions_down(settled: RunningDemo) -> None:
    """Nothing left: GET is served by the static bucket, POST gets the edge's 502, with CORS."""
    settled.faults(primary="down", backup="down")
    career = settled.http.get(f"{settled.url}/career/49-3023.00", timeout=10)
    assert career.status_code == 200 and career.headers["X-Vetroi-Source"] == "static"
    assert career.json()["source"] == "static"
    # The object's own headers, as the stacks store it.
    assert career.headers["Cache-Control"] == STATIC_CACHE_CONTROL
    assert career.headers["Content-Type"] == "application/json"
    post = settled.http.post(f"{settled.url}/recommend", json={"branch": "army", "code": "91B"})
    assert post.status_code == 502 and _cors(post)
    assert post.json()["error"]["code"] == "ORIGIN_UNREACHABLE"


def test_faults_rejects_unknown_names_and_values(settled: RunningDemo) -> None:
    """A bad fault is a 400 naming each bad field, and changes nothing."""
    response = settled.faults(primary="sideways", moon="down")
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert set(fields) == {"primary", "moon"}
    assert settled.status()["regions"]["primary"]["fault"] == "up"
    assert requests.post(f"{settled.url}/_demo/faults", data="[]").status_code == 400
    # A good switch beside a bad fault: neither is applied.
    mixed = settled.faults(forceFailover=True, primary="sideways")
    assert mixed.status_code == 400 and set(mixed.json()["error"]["fields"]) == {"primary"}
    assert settled.faults(forceFailover=None, backup="down").status_code == 400
    status = settled.status()
    assert not status["forceFailover"] and status["serving"] == "primary"
    assert status["regions"]["backup"]["fault"] == "up"


def test_controls_refuse_other_web_pages_and_host_names(settled: RunningDemo) -> None:
    """Another site's page (a text/plain post needs no preflight) or a rebound host name
    cannot set faults or switch the cache; the status page's own origin and curl can."""
    faults, cache = f"{settled.url}/_demo/faults", f"{settled.url}/_demo/cache"
    evil = {"Origin": "https://evil.example", "Content-Type": "text/plain"}
    refused = [
        requests.post(faults, data='{"backup": "down"}', headers=evil, timeout=5),
        requests.post(cache, data='{"enabled": false}', headers=evil, timeout=5),
        requests.post(faults, data='{"backup": "down"}', headers={"Origin": "null"}, timeout=5),
        requests.post(
            faults, json={"backup": "down"}, headers={"Host": f"evil.example:{settled.port}"}
        ),
    ]
    assert [r.status_code for r in refused] == [403] * 4, [r.text for r in refused]
    codes = [r.json()["error"]["code"] for r in refused]
    assert codes == ["FOREIGN_ORIGIN"] * 3 + ["FOREIGN_HOST"]
    status = settled.status()
    assert status["regions"]["backup"]["fault"] == "up" and status["edge"]["cache"]["enabled"]
    for own in (settled.url, f"http://localhost:{settled.port}"):
        host = own.removeprefix("http://")
        accepted = requests.post(
            faults, json={"onet": "up"}, headers={"Origin": own, "Host": host}, timeout=5
        )
        assert accepted.status_code == 200, accepted.text


def test_status_reports_regions_breaker_and_recent_requests(settled: RunningDemo) -> None:
    """Health as the edge sees it, the serving region, each region's breaker, recent sources."""
    settled.http.get(f"{settled.url}/career/43-5071.00")
    status = settled.status()
    assert status["serving"] == "primary"
    for role in ("primary", "backup"):
        region = status["regions"][role]
        assert region["health"]["healthy"] and region["fault"] == "up"
    settled.wait_for(
        lambda s: s["regions"]["primary"]["breaker"] == "closed", 5, "breaker state known"
    )
    assert set(status["breaker"]) == {"primary", "backup"}
    recent = status["recent"][0]
    assert (recent["path"], recent["source"]) == ("/career/43-5071.00", "primary")
    assert recent["cors"]
    assert status["edge"]["withoutCors"] == 0


def test_a_taken_port_is_refused_with_a_clear_message(demo: RunningDemo, tmp_path: Path) -> None:
    """A second environment on the same port stops at once and says what to do."""
    result = subprocess.run(
        [sys.executable, "-m", "localdemo", "--port", str(demo.port), "--work-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"port {demo.port} on 127.0.0.1 is already in use" in result.stderr
    assert "VETROI_PORT=" in result.stderr


def test_stops_cleanly_leaving_no_process_or_port(demo: RunningDemo) -> None:
    """Ctrl-C: exit code 0, every child process gone, every port closed (runs last)."""
    demo.faults(primary="hung")  # a stopped process must be stopped too
    assert demo.status()["edge"]["withoutCors"] == 0
    assert demo.stop() == 0
    time.sleep(0.2)
    assert demo.left_behind() == []
    assert "no process or port is left behind" in demo.output.read_text()

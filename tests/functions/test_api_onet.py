"""O*NET up, slow, down, failing or throttling: retries, the breaker and every fallback source.

A real HTTP server on localhost plays O*NET (see conftest); moto plays DynamoDB.
"""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from api_support import (
    REGION,
    TABLE,
    LambdaContext,
    OnetServer,
    call,
    free_port,
    make_event,
    silent_endpoint,
)
from vetroi_api import handlers
from vetroi_api.config import Config
from vetroi_api.errors import OnetUnavailable
from vetroi_api.onet import OnetClient, parse_retry_after

from localdemo.aws import create_table


def career(code: str = "11-1011.00", **context: Any) -> Any:
    event = make_event("v2", "GET", f"/career/{code}", path_params={"socCode": code})
    return call(handlers.career_handler, event, **context)


def breaker_state() -> str:
    onet = handlers.app().onet()
    assert onet is not None
    return onet.breaker_state


def test_career_from_onet_then_cache(aws: Any, onet: OnetServer) -> None:
    """O*NET answers once with basic auth; the next request is served by the cache."""
    first = career()
    second = career()

    assert first.status == 200, first
    assert first.body["source"] == "onet"
    assert first.body["description"].endswith("(live answer).")
    assert first.body["brightOutlook"] is True
    assert first.body["tasks"], "tasks missing from O*NET answers come from the static data"
    assert second.body["source"] == "cache"
    assert second.body["description"] == first.body["description"]
    assert onet.calls == 1
    assert onet.requests[0]["path"] == "/ws/online/occupations/11-1011.00/"
    assert onet.requests[0]["auth"] == "Basic " + base64.b64encode(b"demo:secret").decode()


def test_cache_item_shape(aws: Any, onet: OnetServer) -> None:
    """The cache item has the contract's keys and a TTL well after its freshness ends."""
    career()
    item = aws["dynamodb"].get_item(
        TableName=TABLE, Key={"pk": {"S": "onet#online/occupations/11-1011.00/"}, "sk": {"S": "v1"}}
    )["Item"]

    assert json.loads(item["body"]["S"])["code"] == "11-1011.00"
    assert int(item["expiresAt"]["N"]) > int(item["freshUntil"]["N"]) > time.time()


def test_stale_cache_when_onet_fails(aws: Any, onet: OnetServer) -> None:
    """An expired entry answers, marked stale-cache, when O*NET is failing."""
    aws["dynamodb"].put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "onet#online/occupations/33-3051.00/"},
            "sk": {"S": "v1"},
            "body": {"S": json.dumps({"code": "33-3051.00", "title": "Old title"})},
            "freshUntil": {"N": "0"},
            "expiresAt": {"N": str(int(time.time()) + 3600)},
        },
    )
    onet.mode = "error"
    response = career("33-3051.00")

    assert response.status == 200, response
    assert response.body["source"] == "stale-cache"
    assert response.body["title"] == "Old title"
    assert response.headers["X-Data-Source"] == "stale-cache"
    assert onet.calls == 3, "one call and two retries"


def test_expired_entry_refreshed_when_onet_is_up(aws: Any, onet: OnetServer) -> None:
    """An expired entry is replaced by O*NET's answer when O*NET answers."""
    aws["dynamodb"].put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "onet#online/occupations/11-1011.00/"},
            "sk": {"S": "v1"},
            "body": {"S": json.dumps({"code": "11-1011.00", "title": "Old title"})},
            "freshUntil": {"N": "0"},
        },
    )

    assert career().body["title"] == "Chief Executives"
    assert career().body["source"] == "cache"


def test_static_when_onet_errors_and_no_cache(aws: Any, onet: OnetServer) -> None:
    """500s with nothing cached: the bundled data answers after the retries are spent."""
    onet.mode = "error"
    response = career()

    assert response.status == 200, response
    assert response.body["source"] == "static"
    assert onet.calls == 3
    assert "max-age=60" in response.headers["Cache-Control"]


def test_503_when_nothing_can_answer(aws: Any, onet: OnetServer) -> None:
    """O*NET down, nothing cached, nothing bundled: a clear 503 with Retry-After."""
    onet.mode = "error"
    response = career("15-2051.00")

    assert response.status == 503, response
    assert response.body["error"]["code"] == "data_unavailable"
    assert response.headers["Access-Control-Allow-Origin"]


def test_retries_then_succeeds(aws: Any, onet: OnetServer) -> None:
    """Two 500s then an answer: the third attempt wins, the veteran never sees the errors."""
    onet.mode, onet.failures_left = "error", 2
    response = career()

    assert response.body["source"] == "onet"
    assert onet.calls == 3


def test_retry_after_is_honoured(aws: Any, onet: OnetServer, env: Any) -> None:
    """A 429 with Retry-After: 1 is waited out before the next attempt."""
    env(VETROI_ONET_RETRY_AFTER_MAX="1.5")
    onet.mode, onet.failures_left, onet.retry_after = "throttle", 1, "1"
    response = career()

    assert response.body["source"] == "onet", response
    assert onet.calls == 2
    gap = onet.requests[1]["at"] - onet.requests[0]["at"]
    assert gap >= 1.0, f"waited {gap:.3f}s instead of the second Retry-After asked for"


def test_long_retry_after_is_not_waited(aws: Any, onet: OnetServer) -> None:
    """A Retry-After longer than we can wait ends the call at once: fallback, one call."""
    onet.mode, onet.retry_after = "throttle", "120"
    started = time.monotonic()
    response = career()

    assert response.body["source"] == "static"
    assert onet.calls == 1
    assert time.monotonic() - started < 1


def test_slow_onet_times_out(aws: Any, onet: OnetServer) -> None:
    """O*NET that never answers costs the read timeout per attempt, within the budget."""
    onet.mode = "hang"
    started = time.monotonic()
    response = career()
    elapsed = time.monotonic() - started

    assert response.body["source"] == "static"
    assert onet.calls == 3
    assert 0.9 <= elapsed < 2.5, elapsed


def test_slow_but_within_timeout(aws: Any, onet: OnetServer) -> None:
    """A slow answer inside the read timeout is still taken."""
    onet.mode, onet.delay = "slow", 0.1
    response = career()

    assert response.body["source"] == "onet"
    assert onet.calls == 1


def test_onet_down(aws: Any, onet: OnetServer, env: Any) -> None:
    """Nothing listening at O*NET's address: connection refused, fallback in milliseconds."""
    env(VETROI_ONET_BASE_URL=f"http://127.0.0.1:{free_port()}/ws")
    started = time.monotonic()
    response = career()

    assert response.body["source"] == "static"
    assert time.monotonic() - started < 1


def test_request_deadline_bounds_onet(aws: Any, onet: OnetServer) -> None:
    """With little time left in the invocation, O*NET gets only what remains."""
    onet.mode = "hang"
    started = time.monotonic()
    response = career(remaining_ms=1_400)

    assert response.body["source"] == "static"
    assert time.monotonic() - started < 0.9


def test_a_call_waiting_for_another_spends_its_own_budget(aws: Any, onet: OnetServer) -> None:
    """Calls made at once through one client (the local demo's threads) wait for each other
    inside the breaker; none runs past the budget it started with, and the waits count."""
    onet.mode = "hang"
    config = Config.from_env()
    client = OnetClient(config, lambda: ("demo", "secret"))

    def timed_call() -> float:
        started = time.monotonic()
        with pytest.raises(OnetUnavailable):
            client.get_json("online/occupations/11-1011.00/")
        return time.monotonic() - started

    with ThreadPoolExecutor(max_workers=6) as pool:
        elapsed = list(pool.map(lambda _: timed_call(), range(6)))

    assert max(elapsed) < config.onet_budget_seconds + 0.4, elapsed
    assert client.breaker_state == "open"


def test_breaker_opens_and_closes(aws: Any, onet: OnetServer) -> None:
    """After 3 failed calls O*NET is left alone; after the cool-down one trial closes it."""
    onet.mode = "error"
    for _ in range(3):
        assert career().body["source"] == "static"
    assert breaker_state() == "open"
    calls = onet.calls

    started = time.monotonic()
    while_open = career()
    assert while_open.body["source"] == "static"
    assert onet.calls == calls, "an open breaker must not call O*NET"
    assert time.monotonic() - started < 0.2

    onet.mode = "ok"
    time.sleep(0.6)
    after = career()
    assert after.body["source"] == "onet"
    assert breaker_state() == "closed"
    assert onet.calls == calls + 1


def test_breaker_trial_failure_reopens(aws: Any, onet: OnetServer) -> None:
    """A failed trial call after the cool-down opens the breaker again."""
    onet.mode = "error"
    for _ in range(3):
        career()
    time.sleep(0.6)
    career()

    assert breaker_state() == "open"
    calls = onet.calls
    career()
    assert onet.calls == calls


def test_not_found_does_not_trip_breaker(aws: Any, onet: OnetServer) -> None:
    """O*NET's 404 is an answer: a 404 to the client, and the breaker stays closed."""
    for _ in range(5):
        response = career("15-2051.00")
        assert response.status == 404, response
        assert response.body["error"]["code"] == "not_found"
    assert breaker_state() == "closed"


def test_breaker_disabled(aws: Any, onet: OnetServer, env: Any) -> None:
    """With the breaker off, every request pays for O*NET's failure (the bench baseline)."""
    env(VETROI_BREAKER_ENABLED="false")
    onet.mode = "error"
    for _ in range(4):
        career()

    assert onet.calls == 12


def test_credentials_from_secrets_manager(aws: Any, onet: OnetServer, env: Any) -> None:
    """The secret's JSON gives the credentials, read once per container."""
    secrets = boto3.client("secretsmanager", region_name=REGION)
    arn = secrets.create_secret(
        Name="vetroi/onet", SecretString=json.dumps({"username": "svc", "password": "pw"})
    )["ARN"]
    env(VETROI_ONET_SECRET=arn, ONET_USERNAME=None, ONET_PASSWORD=None)
    career("11-1011.00")
    career("33-3051.00")

    expected = "Basic " + base64.b64encode(b"svc:pw").decode()
    assert [r["auth"] for r in onet.requests] == [expected, expected]


def test_unreadable_secret_falls_back(aws: Any, onet: OnetServer, env: Any) -> None:
    """A missing secret is an O*NET outage for the caller: the static data answers."""
    env(VETROI_ONET_SECRET="vetroi/missing", ONET_USERNAME=None, ONET_PASSWORD=None)
    response = career()

    assert response.body["source"] == "static"
    assert onet.calls == 0


def test_recommend_from_onet(aws: Any, onet: OnetServer) -> None:
    """O*NET's military search ranks the careers; details come through the cache."""
    event = make_event("v1", "POST", "/recommend", body={"branch": "army", "code": "11b"})
    response = call(handlers.recommend_handler, event)

    assert response.status == 200, response
    assert response.body["source"] == "onet"
    assert response.body["militaryTitle"] == "Infantryman"
    assert [c["socCode"] for c in response.body["careers"]] == [
        "33-3051.00",
        "33-9032.00",
        "11-1011.00",
    ]
    assert {c["source"] for c in response.body["careers"]} == {"onet"}
    assert onet.requests[0]["path"] == "/ws/veterans/military"

    again = call(handlers.recommend_handler, event)
    assert again.body["source"] == "cache"
    assert {c["source"] for c in again.body["careers"]} == {"cache"}


def test_recommend_code_of_other_branch(aws: Any, onet: OnetServer) -> None:
    """O*NET knows HM for the Navy only: asked for the Coast Guard it is an unknown code."""
    event = make_event("v2", "POST", "/recommend", body={"branch": "coast_guard", "code": "HM"})
    response = call(handlers.recommend_handler, event)
    navy = make_event("v2", "POST", "/recommend", body={"branch": "navy", "code": "HM"})

    assert response.status == 404, response
    assert response.body["error"]["code"] == "unknown_code"
    assert call(handlers.recommend_handler, navy).body["militaryTitle"] == "Hospital Corpsman"


def test_recommend_unknown_code_from_onet(aws: Any, onet: OnetServer) -> None:
    """A code O*NET has no careers for is a 404 naming the code."""
    event = make_event("v2", "POST", "/recommend", body={"branch": "army", "code": "99Z"})
    response = call(handlers.recommend_handler, event)

    assert response.status == 404, response
    assert response.body["error"]["code"] == "unknown_code"
    assert "code" in response.body["error"]["fields"]


def test_recommend_onet_down_uses_static(aws: Any, onet: OnetServer) -> None:
    """O*NET failing: the static crosswalk and careers answer, each marked static."""
    onet.mode = "error"
    event = make_event("v1", "POST", "/recommend", body={"branch": "navy", "code": "IT"})
    response = call(handlers.recommend_handler, event)

    assert response.status == 200, response
    assert response.body["source"] == "static"
    assert {c["source"] for c in response.body["careers"]} == {"static"}


def test_backoff_is_full_jitter(env: Any) -> None:
    """Waits between attempts are random, from zero up to the capped exponential."""
    env(
        VETROI_ONET_BASE_URL=f"http://127.0.0.1:{free_port()}/ws",
        VETROI_ONET_ATTEMPTS="4",
        VETROI_ONET_BACKOFF_BASE="0.1",
        VETROI_ONET_BACKOFF_MAX="0.3",
        VETROI_BREAKER_FAIL_MAX="1000",
    )
    waits: list[float] = []
    client = OnetClient(Config.from_env(), lambda: ("u", "p"), sleep=waits.append)
    for _ in range(30):
        with pytest.raises(OnetUnavailable):
            client.get_json("online/occupations/11-1011.00/")

    assert len(waits) == 90, "three waits per call of four attempts"
    firsts, seconds, thirds = waits[0::3], waits[1::3], waits[2::3]
    assert all(0 <= w <= 0.1 for w in firsts)
    assert all(0 <= w <= 0.2 for w in seconds)
    assert all(0 <= w <= 0.3 for w in thirds)
    assert len(set(waits)) > 80, "full jitter: waits differ"
    assert max(thirds) > 0.2, "the third wait may reach past the second's cap"


@pytest.mark.parametrize(
    "value,expected",
    [("3", 3.0), ("0", 0.0), (None, None), ("soon", None), ("-1", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Retry-After in seconds is read; nonsense is ignored."""
    assert parse_retry_after(value) == expected


def test_parse_retry_after_http_date() -> None:
    """Retry-After as an HTTP date gives the seconds until then."""
    from email.utils import formatdate

    seconds = parse_retry_after(formatdate(time.time() + 30, usegmt=True))

    assert seconds is not None and 28 <= seconds <= 31


def test_context_fixture_default() -> None:
    """The fake context leaves ten seconds, like the functions' default timeout."""
    assert LambdaContext().get_remaining_time_in_millis() == 10_000


def test_fallback_reason_on_the_request_line(
    aws: Any, onet: OnetServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An O*NET failure is one field of the request's log line, not a line of its own."""
    onet.mode = "error"
    career()

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1, lines
    assert lines[0]["source"] == "static"
    assert lines[0]["onetError"] == "O*NET answered 500"


def test_trickling_answer_is_bounded_by_the_budget(aws: Any, onet: OnetServer) -> None:
    """An answer sent a byte at a time, each within the read timeout, ends with the budget."""
    onet.mode, onet.delay = "trickle", 0.05
    started = time.monotonic()
    response = career()
    elapsed = time.monotonic() - started

    assert response.status == 200, response
    assert response.body["source"] == "static"
    assert onet.calls == 1, "no time was left for another attempt"
    assert elapsed < 2 + 0.5, f"{elapsed:.2f}s for a budget of 2s"


def test_trickling_answer_counts_against_the_breaker(aws: Any, onet: OnetServer) -> None:
    """O*NET too slow to finish its answers is an outage: the breaker opens."""
    onet.mode, onet.delay = "trickle", 0.05
    for _ in range(3):
        career(remaining_ms=1_600)

    assert breaker_state() == "open"


@pytest.mark.parametrize(
    "cached",
    [
        {"code": "11-1011.00", "tasks": 5},
        {"code": "11-1011.00", "tasks": {"task": 2.5}},
        {"code": "11-1011.00", "job_zone": True},
        {"code": "11-1011.00", "job_zone": {"value": 99}},
    ],
)
def test_career_from_an_odd_onet_answer(aws: Any, cached: dict[str, Any]) -> None:
    """An O*NET answer (here, its cached copy) of an unexpected shape is not a 500."""
    aws["dynamodb"].put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "onet#online/occupations/11-1011.00/"},
            "sk": {"S": "v1"},
            "body": {"S": json.dumps(cached)},
            "freshUntil": {"N": str(int(time.time()) + 3600)},
        },
    )
    response = career()

    assert response.status == 200, response
    assert response.body["source"] == "cache"
    assert response.body["jobZone"] == 5, "the bundled job zone stands in for a bad one"
    assert all(isinstance(task, str) for task in response.body["tasks"])


def test_hung_table_costs_one_failed_call(env: Any) -> None:
    """A table that accepts connections and never answers is left alone after one failure:
    POST /recommend, which reads the table once per career, costs one timeout, not six."""
    with silent_endpoint() as url:
        env(
            AWS_ENDPOINT_URL=url,
            VETROI_AWS_READ_TIMEOUT="0.3",
            VETROI_AWS_MAX_ATTEMPTS="1",
        )
        event = make_event("v1", "POST", "/recommend", body={"branch": "army", "code": "11B"})
        started = time.monotonic()
        response = call(handlers.recommend_handler, event)
        elapsed = time.monotonic() - started

    assert response.status == 200, response
    assert response.body["source"] == "static"
    assert len(response.body["careers"]) == 5
    assert elapsed < 0.3 + 0.5, f"{elapsed:.2f}s: the table was called after it hung"


def test_table_error_answers_do_not_skip_the_table(aws: Any) -> None:
    """An error the table answers with (here, no such table) is fast: the next call tries again."""
    aws["dynamodb"].delete_table(TableName=TABLE)
    assert career().body["source"] == "static"
    create_table(aws["dynamodb"], TABLE)
    aws["dynamodb"].put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": "onet#online/occupations/11-1011.00/"},
            "sk": {"S": "v1"},
            "body": {"S": json.dumps({"code": "11-1011.00", "title": "Cached"})},
            "freshUntil": {"N": str(int(time.time()) + 3600)},
        },
    )

    assert career().body["source"] == "cache"


def test_answer_too_large_for_one_item_is_served_not_cached(
    aws: Any, onet: OnetServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An O*NET answer over DynamoDB's 400 KB item limit answers; the failed write is a miss."""
    import api_support

    big = ("Chief Executives", "x" * 450_000)
    monkeypatch.setitem(api_support.OCCUPATIONS, "11-1011.00", big)
    first, second = career(), career()

    assert (first.status, second.status) == (200, 200), (first, second)
    assert [first.body["source"], second.body["source"]] == ["onet", "onet"]
    assert onet.calls == 2
    assert "Item" not in aws["dynamodb"].get_item(
        TableName=TABLE, Key={"pk": {"S": "onet#online/occupations/11-1011.00/"}, "sk": {"S": "v1"}}
    )

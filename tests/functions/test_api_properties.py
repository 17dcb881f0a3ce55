"""Property tests: malformed events, bodies and codes never get a 5xx or lose CORS headers."""

from __future__ import annotations

import json
from typing import Any

from api_support import ORIGIN, load_event, make_event
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from vetroi_api import handlers

HANDLERS = [
    handlers.lambda_handler,
    handlers.recommend_handler,
    handlers.career_handler,
    handlers.health_handler,
    handlers.uploads_handler,
]
SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
event_fields = st.sampled_from(
    [
        "httpMethod",
        "path",
        "rawPath",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "pathParameters",
        "requestContext",
        "body",
        "isBase64Encoded",
        "warmup",
        "source",
        "method",
    ]
)


def check(raw: Any) -> None:
    assert isinstance(raw, dict) and set(raw) >= {"statusCode", "headers", "body"}, raw
    assert raw["statusCode"] < 500, raw
    headers = raw["headers"]
    assert headers.get("Access-Control-Allow-Origin") == ORIGIN, headers
    assert "OPTIONS" in headers["Access-Control-Allow-Methods"]
    if raw["body"]:
        body = json.loads(raw["body"])
        if raw["statusCode"] >= 400:
            assert set(body["error"]) >= {"code", "message"}, body


@SETTINGS
@given(event=json_values, which=st.sampled_from(HANDLERS))
def test_any_json_event(aws: Any, event: Any, which: Any) -> None:
    """Any JSON value as the event: a 4xx or a success, with CORS, or a warm-up answer."""
    raw = which(event, None)
    if raw == {"warm": True}:
        return
    if isinstance(event, dict) and "Access-Control-Allow-Origin" not in raw["headers"]:
        raise AssertionError(raw)
    assert raw["statusCode"] < 500, raw
    assert "Access-Control-Allow-Methods" in raw["headers"]


@SETTINGS
@given(
    kind=st.sampled_from(["v1", "v2"]),
    changes=st.dictionaries(event_fields, json_values, max_size=4),
    which=st.sampled_from(HANDLERS),
)
def test_mutated_real_events(aws: Any, kind: str, changes: dict[str, Any], which: Any) -> None:
    """Real event shapes with fields replaced by anything: never a 5xx, never without CORS."""
    event = load_event(kind)
    event["headers"] = {"Origin": ORIGIN}
    event.update(changes)
    if any(k in changes for k in ("warmup", "source")):
        changes_warm = changes.get("warmup") is True or changes.get("source") == "aws.events"
        if changes_warm:
            return
    if isinstance(event.get("headers"), dict):
        event["headers"]["Origin"] = ORIGIN
    else:
        event["multiValueHeaders"] = {"Origin": [ORIGIN]}
    raw = which(event, None)
    check(raw)


recommend_bodies = st.fixed_dictionaries(
    {},
    optional={
        "branch": st.sampled_from(["army", "Navy", "air force", "USMC", "coast_guard", "x"])
        | json_values,
        "code": st.sampled_from(["11B", "68w", "HM", "3D0X2", "0311", "BM", "99Z"])
        | st.text(max_size=10)
        | json_values,
        "educationLevel": st.sampled_from(["bachelor", "high_school"]) | json_values,
        "state": st.sampled_from(["TX", "ca", "ZZ"]) | json_values,
        "limit": st.integers(-3, 20) | json_values,
    },
)


@SETTINGS
@given(body=recommend_bodies | json_values, kind=st.sampled_from(["v1", "v2"]))
def test_recommend_bodies(aws: Any, body: Any, kind: str) -> None:
    """Any body to POST /recommend: 200, 400 or 404, always JSON with CORS."""
    raw = handlers.recommend_handler(make_event(kind, "POST", "/recommend", body=body), None)

    check(raw)
    assert raw["statusCode"] in (200, 400, 404), raw


@SETTINGS
@given(
    code=st.text(max_size=16) | st.from_regex(r"\A\d{2}-\d{4}\.\d{2}\Z"),
    kind=st.sampled_from(["v1", "v2"]),
)
def test_career_codes(aws: Any, code: str, kind: str) -> None:
    """Any socCode: a career, a 400 for a bad format or a 404 for an unknown code."""
    event = make_event(kind, "GET", "/career/x", path_params={"socCode": code})
    raw = handlers.career_handler(event, None)

    check(raw)
    assert raw["statusCode"] in (200, 400, 404), raw


@SETTINGS
@given(
    method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
    | st.text(max_size=8),
    path=st.text(max_size=40) | st.sampled_from(["/career/", "/recommend/", "//health", "/"]),
    body=st.none() | st.text(max_size=40),
)
def test_monolith_any_request(aws: Any, method: str, path: str, body: str | None) -> None:
    """The monolith with any method and path: never a 5xx, always CORS."""
    raw = handlers.lambda_handler(make_event("v2", method, path, body=body), None)

    check(raw)


onet_keys = st.sampled_from(
    [
        "title",
        "description",
        "tags",
        "bright_outlook",
        "job_zone",
        "value",
        "tasks",
        "task",
        "statement",
        "sample_of_reported_job_titles",
        "military_matches",
        "match",
        "branch",
        "code",
        "career",
    ]
)
onet_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(onet_keys, children, max_size=4)
    ),
    max_leaves=12,
)
onet_answers = st.dictionaries(onet_keys, onet_values, max_size=6)


@SETTINGS
@given(answer=onet_answers, crosswalk=onet_answers, route=st.sampled_from(["career", "recommend"]))
@example(answer={"tasks": 1}, crosswalk={}, route="career")
@example(answer={"job_zone": True}, crosswalk={"career": {"code": 5}}, route="recommend")
def test_any_onet_answer(
    aws: Any,
    env: Any,
    monkeypatch: Any,
    answer: dict[str, Any],
    crosswalk: dict[str, Any],
    route: str,
) -> None:
    """O*NET's answers are input too: whatever JSON object it sends, never a 5xx."""
    from vetroi_api.cache import Cache
    from vetroi_api.onet import OnetClient

    env(ONET_USERNAME="u", ONET_PASSWORD="p")
    # Every example's answer is served as O*NET's, not an earlier example's from the cache.
    monkeypatch.setattr(Cache, "get", lambda self, path: None)
    monkeypatch.setattr(Cache, "put", lambda self, path, value: None)
    crosswalk = {
        "military_matches": {"match": [{"branch": "army", "code": "11B"}]},
        "career": [{"code": "11-1011.00"}, {"code": "33-3051.00"}],
        **crosswalk,
    }

    def get_json(self: Any, path: str, deadline: Any = None) -> dict[str, Any]:
        return crosswalk if path.startswith("veterans/") else answer

    monkeypatch.setattr(OnetClient, "get_json", get_json)
    if route == "career":
        event = make_event("v2", "GET", "/career/11-1011.00", path_params={"socCode": "11-1011.00"})
        raw = handlers.career_handler(event, None)
    else:
        event = make_event("v1", "POST", "/recommend", body={"branch": "army", "code": "11B"})
        raw = handlers.recommend_handler(event, None)

    check(raw)

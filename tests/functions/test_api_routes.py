"""Every route in both event formats: status, body shape and CORS headers."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from api_support import FUNCTIONS, ORIGIN, OTHER_ORIGIN, LambdaContext, call, make_event
from vetroi_api import handlers

KINDS = ["v1", "v2"]


def assert_cors(response: Any, origin: str = ORIGIN) -> None:
    assert response.headers["Access-Control-Allow-Origin"] == origin, response.headers
    assert response.headers["Vary"] == "Origin"
    assert "OPTIONS" in response.headers["Access-Control-Allow-Methods"]


@pytest.mark.parametrize("kind", KINDS)
def test_career_static_without_onet(aws: Any, kind: str) -> None:
    """No O*NET credentials: the bundled data answers 11-1011.00, marked static."""
    event = make_event(kind, "GET", "/career/11-1011.00", path_params={"socCode": "11-1011.00"})
    response = call(handlers.career_handler, event)

    assert response.status == 200, response
    assert response.body["socCode"] == "11-1011.00"
    assert response.body["title"] == "Chief Executives"
    assert response.body["source"] == "static"
    assert response.headers["X-Data-Source"] == "static"
    assert "stale-if-error=" in response.headers["Cache-Control"]
    assert "max-age=" in response.headers["Cache-Control"]
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_monolith_routes_by_the_matched_template(aws: Any, kind: str) -> None:
    """The template API Gateway matched decides the route, whatever the path's last segment."""
    # A base path mapping lengthens the path; the template stays the route's.
    event = make_event(kind, "GET", "/api/career/29-2042.00", template="/career/{socCode}")
    event["pathParameters"] = {"socCode": "29-2042.00"}
    response = call(handlers.lambda_handler, event)
    assert response.status == 200, response
    assert response.body["title"] == "Emergency Medical Technicians"

    # `/career/recommend` is a career code, not the recommend route: a bad code, a 405 for POST.
    response = call(handlers.lambda_handler, make_event(kind, "GET", "/career/recommend"))
    assert response.status == 400, response
    assert list(response.body["error"]["fields"]) == ["socCode"]
    response = call(handlers.lambda_handler, make_event(kind, "POST", "/career/recommend", body={}))
    assert response.status == 405, response
    assert response.headers["Allow"] == "GET,OPTIONS"
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_monolith_unknown_template_is_404(aws: Any, kind: str) -> None:
    """A template the API does not have is a 404, even when its path ends like a route."""
    response = call(
        handlers.lambda_handler, make_event(kind, "GET", "/x/health", template="/x/health")
    )

    assert response.status == 404, response
    assert response.body == {"error": {"code": "not_found", "message": "No such route."}}
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "method,path",
    [
        ("GET", "/foo/career/11-1011.00"),
        ("GET", "/career/11-1011.00/x"),
        ("POST", "/career/recommend/recommend"),
        ("GET", "/prod/health"),
        ("GET", "/healthz"),
        ("GET", "/career"),
    ],
)
def test_monolith_without_template_matches_whole_paths(
    aws: Any, kind: str, method: str, path: str
) -> None:
    """Without a template (catch-all route) the path must be a route's, segment for segment."""
    event = make_event(kind, method, path, template=None)
    response = call(handlers.lambda_handler, event)

    assert response.status == 404, response
    assert response.body["error"]["code"] == "not_found"
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_monolith_without_template_routes_a_route_path(aws: Any, kind: str) -> None:
    """A catch-all event for a route's own path reaches that route, path parameter included."""
    event = make_event(kind, "GET", "/career/29-2042.00", template=None)
    response = call(handlers.lambda_handler, event)

    assert response.status == 200, response
    assert response.body["title"] == "Emergency Medical Technicians"


def test_monolith_strips_the_http_api_stage_only(aws: Any) -> None:
    """An HTTP API named stage leads rawPath and is skipped once; any other prefix is a 404."""
    event = make_event("v2", "GET", "/career/29-2042.00", template=None, stage="prod")
    assert event["rawPath"] == "/prod/career/29-2042.00"
    response = call(handlers.lambda_handler, event)
    assert response.status == 200, response
    assert response.body["title"] == "Emergency Medical Technicians"

    for event in (
        # The same path under the $default stage, or under another stage than the event's.
        make_event("v2", "GET", "/prod/career/29-2042.00", template=None),
        make_event("v2", "GET", "/prod/career/29-2042.00", template=None, stage="beta"),
        # Two stage-like segments: only one is ever skipped.
        make_event("v2", "GET", "/prod/health", template=None, stage="prod"),
        # A REST event's path never carries its stage: nothing is skipped.
        make_event("v1", "GET", "/prod/career/29-2042.00", template=None),
    ):
        response = call(handlers.lambda_handler, event)
        assert response.status == 404, (event.get("rawPath") or event["path"], response)
        assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "code",
    ["11-1011", "1-1011.00", "abc", "11-1011.00x", "%00", "11-1011.00\n", "١١-١٠١١.٠٠"],
)
def test_career_bad_code(aws: Any, kind: str, code: str) -> None:
    """A malformed O*NET-SOC code is a 400 naming the field."""
    event = make_event(kind, "GET", f"/career/{code}", path_params={"socCode": code})
    response = call(handlers.career_handler, event)

    assert response.status == 400, response
    assert response.body["error"]["code"] == "invalid_request"
    assert "socCode" in response.body["error"]["fields"]
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_career_unknown_code_no_data(aws: Any, kind: str) -> None:
    """Without O*NET, a code the static data does not know is a 404."""
    event = make_event(kind, "GET", "/career/99-9999.99", path_params={"socCode": "99-9999.99"})
    response = call(handlers.career_handler, event)

    assert response.status == 404, response
    assert response.body["error"]["code"] == "not_found"
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_recommend_static(aws: Any, kind: str) -> None:
    """Army 68W without O*NET: careers from the static crosswalk, ranked, with details."""
    body = {"branch": "army", "code": "68w", "educationLevel": "high_school", "state": "tx"}
    response = call(handlers.recommend_handler, make_event(kind, "POST", "/recommend", body=body))

    assert response.status == 200, response
    assert response.body["branch"] == "army"
    assert response.body["code"] == "68W"
    assert response.body["state"] == "TX"
    assert response.body["militaryTitle"] == "Combat Medic Specialist"
    assert response.body["source"] == "static"
    careers = response.body["careers"]
    assert [c["rank"] for c in careers] == list(range(1, len(careers) + 1))
    assert {c["socCode"] for c in careers} >= {"29-2042.00", "29-1141.00"}
    assert all(c["title"] and c["description"] for c in careers)
    assert_cors(response)


def test_recommend_education_moves_harder_careers_down(aws: Any) -> None:
    """With a high-school education, careers needing more preparation rank last."""
    body = {"branch": "air_force", "code": "10C0", "educationLevel": "high_school"}
    response = call(handlers.lambda_handler, make_event("v2", "POST", "/recommend", body=body))

    fits = [c["educationFit"] for c in response.body["careers"]]
    assert fits == sorted(fits, key=lambda fit: fit == "needs_more"), fits
    assert "needs_more" in fits


@pytest.mark.parametrize("kind", KINDS)
def test_recommend_names_every_bad_field(aws: Any, kind: str) -> None:
    """Every bad field is named in one 400."""
    body = {"branch": "army", "code": "3D0X2", "educationLevel": "phd", "state": "ZZ", "limit": 0}
    response = call(handlers.recommend_handler, make_event(kind, "POST", "/recommend", body=body))

    assert response.status == 400, response
    assert set(response.body["error"]["fields"]) == {"code", "educationLevel", "state", "limit"}
    assert "11B" in response.body["error"]["fields"]["code"]
    assert_cors(response)


@pytest.mark.parametrize(
    "body",
    [{}, {"branch": "army"}, {"code": "11B"}, {"branch": "pirates", "code": "11B"}],
)
def test_recommend_missing_fields(aws: Any, body: dict[str, Any]) -> None:
    """Missing or unknown branch and code are named."""
    response = call(handlers.recommend_handler, make_event("v1", "POST", "/recommend", body=body))

    assert response.status == 400, response
    assert set(response.body["error"]["fields"]) & {"branch", "code"}


@pytest.mark.parametrize("raw", ["", "not json", "[1, 2]", '"text"', "{"])
def test_recommend_bad_json(aws: Any, raw: str) -> None:
    """A body that is not a JSON object is a 400 invalid_body."""
    response = call(handlers.recommend_handler, make_event("v2", "POST", "/recommend", body=raw))

    assert response.status == 400, response
    assert response.body["error"]["code"] == "invalid_body"
    assert_cors(response)


@pytest.mark.parametrize(
    "branch,code", [("army", "١١B"), ("marine_corps", "０３１１"), ("navy", "HM\nIT")]
)
def test_recommend_code_format_is_ascii_and_whole(aws: Any, branch: str, code: str) -> None:
    """Digits of other scripts and codes with a line break inside are not occupation codes."""
    body = {"branch": branch, "code": code}
    response = call(handlers.recommend_handler, make_event("v1", "POST", "/recommend", body=body))

    assert response.status == 400, response
    assert set(response.body["error"]["fields"]) == {"code"}


def test_recommend_unknown_code(aws: Any) -> None:
    """Without O*NET, a well-formed code the static crosswalk does not know is a 404."""
    body = {"branch": "navy", "code": "QQ"}
    response = call(handlers.recommend_handler, make_event("v1", "POST", "/recommend", body=body))

    assert response.status == 404, response
    assert response.body["error"]["code"] == "unknown_code"


@pytest.mark.parametrize("kind", KINDS)
def test_recommend_base64_body(aws: Any, kind: str) -> None:
    """A base64-flagged body is decoded before it is parsed."""
    event = make_event(kind, "POST", "/recommend")
    event["body"] = base64.b64encode(b'{"branch": "navy", "code": "HM"}').decode()
    event["isBase64Encoded"] = True
    response = call(handlers.recommend_handler, event)

    assert response.status == 200, response
    assert response.body["militaryTitle"] == "Hospital Corpsman"


def test_recommend_bad_base64(aws: Any) -> None:
    """A body flagged base64 that is not is a 400, not a crash."""
    event = make_event("v2", "POST", "/recommend", body="%%%not base64%%%")
    event["isBase64Encoded"] = True
    response = call(handlers.recommend_handler, event)

    assert response.status == 400, response
    assert response.body["error"]["code"] == "invalid_body"


def test_recommend_direct_invocation(aws: Any) -> None:
    """`aws lambda invoke` with just the body reaches the route of a per-route function."""
    response = call(handlers.recommend_handler, {"branch": "marine_corps", "code": "0311"})

    assert response.status == 200, response
    assert response.body["militaryTitle"] == "Rifleman"


def test_direct_invocation_with_method_and_path(aws: Any) -> None:
    """A direct invocation naming method and path reaches the monolith's route."""
    event = {"method": "GET", "path": "/career/11-1011.00", "headers": {"origin": ORIGIN}}
    response = call(handlers.lambda_handler, event)

    assert response.status == 200, response
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "handler,path,methods",
    [
        (handlers.recommend_handler, "/recommend", "POST,OPTIONS"),
        (handlers.career_handler, "/career/11-1011.00", "GET,OPTIONS"),
        (handlers.health_handler, "/health", "GET,OPTIONS"),
        (handlers.uploads_handler, "/uploads", "POST,OPTIONS"),
        (handlers.lambda_handler, "/uploads", "POST,OPTIONS"),
    ],
)
def test_preflight(aws: Any, kind: str, handler: Any, path: str, methods: str) -> None:
    """OPTIONS answers 204 with the route's methods, the allowed headers and a max age."""
    event = make_event(
        kind,
        "OPTIONS",
        path,
        origin=OTHER_ORIGIN,
        headers={"Access-Control-Request-Method": "POST"},
    )
    response = call(handler, event)

    assert response.status == 204, response
    assert response.text == ""
    assert response.headers["Access-Control-Allow-Methods"] == methods
    assert "Content-Type" in response.headers["Access-Control-Allow-Headers"]
    assert int(response.headers["Access-Control-Max-Age"]) > 0
    assert_cors(response, OTHER_ORIGIN)


def test_preflight_follows_the_cors_settings(aws: Any, env: Any) -> None:
    """The allowed headers and the max age come from the stack's settings, as at the edge."""
    env(VETROI_CORS_ALLOWED_HEADERS="Content-Type, X-Trace-Id", VETROI_CORS_MAX_AGE="120")
    event = make_event("v1", "OPTIONS", "/recommend", origin=ORIGIN)

    response = call(handlers.recommend_handler, event)

    assert response.status == 204, response
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type,X-Trace-Id"
    assert response.headers["Access-Control-Max-Age"] == "120"


def test_preflight_defaults_to_the_stacks_defaults(aws: Any, env: Any) -> None:
    """Without the variables, the answer is the stacks' default CORS settings."""
    env(VETROI_CORS_ALLOWED_HEADERS=None, VETROI_CORS_MAX_AGE=None)
    response = call(handlers.health_handler, make_event("v1", "OPTIONS", "/health", origin=ORIGIN))

    headers = response.headers["Access-Control-Allow-Headers"]
    assert headers == "Content-Type,Authorization,X-Api-Key,X-Amz-Date,X-Amz-Security-Token"
    assert response.headers["Access-Control-Max-Age"] == "600"


@pytest.mark.parametrize(
    "variables",
    [{"VETROI_CORS_MAX_AGE": "ten"}, {"VETROI_CORS_ALLOWED_HEADERS": "Content-Type,,X-Id"}],
)
def test_bad_cors_variables_answer_a_configuration_error(
    aws: Any, env: Any, variables: dict[str, str]
) -> None:
    """A broken CORS variable is the settings error, still readable by the browser."""
    env(**variables)

    response = call(handlers.health_handler, make_event("v1", "GET", "/health", origin=ORIGIN))

    assert response.status == 500
    assert response.body["error"]["code"] == "configuration_error"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("handler", [handlers.recommend_handler, handlers.lambda_handler])
def test_preflight_with_broken_settings(
    aws: Any, env: Any, capsys: pytest.CaptureFixture[str], kind: str, handler: Any
) -> None:
    """A broken setting leaves the preflight a 204, uncached, so the page reads the real 500."""
    env(VETROI_ONET_READ_TIMEOUT="soon", VETROI_CORS_ALLOWED_HEADERS="Content-Type, X-Trace-Id")
    event = make_event(kind, "OPTIONS", "/recommend", origin=OTHER_ORIGIN)

    response = call(handler, event)

    assert response.status == 204, response
    assert response.headers["Access-Control-Allow-Methods"] == "POST,OPTIONS"
    assert response.headers["Access-Control-Allow-Headers"] == "Content-Type,X-Trace-Id"
    assert response.headers["Access-Control-Max-Age"] == "0"
    assert_cors(response, OTHER_ORIGIN)
    [line] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert line["level"] == "ERROR" and line["status"] == 204
    assert line["configError"].startswith("VETROI_ONET_READ_TIMEOUT=")

    real = call(handler, make_event(kind, "POST", "/recommend", body={}, origin=OTHER_ORIGIN))
    assert real.status == 500 and real.body["error"]["code"] == "configuration_error"
    assert_cors(real, OTHER_ORIGIN)


@pytest.mark.parametrize(
    "variables",
    [{"VETROI_CORS_MAX_AGE": "ten"}, {"VETROI_CORS_ALLOWED_HEADERS": "Content-Type,,X-Id"}],
)
def test_preflight_with_a_broken_cors_variable(
    aws: Any, env: Any, variables: dict[str, str]
) -> None:
    """A broken CORS variable gives the default for its value alone; origins stay enforced."""
    env(VETROI_CORS_ALLOWED_HEADERS="Content-Type,X-Trace-Id", VETROI_CORS_MAX_AGE="120")
    env(**variables)

    response = call(handlers.health_handler, make_event("v1", "OPTIONS", "/health"))
    assert response.status == 204, response
    assert response.headers["Access-Control-Max-Age"] == "0"
    expected = "Content-Type,X-Trace-Id"
    if "VETROI_CORS_ALLOWED_HEADERS" in variables:
        expected = "Content-Type,Authorization,X-Api-Key,X-Amz-Date,X-Amz-Security-Token"
    assert response.headers["Access-Control-Allow-Headers"] == expected
    assert_cors(response)

    foreign = make_event("v2", "OPTIONS", "/health", origin="https://evil.example")
    response = call(handlers.health_handler, foreign)
    assert response.status == 204, response
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_origin_header_any_case(aws: Any) -> None:
    """The Origin header is found whatever its case, and echoed back."""
    event = make_event("v1", "GET", "/health", origin=None, headers={"oRiGiN": OTHER_ORIGIN})
    response = call(handlers.health_handler, event)

    assert_cors(response, OTHER_ORIGIN)


def test_cors_foreign_origin_not_echoed(aws: Any) -> None:
    """An origin not in the settings is never echoed back."""
    event = make_event("v2", "GET", "/health", origin="https://evil.example")
    response = call(handlers.health_handler, event)

    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_cors_any_origin_when_allowed(aws: Any, env: Any) -> None:
    """`*` is sent only when the settings say any origin."""
    env(VETROI_CORS_ORIGINS="*")
    event = make_event("v2", "GET", "/health", origin="https://anything.example")
    response = call(handlers.health_handler, event)

    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Vary" not in response.headers


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_method(aws: Any, kind: str) -> None:
    """A method the route does not answer is a 405 with Allow and CORS headers."""
    response = call(handlers.career_handler, make_event(kind, "DELETE", "/career/11-1011.00"))

    assert response.status == 405, response
    assert response.headers["Allow"] == "GET,OPTIONS"
    assert response.body["error"]["code"] == "method_not_allowed"
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_route(aws: Any, kind: str) -> None:
    """The monolith answers an unknown path with a 404 JSON error and CORS headers."""
    response = call(handlers.lambda_handler, make_event(kind, "GET", "/my/path"))

    assert response.status == 404, response
    assert response.body == {"error": {"code": "not_found", "message": "No such route."}}
    assert_cors(response)


@pytest.mark.parametrize("kind", KINDS)
def test_uncaught_exception(aws: Any, kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug becomes a JSON 500 with CORS headers and no trace in the answer."""

    def broken(ctx: Any) -> Any:
        raise RuntimeError("secret internals /var/task/vetroi_api/routes.py")

    route = handlers.ROUTES["career"]
    monkeypatch.setitem(
        handlers.ROUTES, "career", handlers.Route("career", "GET", route.template, broken)
    )
    response = call(handlers.career_handler, make_event(kind, "GET", "/career/11-1011.00"))

    assert response.status == 500, response
    assert response.body["error"]["code"] == "internal_error"
    assert "internals" not in response.text and "Traceback" not in response.text
    assert_cors(response)


def test_bad_settings_still_answer_with_cors(aws: Any, env: Any) -> None:
    """A broken environment variable gives a JSON 500 with CORS, not a crash."""
    env(VETROI_ONET_READ_TIMEOUT="soon")
    response = call(handlers.career_handler, make_event("v1", "GET", "/career/11-1011.00"))

    assert response.status == 500, response
    assert response.body["error"]["code"] == "configuration_error"
    assert_cors(response)


@pytest.mark.parametrize(
    "event",
    [{"warmup": True}, {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}],
)
def test_warmup(aws: Any, event: dict[str, Any]) -> None:
    """A warm-up answers at once and leaves the route's clients created."""
    from vetroi_api import aws as clients

    assert handlers.career_handler(event, None) == {"warm": True}
    assert "dynamodb:default" in clients._clients
    assert handlers.uploads_handler(event, None) == {"warm": True}
    assert "s3:default" in clients._clients


def test_one_log_line_per_request(aws: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """One JSON line per request: correlation id, route, status, latency, source; no body."""
    body = {"branch": "army", "code": "11B", "state": "TX"}
    event = make_event("v1", "POST", "/recommend", body=body)
    event["requestContext"]["requestId"] = "corr-42"
    call(handlers.recommend_handler, event)

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    requests = [line for line in lines if line["message"] == "request"]
    assert len(requests) == 1, lines
    line = requests[0]
    assert line["correlationId"] == "corr-42"
    assert line["route"] == "POST /recommend"
    assert line["status"] == 200
    assert line["source"] == "static"
    assert isinstance(line["latencyMs"], float)
    text = json.dumps(lines)
    assert "11B" not in text and "TX" not in text and "192.168" not in text


def test_clients_once_per_container_with_short_timeouts(aws: Any) -> None:
    """Clients are made once and reused; standard retries, few attempts, second-scale timeouts."""
    from vetroi_api import aws as clients

    call(handlers.lambda_handler, make_event("v1", "GET", "/career/11-1011.00"))
    first = clients._clients["dynamodb:default"]
    call(handlers.lambda_handler, make_event("v1", "GET", "/career/33-3051.00"))
    call(handlers.lambda_handler, make_event("v1", "GET", "/health"))

    assert clients._clients["dynamodb:default"] is first
    config = first.meta.config
    assert config.retries == {"mode": "standard", "total_max_attempts": 2}
    assert (config.connect_timeout, config.read_timeout) == (1.0, 2.0)
    health = clients._clients["dynamodb:health"].meta.config
    assert health.retries["total_max_attempts"] == 1
    assert health.read_timeout == 1.0


def test_onet_session_per_container(aws: Any, env: Any) -> None:
    """One O*NET client, and so one HTTP session and one breaker, per container."""
    env(ONET_USERNAME="u", ONET_PASSWORD="p")
    first = handlers.app().onet()

    assert first is not None
    assert handlers.app().onet() is first
    handlers.reset()
    assert handlers.app().onet() is not first


def test_health_and_uploads_skip_onet_libraries() -> None:
    """The health and upload functions never load requests, tenacity or pybreaker."""
    script = (
        "import sys; sys.path.insert(0, sys.argv[1]); from vetroi_api import handlers; "
        "handlers.health_handler({'warmup': True}, None); "
        "handlers.uploads_handler({'warmup': True}, None); "
        "print([m for m in ('requests', 'tenacity', 'pybreaker') if m in sys.modules])"
    )
    env = {"AWS_REGION": "us-east-2", "PATH": os.environ.get("PATH", "")}
    out = subprocess.run(
        [sys.executable, "-c", script, str(FUNCTIONS)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )

    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout


def test_fault_in_error_handling(aws: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """Even a fault while shaping the answer gives a JSON 500 with CORS headers."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken while answering")

    monkeypatch.setattr(handlers, "_finish", broken)
    response = call(handlers.career_handler, make_event("v2", "GET", "/career/11-1011.00"))

    assert response.status == 500, response
    assert response.body["error"]["code"] == "internal_error"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_fault_in_error_handling_echoes_the_callers_origin(
    aws: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The last-resort 500 is readable from every allowed origin, not only the first."""

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("broken while answering")

    monkeypatch.setattr(handlers, "_finish", broken)
    event = make_event("v1", "GET", "/career/11-1011.00", origin=OTHER_ORIGIN)
    response = call(handlers.career_handler, event)

    assert response.status == 500, response
    assert_cors(response, OTHER_ORIGIN)


def test_fault_in_error_handling_sends_no_wildcard_unasked(
    aws: Any, env: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no origin allowed, the last-resort 500 does not allow every origin instead."""
    env(VETROI_CORS_ORIGINS="")
    monkeypatch.setattr(handlers, "_finish", lambda *args, **kwargs: 1 / 0)
    response = call(handlers.career_handler, make_event("v2", "GET", "/career/11-1011.00"))

    assert response.status == 500, response
    assert "Access-Control-Allow-Origin" not in response.headers


def test_both_formats_give_the_same_request() -> None:
    """Repeated headers, cookies and repeated query values read the same from v1 and v2."""
    from vetroi_api.http import parse_event

    v1 = make_event("v1", "GET", "/health", headers={"Cookie": "b=2", "Accept": "text/html"})
    v1["multiValueHeaders"]["Cookie"] = ["a=1", "b=2"]
    v1["multiValueHeaders"]["Accept"] = ["text/html", "application/json"]
    v1["queryStringParameters"] = {"q": "2"}
    v1["multiValueQueryStringParameters"] = {"q": ["1", "2"]}
    v2 = make_event("v2", "GET", "/health", headers={"accept": "text/html,application/json"})
    v2["cookies"] = ["a=1", "b=2"]
    v2["queryStringParameters"] = {"q": "1,2"}
    first, second = parse_event(v1), parse_event(v2)

    assert first.header("cookie") == second.header("cookie") == "a=1; b=2"
    assert first.header("Accept") == second.header("Accept") == "text/html,application/json"
    assert first.query == second.query == {"q": "1,2"}


def test_warmup_log_line_has_its_own_correlation_id(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """A warm-up after a request does not log under that request's id."""
    event = make_event("v1", "GET", "/health")
    event["requestContext"]["requestId"] = "corr-earlier"
    call(handlers.health_handler, event)
    assert handlers.health_handler({"warmup": True}, LambdaContext("warm-1")) == {"warm": True}

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    warm = [line for line in lines if line["message"] == "warm-up"]
    assert [line["correlationId"] for line in warm] == ["warm-1"], lines


@pytest.mark.parametrize(
    "handler,path,field,message",
    [
        (
            handlers.career_handler,
            "/career/11-1011.00",
            "cacheReadError",
            "cache read failed: ResourceNotFoundException",
        ),
        (
            handlers.health_handler,
            "/health",
            "healthError",
            "health read failed: ResourceNotFoundException",
        ),
    ],
)
def test_a_warning_is_part_of_the_request_line(
    aws: Any,
    env: Any,
    capsys: pytest.CaptureFixture[str],
    handler: Any,
    path: str,
    field: str,
    message: str,
) -> None:
    """A table that fails gives one line, at WARNING, naming the failure, not a line more."""
    env(VETROI_TABLE="vetroi-missing")  # moto answers ResourceNotFoundException
    call(handler, make_event("v2", "GET", path))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1, lines
    [line] = lines
    assert line["message"] == "request" and line["level"] == "WARNING"
    assert line[field] == "ResourceNotFoundException"
    assert line["warnings"] == [message]
    assert line["correlationId"] == "id" and isinstance(line["status"], int)


def test_an_uncaught_exception_is_part_of_the_request_line(
    aws: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bug's traceback rides on the request's one line, which is then an ERROR line."""

    def broken(ctx: Any) -> Any:
        raise RuntimeError("a bug")

    route = handlers.ROUTES["health"]
    monkeypatch.setitem(
        handlers.ROUTES, "health", handlers.Route("health", "GET", route.template, broken)
    )
    call(handlers.health_handler, make_event("v1", "GET", "/health"))

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert len(lines) == 1, lines
    [line] = lines
    assert line["level"] == "ERROR" and line["status"] == 500
    assert line["exception"] == "RuntimeError" and "a bug" in line["traceback"]
    assert line["route"] == "GET /health" and line["errorCode"] == "internal_error"


def test_a_warning_outside_a_request_is_a_line_of_its_own(
    aws: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Outside a request (here a warm-up's), a warning is still written, on its own line."""
    import logging

    from vetroi_api import logs

    logs.warn(logging.getLogger("vetroi_api.cache"), "cacheReadError", "X", "cache read failed")
    assert handlers.health_handler({"warmup": True}, LambdaContext("warm-1")) == {"warm": True}

    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(line["level"], line["message"]) for line in lines] == [
        ("WARNING", "cache read failed"),
        ("INFO", "warm-up"),
    ]

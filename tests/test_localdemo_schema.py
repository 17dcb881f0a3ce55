"""openapi.yaml against the running platform: schemathesis sends generated requests through the
local edge, from an allowed browser origin.

Every answer must be free of server errors, match the status codes, content types, headers and
body schemas the document declares, and carry the CORS headers a browser needs to read it. The
O*NET stand-in answers as O*NET does (replay mode), so unknown codes get O*NET's 404 rather than
the "no data at all" 503 of an offline region. The regions run the monolith layout, so that its
one handler is held to the document too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.localdemo_env import ORIGIN, ROOT, RunningDemo

schema = schemathesis.openapi.from_path(ROOT / "openapi.yaml")


@schemathesis.check
def readable_by_the_browser(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> bool | None:
    """The edge's CORS policy echoed the caller's allowed origin on this answer."""
    allowed = response.headers.get("access-control-allow-origin") or []
    if ORIGIN not in allowed:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} without "
            f"Access-Control-Allow-Origin: {ORIGIN} (got {allowed})"
        )
    return None


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningDemo]:
    running = RunningDemo(
        tmp_path_factory.mktemp("schema-demo"),
        # The monolith layout here (one handler for every route); the other tests use per-route.
        ["--onet", "replay", "--health-interval", "0.5", "--layout", "monolith"],
        {"VETROI_ORIGINS": ORIGIN},
    ).start()
    yield running
    assert running.stop() == 0


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_api_answers_as_documented_with_cors(demo: RunningDemo, case: schemathesis.Case) -> None:
    """No 5xx, the documented status, type, headers and schema, and CORS on every answer."""
    case.call_and_validate(
        base_url=demo.url,
        headers={"Origin": ORIGIN},
        checks=[
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
            readable_by_the_browser,
        ],
    )

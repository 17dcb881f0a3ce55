"""API Gateway events for the benches, built from the real REST API event shape."""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SAMPLE = (
    Path(__file__).resolve().parent.parent / "tests" / "functions" / "events" / "rest-api-v1.json"
)


@cache
def _sample() -> dict[str, Any]:
    event: dict[str, Any] = json.loads(SAMPLE.read_text())
    return event


def career_event(code: str) -> dict[str, Any]:
    event = copy.deepcopy(_sample())
    event.update(
        httpMethod="GET",
        path=f"/career/{code}",
        resource="/career/{socCode}",
        pathParameters={"socCode": code},
        body=None,
        headers={"Origin": "https://vetroi.example.com"},
        multiValueHeaders={},
    )
    return event

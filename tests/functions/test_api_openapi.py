"""openapi.yaml is valid, and the handler answers each documented example as documented.

A request example and the response example of the same name form a pair: the request is sent
to the monolith (no O*NET configured, so the bundled data answers and results are fixed), the
status must be the one under which the response example is documented, the body must match the
response schema, and every value the example shows must be in the answer, apart from the
values that change on every call (upload keys and signatures).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from api_support import OnetServer, call, make_event
from openapi_schema_validator import OAS30Validator
from openapi_spec_validator import validate
from vetroi_api import handlers

SPEC_PATH = Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC = yaml.safe_load(SPEC_PATH.read_text())
# Values an example can only illustrate: they differ on every call.
VOLATILE = {"createUpload": {"url", "fields", "key"}}


def resolve(node: Any) -> Any:
    """The node with every local $ref replaced by what it points at."""
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = SPEC
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target)
        return {key: resolve(value) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item) for item in node]
    return node


def pairs() -> list[Any]:
    found = []
    for path, item in SPEC["paths"].items():
        for method, operation in item.items():
            if method == "options":
                continue
            operation = resolve(operation)
            requests = dict(
                operation.get("requestBody", {})
                .get("content", {})
                .get("application/json", {})
                .get("examples", {})
            )
            for parameter in operation.get("parameters", []):
                for name, example in parameter.get("examples", {}).items():
                    requests[name] = {"path": {parameter["name"]: example["value"]}}
            if not requests:
                requests = {None: {}}
            for name, request in requests.items():
                documented = [
                    (int(status), response)
                    for status, response in operation["responses"].items()
                    if name is None
                    or name
                    in response.get("content", {}).get("application/json", {}).get("examples", {})
                ]
                assert documented, f"{operation['operationId']}: example {name} has no answer"
                status, response = documented[0]
                found.append(
                    pytest.param(
                        path,
                        method,
                        operation,
                        name,
                        request,
                        status,
                        response,
                        id=f"{operation['operationId']}-{name}",
                    )
                )
    return found


def test_spec_is_valid() -> None:
    """The document is valid OpenAPI."""
    validate(SPEC)


def test_every_route_documented() -> None:
    """Each route the handler serves is documented, with its preflight."""
    documented = {(path, method.upper()) for path, item in SPEC["paths"].items() for method in item}
    for route in handlers.ROUTES.values():
        assert (route.template, route.method) in documented
        assert (route.template, "OPTIONS") in documented


def contains(actual: Any, example: Any, skip: set[str], where: str = "body") -> None:
    if isinstance(example, dict):
        assert isinstance(actual, dict), where
        for key, value in example.items():
            if key in skip:
                continue
            assert key in actual, f"{where}.{key} missing"
            contains(actual[key], value, set(), f"{where}.{key}")
    elif isinstance(example, list):
        assert isinstance(actual, list) and len(actual) >= len(example), where
        for index, value in enumerate(example):
            contains(actual[index], value, set(), f"{where}[{index}]")
    else:
        assert actual == example, f"{where}: {actual!r} != {example!r}"


@pytest.mark.parametrize("path,method,operation,name,request_,status,response", pairs())
def test_documented_example(
    aws: Any,
    env: Any,
    path: str,
    method: str,
    operation: dict[str, Any],
    name: str | None,
    request_: Any,
    status: int,
    response: dict[str, Any],
) -> None:
    """The example request gets the documented status, a body of the schema, the shown values."""
    env(VETROI_UPLOAD_MAX_BYTES="10485760")
    params = request_.get("path", {}) if isinstance(request_, dict) and "path" in request_ else {}
    body = None if params or not request_ else request_["value"]
    concrete = path
    for key, value in params.items():
        concrete = concrete.replace("{" + key + "}", value)
    answer = call(
        handlers.lambda_handler,
        make_event("v1", method.upper(), concrete, body=body, path_params=params or None),
    )

    assert answer.status == status, answer
    assert answer.headers["Access-Control-Allow-Origin"]
    content = response["content"]["application/json"]
    OAS30Validator(content["schema"]).validate(answer.body)
    examples = content.get("examples", {})
    example = examples[name] if name else next(iter(examples.values()), None)
    if example is not None:
        skip = VOLATILE.get(operation["operationId"], set())
        contains(answer.body, _fold(example["value"]), skip)


def _fold(value: Any) -> Any:
    """YAML folded strings end lines with spaces where JSON has none; compare them equally."""
    return json.loads(json.dumps(value).replace("  ", " "))


def documented_example(path: str, method: str, status: str, name: str) -> Any:
    response = resolve(SPEC["paths"][path][method]["responses"][status])
    return _fold(response["content"]["application/json"]["examples"][name]["value"])


@pytest.mark.parametrize(
    "path,method,status,name",
    [
        ("/health", "get", "503", "tableDown"),
        ("/recommend", "post", "400", "notJson"),
        ("/recommend", "post", "503", "unavailable"),
        ("/career/{socCode}", "get", "503", "unavailable"),
        ("/career/{socCode}", "get", "500", "internal"),
    ],
)
def test_documented_failure_example(
    aws: Any,
    onet: OnetServer,
    env: Any,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    method: str,
    status: str,
    name: str,
) -> None:
    """The failures no request example can bring about (a missing table, a body that is not
    JSON, O*NET down with nothing cached or bundled, a bug) answer as documented too."""
    onet.mode = "error"
    body: Any = None
    concrete = path.replace("{socCode}", "15-2051.00")  # an occupation nothing bundles
    if name == "tableDown":
        env(VETROI_TABLE="no-such-table")
    elif name == "notJson":
        body = "{not json"
    elif path == "/recommend":
        body = {"branch": "army", "code": "99Z"}  # a code the bundled crosswalk lacks
    elif name == "internal":
        route = handlers.ROUTES["career"]
        broken = handlers.Route("career", "GET", route.template, lambda ctx: 1 / 0)
        monkeypatch.setitem(handlers.ROUTES, "career", broken)
    answer = call(handlers.lambda_handler, make_event("v2", method.upper(), concrete, body=body))

    assert answer.status == int(status), answer
    assert answer.headers["Access-Control-Allow-Origin"]
    contains(answer.body, documented_example(path, method, status, name), set())

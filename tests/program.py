"""Run the Pulumi program for a stack under the mock runtime and record what it declares.

`run_stack("prod")` loads the real `Pulumi.prod.yaml`, applies any overrides, runs `__main__.py`
as the CLI would, and returns a `Deployment`: every resource with its resolved inputs, its region
and its resource options, the stack's exports, and the warnings the program logged.

The config reaches the program as the CLI passes it: the stack file's values over the defaults
declared in `Pulumi.yaml`, every value a string (JSON for lists), the keys given as `secrets`
marked secret as `pulumi config set --secret` marks them, and a stack that lacks a key declared
without a default stops before the program runs, as `pulumi up` does.
"""

from __future__ import annotations

import json
import logging
import runpy
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "123456789012"
# What a StackReference reads from the stack it names (the backup stack's exports).
REFERENCED_OUTPUTS = {"apiUrl": "https://b4ckup0api.execute-api.us-west-2.amazonaws.com/prod"}


@dataclass
class Resource:
    typ: str
    name: str
    inputs: dict[str, Any]
    region: str
    protect: bool = False
    retain_on_delete: bool = False
    ignore_changes: list[str] = field(default_factory=list)
    import_id: str | None = None
    parent: str | None = None
    depends_on: list[str] = field(default_factory=list)  # names of the resources in depends_on
    component: bool = False
    # What the mock provider returned: the inputs plus the computed id, arn and the like.
    state: dict[str, Any] = field(default_factory=dict)
    id: str | None = None

    def __getitem__(self, key: str) -> Any:
        return self.inputs[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.inputs.get(key, default)


@dataclass
class Deployment:
    stack: str
    region: str
    resources: list[Resource]
    outputs: dict[str, Any]
    warnings: list[str]

    def of_type(self, typ: str) -> list[Resource]:
        return [r for r in self.resources if r.typ == typ]

    def one(self, typ: str, name_contains: str = "") -> Resource:
        found = [r for r in self.of_type(typ) if name_contains in r.name]
        assert len(found) == 1, f"expected one {typ} named *{name_contains}*, found {found}"
        return found[0]

    def named(self, name: str) -> Resource:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {len(found)}"
        return found[0]

    def types(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for resource in self.resources:
            if not resource.component:
                counts[resource.typ] = counts.get(resource.typ, 0) + 1
        return counts

    def __iter__(self) -> Iterator[Resource]:
        return iter(self.resources)


class Mocks(pulumi.runtime.Mocks):
    """Fills in what AWS would compute for each resource type, so outputs can be followed."""

    def __init__(self, region: str) -> None:
        self.region = region
        self.created: dict[tuple[str, str], dict[str, Any]] = {}

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str | None, dict]:
        inputs = dict(args.inputs)
        region = inputs.get("region") or self.region
        state = {**inputs, **_computed(args.typ, args.name, region, inputs)}
        physical_id = state.get("id") or f"{args.name}-id"
        self.created[(args.typ, args.name)] = {
            "inputs": inputs,
            "custom": args.custom,
            "state": state,
            "id": physical_id,
        }
        return physical_id, state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list | None]:
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {"accountId": ACCOUNT, "arn": f"arn:aws:iam::{ACCOUNT}:root", "userId": "x"}, []
        if args.token == "aws:index/getRegion:getRegion":
            name = args.args.get("region") or self.region
            return {"name": name, "region": name, "id": name}, []
        if args.token == "aws:index/getPartition:getPartition":
            return {"partition": "aws", "dnsSuffix": "amazonaws.com"}, []
        return {}, []


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _computed(typ: str, name: str, region: str, inputs: dict[str, Any]) -> dict[str, Any]:
    """The attributes a provider computes, by resource type."""
    service = typ.split(":")[1].split("/")[0]
    physical = inputs.get("name") or f"{name}-1a2b3c"
    arn = f"arn:aws:{service}:{region}:{ACCOUNT}:{physical}"
    state: dict[str, Any] = {"arn": arn, "id": f"{name}-id"}
    if typ == "aws:lambda/function:Function":
        state |= {
            "invokeArn": f"arn:aws:apigateway:{region}:lambda:path/functions/{arn}/invocations",
            "version": "1",
            "qualifiedArn": f"{arn}:1",
        }
    elif typ == "aws:lambda/alias:Alias":
        alias_arn = f"{inputs.get('functionName')}:{inputs.get('name')}"
        functions = f"arn:aws:apigateway:{region}:lambda:path/functions"
        state |= {"arn": alias_arn, "invokeArn": f"{functions}/{alias_arn}/invocations"}
    elif typ == "aws:apigateway/restApi:RestApi":
        state |= {
            "id": f"{name}-api",
            "rootResourceId": f"{name}-root",
            "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT}:{name}-api",
        }
    elif typ == "aws:apigateway/stage:Stage":
        api, stage = inputs.get("restApi"), inputs.get("stageName")
        state |= {
            "invokeUrl": f"https://{api}.execute-api.{region}.amazonaws.com/{stage}",
            "executionArn": f"arn:aws:execute-api:{region}:{ACCOUNT}:{api}/{stage}",
        }
    elif typ == "aws:apigateway/domainName:DomainName":
        state |= {
            "regionalDomainName": f"d-{name}.execute-api.{region}.amazonaws.com",
            "regionalZoneId": "ZREGIONAL",
        }
    elif typ == "aws:dynamodb/table:Table":
        state |= {"streamArn": f"{arn}/stream/2026-01-01T00:00:00.000"}
    elif typ == "aws:s3/bucket:Bucket":
        bucket = inputs.get("bucket") or f"{name}-1a2b3c"
        state |= {
            "id": bucket,
            "bucket": bucket,
            "arn": f"arn:aws:s3:::{bucket}",
            "bucketRegionalDomainName": f"{bucket}.s3.{region}.amazonaws.com",
            "bucketDomainName": f"{bucket}.s3.amazonaws.com",
        }
    elif typ == "aws:cloudfront/distribution:Distribution":
        state |= {"domainName": f"d-{name}.cloudfront.net", "hostedZoneId": "Z2FDTNDATAQYW2"}
    elif typ == "aws:route53/record:Record":
        state |= {"fqdn": str(inputs.get("name", "")).rstrip(".")}
    elif typ == "pulumi:pulumi:StackReference":
        state |= {"outputs": dict(REFERENCED_OUTPUTS), "secretOutputNames": []}
    elif typ == "aws:acm/certificate:Certificate":
        state |= {
            "domainValidationOptions": [
                {
                    "domainName": inputs.get("domainName"),
                    "resourceRecordName": f"_x.{inputs.get('domainName')}.",
                    "resourceRecordType": "CNAME",
                    "resourceRecordValue": "_y.acm-validations.aws.",
                }
            ]
        }
    elif typ == "aws:kms/key:Key":
        state |= {"keyId": f"{name}-key"}
    elif typ == "aws:route53/healthCheck:HealthCheck":
        state |= {"id": f"{name}-hc"}
    return state


class _WarningCapture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def stack_config(stack: str) -> dict[str, Any]:
    return yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]


def declared_config() -> dict[str, dict[str, Any]]:
    """Pulumi.yaml's config declarations, by full key (`vetroi:role`)."""
    return dict(yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"])


class MissingConfigError(RuntimeError):
    """What the CLI says before running a stack that lacks a key declared without a default."""


def missing_keys(config: dict[str, Any]) -> list[str]:
    """Declared keys of the project with no default that `config` does not set (the CLI's rule)."""
    return sorted(
        key
        for key, spec in declared_config().items()
        if "default" not in spec and "value" not in spec and key not in config
    )


def cli_config(
    stack: str,
    overrides: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    secrets: dict[str, Any] | None = None,
) -> tuple[dict[str, str], list[str]]:
    """The config and the secret keys the CLI would pass the program for `stack`."""
    config = {**stack_config(stack), **(overrides or {})}
    for key in remove:
        config.pop(key, None)
    config |= secrets or {}
    for key, spec in declared_config().items():
        if key not in config and "default" in spec:
            config[key] = spec["default"]
    as_strings = {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}
    return as_strings, sorted(secrets or {})


def run_stack(
    stack: str,
    overrides: dict[str, Any] | None = None,
    remove: tuple[str, ...] = (),
    secrets: dict[str, Any] | None = None,
    preview: bool = False,
) -> Deployment:
    """Run `__main__.py` for `stack` with its real config, plus overrides, under the mocks."""
    as_strings, secret_keys = cli_config(stack, overrides, remove, secrets)
    missing = missing_keys(as_strings)
    if missing:
        raise MissingConfigError(f"Stack '{stack}' is missing configuration values {missing}")
    region = str(as_strings.get("aws:region", ""))

    mock = Mocks(region)
    capture = _WarningCapture()
    logger = logging.getLogger(f"vetroi.tests.{stack}")
    logger.addHandler(capture)
    recorded: dict[tuple[str, str], dict[str, Any]] = {}

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        opts = args.opts
        recorded[(args.type_, args.name)] = {
            "protect": bool(opts.protect),
            "retain_on_delete": bool(opts.retain_on_delete),
            "ignore_changes": list(opts.ignore_changes or []),
            "import_id": opts.import_,
            "parent": getattr(opts.parent, "_name", None) if opts.parent else None,
            "depends_on": [
                getattr(dependency, "_name", str(dependency))
                for dependency in _as_list(opts.depends_on)
            ],
        }
        return None

    def program() -> None:
        pulumi.runtime.register_stack_transformation(record)
        runpy.run_path(str(ROOT / "__main__.py"), run_name="__main__")

    pulumi.runtime.set_all_config(as_strings, secret_keys=secret_keys)
    # Each run gets a fresh root stack: set_mocks creates one when none is active.
    runtime_settings.ROOT.set(None)
    # "organization" is what the CLI reports with a self-managed backend.
    mocks.set_mocks(
        mock,
        project="vetroi",
        stack=stack,
        preview=preview,
        logger=logger,
        organization="organization",
    )
    try:
        _sync_await(run_pulumi_func(program))
        root = runtime_settings.get_root_resource()
        outputs = {
            key: _sync_await(pulumi.Output.from_input(value).future())
            for key, value in (root.outputs if root else {}).items()  # type: ignore[attr-defined]
        }
    finally:
        logger.removeHandler(capture)
        pulumi.runtime.set_all_config({}, secret_keys=[])

    resources = []
    for (typ, name), created in mock.created.items():
        options = recorded.get((typ, name), {})
        inputs = created["inputs"]
        resources.append(
            Resource(
                typ=typ,
                name=name,
                inputs=inputs,
                region=inputs.get("region") or region,
                component=not created["custom"],
                state=created["state"],
                id=created["id"],
                **options,
            )
        )
    return Deployment(stack, region, resources, outputs, capture.messages)

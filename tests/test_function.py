"""ApiFunction under Pulumi's mock runtime: role, policy, log group, function, alias, releases."""

from __future__ import annotations

import asyncio
import json
import logging
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as runtime_settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from components.function import (
    ApiFunction,
    ApiFunctionArgs,
    DemoWindow,
    PolicyError,
    Statement,
)
from components.packaging import Package

ACCOUNT = "123456789012"
REGION = "us-east-2"
TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vetroi-data"
NEW_VERSION = "8"  # what the mock Lambda reports as the version just published


@dataclass
class Declared:
    """What one run declared: resources by logical name, their dependencies, the warnings."""

    resources: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    depends_on: dict[str, list[str]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    invokes: list[dict[str, Any]] = field(default_factory=list)

    def inputs(self, name: str) -> dict[str, Any]:
        assert name in self.resources, f"no resource named {name}: {sorted(self.resources)}"
        return self.resources[name][1]

    def of_type(self, typ: str) -> list[str]:
        return [name for name, (t, _) in self.resources.items() if t == typ]


class LambdaMocks(pulumi.runtime.Mocks):
    """Computes the attributes AWS would, and answers GetAlias with the current live version."""

    def __init__(self, declared: Declared, live_version: str | None) -> None:
        self.declared = declared
        self.live_version = live_version

    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict]:
        state = dict(args.inputs)
        physical = state.get("name") or f"{args.name}-1a2b3c"
        service = args.typ.split(":")[1].split("/")[0]
        state["arn"] = f"arn:aws:{service}:{REGION}:{ACCOUNT}:{physical}"
        if args.typ == "aws:lambda/function:Function":
            state["version"] = NEW_VERSION
        elif args.typ == "aws:lambda/alias:Alias":
            state["invokeArn"] = f"arn:aws:apigateway:{REGION}:lambda:path/{physical}"
        self.declared.resources[args.name] = (args.typ, dict(args.inputs))
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict, list]:
        self.declared.invokes.append({"token": args.token, **args.args})
        if args.token == "aws:lambda/getFunctions:getFunctions":
            names = ["vetroi-prod-other"]
            if self.live_version is not None:
                names.append("vetroi-prod-career")
            return {"functionNames": names, "functionArns": []}, []
        if args.token != "aws:lambda/getAlias:getAlias":
            return {}, []
        if self.live_version is None:
            # What AWS says, and what fails a deployment: the lookup must not happen.
            raise RuntimeError("ResourceNotFoundException: Function not found: vetroi-prod-x")
        return {"functionName": args.args["functionName"], "name": "live",
                "functionVersion": self.live_version}, []  # fmt: skip


class _Warnings(logging.Handler):
    def __init__(self, into: list[str]) -> None:
        super().__init__(logging.WARNING)
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append(record.getMessage())


def declare(program: Callable[[], object], live_version: str | None = None) -> Declared:
    """Run `program` under the mocks and return everything it declared."""
    declared = Declared()
    logger = logging.getLogger("vetroi.tests.function")
    handler = _Warnings(declared.warnings)
    logger.addHandler(handler)

    def record(args: pulumi.ResourceTransformationArgs) -> None:
        needs = args.opts.depends_on or []
        names = needs if isinstance(needs, list) else [needs]
        declared.depends_on[args.name] = [str(getattr(r, "_name", r)) for r in names]

    def run() -> None:
        pulumi.runtime.register_stack_transformation(record)
        program()

    # A fresh event loop per run, so that a run that failed cannot leave tasks behind that
    # fail the next one.
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    runtime_settings.SETTINGS.outputs.clear()
    runtime_settings.ROOT.set(None)
    pulumi_mocks.set_mocks(
        LambdaMocks(declared, live_version), project="vetroi", stack="prod", logger=logger
    )
    try:
        _sync_await(run_pulumi_func(run))
    finally:
        logger.removeHandler(handler)
        for task in asyncio.all_tasks(loop):
            task.cancel()
        runtime_settings.SETTINGS.outputs.clear()
    return declared


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Package:
    path = Path(tmp_path_factory.mktemp("package"), "function.zip")
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("vetroi_api/__init__.py", "")
    return Package(
        path=path,
        sha256_b64="q1DEcqIvqNRtCcIh3/ZXBDPEwDAnDgsWD7b6hiXEuIY=",
        size=path.stat().st_size,
        unpacked_size=0,
        key="test",
        platform="manylinux2014_aarch64",
        python_version="3.12",
        bytecode="3.12.1",
    )


def function_args(package: Package, **changes: Any) -> ApiFunctionArgs:
    args = ApiFunctionArgs(
        package=package,
        handler="vetroi_api.handlers.career_handler",
        environment={"VETROI_TABLE": "vetroi-data"},
        statements=[
            Statement(
                actions=["dynamodb:GetItem", "dynamodb:PutItem"],
                resources=[pulumi.Output.from_input(TABLE_ARN)],
            )
        ],
        region=REGION,
        log_retention_days=14,
    )
    return replace(args, **changes)


def policy_of(declared: Declared) -> dict[str, Any]:
    return json.loads(declared.inputs("career-policy")["policy"])


def test_declares_role_policy_logs_function_alias(package: Package) -> None:
    """One function is exactly its role, policy, log group, function and alias."""
    declared = declare(lambda: ApiFunction("career", function_args(package)))

    assert {name: typ for name, (typ, _) in declared.resources.items()} == {
        "career": "vetroi:function:ApiFunction",
        "career-logs": "aws:cloudwatch/logGroup:LogGroup",
        "career-role": "aws:iam/role:Role",
        "career-policy": "aws:iam/rolePolicy:RolePolicy",
        "career-function": "aws:lambda/function:Function",
        "career-live": "aws:lambda/alias:Alias",
    }


def test_role_is_assumed_by_lambda_only(package: Package) -> None:
    """The role trusts the Lambda service and nothing else."""
    declared = declare(lambda: ApiFunction("career", function_args(package)))

    trust = json.loads(declared.inputs("career-role")["assumeRolePolicy"])
    assert trust["Statement"] == [
        {
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ]


def test_policy_grants_exactly_the_statements_logs_and_xray(package: Package) -> None:
    """The inline policy holds the given statement, the function's own logs and X-Ray."""
    declared = declare(lambda: ApiFunction("career", function_args(package)))

    log_arn = f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:/aws/lambda/vetroi-prod-career"
    assert policy_of(declared)["Statement"] == [
        {
            "Effect": "Allow",
            "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
            "Resource": [TABLE_ARN],
        },
        {
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": [log_arn, f"{log_arn}:*"],
        },
        {
            "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Resource": "*",
        },
    ]


def test_policy_has_no_wildcard_action_on_a_wildcard_resource(package: Package) -> None:
    """No statement pairs an action containing * with Resource *."""
    declared = declare(lambda: ApiFunction("career", function_args(package)))

    for statement in policy_of(declared)["Statement"]:
        resources = statement["Resource"]
        if resources == "*" or "*" in resources:
            actions = statement["Action"]
            assert not any("*" in action for action in actions), f"career-policy: {statement}"


def test_policy_refuses_wildcard_action_on_every_resource(package: Package) -> None:
    """dynamodb:* on Resource * is refused before anything is declared."""
    args = function_args(package, statements=[Statement(["dynamodb:*"], ["*"])])

    with pytest.raises(PolicyError, match=r"wildcard actions \['dynamodb:\*'\] on every"):
        ApiFunction("career", args)


def test_policy_refuses_wildcard_resource_known_only_at_deploy(package: Package) -> None:
    """A * that arrives as an Output fails the deployment when the policy is rendered."""

    def program() -> None:
        star = pulumi.Output.from_input("*")
        args = function_args(package, statements=[Statement(["s3:Get*"], [star])])
        ApiFunction("career", args)

    with pytest.raises(ValueError, match=r"wildcard actions \['s3:Get\*'\] on every"):
        declare(program)


@pytest.mark.parametrize("action", ["*", "GetItem", "dynamodb"])
def test_policy_refuses_action_without_service_and_name(package: Package, action: str) -> None:
    """An action must be service:Action; a bare * is refused before anything is declared."""
    args = function_args(package, statements=[Statement([action], [TABLE_ARN])])

    with pytest.raises(PolicyError, match="must name one service and action"):
        ApiFunction("career", args)


def test_log_group_exists_before_function_with_retention(package: Package) -> None:
    """The function logs to /aws/lambda/<name>, created first with a retention period."""
    declared = declare(lambda: ApiFunction("career", function_args(package)))

    group = declared.inputs("career-logs")
    function = declared.inputs("career-function")
    assert group["name"] == "/aws/lambda/vetroi-prod-career"
    assert group["retentionInDays"] == 14
    assert group["region"] == REGION
    assert function["name"] == "vetroi-prod-career"
    assert function["loggingConfig"]["logGroup"] == group["name"]
    assert set(declared.depends_on["career-function"]) == {"career-logs", "career-policy"}


def test_function_is_traced_published_and_has_no_layers(package: Package) -> None:
    """Tracing Active, publish on, the package's hash and architecture, never a layer."""
    declared = declare(lambda: ApiFunction("career", function_args(package)))

    function = declared.inputs("career-function")
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["publish"] is True
    assert "layers" not in function
    assert function["sourceCodeHash"] == package.sha256_b64
    assert function["architectures"] == ["arm64"]
    assert function["runtime"] == "python3.12"
    assert function["handler"] == "vetroi_api.handlers.career_handler"
    assert function["environment"] == {"variables": {"VETROI_TABLE": "vetroi-data"}}
    assert function["region"] == REGION


def test_alias_live_points_at_new_version(package: Package) -> None:
    """Without canary or pin, live takes the version just published, with no split."""
    declared = declare(lambda: ApiFunction("career", function_args(package)), live_version="7")

    alias = declared.inputs("career-live")
    assert alias["name"] == "live"
    assert alias["functionVersion"] == NEW_VERSION
    assert "routingConfig" not in alias
    assert not [i for i in declared.invokes if i["token"].endswith("getAlias")]


def test_canary_keeps_live_on_stable_and_routes_weight_to_new(package: Package) -> None:
    """A canary reads the stable version from the live alias and sends w to the new one."""
    args = function_args(package, canary_weight=0.1)
    declared = declare(lambda: ApiFunction("career", args), live_version="7")

    alias = declared.inputs("career-live")
    assert alias["functionVersion"] == "7"
    assert alias["routingConfig"] == {"additionalVersionWeights": {NEW_VERSION: 0.1}}
    lookup = [i for i in declared.invokes if i["token"] == "aws:lambda/getAlias:getAlias"]
    assert lookup == [
        {
            "token": "aws:lambda/getAlias:getAlias",
            "functionName": "vetroi-prod-career",
            "name": "live",
            "region": REGION,
        }
    ]


def test_canary_without_code_change_splits_nothing(package: Package) -> None:
    """When the new version is the stable one, the alias has no additional version."""
    args = function_args(package, canary_weight=0.1)
    declared = declare(lambda: ApiFunction("career", args), live_version=NEW_VERSION)

    alias = declared.inputs("career-live")
    assert alias["functionVersion"] == NEW_VERSION
    assert alias["routingConfig"] == {"additionalVersionWeights": {}}


def test_canary_on_first_deploy_warns_and_releases(package: Package) -> None:
    """With no live alias yet there is nothing to hold back: warn, and release."""
    args = function_args(package, canary_weight=0.25)
    declared = declare(lambda: ApiFunction("career", args), live_version=None)

    alias = declared.inputs("career-live")
    assert alias["functionVersion"] == NEW_VERSION
    assert "routingConfig" not in alias
    assert any("no 'live' alias exists yet" in w for w in declared.warnings), declared.warnings


def test_pinned_version_takes_all_traffic(package: Package) -> None:
    """A pinned version rolls live back to it, ignoring (with a warning) any canary."""
    args = function_args(package, pinned_version="5", canary_weight=0.1)
    declared = declare(lambda: ApiFunction("career", args), live_version="7")

    alias = declared.inputs("career-live")
    assert alias["functionVersion"] == "5"
    assert "routingConfig" not in alias
    assert any("pinned version 5 takes all traffic" in w for w in declared.warnings)


def test_provisioned_concurrency_is_on_the_live_alias(package: Package) -> None:
    """Provisioned concurrency is configured on the alias the API invokes."""
    args = function_args(package, provisioned_concurrency=2)
    declared = declare(lambda: ApiFunction("career", args))

    config = declared.inputs("career-concurrency")
    assert config["qualifier"] == "live"
    assert config["functionName"] == "vetroi-prod-career"
    assert config["provisionedConcurrentExecutions"] == 2
    assert config["region"] == REGION


TARGET = "aws:appautoscaling/target:Target"
SCHEDULED = "aws:appautoscaling/scheduledAction:ScheduledAction"


def at(moment: datetime) -> str:
    return f"at({moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S})"


def test_demo_window_schedules_provisioned_concurrency(package: Package) -> None:
    """With a demo window, Application Auto Scaling raises the alias's concurrency when the
    window opens and lowers it to 0 when it closes; no always-on configuration is declared."""
    starts = datetime(2030, 12, 10, 14, 0, tzinfo=UTC)
    window = DemoWindow(starts, starts + timedelta(hours=3))
    args = function_args(package, provisioned_concurrency=3, demo_window=window)
    declared = declare(lambda: ApiFunction("career", args))

    assert not declared.of_type(
        "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
    )
    assert declared.of_type(TARGET) == ["career-concurrency-target"]
    target = declared.inputs("career-concurrency-target")
    assert target["serviceNamespace"] == "lambda"
    assert target["resourceId"] == "function:vetroi-prod-career:live"
    assert target["scalableDimension"] == "lambda:function:ProvisionedConcurrency"
    assert (target["minCapacity"], target["maxCapacity"]) == (0, 3)
    assert target["region"] == REGION

    raise_, lower = (declared.inputs(f"career-concurrency-{s}") for s in ("raise", "lower"))
    assert raise_["schedule"] == "at(2030-12-10T14:00:00)"
    assert lower["schedule"] == "at(2030-12-10T17:00:00)"
    assert raise_["scalableTargetAction"] == {"minCapacity": 3, "maxCapacity": 3}
    assert lower["scalableTargetAction"] == {"minCapacity": 0, "maxCapacity": 0}
    for action in (raise_, lower):
        assert action["timezone"] == "Etc/UTC"
        assert action["resourceId"] == target["resourceId"]
        assert action["scalableDimension"] == target["scalableDimension"]
        assert action["serviceNamespace"] == "lambda"
        assert action["region"] == REGION
    assert declared.depends_on["career-concurrency-lower"] == ["career-concurrency-raise"]


def test_demo_window_already_open_raises_soon_after_the_update(package: Package) -> None:
    """An `up` inside the window cannot schedule the raise in the past: it comes just after."""
    now = datetime.now(UTC)
    window = DemoWindow(now - timedelta(minutes=30), now + timedelta(hours=2))
    args = function_args(package, provisioned_concurrency=2, demo_window=window)
    declared = declare(lambda: ApiFunction("career", args))

    schedule = declared.inputs("career-concurrency-raise")["schedule"]
    moment = datetime.strptime(schedule, "at(%Y-%m-%dT%H:%M:%S)").replace(tzinfo=UTC)
    assert now < moment <= now + timedelta(minutes=11)
    assert declared.inputs("career-concurrency-lower")["schedule"] == at(window.ends)
    assert any("provisioned concurrency is raised at" in w for w in declared.warnings)


def test_demo_window_over_declares_no_concurrency(package: Package) -> None:
    """After the window nothing is scheduled or provisioned, and the operator is told why."""
    now = datetime.now(UTC)
    window = DemoWindow(now - timedelta(hours=5), now - timedelta(hours=1))
    args = function_args(package, provisioned_concurrency=2, demo_window=window)
    declared = declare(lambda: ApiFunction("career", args))

    assert not declared.of_type(TARGET) and not declared.of_type(SCHEDULED)
    assert not declared.of_type(
        "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
    )
    assert any("the demo window ended" in w for w in declared.warnings)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"architecture": "x86_64"}, "built for manylinux2014_aarch64 but the function runs"),
        ({"runtime": "python3.13"}, "built for Python 3.12 but the runtime is python3.13"),
        ({"function_name": "x" * 65}, "must be 1-64 letters"),
        ({"pinned_version": "$LATEST"}, "is not a version number"),
    ],
)
def test_refuses_arguments_that_do_not_match(
    package: Package, changes: dict[str, Any], message: str
) -> None:
    """A package for another architecture or Python, or a bad name, is refused up front."""
    with pytest.raises(ValueError, match=message.replace("$", r"\$")):
        ApiFunction("career", function_args(package, **changes))


def test_refuses_host_package(package: Package) -> None:
    """A package built for this machine can never be deployed."""
    host = replace(package, platform="host", python_version="3.11")

    with pytest.raises(ValueError, match="built for this machine"):
        ApiFunction("career", function_args(host, runtime="python3.11"))

"""One API function: its own role, its log group, the function, and the alias `live`.

The code comes from a `Package` built by `components.packaging`: the application and every
dependency in one zip, no layers. The function publishes a version on every code or
configuration change and the API invokes the alias `live`, so a release is a move of that alias.

Releases:
- Normal: `live` points at the version just published.
- Canary (0 < `canary_weight` < 1; a weight of 1 is a full release): `live` stays on the stable
  version and sends `canary_weight` of the invocations to the new one. The stable version is
  read back from AWS at deploy time: it is the version `live` points at before this update (a
  Lambda GetAlias call). Running `up` again with the weight at 0 promotes the new version.
  Reading the alias, rather than keeping the number in a setting, means an operator never has
  to copy a version number by hand, and the side that keeps most of the traffic is always a
  version the alias has already served.
- Rollback (`pinned_version` set): `live` points at that published version with no canary,
  whatever `canary_weight` says, and no rebuild happens. Clear the setting to roll forward.

Provisioned concurrency on `live`: with a demo window (`demo_window`, from `demoTime`), Application
Auto Scaling raises it to `provisioned_concurrency` when the window opens and lowers it to 0 when
it closes, on its own schedule, so nothing is billed outside the window and no `up` is needed
inside the freeze. Without a demo window it is a plain, always-on configuration.

Known limitations:
- A canary needs a live alias to compare against. On the first deployment of a function there is
  none, so the alias points at the new version and a warning says the canary did not apply.
  A function that exists without its alias (a first deployment that failed half-way) makes the
  alias lookup fail the deployment: deploy once with `canary_weight` 0 to create the alias.
- To learn whether the function exists, each function with a canary lists the functions of its
  region (one paginated Lambda call per function per `up`).
- The demo window's schedule is fixed at deploy time. An `up` after the window has opened moves
  the raise to a few minutes after the `up` (with a warning), and one after it has closed
  declares no provisioned concurrency at all.
- A canary only ever compares two versions: a second code change during a canary replaces the
  first canary version, and the stable version stays the one `live` pointed at before.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pulumi
import pulumi_aws as aws

from components.freeze import DEMO_LENGTH
from components.iam import assume_role_policy
from components.packaging import HOST, Package
from components.settings import Settings

ALIAS = "live"
# Lambda function names: letters, digits, - and _, at most 64 characters.
FUNCTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9*]+$")
# The actions every function needs whatever it does: writing its own logs and its traces.
LOG_ACTIONS = ("logs:CreateLogStream", "logs:PutLogEvents")
# X-Ray has no resource-level permissions: these two actions only accept Resource "*".
XRAY_ACTIONS = ("xray:PutTelemetryRecords", "xray:PutTraceSegments")
# Application Auto Scaling's dimension for a Lambda alias's provisioned concurrency.
CONCURRENCY_DIMENSION = "lambda:function:ProvisionedConcurrency"
# An `up` inside the demo window raises the concurrency this long after the program runs, so the
# one-time action is still in the future when Application Auto Scaling receives it.
LATE_RAISE_DELAY = timedelta(minutes=10)
# Lambda's floor for the age of an asynchronous event: an older one is dropped, not run late.
ASYNC_EVENT_AGE_SECONDS = 60
_PLATFORM_ARCHITECTURE = {"manylinux2014_aarch64": "arm64", "manylinux2014_x86_64": "x86_64"}


class PolicyError(ValueError):
    """A permission the function asks for is broader than least privilege allows."""


@dataclass(frozen=True)
class Statement:
    """An Allow statement of the function's role: these actions on these resources only."""

    actions: Sequence[str]
    resources: Sequence[pulumi.Input[str]]
    # IAM condition block, e.g. {"StringEquals": {"cloudwatch:namespace": "VetROI"}}.
    conditions: Mapping[str, Mapping[str, str]] | None = None


@dataclass(frozen=True)
class DemoWindow:
    """When provisioned concurrency is raised (before the demo) and lowered again (after it)."""

    starts: datetime
    ends: datetime


@dataclass
class ApiFunctionArgs:
    """What an ApiFunction is built from; `from_settings` fills in the stack's choices."""

    package: Package
    handler: str
    runtime: str = "python3.12"
    architecture: str = "arm64"
    memory_mb: int = 512
    timeout_seconds: int = 10
    environment: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    log_retention_days: int = 30
    statements: Sequence[Statement] = ()
    region: str | None = None
    canary_weight: float = 0.0
    pinned_version: str | None = None
    provisioned_concurrency: int = 0
    # With a window, provisioned concurrency is scheduled for it; without, it is always on.
    demo_window: DemoWindow | None = None
    # Defaults to "<project>-<stack>-<component name>", unique per stack in its region.
    function_name: str | None = None
    description: str | None = None

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        package: Package,
        handler: str,
        environment: Mapping[str, pulumi.Input[str]] | None = None,
        statements: Sequence[Statement] = (),
        description: str | None = None,
        target: str | None = None,
    ) -> ApiFunctionArgs:
        """`target` is the function's name in the layout (career, monolith...), for its pin."""
        demo_window = None
        if settings.demo_time is not None:
            lead = timedelta(minutes=settings.provisioned_concurrency_lead_minutes)
            demo_window = DemoWindow(settings.demo_time - lead, settings.demo_time + DEMO_LENGTH)
        return cls(
            package=package,
            handler=handler,
            runtime=settings.runtime,
            architecture=settings.architecture,
            memory_mb=settings.function_memory_mb,
            timeout_seconds=settings.function_timeout_seconds,
            environment=dict(environment or {}),
            log_retention_days=settings.log_retention_days,
            statements=statements,
            region=settings.region,
            canary_weight=settings.canary_weight,
            pinned_version=settings.pinned_version_of(target),
            provisioned_concurrency=settings.provisioned_concurrency,
            demo_window=demo_window,
            description=description,
        )


class ApiFunction(pulumi.ComponentResource):
    """A Lambda function behind the alias `live`, with its own least-privilege role."""

    role: aws.iam.Role
    policy: aws.iam.RolePolicy
    log_group: aws.cloudwatch.LogGroup
    function: aws.lambda_.Function
    alias: aws.lambda_.Alias
    provisioned_concurrency: aws.lambda_.ProvisionedConcurrencyConfig | None
    concurrency_target: aws.appautoscaling.Target | None
    concurrency_schedule: list[aws.appautoscaling.ScheduledAction]
    function_name: pulumi.Output[str]
    version: pulumi.Output[str]
    alias_arn: pulumi.Output[str]
    invoke_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: ApiFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:function:ApiFunction", name, None, opts)
        function_name = args.function_name or (
            f"{pulumi.get_project()}-{pulumi.get_stack()}-{name}"
        )
        _check(name, function_name, args)
        child = pulumi.ResourceOptions(parent=self)

        # Lambda writes to /aws/lambda/<name> and would create that group itself, without a
        # retention period, on the first invocation: the group must exist before the function.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            region=args.region,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=assume_role_policy("lambda.amazonaws.com"),
            description=f"Runs the Lambda function {function_name}",
            opts=child,
        )
        self.policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=_policy_document(name, args.statements, self.log_group.arn),
            opts=child,
        )
        self.function = self._function(name, function_name, args)
        self.version = self.function.version
        self.function_name = self.function.name
        self.alias = self._alias(name, function_name, args)
        self.alias_arn = self.alias.arn
        self.invoke_arn = self.alias.invoke_arn

        self.provisioned_concurrency = None
        self.concurrency_target = None
        self.concurrency_schedule = []
        if args.provisioned_concurrency > 0 and args.demo_window is not None:
            self._scheduled_concurrency(name, function_name, args, args.demo_window)
        elif args.provisioned_concurrency > 0:
            self.provisioned_concurrency = aws.lambda_.ProvisionedConcurrencyConfig(
                f"{name}-concurrency",
                function_name=self.function.name,
                qualifier=self.alias.name,
                provisioned_concurrent_executions=args.provisioned_concurrency,
                region=args.region,
                opts=child,
            )

        self.register_outputs(
            {
                "functionName": self.function_name,
                "version": self.version,
                "aliasArn": self.alias_arn,
                "roleArn": self.role.arn,
                "logGroup": self.log_group.name,
            }
        )

    def _function(
        self, name: str, function_name: str, args: ApiFunctionArgs
    ) -> aws.lambda_.Function:
        environment = None
        if args.environment:
            environment = aws.lambda_.FunctionEnvironmentArgs(variables=dict(args.environment))
        return aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description=args.description,
            role=self.role.arn,
            runtime=args.runtime,
            handler=args.handler,
            architectures=[args.architecture],
            # Pulumi re-zips the archive before upload, so Lambda's CodeSha256 differs from the
            # package's hash; the change trigger is source_code_hash, compared as given: same
            # zip, same hash, so an unchanged package updates nothing and publishes nothing.
            code=pulumi.FileArchive(str(args.package.path)),
            source_code_hash=args.package.sha256_b64,
            memory_size=args.memory_mb,
            timeout=args.timeout_seconds,
            environment=environment,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=self.log_group.name
            ),
            publish=True,
            region=args.region,
            # The policy first, so the first invocation can already write its logs.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group, self.policy]),
        )

    def _scheduled_concurrency(
        self, name: str, function_name: str, args: ApiFunctionArgs, window: DemoWindow
    ) -> None:
        """Provisioned concurrency on `live` for the demo window only, by Application Auto Scaling.

        Registering the alias as a scalable target makes AWS create the service-linked role
        AWSServiceRoleForApplicationAutoScaling_LambdaConcurrency if the account has none yet
        (the deployer needs iam:CreateServiceLinkedRole once); nothing else is declared for it.
        """
        now = datetime.now(UTC)
        if now >= window.ends:
            pulumi.log.warn(
                f"{function_name}: the demo window ended at {_iso(window.ends)}, so no "
                "provisioned concurrency is scheduled; set demoTime to the next demo",
                resource=self,
            )
            return
        starts = window.starts
        if now >= starts:
            starts = (now + LATE_RAISE_DELAY).replace(second=0, microsecond=0)
            pulumi.log.warn(
                f"{function_name}: the demo window opened at {_iso(window.starts)}; provisioned "
                f"concurrency is raised at {_iso(starts)} instead, after this update",
                resource=self,
            )

        # The scheduled actions own the capacity from here on; the target only registers the
        # alias, so a refresh after an action has run is not reverted by the next `up`.
        self.concurrency_target = aws.appautoscaling.Target(
            f"{name}-concurrency-target",
            service_namespace="lambda",
            resource_id=self.alias.name.apply(lambda alias: f"function:{function_name}:{alias}"),
            scalable_dimension=CONCURRENCY_DIMENSION,
            min_capacity=0,
            max_capacity=args.provisioned_concurrency,
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=["minCapacity", "maxCapacity"]),
        )
        previous: list[pulumi.Resource] = []
        for suffix, moment, capacity in (
            ("raise", starts, args.provisioned_concurrency),
            ("lower", window.ends, 0),
        ):
            action = aws.appautoscaling.ScheduledAction(
                f"{name}-concurrency-{suffix}",
                name=f"{function_name}-demo-{suffix}",
                service_namespace=self.concurrency_target.service_namespace,
                resource_id=self.concurrency_target.resource_id,
                scalable_dimension=self.concurrency_target.scalable_dimension,
                # One-time `at` expressions, read in the timezone given (UTC, also the default).
                schedule=f"at({moment.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
                timezone="Etc/UTC",
                scalable_target_action=aws.appautoscaling.ScheduledActionScalableTargetActionArgs(
                    min_capacity=capacity, max_capacity=capacity
                ),
                region=args.region,
                # Actions on one target are put one at a time: AWS refuses concurrent updates.
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            self.concurrency_schedule.append(action)
            previous = [action]

    def _alias(self, name: str, function_name: str, args: ApiFunctionArgs) -> aws.lambda_.Alias:
        new_version = self.function.version
        primary: pulumi.Input[str] = new_version
        weights: pulumi.Input[Mapping[str, float]] | None = None

        if args.pinned_version:
            primary = args.pinned_version
            if 0 < args.canary_weight < 1:
                pulumi.log.warn(
                    f"{function_name}: pinned version {args.pinned_version} takes all traffic; "
                    f"the canary weight {args.canary_weight:g} is ignored while it is set",
                    resource=self,
                )
        elif 0 < args.canary_weight < 1:
            stable = _live_version(function_name, args.region)
            if stable is None:
                pulumi.log.warn(
                    f"{function_name}: no '{ALIAS}' alias exists yet, so there is no stable "
                    "version to hold back; the new version takes all traffic",
                    resource=self,
                )
            else:
                primary = stable
                weight = args.canary_weight
                # Without a code change the new version is the stable one: nothing to split.
                weights = new_version.apply(lambda v: {} if v == stable else {v: weight})

        return aws.lambda_.Alias(
            f"{name}-{ALIAS}",
            name=ALIAS,
            function_name=self.function.name,
            function_version=primary,
            routing_config=aws.lambda_.AliasRoutingConfigArgs(additional_version_weights=weights)
            if weights is not None
            else None,
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self),
        )


def _check(name: str, function_name: str, args: ApiFunctionArgs) -> None:
    """Refuse arguments AWS would refuse later, or that would deploy the wrong package."""
    package = args.package
    if not FUNCTION_NAME.match(function_name):
        raise ValueError(
            f"function {name}: name {function_name!r} must be 1-64 letters, digits, - or _"
        )
    if package.platform == HOST:
        raise ValueError(
            f"function {name}: the package was built for this machine ({HOST!r}), not for "
            "Lambda; build it for the Lambda platform"
        )
    built_for = _PLATFORM_ARCHITECTURE.get(package.platform)
    if built_for != args.architecture:
        raise ValueError(
            f"function {name}: the package was built for {package.platform} but the function "
            f"runs on {args.architecture}"
        )
    if args.runtime != f"python{package.python_version}":
        raise ValueError(
            f"function {name}: the package was built for Python {package.python_version} but "
            f"the runtime is {args.runtime}"
        )
    if not 0 <= args.canary_weight <= 1:
        raise ValueError(f"function {name}: canary weight {args.canary_weight} is not in [0, 1]")
    if args.pinned_version is not None and not args.pinned_version.isdigit():
        raise ValueError(
            f"function {name}: pinned version {args.pinned_version!r} is not a version number"
        )
    for statement in args.statements:
        if not statement.actions or not statement.resources:
            raise PolicyError(f"function {name}: a statement needs actions and resources")
        for action in statement.actions:
            if action == "*" or not ACTION.match(action):
                raise PolicyError(
                    f"function {name}: action {action!r} must name one service and action, "
                    "such as dynamodb:GetItem"
                )
        # Resources known now are checked now; Outputs are checked when the policy is rendered.
        _refuse_wildcards(name, statement.actions, [r for r in statement.resources if r == "*"])


def _refuse_wildcards(name: str, actions: Sequence[str], resources: Sequence[Any]) -> None:
    wildcard = [a for a in actions if "*" in a]
    if "*" in resources and wildcard:
        raise PolicyError(f"function {name}: wildcard actions {wildcard} on every resource ('*')")


def _policy_document(
    name: str, statements: Sequence[Statement], log_group_arn: pulumi.Output[str]
) -> pulumi.Output[str]:
    """The role's inline policy: the given statements, its own logs and X-Ray."""

    def render(resolved: list[Any]) -> str:
        log_arn, *resources = resolved
        document: list[dict[str, Any]] = []
        for statement, arns in zip(statements, resources, strict=True):
            _refuse_wildcards(name, statement.actions, arns)
            entry: dict[str, Any] = {
                "Effect": "Allow",
                "Action": sorted(set(statement.actions)),
                "Resource": sorted(set(arns)),
            }
            if statement.conditions:
                entry["Condition"] = statement.conditions
            document.append(entry)
        document.append(
            {
                "Effect": "Allow",
                "Action": list(LOG_ACTIONS),
                # The group itself (CreateLogStream) and its streams (PutLogEvents).
                "Resource": [log_arn, f"{log_arn}:*"],
            }
        )
        document.append({"Effect": "Allow", "Action": list(XRAY_ACTIONS), "Resource": "*"})
        return json.dumps({"Version": "2012-10-17", "Statement": document}, sort_keys=True)

    resource_lists = [pulumi.Output.all(*s.resources) for s in statements]
    return pulumi.Output.all(log_group_arn, *resource_lists).apply(render)


def run_once_when_scheduled(
    name: str,
    function_name: pulumi.Input[str],
    qualifier: pulumi.Input[str],
    region: str,
    opts: pulumi.ResourceOptions,
) -> aws.lambda_.FunctionEventInvokeConfig:
    """No retry by Lambda of a scheduled run, and no late run.

    EventBridge invokes asynchronously, and Lambda retries a failed asynchronous run twice by
    itself: a retried probe or warm-up would come late, on top of the schedule's next run.
    """
    return aws.lambda_.FunctionEventInvokeConfig(
        name,
        function_name=function_name,
        qualifier=qualifier,
        maximum_retry_attempts=0,
        maximum_event_age_in_seconds=ASYNC_EVENT_AGE_SECONDS,
        region=region,
        opts=opts,
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _live_version(function_name: str, region: str | None) -> str | None:
    """The version the alias `live` points at now, or None when the function is new."""
    # A failed lookup fails the whole deployment (Pulumi cannot catch an invoke error), so the
    # alias is only read once the function is known to exist.
    existing = aws.lambda_.get_functions(region=region).function_names or []
    if function_name not in existing:
        return None
    version = aws.lambda_.get_alias(
        function_name=function_name, name=ALIAS, region=region
    ).function_version
    # `$LATEST` cannot be the stable side of a weighted alias: Lambda only splits versions.
    return version if version and version != "$LATEST" else None

"""The synthetic check: a scheduled function that probes the API the way a browser uses it.

It runs `vetroi_probe` (the same code as `python -m ops probe`) against the public domain and this
region's own endpoint, and publishes `ProbeSuccess` and `ProbeDuration` per endpoint; the
monitoring component alarms on them. The zip is the one built from `functions/`, so the probe
ships with its pinned requests and boto3 like every other function.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import ApiFunction, ApiFunctionArgs, Statement, run_once_when_scheduled
from components.monitoring import SYNTHETICS_NAMESPACE
from components.packaging import Package

HANDLER = "vetroi_probe.handler.lambda_handler"
# Two endpoints probed at once, four checks each, five seconds at most per request.
TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 5


@dataclass
class SyntheticCheckArgs:
    region: str
    # The zip built from functions/, the same package the API functions run.
    package: Package
    runtime: str
    architecture: str
    # Endpoint label (public, regional) -> base URL the probe calls.
    targets: Mapping[str, pulumi.Input[str]]
    # The browser origin the CORS checks present; one of the allowed origins.
    origin: pulumi.Input[str]
    log_retention_days: int
    interval_minutes: int = 5
    namespace: str = SYNTHETICS_NAMESPACE


class SyntheticCheck(pulumi.ComponentResource):
    """The synthetic check's function (role, logs, alias `live`) and its schedule in one region."""

    function: ApiFunction
    rule: aws.cloudwatch.EventRule

    def __init__(
        self, name: str, args: SyntheticCheckArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:synthetics:SyntheticCheck", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)

        targets = pulumi.Output.from_input(dict(args.targets)).apply(json.dumps)
        self.function = ApiFunction(
            name,
            ApiFunctionArgs(
                function_name=name,
                description="Synthetic check: probes the public domain and this region's endpoint",
                package=args.package,
                handler=HANDLER,
                runtime=args.runtime,
                architecture=args.architecture,
                memory_mb=256,
                timeout_seconds=TIMEOUT_SECONDS,
                log_retention_days=args.log_retention_days,
                region=args.region,
                environment={
                    "VETROI_PROBE_TARGETS": targets,
                    "VETROI_PROBE_ORIGIN": args.origin,
                    "VETROI_PROBE_NAMESPACE": args.namespace,
                    "VETROI_PROBE_TIMEOUT": str(REQUEST_TIMEOUT_SECONDS),
                },
                statements=[
                    # PutMetricData has no resource type; the condition pins the namespace.
                    Statement(
                        actions=["cloudwatch:PutMetricData"],
                        resources=["*"],
                        conditions={"StringEquals": {"cloudwatch:namespace": args.namespace}},
                    )
                ],
            ),
            opts=child,
        )

        unit = "minute" if args.interval_minutes == 1 else "minutes"
        self.rule = aws.cloudwatch.EventRule(
            f"{name}-schedule",
            description="Run the synthetic check",
            schedule_expression=f"rate({args.interval_minutes} {unit})",
            region=args.region,
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-target",
            rule=self.rule.name,
            arn=self.function.alias.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=0, maximum_event_age_in_seconds=60
            ),
            region=args.region,
            opts=child,
        )
        # A retried probe would publish a late, duplicate result for the same period.
        run_once_when_scheduled(
            f"{name}-async",
            self.function.function.name,
            self.function.alias.name,
            args.region,
            child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.function.name,
            qualifier=self.function.alias.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            region=args.region,
            opts=child,
        )
        self.register_outputs({"functionName": self.function.function_name})

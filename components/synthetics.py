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

from components.monitoring import SYNTHETICS_NAMESPACE

HANDLER = "vetroi_probe.handler.lambda_handler"
# Two endpoints probed at once, four checks each, five seconds at most per request.
TIMEOUT_SECONDS = 60
REQUEST_TIMEOUT_SECONDS = 5


@dataclass
class SyntheticCheckArgs:
    region: str
    # The zip built from functions/ and its base64 SHA-256, as packaging gives them.
    code: pulumi.Input[pulumi.Archive]
    code_sha256: pulumi.Input[str]
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
    """Role, log group, function and schedule of the synthetic check in one region."""

    function: aws.lambda_.Function
    role: aws.iam.Role
    log_group: aws.cloudwatch.LogGroup
    rule: aws.cloudwatch.EventRule

    def __init__(
        self, name: str, args: SyntheticCheckArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:synthetics:SyntheticCheck", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        function_name = name

        # Created before the function, so Lambda never creates it without a retention period.
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/aws/lambda/{function_name}",
            retention_in_days=args.log_retention_days,
            region=args.region,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            assume_role_policy=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
            opts=child,
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=self.log_group.arn.apply(lambda arn: _policy(arn, args.namespace)),
            opts=child,
        )

        targets = pulumi.Output.from_input(dict(args.targets)).apply(json.dumps)
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description="Synthetic check: probes the public domain and this region's endpoint",
            role=self.role.arn,
            runtime=args.runtime,
            architectures=[args.architecture],
            handler=HANDLER,
            code=args.code,
            source_code_hash=args.code_sha256,
            memory_size=256,
            timeout=TIMEOUT_SECONDS,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables={
                    "VETROI_PROBE_TARGETS": targets,
                    "VETROI_PROBE_ORIGIN": args.origin,
                    "VETROI_PROBE_NAMESPACE": args.namespace,
                    "VETROI_PROBE_TIMEOUT": str(REQUEST_TIMEOUT_SECONDS),
                }
            ),
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.log_group]),
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
            arn=self.function.arn,
            retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                maximum_retry_attempts=0, maximum_event_age_in_seconds=60
            ),
            region=args.region,
            opts=child,
        )
        aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal="events.amazonaws.com",
            source_arn=self.rule.arn,
            region=args.region,
            opts=child,
        )
        self.register_outputs({"functionName": self.function.name})


def _policy(log_group_arn: str, namespace: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                    "Resource": f"{log_group_arn}:*",
                },
                {
                    # PutMetricData has no resource type; the condition pins the namespace.
                    "Effect": "Allow",
                    "Action": "cloudwatch:PutMetricData",
                    "Resource": "*",
                    "Condition": {"StringEquals": {"cloudwatch:namespace": namespace}},
                },
                {
                    # X-Ray's write actions have no resource type either.
                    "Effect": "Allow",
                    "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
                    "Resource": "*",
                },
            ],
        }
    )

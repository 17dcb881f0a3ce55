"""Keep every function warm, in both regions: a schedule invokes each `live` alias.

After a failover every first request in the backup region would otherwise be a cold start (boto3
alone costs 150-300 ms to import), so the backup stack is warmed as much as the primary. The
payload is the warm-up event the handlers answer at once: `{"warmup": true}`.

One warm-up keeps one execution environment warm per function; concurrent requests above that
still start cold. Provisioned concurrency on the `live` alias covers a demo window.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.function import run_once_when_scheduled

WARMUP_EVENT = {"warmup": True}
ALIAS_NAME = "live"
# EventBridge accepts at most five targets per rule.
TARGETS_PER_RULE = 5


@dataclass
class WarmupArgs:
    region: str
    # Route name -> function name and route name -> ARN of its `live` alias.
    function_names: Mapping[str, pulumi.Input[str]]
    alias_arns: Mapping[str, pulumi.Input[str]]
    interval_minutes: int = 5


class Warmup(pulumi.ComponentResource):
    """EventBridge rules that invoke every function's `live` alias on a schedule."""

    rules: list[aws.cloudwatch.EventRule]

    def __init__(
        self, name: str, args: WarmupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:warmup:Warmup", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        routes = sorted(args.alias_arns)
        unit = "minute" if args.interval_minutes == 1 else "minutes"
        self.rules = []

        for start in range(0, len(routes), TARGETS_PER_RULE):
            batch = routes[start : start + TARGETS_PER_RULE]
            suffix = "" if start == 0 else f"-{start // TARGETS_PER_RULE + 1}"
            rule = aws.cloudwatch.EventRule(
                f"{name}-schedule{suffix}",
                description=f"Invoke the live alias of {', '.join(batch)} with the warm-up event",
                schedule_expression=f"rate({args.interval_minutes} {unit})",
                region=args.region,
                opts=child,
            )
            self.rules.append(rule)
            for route in batch:
                aws.cloudwatch.EventTarget(
                    f"{name}-{route}",
                    rule=rule.name,
                    arn=args.alias_arns[route],
                    input=json.dumps(WARMUP_EVENT),
                    # A missed warm-up is replaced by the next one; retrying only piles up.
                    retry_policy=aws.cloudwatch.EventTargetRetryPolicyArgs(
                        maximum_retry_attempts=0, maximum_event_age_in_seconds=60
                    ),
                    region=args.region,
                    opts=child,
                )
                run_once_when_scheduled(
                    f"{name}-{route}-async",
                    args.function_names[route],
                    ALIAS_NAME,
                    args.region,
                    child,
                )
                aws.lambda_.Permission(
                    f"{name}-{route}-invoke",
                    action="lambda:InvokeFunction",
                    function=args.function_names[route],
                    qualifier=ALIAS_NAME,
                    principal="events.amazonaws.com",
                    source_arn=rule.arn,
                    region=args.region,
                    opts=child,
                )
        self.register_outputs({"ruleNames": [rule.name for rule in self.rules]})

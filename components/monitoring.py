"""Alarms that page someone, and a dashboard of the request path, for one stack.

`RegionalMonitoring` lives in the stack's own region: an alert topic, alarms on the API stage,
each function, the table and the synthetic check, and a dashboard. `GlobalMonitoring` lives in
us-east-1, where Route53 health checks and CloudFront publish their metrics: its own alert topic
and alarms on each health check and on CloudFront's 5xx rate. pulumi-aws 7's `region` argument
places each resource, so no second provider is needed.

Every alarm names the topic for both ALARM and OK, so the on-call engineer also hears when it is
over, and its description says what to do first.

The HTTPS subscriptions (PagerDuty, Opsgenie) are created once the secret list of endpoints is
known. Config values are known during preview too, so they still show in a preview; the endpoints
stay secret in the state. The topics are not KMS-encrypted: CloudWatch can only publish to an
encrypted topic through a customer managed key whose policy lets it, and the alerts carry no data.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

# CloudWatch publishes Route53 health-check and CloudFront metrics only in us-east-1.
GLOBAL_METRICS_REGION = "us-east-1"
SYNTHETICS_NAMESPACE = "VetROI/Synthetics"
# The table operations the API performs; ThrottledRequests and SystemErrors are per operation.
TABLE_OPERATIONS = ("GetItem", "BatchGetItem", "PutItem")


@dataclass
class Alerting:
    """Who hears about an alarm: e-mail addresses and secret HTTPS integration URLs."""

    emails: Sequence[str] = ()
    https_endpoints: pulumi.Input[Sequence[str]] | None = None


@dataclass
class RegionalMonitoringArgs:
    region: str
    other_region: str
    api_name: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    # Route name -> function name, as exported in `functionNames`.
    function_names: Mapping[str, pulumi.Input[str]]
    function_timeout_seconds: int
    table_name: pulumi.Input[str]
    alerting: Alerting
    api_4xx_threshold: int = 10
    api_p99_latency_ms: int = 3000
    # The synthetic check's endpoint labels and how often it runs.
    synthetic_endpoints: Sequence[str] = ("public", "regional")
    synthetic_interval_minutes: int = 5
    synthetic_namespace: str = SYNTHETICS_NAMESPACE
    # Shown on the dashboard when known; their alarms belong to GlobalMonitoring.
    health_check_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    distribution_id: pulumi.Input[str] | None = None


@dataclass
class GlobalMonitoringArgs:
    alerting: Alerting
    # Region -> the Route53 health check probing that region's /health.
    probe_health_check_ids: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # The CALCULATED check the primary's failover record follows, in the prod stack.
    switch_health_check_id: pulumi.Input[str] | None = None
    distribution_id: pulumi.Input[str] | None = None
    cloudfront_5xx_rate_percent: float = 5.0


class _Alarms:
    """Creates alarms that all notify one topic, with names derived from the component's."""

    def __init__(
        self, owner: pulumi.ComponentResource, name: str, topic: aws.sns.Topic, region: str
    ):
        self.owner = owner
        self.name = name
        self.topic = topic
        self.region = region
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}

    def add(self, key: str, description: str, **kwargs: Any) -> aws.cloudwatch.MetricAlarm:
        alarm_name = f"{self.name}-{key}"
        kwargs.setdefault("treat_missing_data", "notBreaching")
        kwargs.setdefault("evaluation_periods", 1)
        alarm = aws.cloudwatch.MetricAlarm(
            alarm_name,
            name=alarm_name,
            alarm_description=description,
            alarm_actions=[self.topic.arn],
            ok_actions=[self.topic.arn],
            region=self.region,
            opts=pulumi.ResourceOptions(parent=self.owner),
            **kwargs,
        )
        self.alarms[key] = alarm
        return alarm


def _topic(
    owner: pulumi.ComponentResource, name: str, region: str, alerting: Alerting
) -> aws.sns.Topic:
    """An alert topic in `region`, subscribed to every contact."""
    opts = pulumi.ResourceOptions(parent=owner)
    topic = aws.sns.Topic(name, name=name, region=region, opts=opts)
    for index, email in enumerate(alerting.emails):
        aws.sns.TopicSubscription(
            f"{name}-email-{index}",
            topic=topic.arn,
            protocol="email",
            endpoint=email,
            region=region,
            opts=opts,
        )

    def subscribe(urls: Sequence[str]) -> int:
        for index, url in enumerate(urls):
            aws.sns.TopicSubscription(
                f"{name}-https-{index}",
                topic=topic.arn,
                protocol="https",
                endpoint=pulumi.Output.secret(url),
                # PagerDuty and Opsgenie confirm their subscriptions themselves.
                endpoint_auto_confirms=True,
                region=region,
                opts=opts,
            )
        return len(urls)

    if alerting.https_endpoints is not None:
        pulumi.Output.from_input(alerting.https_endpoints).apply(subscribe)
    return topic


class RegionalMonitoring(pulumi.ComponentResource):
    """Alert topic, alarms and dashboard for one regional copy of the API."""

    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]
    dashboard: aws.cloudwatch.Dashboard

    def __init__(
        self, name: str, args: RegionalMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:monitoring:RegionalMonitoring", name, None, opts)
        self.topic = _topic(self, f"{name}-alerts", args.region, args.alerting)
        alarms = _Alarms(self, name, self.topic, args.region)

        self._api_alarms(alarms, args)
        self._function_alarms(alarms, args)
        self._table_alarms(alarms, args)
        self._synthetic_alarms(alarms, args)
        self.alarms = alarms.alarms

        self.dashboard = aws.cloudwatch.Dashboard(
            f"{name}-dashboard",
            dashboard_name=f"{name}-{args.region}",
            dashboard_body=_dashboard_body(name, args, list(self.alarms.values())),
            region=args.region,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs(
            {"topicArn": self.topic.arn, "dashboardName": self.dashboard.dashboard_name}
        )

    @staticmethod
    def _api_alarms(alarms: _Alarms, args: RegionalMonitoringArgs) -> None:
        api = {"ApiName": args.api_name, "Stage": args.stage_name}
        common = {"namespace": "AWS/ApiGateway", "dimensions": api, "period": 60}
        alarms.add(
            "api-4xx",
            f"More than {args.api_4xx_threshold} client errors a minute on the API in "
            f"{args.region}. A front-end release sending bad requests, a missing CORS origin, "
            "or WAF/throttling blocks: check the access log group of the stage for the paths "
            "and status codes, then `python -m ops probe`.",
            metric_name="4XXError",
            statistic="Sum",
            threshold=args.api_4xx_threshold,
            comparison_operator="GreaterThanThreshold",
            **common,
        )
        alarms.add(
            "api-5xx",
            f"The API in {args.region} answered with server errors. Run `python -m ops probe` "
            "against this region; if it fails, read the function alarms and logs, and run "
            "`python -m ops failover` if the backup region is healthy.",
            metric_name="5XXError",
            statistic="Sum",
            threshold=0,
            comparison_operator="GreaterThanThreshold",
            **common,
        )
        alarms.add(
            "api-latency-p99",
            f"The API's p99 latency in {args.region} has been above {args.api_p99_latency_ms} ms "
            "for 3 minutes. Look for cold starts (run `python -m ops warmup`), a slow O*NET "
            "(the function logs name the data source) or table throttling.",
            metric_name="Latency",
            extended_statistic="p99",
            threshold=args.api_p99_latency_ms,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=3,
            datapoints_to_alarm=3,
            **common,
        )

    @staticmethod
    def _function_alarms(alarms: _Alarms, args: RegionalMonitoringArgs) -> None:
        # Duration near the timeout: a function that times out answers the browser with a 5xx.
        near_timeout_ms = int(args.function_timeout_seconds * 1000 * 0.8)
        for route, function_name in args.function_names.items():
            common = {
                "namespace": "AWS/Lambda",
                "dimensions": {"FunctionName": function_name},
                "period": 60,
                "comparison_operator": "GreaterThanThreshold",
            }
            alarms.add(
                f"fn-{route}-errors",
                f"The {route} function in {args.region} raised errors. Read its log group for "
                "the request ids; if a new version caused it, roll back with the pinnedVersion "
                "setting.",
                metric_name="Errors",
                statistic="Sum",
                threshold=0,
                **common,
            )
            alarms.add(
                f"fn-{route}-throttles",
                f"The {route} function in {args.region} was throttled: requests were refused "
                "for lack of concurrency. Raise provisionedConcurrency or the account's "
                "concurrency quota.",
                metric_name="Throttles",
                statistic="Sum",
                threshold=0,
                **common,
            )
            alarms.add(
                f"fn-{route}-duration",
                f"The {route} function in {args.region} ran above 80% of its "
                f"{args.function_timeout_seconds} s timeout. Check O*NET's latency and the "
                "table's; a timeout becomes a 5xx for the browser.",
                metric_name="Duration",
                statistic="Maximum",
                threshold=near_timeout_ms,
                **common,
            )

    @staticmethod
    def _table_alarms(alarms: _Alarms, args: RegionalMonitoringArgs) -> None:
        for key, metric, what_to_do in (
            (
                "table-throttles",
                "ThrottledRequests",
                "The table is on-demand, so this means a sudden burst above twice the previous "
                "peak or a hot key: look at the function logs for the operation and key.",
            ),
            (
                "table-system-errors",
                "SystemErrors",
                "DynamoDB itself is failing in this region: check the AWS Health Dashboard and, "
                "if the API's /health fails too, run `python -m ops failover`.",
            ),
        ):
            alarms.add(
                key,
                f"The table's {metric} in {args.region}. {what_to_do}",
                metric_queries=_sum_over_operations(args.table_name, metric),
                threshold=0,
                comparison_operator="GreaterThanThreshold",
            )
        alarms.add(
            "table-replication-latency",
            f"Writes in {args.region} take more than 10 s to reach the replica in "
            f"{args.other_region}. After a failover the other region would read stale data; "
            "check the AWS Health Dashboard for DynamoDB in both regions.",
            namespace="AWS/DynamoDB",
            metric_name="ReplicationLatency",
            dimensions={"TableName": args.table_name, "ReceivingRegion": args.other_region},
            statistic="Average",
            period=60,
            threshold=10_000,
            comparison_operator="GreaterThanThreshold",
            evaluation_periods=5,
            datapoints_to_alarm=3,
        )

    @staticmethod
    def _synthetic_alarms(alarms: _Alarms, args: RegionalMonitoringArgs) -> None:
        period = args.synthetic_interval_minutes * 60
        for endpoint in args.synthetic_endpoints:
            alarms.add(
                f"synthetic-{endpoint}",
                f"The synthetic check in {args.region} failed twice in a row against the "
                f"{endpoint} endpoint, or did not run. Its log group says which check failed; "
                "run `python -m ops probe` to see it now.",
                namespace=args.synthetic_namespace,
                metric_name="ProbeSuccess",
                dimensions={"Endpoint": endpoint},
                statistic="Minimum",
                period=period,
                threshold=1,
                comparison_operator="LessThanThreshold",
                evaluation_periods=3,
                datapoints_to_alarm=2,
                # A probe that stopped running is as bad as one that fails.
                treat_missing_data="breaching",
            )


class GlobalMonitoring(pulumi.ComponentResource):
    """Alert topic and alarms in us-east-1 for Route53 health checks and CloudFront."""

    topic: aws.sns.Topic
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(
        self, name: str, args: GlobalMonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:monitoring:GlobalMonitoring", name, None, opts)
        region = GLOBAL_METRICS_REGION
        self.topic = _topic(self, f"{name}-alerts", region, args.alerting)
        alarms = _Alarms(self, name, self.topic, region)

        health = {
            "namespace": "AWS/Route53",
            "metric_name": "HealthCheckStatus",
            "statistic": "Minimum",
            "period": 60,
            "threshold": 1,
            "comparison_operator": "LessThanThreshold",
            # Route53 publishes every minute; silence means the check is gone.
            "treat_missing_data": "breaching",
        }
        for region, health_check_id in args.probe_health_check_ids.items():
            alarms.add(
                f"health-{region}",
                f"Route53's probe of /health in {region} fails: that region cannot serve (its "
                "table replica does not answer). If it is the primary, traffic is moving to the "
                "backup region by itself. Run `python -m ops preflight` for the whole picture.",
                dimensions={"HealthCheckId": health_check_id},
                **health,
            )
        if args.switch_health_check_id is not None:
            alarms.add(
                "failover-switch",
                "Traffic to api.<domain> has left the primary region: its probe fails or the "
                "failover was forced. If forced, run `python -m ops failback` once "
                "`python -m ops probe` passes against the primary; otherwise read the primary's "
                "probe alarm.",
                dimensions={"HealthCheckId": args.switch_health_check_id},
                **health,
            )
        if args.distribution_id is not None:
            alarms.add(
                "cloudfront-5xx",
                f"More than {args.cloudfront_5xx_rate_percent:g}% of CloudFront's answers were "
                "5xx for 3 of 5 minutes: both origins are failing for some paths. Run "
                "`python -m ops probe` against the public domain and each region.",
                namespace="AWS/CloudFront",
                metric_name="5xxErrorRate",
                dimensions={"DistributionId": args.distribution_id, "Region": "Global"},
                statistic="Average",
                period=60,
                threshold=args.cloudfront_5xx_rate_percent,
                comparison_operator="GreaterThanThreshold",
                evaluation_periods=5,
                datapoints_to_alarm=3,
            )
        self.alarms = alarms.alarms
        self.register_outputs({"topicArn": self.topic.arn})


def _sum_over_operations(
    table_name: pulumi.Input[str], metric: str
) -> list[aws.cloudwatch.MetricAlarmMetricQueryArgs]:
    """A metric-math query: `metric` summed over the table operations the API uses."""
    queries = [
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id=f"m{index}",
            return_data=False,
            metric=aws.cloudwatch.MetricAlarmMetricQueryMetricArgs(
                namespace="AWS/DynamoDB",
                metric_name=metric,
                dimensions={"TableName": table_name, "Operation": operation},
                period=60,
                stat="Sum",
            ),
        )
        for index, operation in enumerate(TABLE_OPERATIONS)
    ]
    ids = ", ".join(f"m{index}" for index in range(len(TABLE_OPERATIONS)))
    queries.append(
        aws.cloudwatch.MetricAlarmMetricQueryArgs(
            id="total",
            expression=f"SUM([{ids}])",
            label=f"{metric} (all operations)",
            return_data=True,
        )
    )
    return queries


def _dashboard_body(
    name: str, args: RegionalMonitoringArgs, alarms: list[aws.cloudwatch.MetricAlarm]
) -> pulumi.Output[str]:
    """The request path at a glance, top to bottom: edge, API, functions, table, probes."""
    inputs = {
        "api": args.api_name,
        "stage": args.stage_name,
        "table": args.table_name,
        "functions": dict(args.function_names),
        "health": dict(args.health_check_ids),
        "distribution": args.distribution_id,
        "alarms": [alarm.arn for alarm in alarms],
    }
    return pulumi.Output.from_input(inputs).apply(lambda v: json.dumps(_widgets(name, args, v)))


def _widgets(name: str, args: RegionalMonitoringArgs, v: dict[str, Any]) -> dict[str, Any]:
    region = args.region
    widgets: list[dict[str, Any]] = [
        {
            "type": "text",
            "width": 24,
            "height": 2,
            "properties": {
                "markdown": f"## {name} in {region}\nRequest path: CloudFront → API Gateway "
                f"(`{v['api']}`, stage `{v['stage']}`) → Lambda `live` aliases → DynamoDB "
                f"`{v['table']}`. Route53 and CloudFront metrics are in {GLOBAL_METRICS_REGION}."
            },
        },
        {
            "type": "alarm",
            "width": 24,
            "height": 4,
            "properties": {"title": "Alarms", "alarms": v["alarms"]},
        },
    ]

    def graph(title: str, metrics: list[list[Any]], where: str = region, **extra: Any) -> None:
        properties = {"title": title, "region": where, "metrics": metrics, "period": 60}
        properties |= extra
        widgets.append({"type": "metric", "width": 12, "height": 6, "properties": properties})

    if v["distribution"]:
        edge = ["AWS/CloudFront", "DistributionId", v["distribution"], "Region", "Global"]
        graph(
            "Edge: CloudFront requests and error rates",
            [
                [edge[0], "Requests", *edge[1:], {"stat": "Sum"}],
                [edge[0], "5xxErrorRate", *edge[1:], {"stat": "Average", "yAxis": "right"}],
                [edge[0], "4xxErrorRate", *edge[1:], {"stat": "Average", "yAxis": "right"}],
            ],
            GLOBAL_METRICS_REGION,
        )
    if v["health"]:
        graph(
            "Route53 health checks (1 = healthy)",
            [
                ["AWS/Route53", "HealthCheckStatus", "HealthCheckId", hc, {"label": label}]
                for label, hc in v["health"].items()
            ],
            GLOBAL_METRICS_REGION,
            stat="Minimum",
        )
    api = ["ApiName", v["api"], "Stage", v["stage"]]
    graph(
        "API: requests and errors",
        [
            ["AWS/ApiGateway", "Count", *api, {"stat": "Sum"}],
            ["AWS/ApiGateway", "4XXError", *api, {"stat": "Sum"}],
            ["AWS/ApiGateway", "5XXError", *api, {"stat": "Sum"}],
        ],
    )
    graph(
        "API: latency",
        [
            ["AWS/ApiGateway", "Latency", *api, {"stat": "p99"}],
            ["AWS/ApiGateway", "Latency", *api, {"stat": "p50"}],
            ["AWS/ApiGateway", "IntegrationLatency", *api, {"stat": "p99"}],
        ],
    )
    functions = v["functions"]
    graph(
        "Functions: invocations, errors, throttles",
        [
            [
                "AWS/Lambda",
                metric,
                "FunctionName",
                fn,
                {"stat": "Sum", "label": f"{route} {metric}"},
            ]
            for route, fn in functions.items()
            for metric in ("Invocations", "Errors", "Throttles")
        ],
    )
    graph(
        "Functions: duration p99 (ms)",
        [
            ["AWS/Lambda", "Duration", "FunctionName", fn, {"stat": "p99", "label": route}]
            for route, fn in functions.items()
        ],
        annotations={
            "horizontal": [{"label": "timeout", "value": args.function_timeout_seconds * 1000}]
        },
    )
    table = ["TableName", v["table"]]
    graph(
        "Table: capacity and throttling",
        [
            ["AWS/DynamoDB", "ConsumedReadCapacityUnits", *table, {"stat": "Sum"}],
            ["AWS/DynamoDB", "ConsumedWriteCapacityUnits", *table, {"stat": "Sum"}],
            ["AWS/DynamoDB", "ReadThrottleEvents", *table, {"stat": "Sum"}],
            ["AWS/DynamoDB", "WriteThrottleEvents", *table, {"stat": "Sum"}],
        ],
    )
    graph(
        f"Table: replication latency to {args.other_region} (ms)",
        [
            [
                "AWS/DynamoDB",
                "ReplicationLatency",
                *table,
                "ReceivingRegion",
                args.other_region,
                {"stat": "Average"},
            ]
        ],
    )
    graph(
        "Synthetic check (1 = every check passed)",
        [
            [args.synthetic_namespace, "ProbeSuccess", "Endpoint", endpoint, {"stat": "Minimum"}]
            for endpoint in args.synthetic_endpoints
        ],
        period=args.synthetic_interval_minutes * 60,
    )
    return {"widgets": widgets}

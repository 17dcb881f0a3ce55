"""Alarms, topics, schedules, dashboards, backups and the change freeze, per stack and region."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import ops  # noqa: F401 - puts functions/ on sys.path (vetroi_probe), as the commands do
from components.freeze import DEMO_LENGTH, ChangeFreezeError
from tests.program import Deployment, Resource, run_stack

ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
RULE = "aws:cloudwatch/eventRule:EventRule"
TARGET = "aws:cloudwatch/eventTarget:EventTarget"
PERMISSION = "aws:lambda/permission:Permission"
FUNCTION = "aws:lambda/function:Function"
SCALABLE_TARGET = "aws:appautoscaling/target:Target"
SCHEDULED_ACTION = "aws:appautoscaling/scheduledAction:ScheduledAction"
PROVISIONED = "aws:lambda/provisionedConcurrencyConfig:ProvisionedConcurrencyConfig"
EVENT_INVOKE_CONFIG = "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig"
HOOKS = ["https://events.pagerduty.com/integration/abc123/enqueue", "https://api.opsgenie.com/x"]
SECRET_SIG = "4dabf18193072939515e22adb298388d"
REGIONS = {"prod": ("us-east-2", "us-west-2"), "backup": ("us-west-2", "us-east-2")}


@pytest.fixture(scope="module")
def prod() -> Deployment:
    return run_stack("prod", secrets={"vetroi:alertHttpsEndpoints": json.dumps(HOOKS)})


@pytest.fixture(scope="module")
def backup() -> Deployment:
    return run_stack("backup")


@pytest.fixture(params=["prod", "backup"])
def stack(request: pytest.FixtureRequest, prod: Deployment, backup: Deployment) -> Deployment:
    return {"prod": prod, "backup": backup}[request.param]


def alarms(deployment: Deployment) -> dict[str, Resource]:
    return {alarm["name"]: alarm for alarm in deployment.of_type(ALARM)}


def topic_arn(deployment: Deployment, region: str) -> str:
    topics = [t for t in deployment.of_type(TOPIC) if t.region == region]
    assert len(topics) == 1, f"{deployment.stack}: expected one topic in {region}, got {topics}"
    return f"arn:aws:sns:{region}:123456789012:{topics[0]['name']}"


def in_window(hours_to_demo: float) -> dict[str, Any]:
    demo = datetime.now(UTC) + timedelta(hours=hours_to_demo)
    return {"vetroi:demoTime": demo.strftime("%Y-%m-%dT%H:%M:%SZ")}


# --- topics and subscriptions -----------------------------------------------------------------


def test_each_stack_has_a_topic_in_its_region_and_in_us_east_1(stack: Deployment) -> None:
    """One alert topic where the stack's alarms live and one for the global metrics."""
    regions = sorted(t.region for t in stack.of_type(TOPIC))
    assert regions == sorted([stack.region, "us-east-1"])


def test_topics_are_subscribed_by_email_and_secret_https(prod: Deployment) -> None:
    """Every topic mails the on-call address and calls each HTTPS integration."""
    subscriptions = prod.of_type(SUBSCRIPTION)
    for region in (prod.region, "us-east-1"):
        here = [s for s in subscriptions if s.region == region]
        emails = [s["endpoint"] for s in here if s["protocol"] == "email"]
        hooks = [s for s in here if s["protocol"] == "https"]
        assert emails == ["oncall@vetroi.example.com"], here
        # The mock runtime hands secret inputs over wrapped, with their value inside.
        assert all(SECRET_SIG in s["endpoint"] for s in hooks), hooks
        assert sorted(s["endpoint"]["value"] for s in hooks) == sorted(HOOKS)
        assert all(s["endpointAutoConfirms"] for s in hooks)
        assert all(s["topic"] == topic_arn(prod, region) for s in here)


def test_https_endpoints_stay_secret_in_outputs(prod: Deployment) -> None:
    """No hook URL reaches the stack's outputs in clear."""
    assert not any(hook in json.dumps(prod.outputs, default=str) for hook in HOOKS)


# --- alarms -----------------------------------------------------------------------------------


def test_every_alarm_notifies_its_topic_on_alarm_and_ok(stack: Deployment) -> None:
    """Each alarm has a clear name, a description saying what to do, and its region's topic."""
    for name, alarm in alarms(stack).items():
        topic = topic_arn(stack, alarm.region)
        assert name.startswith(f"vetroi-{stack.stack}-"), name
        assert alarm["alarmActions"] == [topic], name
        assert alarm["okActions"] == [topic], name
        assert len(alarm["alarmDescription"]) > 60, name
        action = re.search(
            r"\b(run|check|look|read|raise|roll back)\b", alarm["alarmDescription"], re.I
        )
        assert action, f"{name}: the description does not say what to do"


def test_api_alarms_watch_the_stage_by_api_name(stack: Deployment) -> None:
    """4XX above the plan's 10 a minute, any 5XX, and p99 latency, by ApiName and Stage."""
    found = alarms(stack)
    api = stack.one("aws:apigateway/restApi:RestApi")
    dimensions = {"ApiName": api["name"], "Stage": "prod"}
    four = found[f"vetroi-{stack.stack}-api-4xx"]
    assert (four["metricName"], four["threshold"], four["period"]) == ("4XXError", 10, 60)
    assert four["comparisonOperator"] == "GreaterThanThreshold"
    assert found[f"vetroi-{stack.stack}-api-5xx"]["metricName"] == "5XXError"
    latency = found[f"vetroi-{stack.stack}-api-latency-p99"]
    assert latency["extendedStatistic"] == "p99"
    for key in ("api-4xx", "api-5xx", "api-latency-p99"):
        alarm = found[f"vetroi-{stack.stack}-{key}"]
        assert alarm["namespace"] == "AWS/ApiGateway"
        assert alarm["dimensions"] == dimensions, key
        assert alarm.region == stack.region


def test_4xx_threshold_comes_from_the_settings() -> None:
    """api4xxAlarmThreshold moves the 4XX alarm's threshold."""
    deployment = run_stack("backup", overrides={"vetroi:api4xxAlarmThreshold": 25})
    assert alarms(deployment)["vetroi-backup-api-4xx"]["threshold"] == 25


def test_each_function_has_errors_throttles_and_duration_alarms(stack: Deployment) -> None:
    """Three alarms per API function; duration fires at 80% of the function's timeout."""
    found = alarms(stack)
    names = stack.outputs["functionNames"]
    assert len(names) == 4
    for route, function_name in names.items():
        for metric, key in (("Errors", "errors"), ("Throttles", "throttles")):
            alarm = found[f"vetroi-{stack.stack}-fn-{route}-{key}"]
            assert alarm["metricName"] == metric
            assert alarm["dimensions"] == {"FunctionName": function_name}
        duration = found[f"vetroi-{stack.stack}-fn-{route}-duration"]
        assert duration["metricName"] == "Duration"
        assert duration["threshold"] == 8000  # 80% of the 10 s timeout


def test_table_alarms_include_replication_to_the_other_region(stack: Deployment) -> None:
    """Throttles and system errors over the API's operations; replication latency by region."""
    found = alarms(stack)
    here, other = REGIONS[stack.stack]
    replication = found[f"vetroi-{stack.stack}-table-replication-latency"]
    assert replication["metricName"] == "ReplicationLatency"
    assert replication["dimensions"] == {"TableName": "vetroi-data", "ReceivingRegion": other}
    assert replication.region == here
    for key, metric in (("throttles", "ThrottledRequests"), ("system-errors", "SystemErrors")):
        queries = found[f"vetroi-{stack.stack}-table-{key}"]["metricQueries"]
        metrics = [q["metric"] for q in queries if "metric" in q]
        assert {m["metricName"] for m in metrics} == {metric}
        assert all(m["dimensions"]["TableName"] == "vetroi-data" for m in metrics)
        assert {m["dimensions"]["Operation"] for m in metrics} >= {"GetItem", "PutItem"}
        returned = [q for q in queries if q.get("returnData")]
        assert len(returned) == 1 and returned[0]["expression"].startswith("SUM(")
        assert len(queries) <= 10


def test_health_check_alarms_live_in_us_east_1(prod: Deployment, backup: Deployment) -> None:
    """Each stack alarms on its own Route53 checks where their metrics are: us-east-1."""
    checks = {
        (d.stack, r.name): r.name
        for d in (prod, backup)
        for r in d.of_type("aws:route53/healthCheck:HealthCheck")
    }
    assert checks, "the stacks declare no health checks"
    for deployment in (prod, backup):
        health = {
            name: a for name, a in alarms(deployment).items() if a.get("namespace") == "AWS/Route53"
        }
        expected = 2 if deployment is prod else 1  # prod adds the failover switch
        assert len(health) == expected, health
        for name, alarm in health.items():
            assert alarm.region == "us-east-1", name
            assert alarm["metricName"] == "HealthCheckStatus"
            assert alarm["comparisonOperator"] == "LessThanThreshold"
            assert alarm["dimensions"]["HealthCheckId"].endswith("-hc"), name
    probe = alarms(backup)["vetroi-backup-global-health-us-west-2"]
    assert probe["dimensions"] == {"HealthCheckId": "vetroi-failover-probe-hc"}


def test_cloudfront_5xx_alarm_is_prod_only_in_us_east_1(
    prod: Deployment, backup: Deployment
) -> None:
    """CloudFront's 5xx rate is alarmed once, by the stack owning the distribution."""
    edge = alarms(prod)["vetroi-prod-global-cloudfront-5xx"]
    distribution = prod.one("aws:cloudfront/distribution:Distribution", "cdn")
    assert edge.region == "us-east-1"
    assert edge["namespace"] == "AWS/CloudFront" and edge["metricName"] == "5xxErrorRate"
    assert edge["dimensions"] == {"DistributionId": f"{distribution.name}-id", "Region": "Global"}
    assert not [a for a in alarms(backup).values() if a.get("namespace") == "AWS/CloudFront"]


def test_synthetic_check_alarms_when_it_fails_or_stops(stack: Deployment) -> None:
    """One alarm per probed endpoint; a probe that stops running counts as failing."""
    found = {n: a for n, a in alarms(stack).items() if a.get("namespace") == "VetROI/Synthetics"}
    assert sorted(found) == [
        f"vetroi-{stack.stack}-synthetic-public",
        f"vetroi-{stack.stack}-synthetic-regional",
    ]
    for alarm in found.values():
        assert alarm["metricName"] == "ProbeSuccess"
        assert alarm["treatMissingData"] == "breaching"
        assert alarm.region == stack.region


def test_synthetic_alarms_watch_exactly_what_the_probe_publishes(stack: Deployment) -> None:
    """Namespace, metric name and every dimension match the datum the handler puts.

    An alarm whose dimensions differ by one key from the published datum watches a metric that
    never receives data: with missing data breaching it pages on every run, a passing one too.
    """
    from vetroi_probe import handler
    from vetroi_probe.probe import CheckResult, EndpointReport

    function = stack.one(FUNCTION, "synthetic")
    variables = function["environment"]["variables"]
    targets = json.loads(variables["VETROI_PROBE_TARGETS"])
    reports = {
        label: EndpointReport(url, [CheckResult("health", True, 200, 0.1, "healthy")])
        for label, url in targets.items()
    }
    published: list[dict[str, Any]] = []

    class Recorder:
        def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:  # noqa: N803
            published.extend({"Namespace": Namespace, **datum} for datum in MetricData)

    original = handler._cloudwatch
    handler._cloudwatch = Recorder()
    try:
        handler.publish(variables["VETROI_PROBE_NAMESPACE"], reports)
    finally:
        handler._cloudwatch = original

    watched = {
        (a["namespace"], a["metricName"], tuple(sorted(a["dimensions"].items())))
        for a in alarms(stack).values()
        if a.get("namespace") == variables["VETROI_PROBE_NAMESPACE"]
    }
    sent = {
        (
            d["Namespace"],
            d["MetricName"],
            tuple(sorted((x["Name"], x["Value"]) for x in d["Dimensions"])),
        )
        for d in published
        if d["MetricName"] == handler.SUCCESS_METRIC
    }
    assert watched == sent, (watched, sent)


# --- synthetic check and warm-up schedules ----------------------------------------------------


def test_synthetic_function_probes_public_and_regional_endpoints(stack: Deployment) -> None:
    """A scheduled function per region runs vetroi_probe against both endpoints."""
    function = stack.one(FUNCTION, "synthetic")
    assert function["handler"] == "vetroi_probe.handler.lambda_handler"
    assert function.region == stack.region
    variables = function["environment"]["variables"]
    targets = json.loads(variables["VETROI_PROBE_TARGETS"])
    assert targets == {
        "public": "https://edge.vetroi.example.com",
        "regional": stack.outputs["apiUrl"],
    }
    assert variables["VETROI_PROBE_ORIGIN"] == "https://vetroi.example.com"
    rule = stack.one(RULE, "synthetic")
    assert rule["scheduleExpression"] == "rate(5 minutes)"
    target = stack.one(TARGET, "synthetic")
    # The schedule invokes the alias, like the API does: never $LATEST.
    assert target["arn"].endswith("vetroi-" + stack.stack + "-synthetic:live")
    permission = stack.one(PERMISSION, "synthetic")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["qualifier"] == "live"
    assert function["tracingConfig"] == {"mode": "Active"}
    assert function["publish"] is True


def test_synthetic_role_may_publish_only_its_namespace(stack: Deployment) -> None:
    """PutMetricData has no resource type, so the policy pins the namespace instead."""
    policy = json.loads(stack.one("aws:iam/rolePolicy:RolePolicy", "synthetic")["policy"])
    metrics = [s for s in policy["Statement"] if "cloudwatch:PutMetricData" in s["Action"]]
    assert metrics[0]["Condition"] == {
        "StringEquals": {"cloudwatch:namespace": "VetROI/Synthetics"}
    }


def test_warmup_invokes_every_live_alias_in_both_regions(stack: Deployment) -> None:
    """Every function's live alias gets the warm-up event on the configured schedule."""
    rule = stack.one(RULE, "warmup")
    assert rule["scheduleExpression"] == "rate(5 minutes)"
    assert rule.region == stack.region
    targets = [t for t in stack.of_type(TARGET) if "warmup" in t.name]
    assert sorted(t["arn"] for t in targets) == sorted(stack.outputs["aliasArns"].values())
    assert all(json.loads(t["input"]) == {"warmup": True} for t in targets)
    permissions = [p for p in stack.of_type(PERMISSION) if "warmup" in p.name]
    assert sorted(p["function"] for p in permissions) == sorted(
        stack.outputs["functionNames"].values()
    )
    assert all(p["qualifier"] == "live" for p in permissions)
    assert all(p["principal"] == "events.amazonaws.com" for p in permissions)


def test_scheduled_invocations_are_not_retried_by_lambda(stack: Deployment) -> None:
    """EventBridge invokes asynchronously: Lambda's own two retries are off on each scheduled
    alias, the synthetic check's and every warm-up target's, and a stale event is dropped."""
    configs = {(c["functionName"], c["qualifier"]): c for c in stack.of_type(EVENT_INVOKE_CONFIG)}
    synthetic = stack.one(FUNCTION, "synthetic")["name"]
    scheduled = {synthetic, *stack.outputs["functionNames"].values()}
    assert set(configs) == {(name, "live") for name in scheduled}
    for (name, _), config in configs.items():
        assert config["maximumRetryAttempts"] == 0, f"{name}: Lambda still retries"
        assert 60 <= config["maximumEventAgeInSeconds"] <= 300, f"{name}: events kept too long"
        assert config.region == stack.region, f"{name}: configured in {config.region}"
    # The qualifier configured is the one each schedule invokes.
    invoked = {t["arn"] for t in stack.of_type(TARGET)}
    assert {f"{name}:live" for name in scheduled} <= invoked


def test_warmup_interval_comes_from_the_settings() -> None:
    """warmupIntervalMinutes sets the schedule (singular unit for one minute)."""
    deployment = run_stack("backup", overrides={"vetroi:warmupIntervalMinutes": 1})
    assert deployment.one(RULE, "warmup")["scheduleExpression"] == "rate(1 minute)"


def backup_before_a_demo(overrides: dict[str, Any]) -> tuple[datetime, Deployment]:
    """The backup stack with a demo three days from now, on the hour, and `overrides`."""
    demo = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    overrides = {"vetroi:demoTime": demo.strftime("%Y-%m-%dT%H:%M:%SZ"), **overrides}
    return demo, run_stack("backup", overrides=overrides)


def test_provisioned_concurrency_is_scheduled_around_the_demo() -> None:
    """With demoTime, every API function's live alias gets provisioned concurrency from the
    lead time before the demo until the demo is over, and none outside that window."""
    demo, deployment = backup_before_a_demo({"vetroi:provisionedConcurrency": 4})

    names = sorted(deployment.outputs["functionNames"].values())
    targets = deployment.of_type(SCALABLE_TARGET)
    assert sorted(t["resourceId"] for t in targets) == [f"function:{n}:live" for n in names]
    assert not deployment.of_type(PROVISIONED)
    actions = {a["name"]: a for a in deployment.of_type(SCHEDULED_ACTION)}
    raise_at = (demo - timedelta(minutes=60)).strftime("at(%Y-%m-%dT%H:%M:%S)")
    lower_at = (demo + DEMO_LENGTH).strftime("at(%Y-%m-%dT%H:%M:%S)")
    for name in names:
        assert actions[f"{name}-demo-raise"]["schedule"] == raise_at, name
        assert actions[f"{name}-demo-raise"]["scalableTargetAction"]["minCapacity"] == 4
        assert actions[f"{name}-demo-lower"]["schedule"] == lower_at, name
        assert actions[f"{name}-demo-lower"]["scalableTargetAction"]["maxCapacity"] == 0
    assert all(a.region == "us-west-2" for a in [*targets, *actions.values()])


def test_provisioned_concurrency_lead_comes_from_the_settings() -> None:
    demo, deployment = backup_before_a_demo(
        {"vetroi:provisionedConcurrency": 1, "vetroi:provisionedConcurrencyLeadMinutes": 120}
    )
    raises = {a["schedule"] for a in deployment.of_type(SCHEDULED_ACTION) if "raise" in a["name"]}
    assert raises == {(demo - timedelta(hours=2)).strftime("at(%Y-%m-%dT%H:%M:%S)")}


def test_provisioned_concurrency_without_a_demo_is_always_on() -> None:
    """No demoTime: a plain configuration on each live alias, and nothing scheduled."""
    deployment = run_stack("backup", overrides={"vetroi:provisionedConcurrency": 2})

    configs = deployment.of_type(PROVISIONED)
    assert sorted(c["functionName"] for c in configs) == sorted(
        deployment.outputs["functionNames"].values()
    )
    assert all(c["qualifier"] == "live" for c in configs)
    assert not deployment.of_type(SCALABLE_TARGET) and not deployment.of_type(SCHEDULED_ACTION)


# --- dashboard --------------------------------------------------------------------------------


def test_dashboard_shows_the_request_path(prod: Deployment, backup: Deployment) -> None:
    """A dashboard per region: alarms, API, functions, table, probes; prod adds the edge."""
    for deployment in (prod, backup):
        dashboard = deployment.one("aws:cloudwatch/dashboard:Dashboard")
        assert dashboard.region == deployment.region
        assert dashboard["dashboardName"] == f"vetroi-{deployment.stack}-{deployment.region}"
        body = json.loads(dashboard["dashboardBody"])
        titles = [w["properties"].get("title", "") for w in body["widgets"]]
        for expected in ("Alarms", "API: requests", "Functions:", "Table:", "Synthetic", "Route53"):
            assert any(t.startswith(expected) for t in titles), (deployment.stack, expected)
        text = json.dumps(body)
        for function_name in deployment.outputs["functionNames"].values():
            assert function_name in text
        alarm_widget = next(w for w in body["widgets"] if w["type"] == "alarm")
        assert len(alarm_widget["properties"]["alarms"]) == len(alarms(deployment)) - len(
            [a for a in alarms(deployment).values() if a.region == "us-east-1"]
        )
        edge = [w for w in body["widgets"] if w["properties"].get("title", "").startswith("Edge")]
        assert len(edge) == (1 if deployment is prod else 0)
        if edge:
            assert edge[0]["properties"]["region"] == "us-east-1"


# --- backups ----------------------------------------------------------------------------------


def test_prod_backs_up_the_table_with_a_copy_in_the_backup_region(prod: Deployment) -> None:
    """A daily plan on the table, copied to the backup stack's vault, with its own role."""
    plan = prod.one("aws:backup/plan:Plan")
    assert plan.region == "us-east-2"
    (rule,) = plan["rules"]
    assert rule["schedule"].startswith("cron(")
    assert rule["lifecycle"]["deleteAfter"] >= 7
    (copy,) = rule["copyActions"]
    assert copy["destinationVaultArn"] == (
        "arn:aws:backup:us-west-2:123456789012:backup-vault:vetroi-table-copies"
    )
    vault = prod.one("aws:backup/vault:Vault")
    assert rule["targetVaultName"] == vault["name"] and vault.region == "us-east-2"
    selection = prod.one("aws:backup/selection:Selection")
    table = prod.one("aws:dynamodb/table:Table")
    assert selection["resources"] == [f"arn:aws:dynamodb:us-east-2:123456789012:{table['name']}"]
    role = prod.one("aws:iam/role:Role", "backup")
    trust = json.loads(role["assumeRolePolicy"])
    assert trust["Statement"][0]["Principal"] == {"Service": "backup.amazonaws.com"}
    assert selection["iamRoleArn"].endswith(role.name) or "backup" in selection["iamRoleArn"]
    attached = {
        a["policyArn"]
        for a in prod.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if a.name.startswith(role.name)
    }
    # Backup needs both: one to take and copy recovery points, one to restore from them.
    assert attached == {
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForBackup",
        "arn:aws:iam::aws:policy/service-role/AWSBackupServiceRolePolicyForRestores",
    }


def test_backup_stack_owns_only_the_copy_vault(backup: Deployment) -> None:
    """The backup stack declares the copy vault in its region and no plan."""
    assert not backup.of_type("aws:backup/plan:Plan")
    vault = backup.one("aws:backup/vault:Vault")
    assert (vault["name"], vault.region) == ("vetroi-table-copies", "us-west-2")


# --- change freeze ----------------------------------------------------------------------------


def test_freeze_refuses_an_update_inside_the_window() -> None:
    """Ten hours before the demo, `pulumi up` stops, saying until when and how to override."""
    with pytest.raises(ChangeFreezeError) as refused:
        run_stack("prod", overrides=in_window(10))
    message = str(refused.value)
    assert "no update until" in message
    assert "pulumi config set vetroi:freezeOverrideReason" in message
    assert "pulumi preview" in message


def test_freeze_still_allows_a_preview() -> None:
    """A preview inside the window runs to the end and warns that it cannot be deployed."""
    deployment = run_stack("prod", overrides=in_window(10), preview=True)
    assert deployment.of_type("aws:apigateway/restApi:RestApi")
    assert any("change freeze in force until" in w for w in deployment.warnings)


def test_freeze_override_with_a_reason_is_logged() -> None:
    """An override with a reason deploys and leaves the reason as a warning on the stack."""
    reason = "CORS origin for the new front-end domain"
    deployment = run_stack(
        "backup", overrides={**in_window(3), "vetroi:freezeOverrideReason": reason}
    )
    assert deployment.of_type("aws:apigateway/restApi:RestApi")
    assert any(w.endswith(f"overridden: {reason}") for w in deployment.warnings)
    window = deployment.outputs["changeFreeze"]
    assert window["starts"] < window["demoTime"] < window["ends"]


def test_freeze_preview_with_an_override_shows_the_reason() -> None:
    """The preview before an overridden update already names the reason, for its reviewer."""
    reason = "hotfix for the career page"
    deployment = run_stack(
        "prod",
        overrides={**in_window(10), "vetroi:freezeOverrideReason": reason},
        preview=True,
    )
    assert any(w.endswith(f"overridden: {reason}") for w in deployment.warnings)
    assert not any("cannot be deployed" in w for w in deployment.warnings)


@pytest.mark.parametrize("reason", ["", "   "])
def test_freeze_override_without_a_reason_is_refused(reason: str) -> None:
    """An override setting with an empty reason does not open the freeze."""
    with pytest.raises(ChangeFreezeError):
        run_stack("prod", overrides={**in_window(10), "vetroi:freezeOverrideReason": reason})


def test_freeze_covers_the_demo_itself_then_ends() -> None:
    """One hour into the demo is still frozen; three hours after it, updates go through."""
    with pytest.raises(ChangeFreezeError):
        run_stack("backup", overrides=in_window(-1))
    deployment = run_stack(
        "backup", overrides={**in_window(-3), "vetroi:freezeOverrideReason": "left over"}
    )
    assert any("no change freeze is in force" in w for w in deployment.warnings)


def test_freeze_length_comes_from_the_settings() -> None:
    """With freezeHours 6, a demo ten hours away is not frozen yet."""
    deployment = run_stack("prod", overrides={**in_window(10), "vetroi:freezeHours": 6})
    assert deployment.outputs["changeFreeze"] is not None
    assert not any("freeze" in w for w in deployment.warnings)


# --- other shapes -----------------------------------------------------------------------------


def test_monolith_layout_is_watched_and_warmed_as_one_function() -> None:
    """With one function for every route: one set of function alarms, one warm-up target."""
    deployment = run_stack("backup", overrides={"vetroi:functionLayout": "monolith"})
    names = deployment.outputs["functionNames"]
    assert list(names) == ["monolith"]
    found = alarms(deployment)
    assert [n for n in found if "-fn-" in n] == [
        "vetroi-backup-fn-monolith-errors",
        "vetroi-backup-fn-monolith-throttles",
        "vetroi-backup-fn-monolith-duration",
    ]
    targets = [t for t in deployment.of_type(TARGET) if "warmup" in t.name]
    assert [t["arn"] for t in targets] == list(deployment.outputs["aliasArns"].values())


def test_without_a_domain_only_the_edge_is_watched_in_us_east_1() -> None:
    """No health checks without a domain: prod alarms on CloudFront, backup needs no us-east-1."""
    no_domain = ("vetroi:domain", "vetroi:hostedZoneId")
    prod = run_stack("prod", remove=no_domain)
    backup = run_stack("backup", remove=no_domain)

    assert [a.region for a in prod.of_type(ALARM) if a.get("namespace") == "AWS/Route53"] == []
    assert "vetroi-prod-global-cloudfront-5xx" in alarms(prod)
    assert [t.region for t in backup.of_type(TOPIC)] == ["us-west-2"]
    # Prod probes CloudFront's own name; the backup stack has no public name to probe.
    prod_targets = json.loads(
        prod.one(FUNCTION, "synthetic")["environment"]["variables"]["VETROI_PROBE_TARGETS"]
    )
    assert prod_targets["public"] == prod.outputs["edgeUrl"]
    assert prod_targets["public"].endswith(".cloudfront.net")
    backup_targets = json.loads(
        backup.one(FUNCTION, "synthetic")["environment"]["variables"]["VETROI_PROBE_TARGETS"]
    )
    assert list(backup_targets) == ["regional"]
    assert sorted(n for n in alarms(backup) if "synthetic" in n) == [
        "vetroi-backup-synthetic-regional"
    ]


def test_table_alarms_cover_every_operation_the_functions_call() -> None:
    """ThrottledRequests and SystemErrors come per Operation: a call left out is never watched."""
    from pathlib import Path

    from botocore import xform_name

    from components.monitoring import TABLE_OPERATIONS

    data_plane = (
        "GetItem PutItem UpdateItem DeleteItem Query Scan BatchGetItem BatchWriteItem "
        "TransactGetItems TransactWriteItems ExecuteStatement BatchExecuteStatement "
        "ExecuteTransaction"
    ).split()
    code = "\n".join(
        path.read_text()
        for path in (Path(__file__).resolve().parent.parent / "functions").rglob("*.py")
    )
    called = {op for op in data_plane if re.search(rf"\.{xform_name(op)}\(", code)}
    assert called, "found no DynamoDB call in functions/: has the client code moved?"
    assert called <= set(TABLE_OPERATIONS), sorted(called - set(TABLE_OPERATIONS))

"""`preflight`: the pre-demo checklist as one command, a tick or a cross per line.

Every check runs even when an earlier one fails, so the operator sees the whole picture at once.
A check that cannot run (an output the stack does not export, an AWS call refused) is a cross
that says why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from components.freeze import window_of
from components.settings import PROJECT, declared_keys
from ops.aws import Aws, arn_region, credential_problem, describe
from ops.errors import OpsError
from ops.failover import ROUTE53_REGION, region_health
from ops.report import Check, print_checklist
from ops.warmup import invoke_all

GLOBAL_METRICS_REGION = "us-east-1"
STATIC_PROBE_KEY = "career/11-1011.00"
# Each term is searched separately: a function's JSON error lines, uncaught exceptions, timeouts.
ERROR_TERMS = ("ERROR", "Traceback", '"Task timed out"')
# Pages of one log search before the check gives up and says so, rather than hang the checklist.
LOG_SEARCH_PAGES = 50


@dataclass
class StackView:
    """What preflight needs to know of one stack, read from its outputs."""

    name: str
    outputs: dict[str, Any]
    # `pulumi config` of the stack, when the CLI is there: settings not deployed yet.
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def region(self) -> str:
        region = self.outputs.get("region")
        if not region:
            raise OpsError(f"stack {self.name!r} exports no region")
        return str(region)

    def get(self, key: str) -> Any:
        return self.outputs.get(key)


class Preflight:
    def __init__(
        self, aws: Aws, primary: StackView, backup: StackView, now: datetime | None = None
    ) -> None:
        self.aws = aws
        self.primary = primary
        self.backup = backup
        self.stacks = (primary, backup)
        self.now = now or datetime.now(UTC)

    def checks(self) -> list[Check]:
        steps: list[tuple[str, Callable[[], tuple[bool, str]]]] = [
            ("change freeze in force", self.freeze),
            ("both regions healthy", self.regions_healthy),
            ("Route53 health checks healthy", self.health_checks),
            ("no alarm in ALARM", self.alarms),
            ("no function error in the last hour", self.function_errors),
            ("a backup newer than a day", self.recent_backup),
            ("backup plan copies to the other region", self.backup_plan),
            ("static fallback data present", self.static_data),
            ("functions warm", self.functions_warm),
        ]
        results = []
        for name, step in steps:
            try:
                ok, detail = step()
            except OpsError as error:
                ok, detail = False, str(error)
            except Exception as error:  # one broken check must not hide the others
                problem = credential_problem(error)
                if problem:
                    raise OpsError(problem) from error
                ok, detail = False, describe(error)
            results.append(Check(name, ok, detail))
        return results

    def freeze(self) -> tuple[bool, str]:
        """Both stacks frozen: an `up` of either one during the demo can break it."""
        details, ok = [], True
        for stack in self.stacks:
            frozen, detail = self._stack_frozen(stack)
            ok &= frozen
            details.append(f"{stack.name}: {detail}")
        return ok, "; ".join(details)

    def _stack_frozen(self, stack: StackView) -> tuple[bool, str]:
        # The settings first: an `up` inside a new freeze is refused, so the `changeFreeze`
        # output can still describe the previous demo's window.
        window = _configured_window(stack.name, stack.config) or stack.get("changeFreeze")
        if not window:
            return False, "no demoTime set, so no freeze protects the demo"
        starts, ends = _time(window["starts"]), _time(window["ends"])
        if starts <= self.now < ends:
            return True, f"until {window['ends']} (demo at {window['demoTime']})"
        if self.now < starts:
            return False, f"starts only at {window['starts']}"
        return False, f"ended at {window['ends']}"

    def regions_healthy(self) -> tuple[bool, str]:
        details, ok = [], True
        for stack in self.stacks:
            healthy, detail = region_health(stack.get("apiUrl"))
            ok &= healthy
            details.append(f"{stack.name}: {detail}")
        return ok, "; ".join(details)

    def health_checks(self) -> tuple[bool, str]:
        route53 = self.aws.client("route53", ROUTE53_REGION)
        details, ok = [], True
        for stack in self.stacks:
            check_id = stack.get("healthCheckId")
            if not check_id:
                ok = False
                details.append(f"{stack.name}: exports no healthCheckId")
                continue
            check = route53.get_health_check(HealthCheckId=check_id)["HealthCheck"]
            config = check["HealthCheckConfig"]
            probes = [check_id]
            if config.get("Type") == "CALCULATED":
                # Route53 reports no checker status for a calculated check: read its children.
                children = config.get("ChildHealthChecks", [])
                if int(config.get("HealthThreshold", 0)) > len(children):
                    ok = False
                    details.append(f"{stack.name}: failover forced (run `ops failback`)")
                probes = children
            for probe in probes:
                observations = route53.get_health_check_status(HealthCheckId=probe)[
                    "HealthCheckObservations"
                ]
                failing = [
                    o for o in observations if not o["StatusReport"]["Status"].startswith("Success")
                ]
                ok &= bool(observations) and not failing
                details.append(
                    f"{stack.name}: {len(observations) - len(failing)}/{len(observations)} "
                    "checkers see it healthy"
                )
        return ok, "; ".join(details)

    def alarms(self) -> tuple[bool, str]:
        firing: list[str] = []
        places = {(GLOBAL_METRICS_REGION, s.name) for s in self.stacks}
        places |= {(s.region, s.name) for s in self.stacks}
        for region, stack in sorted(places):
            client = self.aws.client("cloudwatch", region)
            pages = client.get_paginator("describe_alarms").paginate(
                AlarmNamePrefix=f"vetroi-{stack}-", StateValue="ALARM"
            )
            firing += [a["AlarmName"] for page in pages for a in page.get("MetricAlarms", [])]
        if firing:
            return False, "in ALARM: " + ", ".join(sorted(firing))
        return True, "none firing"

    def function_errors(self) -> tuple[bool, str]:
        since = int((self.now - timedelta(hours=1)).timestamp() * 1000)
        noisy: list[str] = []
        unfinished: list[str] = []
        checked = 0
        for stack in self.stacks:
            logs = self.aws.client("logs", stack.region)
            for function in (stack.get("functionNames") or {}).values():
                checked += 1
                group = f"/aws/lambda/{function}"
                for term in ERROR_TERMS:
                    try:
                        found = _logged(logs, group, since, term)
                    except logs.exceptions.ResourceNotFoundException:
                        break  # never invoked, so nothing logged
                    if found is None:
                        unfinished.append(f"{function} ({stack.region})")
                        break
                    if found:
                        noisy.append(f"{function} ({stack.region})")
                        break
        if not checked:
            return False, "the stacks export no functionNames"
        if noisy:
            return False, "errors logged by " + ", ".join(noisy)
        if unfinished:
            return False, "log search did not finish for " + ", ".join(unfinished)
        return True, f"{checked} functions, none logged an error"

    def recent_backup(self) -> tuple[bool, str]:
        table = self.primary.get("tableName")
        if not table:
            return False, "the prod stack exports no tableName"
        since = self.now - timedelta(days=1)
        newest: datetime | None = None
        for stack in self.stacks:
            dynamodb = self.aws.client("dynamodb", stack.region)
            summaries = dynamodb.list_backups(
                TableName=table, TimeRangeLowerBound=since, BackupType="ALL"
            ).get("BackupSummaries", [])
            for summary in summaries:
                created = summary["BackupCreationDateTime"]
                newest = created if newest is None or created > newest else newest
        newest = _newest(newest, self._recovery_point(table, since))
        if newest is None or newest < since:
            return False, f"no backup of {table} since {since:%Y-%m-%d %H:%M} UTC (`ops snapshot`)"
        return True, f"newest {newest.astimezone(UTC):%Y-%m-%d %H:%M} UTC"

    def backup_plan(self) -> tuple[bool, str]:
        """The prod stack's AWS Backup plan exists and copies into a vault of the backup region."""
        backup = self.aws.client("backup", self.primary.region)
        prefix = f"vetroi-{self.primary.name}-"
        plans = [
            plan
            for page in backup.get_paginator("list_backup_plans").paginate()
            for plan in page.get("BackupPlansList", [])
            if plan["BackupPlanName"].startswith(prefix)
        ]
        if not plans:
            return False, f"no AWS Backup plan named {prefix}* in {self.primary.region}"
        copies: list[str] = []
        for plan in plans:
            rules = backup.get_backup_plan(BackupPlanId=plan["BackupPlanId"])["BackupPlan"]
            for rule in rules.get("Rules", []):
                copies += [c["DestinationBackupVaultArn"] for c in rule.get("CopyActions", [])]
        elsewhere = [arn for arn in copies if arn_region(arn) == self.backup.region]
        if not elsewhere:
            return False, f"{plans[0]['BackupPlanName']} copies nothing to {self.backup.region}"
        vault = elsewhere[0].rsplit(":", 1)[-1]
        try:
            self.aws.client("backup", self.backup.region).describe_backup_vault(
                BackupVaultName=vault
            )
        except Exception as error:
            if credential_problem(error):
                raise
            return False, f"copy vault {vault} missing in {self.backup.region} ({describe(error)})"
        return True, f"{plans[0]['BackupPlanName']} copies to {vault} in {self.backup.region}"

    def _recovery_point(self, table: str, since: datetime) -> datetime | None:
        """The newest AWS Backup recovery point of the table, when AWS Backup can be read."""
        region = self.primary.region
        arn = self.aws.client("dynamodb", region).describe_table(TableName=table)["Table"][
            "TableArn"
        ]
        pages = self.aws.client("backup", region).get_paginator("list_recovery_points_by_resource")
        dates: list[datetime] = []
        try:
            # Pages in no promised order: the newest point may be on any of them.
            for page in pages.paginate(ResourceArn=arn):
                dates += [
                    p["CreationDate"]
                    for p in page.get("RecoveryPoints", [])
                    if p.get("Status") == "COMPLETED"
                ]
        except Exception as error:
            if credential_problem(error):
                raise
            return None
        return max(dates, default=None)

    def static_data(self) -> tuple[bool, str]:
        bucket = self.primary.get("staticBucket")
        if not bucket:
            return False, "the prod stack exports no staticBucket"
        # The bucket lives in the backup region, so that it outlives an outage of prod's.
        region = self.primary.get("staticBucketRegion")
        if not region:
            return False, "the prod stack exports no staticBucketRegion: update it (pulumi up)"
        s3 = self.aws.client("s3", str(region))
        try:
            head = s3.head_object(Bucket=bucket, Key=STATIC_PROBE_KEY)
        except Exception as error:
            if credential_problem(error):
                raise
            where = f"s3://{bucket}/{STATIC_PROBE_KEY}"
            return False, f"{where} cannot be read in {region} ({describe(error)})"
        return True, f"s3://{bucket}/{STATIC_PROBE_KEY} in {region}, {head['ContentLength']} bytes"

    def functions_warm(self) -> tuple[bool, str]:
        aliases = {
            f"{stack.name}/{route}": arn
            for stack in self.stacks
            for route, arn in (stack.get("aliasArns") or {}).items()
        }
        if not aliases:
            return False, "the stacks export no aliasArns"
        results = invoke_all(self.aws, aliases)
        cold = [f"{r.name}: {r.detail}" for r in results if not r.ok]
        if cold:
            return False, "; ".join(cold)
        slowest = max(results, key=lambda r: r.seconds)
        return True, f"{len(results)} answered warm, slowest {slowest.seconds * 1000:.0f} ms"


def run(aws: Aws, primary: StackView, backup: StackView, now: datetime | None = None) -> int:
    aws.require_credentials()
    checks = Preflight(aws, primary, backup, now).checks()
    print_checklist(checks)
    failed = sum(not check.ok for check in checks)
    print(f"\n{len(checks) - failed}/{len(checks)} ready" + ("" if not failed else ": NOT ready"))
    return 1 if failed else 0


def _configured_window(stack: str, config: dict[str, Any]) -> dict[str, str] | None:
    """The freeze from `demoTime` as set in the stack now, deployed or not: an `up` inside the
    freeze is refused, so the stack's `changeFreeze` output can lag behind its settings."""
    demo = config.get(f"{PROJECT}:demoTime")
    if not demo:
        return None
    hours = config.get(f"{PROJECT}:freezeHours")
    if hours in (None, ""):
        hours = declared_keys()["freezeHours"]["default"]
    try:
        moment = _time(str(demo))
    except ValueError as error:
        raise OpsError(f"the {stack} stack's demoTime {demo!r} is not a time: {error}") from error
    if moment.tzinfo is None:
        raise OpsError(f"the {stack} stack's demoTime {demo!r} has no offset (Z or +hh:mm)")
    frozen = window_of(moment, int(hours))
    return frozen.as_output() if frozen else None


def _logged(logs: Any, group: str, since: int, term: str) -> bool | None:
    """Whether `term` was logged in `group` since `since`; None when the search did not finish.

    FilterLogEvents may answer an empty page with a `nextToken` while matches are still to come,
    so one empty page proves nothing: follow the tokens until a match or the last page.
    """
    pages = logs.get_paginator("filter_log_events").paginate(
        logGroupName=group, startTime=since, filterPattern=term, PaginationConfig={"PageSize": 1}
    )
    for number, page in enumerate(pages, start=1):
        if page.get("events"):
            return True
        if number == LOG_SEARCH_PAGES:
            return None
    return False


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    present = [d for d in (a, b) if d is not None]
    return max(present, default=None)

"""What a stack declares for its operators, from its settings: alarms, dashboard, synthetic check,
warm-up schedule, and the table's backup plan (prod) or the vault its copies go to (backup).

Each stack alarms on its own Route53 health checks, in us-east-1 where their metrics live, so the
backup stack stays deployable and watched without the prod stack; the prod stack adds CloudFront.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.api import RegionalApi
from components.backup import CopyVault, CopyVaultArgs, TableBackup, TableBackupArgs, copy_vault_arn
from components.edge import EDGE_SUBDOMAIN
from components.frontdoor import FrontDoor
from components.monitoring import (
    Alerting,
    GlobalMonitoring,
    GlobalMonitoringArgs,
    RegionalMonitoring,
    RegionalMonitoringArgs,
)
from components.packaging import Package
from components.settings import Settings
from components.synthetics import SyntheticCheck, SyntheticCheckArgs
from components.warmup import Warmup, WarmupArgs

# Every five minutes: two failed runs in a row page someone within about ten minutes.
SYNTHETIC_INTERVAL_MINUTES = 5


@dataclass
class Operations:
    monitoring: RegionalMonitoring
    global_monitoring: GlobalMonitoring | None
    synthetic: SyntheticCheck
    warmup: Warmup
    backup: TableBackup | CopyVault


def operations(
    settings: Settings,
    *,
    api: RegionalApi,
    package: Package,
    front: FrontDoor,
    table_arn: pulumi.Input[str] | None = None,
) -> Operations:
    """Declare this stack's operations resources; `table_arn` in the stack owning the table."""
    edge, failover = front.edge, front.failover
    return _declare(
        settings,
        api_name=api.rest_api.name,
        stage_name=api.stage_name,
        invoke_url=api.invoke_url,
        function_names={route: f.function.name for route, f in api.functions.items()},
        alias_arns={route: f.alias.arn for route, f in api.functions.items()},
        package=package,
        table_arn=table_arn,
        public_url=edge.url if edge is not None else None,
        probe_health_check_id=failover.probe.id if failover is not None else None,
        switch_health_check_id=(
            failover.switch.id if failover is not None and failover.switch is not None else None
        ),
        distribution_id=edge.distribution.id if edge is not None else None,
    )


def _declare(
    settings: Settings,
    *,
    api_name: pulumi.Input[str],
    stage_name: pulumi.Input[str],
    invoke_url: pulumi.Input[str],
    function_names: Mapping[str, pulumi.Input[str]],
    alias_arns: Mapping[str, pulumi.Input[str]],
    package: Package,
    table_arn: pulumi.Input[str] | None,
    public_url: pulumi.Input[str] | None,
    probe_health_check_id: pulumi.Input[str] | None,
    switch_health_check_id: pulumi.Input[str] | None,
    distribution_id: pulumi.Input[str] | None,
) -> Operations:
    name = f"vetroi-{settings.stack}"
    alerting = Alerting(
        emails=settings.alert_emails, https_endpoints=settings.alert_https_endpoints
    )
    health_check_ids: dict[str, pulumi.Input[str]] = {}
    if probe_health_check_id is not None:
        health_check_ids[f"probe {settings.region}"] = probe_health_check_id
    if switch_health_check_id is not None:
        health_check_ids["failover switch"] = switch_health_check_id
    if public_url is None and settings.domain:
        # Both regions probe the public name, whichever stack owns the edge behind it.
        public_url = f"https://{EDGE_SUBDOMAIN}.{settings.domain}"
    targets: dict[str, pulumi.Input[str]] = {"regional": invoke_url}
    if public_url is not None:
        targets = {"public": public_url, **targets}

    synthetic = SyntheticCheck(
        f"{name}-synthetic",
        SyntheticCheckArgs(
            region=settings.region,
            package=package,
            runtime=settings.runtime,
            architecture=settings.architecture,
            targets=targets,
            origin=_probe_origin(settings),
            log_retention_days=settings.log_retention_days,
            interval_minutes=SYNTHETIC_INTERVAL_MINUTES,
        ),
    )
    monitoring = RegionalMonitoring(
        name,
        RegionalMonitoringArgs(
            region=settings.region,
            other_region=settings.other_region,
            api_name=api_name,
            stage_name=stage_name,
            function_names=function_names,
            function_timeout_seconds=settings.function_timeout_seconds,
            table_name=settings.table_name,
            alerting=alerting,
            api_4xx_threshold=settings.api_4xx_alarm_threshold,
            synthetic_endpoints=tuple(targets),
            synthetic_interval_minutes=SYNTHETIC_INTERVAL_MINUTES,
            health_check_ids=health_check_ids,
            distribution_id=distribution_id,
        ),
    )

    global_monitoring = None
    if health_check_ids or distribution_id is not None:
        global_monitoring = GlobalMonitoring(
            f"{name}-global",
            GlobalMonitoringArgs(
                alerting=alerting,
                probe_health_check_ids=(
                    {settings.region: probe_health_check_id} if probe_health_check_id else {}
                ),
                switch_health_check_id=switch_health_check_id,
                distribution_id=distribution_id,
            ),
        )

    warmup = Warmup(
        f"{name}-warmup",
        WarmupArgs(
            region=settings.region,
            function_names=function_names,
            alias_arns=alias_arns,
            interval_minutes=settings.warmup_interval_minutes,
        ),
    )

    backup: TableBackup | CopyVault
    if settings.is_primary:
        if table_arn is None:
            raise ValueError("the primary stack owns the table: give its table_arn")
        identity = aws.get_caller_identity_output()
        partition = aws.get_partition_output()
        backup = TableBackup(
            f"{name}-backup",
            TableBackupArgs(
                region=settings.region,
                table_arn=table_arn,
                copy_vault_arn=copy_vault_arn(
                    partition.partition, settings.other_region, identity.account_id
                ),
            ),
        )
    else:
        backup = CopyVault(f"{name}-backup", CopyVaultArgs(region=settings.region))
    return Operations(monitoring, global_monitoring, synthetic, warmup, backup)


def _probe_origin(settings: Settings) -> str:
    # The CORS checks need an origin the API allows; with `*` any origin does.
    if settings.cors_origins:
        return settings.cors_origins[0]
    return "https://probe.vetroi.invalid"

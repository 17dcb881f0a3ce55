"""Which edge and failover resources a stack declares, from its settings.

With a domain, every stack gets its regional custom domain, health check and half of the
`api.<domain>` failover record, and the prod stack adds CloudFront in front of `api.<domain>`.
Without one (the development shape), there is no DNS layer: the prod stack's CloudFront calls the
primary region's endpoint and, for `GET /career/*`, falls back to the backup stack's endpoint
(read from its `apiUrl` export) and then to the static data. `forceFailover` moves traffic to
the backup region in either shape: through the health check switch with a domain, by pointing
CloudFront at the backup endpoint without one (which takes effect once CloudFront has deployed
the change, typically minutes rather than seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.edge import (
    MAX_RESPONSE_TIMEOUT,
    ApiOrigin,
    Edge,
    EdgeArgs,
    backup_api_from_stack,
    load_static_careers,
)
from components.failover import (
    FailoverBudget,
    RegionalFailover,
    RegionalFailoverArgs,
    api_hostname,
    failover_budget,
    warn_if_over_limit,
)
from components.settings import Settings

# Slack for API Gateway and the network beyond the function's own timeout.
RESPONSE_SLACK_SECONDS = 2


def response_timeout(settings: Settings) -> int:
    """How long CloudFront waits for an API answer: the function's timeout and a little more.

    A function cannot answer after its timeout, so waiting longer (CloudFront's default is
    30 s) only delays the fallback of a `GET /career/*` from an origin that accepted the
    connection and then hung.
    """
    return min(MAX_RESPONSE_TIMEOUT, settings.function_timeout_seconds + RESPONSE_SLACK_SECONDS)


@dataclass
class FrontDoor:
    budget: FailoverBudget
    failover: RegionalFailover | None
    edge: Edge | None


def front_door(
    settings: Settings,
    *,
    rest_api_id: pulumi.Input[str],
    stage_name: pulumi.Input[str],
    invoke_url: pulumi.Input[str],
) -> FrontDoor:
    """Declare this stack's share of the edge and failover for the API at `invoke_url`."""
    failover = None
    if settings.domain and settings.hosted_zone_id:
        failover = RegionalFailover(
            "vetroi-failover",
            RegionalFailoverArgs(
                rest_api_id=rest_api_id,
                stage_name=stage_name,
                region=settings.region,
                primary=settings.is_primary,
                domain=settings.domain,
                hosted_zone_id=settings.hosted_zone_id,
                health_check_interval=settings.health_check_interval,
                health_check_failure_threshold=settings.health_check_failure_threshold,
                record_ttl=settings.failover_record_ttl,
                force_failover=settings.force_failover,
            ),
        )

    edge = None
    api_origins = 1
    if settings.is_primary:
        backup_api = None
        if settings.domain:
            # api.<domain> follows the failover record; the stage is mapped at its root.
            api = ApiOrigin(host=api_hostname(settings.domain))
        else:
            api = ApiOrigin.from_invoke_url(invoke_url)
            if settings.backup_stack:
                backup_api = backup_api_from_stack(settings.backup_stack)
            if settings.force_failover and backup_api is not None:
                api, backup_api = backup_api, None
            api_origins = 2 if backup_api is not None else 1
        edge = Edge(
            "vetroi-edge",
            EdgeArgs(
                api=api,
                backup_api=backup_api,
                cors_origins=settings.cors_origins,
                allow_any_origin=settings.allow_any_origin,
                cors_allowed_headers=settings.cors_allowed_headers,
                cors_max_age_seconds=settings.cors_max_age_seconds,
                connection_timeout=settings.origin_connection_timeout,
                connection_attempts=settings.origin_connection_attempts,
                response_timeout=response_timeout(settings),
                waf_rate_limit=settings.waf_rate_limit,
                log_retention_days=settings.log_retention_days,
                region=settings.region,
                static_region=settings.backup_region,
                careers=load_static_careers(),
                domain=settings.domain,
                hosted_zone_id=settings.hosted_zone_id,
            ),
        )

    budget = failover_budget(settings, api_origins=api_origins)
    if failover is not None:
        warn_if_over_limit(budget, failover)
    return FrontDoor(budget=budget, failover=failover, edge=edge)

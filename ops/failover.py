"""`failover` and `failback`: the manual switch between the regions, through Route53 alone.

The prod half of the `api.<domain>` failover record is tied to a CALCULATED health check, the
switch, whose only child probes the primary's `/health`. Its threshold is 1 in normal operation,
so it follows the probe. Raising the threshold above the number of children makes Route53 see
the primary as unhealthy whatever the probe says, so traffic goes to the backup region, and stays
there while the primary is down. Route53's API is global: nothing here needs the primary region.

Before switching, the region that will take the traffic is asked for `/health`, so a failover to
a broken backup (or a failback to a broken primary) needs `--force`. That region's stage URL
comes from its stack's `apiUrl` output, or from `--target-url` when no outputs can be read.
"""

from __future__ import annotations

from typing import Any

import requests

from ops.aws import Aws, credential_problem, describe
from ops.errors import OpsError

# Route53's control plane; the client is global, this is only where the SDK signs requests.
ROUTE53_REGION = "us-east-1"


def switch_state(health_check: dict[str, Any]) -> tuple[int, int]:
    """(threshold, number of children) of a CALCULATED health check."""
    config = health_check["HealthCheckConfig"]
    if config.get("Type") != "CALCULATED":
        raise OpsError(
            f"health check {health_check['Id']} is a {config.get('Type')} check, not the "
            "CALCULATED failover switch the prod stack exports as healthCheckId"
        )
    return int(config.get("HealthThreshold", 0)), len(config.get("ChildHealthChecks", []))


def region_health(api_url: str | None, timeout: float = 5.0) -> tuple[bool, str]:
    if not api_url:
        return False, "its apiUrl is unknown"
    url = api_url.rstrip("/") + "/health"
    try:
        response = requests.get(url, timeout=timeout)
    except requests.RequestException as error:
        return False, f"{url} did not answer: {type(error).__name__}"
    return response.status_code == 200, f"{url} answered {response.status_code}"


def run(
    aws: Aws,
    health_check_id: str,
    *,
    to_backup: bool,
    target_api_url: str | None,
    force: bool,
    stack: str,
) -> int:
    aws.require_credentials()
    route53 = aws.client("route53", ROUTE53_REGION)
    try:
        current = route53.get_health_check(HealthCheckId=health_check_id)["HealthCheck"]
    except Exception as error:
        raise OpsError(
            credential_problem(error)
            or f"cannot read health check {health_check_id}: {describe(error)}"
        ) from error
    threshold, children = switch_state(current)
    wanted = children + 1 if to_backup else 1
    where = "the backup region" if to_backup else "the primary region"

    if threshold == wanted:
        print(f"traffic is already switched to {where} (threshold {threshold}); nothing to do")
        return 0
    healthy, detail = region_health(target_api_url)
    if target_api_url is None:
        detail += " (no stack output gives it: pass its stage URL with --target-url)"
    if not healthy and not force:
        print(f"refusing to send traffic to {where}: {detail}. Use --force to switch anyway.")
        return 1
    if not healthy:
        print(f"warning: {where} is not healthy ({detail}); switching anyway (--force)")

    try:
        route53.update_health_check(
            HealthCheckId=health_check_id,
            HealthCheckVersion=current["HealthCheckVersion"],
            HealthThreshold=wanted,
            # Sent unchanged: it keeps the call a pure threshold change whatever the defaults.
            ChildHealthChecks=current["HealthCheckConfig"]["ChildHealthChecks"],
        )
    except Exception as error:
        raise OpsError(
            credential_problem(error)
            or f"cannot update health check {health_check_id}: {describe(error)}"
        ) from error
    print(
        f"switched traffic to {where}: health check {health_check_id} threshold "
        f"{threshold} -> {wanted}. Resolvers follow within the record's TTL plus CloudFront's "
        "DNS caching (the stack's failover budget)."
    )
    print(
        "Record it in the stack so a later `pulumi up --refresh` keeps it: "
        f"`pulumi config set vetroi:forceFailover {'true' if to_backup else 'false'} -s {stack}`."
    )
    return 0

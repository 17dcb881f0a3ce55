"""DNS failover between the regions: the only layer that moves `POST` traffic.

Each stack, in its own region, gives its API the custom domain `api.<domain>` (with its own
DNS-validated ACM certificate in that region), probes its own region's `/health` with a Route53
health check, and declares its half of the failover record `api.<domain>`: PRIMARY in prod,
SECONDARY in backup. CloudFront's origin is `api.<domain>`, so when the primary's probe fails,
the record answers with the backup region's endpoint and CloudFront follows.

The manual switch. The prod half of the record is tied to a CALCULATED health check (the
"switch") whose only child is the probe. Its threshold is 1 in normal operation, so it follows
the probe; setting it to 2, more than the number of children, makes Route53 treat it as
unhealthy whatever the probe says, which sends all traffic to the backup region even when the
primary is healthy, and keeps it there when the primary is down. (Inverting the probe would do
the first but not the second: an inverted check of a dead primary reads healthy and would send
traffic back to it.) The switch lives in Route53, a global service, so flipping it needs nothing
from the primary region: operators set `HealthThreshold` on the check exported as
`healthCheckId` with the Route53 API directly (`ops failover`). `forceFailover` sets it on the
next `pulumi up`, which also needs the provider's STS check in the stack's region to pass.

Known limitations:
- Both stacks validate a certificate for the same name, and ACM asks for the same validation
  record for both; each stack writes it (`allow_overwrite`) and leaves it in the zone when it is
  destroyed (`retain_on_delete`), so the other stack's certificate keeps renewing. Once both
  stacks are gone the CNAME stays behind and must be deleted by hand; it grants nothing.
- The probe reads the stage through its execute-api hostname, so it does not notice a broken
  base path mapping of the custom domain.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.settings import Settings

# AWS does not publish how long CloudFront's edge resolvers keep an origin's DNS answer. We
# take 60 seconds as the upper bound until a failover drill against a real distribution measures
# it: the fixed TTL Route53 gives alias answers for load balancers (Route53 FAQ on DNS failover)
# and the longest TTL the Route53 developer guide advises for records tied to health checks
# (page "Values specific for failover records").
CLOUDFRONT_DNS_CACHE_SECONDS = 60

# A CALCULATED check healthy when at least N of its children are; N above the number of
# children makes Route53 consider it unhealthy whatever the children say.
SWITCH_FOLLOWS_PROBE = 1
SWITCH_FORCES_FAILOVER = 2

# API Gateway custom domains: TLS 1.2 is the strongest policy a REST API domain takes here.
API_TLS_POLICY = "TLS_1_2"


def api_hostname(domain: str) -> str:
    """The shared name of the API in both regions, the failover record and CloudFront's origin."""
    return f"api.{domain}"


@dataclass(frozen=True)
class FailoverBudget:
    """Worst-case seconds before traffic leaves a failing primary.

    `post_seconds` is the time until `POST` traffic reaches the backup region: the probe's
    interval times its failure threshold (Route53 declares the primary unhealthy), plus the
    record's TTL (resolvers drop the old answer), plus CloudFront's own DNS caching. It is
    `None` without a domain: then no DNS layer exists and `POST` cannot fail over at all.
    `get_seconds` is the time a `GET /career/*` waits on each failing API origin (connection
    timeout times attempts) before CloudFront tries the next member of the origin group, summed
    over the API origins tried before the static data. A primary that accepts the connection and
    then hangs holds a request for CloudFront's response timeout instead, which this does not
    count.
    """

    post_seconds: int | None
    get_seconds: int
    limit_seconds: int

    @property
    def over_limit(self) -> bool:
        return self.post_seconds is not None and self.post_seconds > self.limit_seconds


def failover_budget(settings: Settings, *, api_origins: int = 1) -> FailoverBudget:
    """The stack's failover budget from its settings; `api_origins` tried before static data."""
    post = None
    if settings.domain:
        post = (
            settings.health_check_interval * settings.health_check_failure_threshold
            + settings.failover_record_ttl
            + CLOUDFRONT_DNS_CACHE_SECONDS
        )
    per_origin = settings.origin_connection_timeout * settings.origin_connection_attempts
    return FailoverBudget(
        post_seconds=post,
        get_seconds=per_origin * api_origins,
        limit_seconds=settings.failover_budget_limit,
    )


def warn_if_over_limit(budget: FailoverBudget, resource: pulumi.Resource) -> None:
    """Tell the operator at deploy time that POST failover would take longer than allowed."""
    if budget.over_limit:
        pulumi.log.warn(
            f"POST failover budget is {budget.post_seconds} s, over failoverBudgetLimit "
            f"({budget.limit_seconds} s): healthCheckInterval x healthCheckFailureThreshold + "
            f"failoverRecordTtl + {CLOUDFRONT_DNS_CACHE_SECONDS} s of CloudFront DNS caching. "
            "Lower the interval, threshold or TTL, or raise the limit.",
            resource=resource,
        )


@dataclass
class RegionalFailoverArgs:
    rest_api_id: pulumi.Input[str]
    stage_name: pulumi.Input[str]
    region: str
    # True in the prod stack (the PRIMARY half of the record), False in the backup stack.
    primary: bool
    domain: str
    hosted_zone_id: str
    health_check_interval: int
    health_check_failure_threshold: int
    record_ttl: int
    force_failover: bool = False


class RegionalFailover(pulumi.ComponentResource):
    """This region's custom domain, health check and half of the `api.<domain>` failover record."""

    def __init__(
        self, name: str, args: RegionalFailoverArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:failover:RegionalFailover", name, None, opts)
        if args.force_failover and not args.primary:
            raise ValueError("force_failover applies to the primary half of the record only")
        child = pulumi.ResourceOptions(parent=self)
        hostname = api_hostname(args.domain)
        role = "PRIMARY" if args.primary else "SECONDARY"

        certificate = self._certificate(name, hostname, args)
        self.domain_name = aws.apigateway.DomainName(
            f"{name}-domain",
            domain_name=hostname,
            region=args.region,
            regional_certificate_arn=certificate.certificate_arn,
            endpoint_configuration=aws.apigateway.DomainNameEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            security_policy=API_TLS_POLICY,
            opts=child,
        )
        self.base_path_mapping = aws.apigateway.BasePathMapping(
            f"{name}-mapping",
            domain_name=self.domain_name.domain_name,
            rest_api=args.rest_api_id,
            stage_name=args.stage_name,
            region=args.region,
            opts=child,
        )

        # The probe reads this region's own endpoint, never the shared name: through
        # api.<domain> it would follow the record and report the backup's health as its own.
        partition = aws.get_partition_output(opts=pulumi.InvokeOptions(parent=self))
        self.endpoint_host = pulumi.Output.concat(
            args.rest_api_id, ".execute-api.", args.region, ".", partition.dns_suffix
        )
        self.probe = aws.route53.HealthCheck(
            f"{name}-probe",
            type="HTTPS",
            fqdn=self.endpoint_host,
            port=443,
            resource_path=pulumi.Output.concat("/", args.stage_name, "/health"),
            enable_sni=True,
            request_interval=args.health_check_interval,
            failure_threshold=args.health_check_failure_threshold,
            measure_latency=True,
            tags={"Name": f"vetroi {role.lower()} {args.region} /health"},
            opts=child,
        )

        record_check = self.probe
        self.switch: aws.route53.HealthCheck | None = None
        if args.primary:
            self.switch = aws.route53.HealthCheck(
                f"{name}-switch",
                type="CALCULATED",
                child_healthchecks=[self.probe.id],
                child_health_threshold=(
                    SWITCH_FORCES_FAILOVER if args.force_failover else SWITCH_FOLLOWS_PROBE
                ),
                tags={"Name": f"vetroi failover switch {args.region}"},
                opts=child,
            )
            record_check = self.switch

        # A CNAME, not an alias: an alias to API Gateway answers with AWS's own 60 s TTL,
        # while the budget needs the short TTL from the settings.
        self.record = aws.route53.Record(
            f"{name}-record",
            zone_id=args.hosted_zone_id,
            name=hostname,
            type="CNAME",
            ttl=args.record_ttl,
            records=[self.domain_name.regional_domain_name],
            set_identifier=f"{role.lower()}-{args.region}",
            failover_routing_policies=[aws.route53.RecordFailoverRoutingPolicyArgs(type=role)],
            health_check_id=record_check.id,
            opts=child,
        )

        self.hostname = hostname
        self.health_check_id = record_check.id
        self.register_outputs(
            {
                "hostname": hostname,
                "healthCheckId": self.health_check_id,
                "probeHealthCheckId": self.probe.id,
                "regionalDomainName": self.domain_name.regional_domain_name,
            }
        )

    def _certificate(
        self, name: str, hostname: str, args: RegionalFailoverArgs
    ) -> aws.acm.CertificateValidation:
        """An ACM certificate for `hostname` in this region, validated through the zone."""
        child = pulumi.ResourceOptions(parent=self)
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=hostname,
            validation_method="DNS",
            region=args.region,
            tags={"Name": f"{hostname} {args.region}"},
            opts=child,
        )
        return validate_certificate(
            name, certificate, args.hosted_zone_id, args.region, self, shared=True
        )


def validate_certificate(
    name: str,
    certificate: aws.acm.Certificate,
    hosted_zone_id: str,
    region: str,
    parent: pulumi.Resource,
    *,
    shared: bool = False,
) -> aws.acm.CertificateValidation:
    """Write the certificate's DNS validation record in the zone and wait for ACM to issue it.

    `shared` marks a name both stacks certify (api.<domain>): ACM asks every region's
    certificate for the same name to publish the same record, so each stack may overwrite it and
    leaves it behind for the other.
    """
    option = certificate.domain_validation_options[0]
    record = aws.route53.Record(
        f"{name}-cert-validation",
        zone_id=hosted_zone_id,
        name=option.resource_record_name,
        type=option.resource_record_type,
        records=[option.resource_record_value],
        ttl=300,
        allow_overwrite=shared,
        opts=pulumi.ResourceOptions(parent=parent, retain_on_delete=shared),
    )
    return aws.acm.CertificateValidation(
        f"{name}-cert-issued",
        certificate_arn=certificate.arn,
        validation_record_fqdns=[record.fqdn],
        region=region,
        opts=pulumi.ResourceOptions(parent=parent),
    )

"""The front door: one CloudFront distribution that browsers call, with CORS decided at the edge.

Every answer passes through one response-headers policy that sets the CORS headers from the
settings (overriding whatever the origin sent, so the edge is the one authority) and the usual
security headers. A WAF web ACL in us-east-1 applies AWS's common rules and a per-IP rate limit.
No behaviour forwards the viewer's Host header: API Gateway answers 403 to a Host it does not
serve, so the origin request policy forwards everything else.

Behaviours:
- default (every method): the API origin, nothing cached. With a domain the origin is
  `api.<domain>`, the Route53 failover record, so `POST` follows DNS failover; without one it is
  the primary region's execute-api endpoint and `POST` cannot fail over.
- `GET /career/*` (GET, HEAD and OPTIONS only, the methods CloudFront origin failover retries):
  cached as the origin's `Cache-Control` says, so `stale-if-error` keeps serving a career while
  every origin fails, and served by an origin group that fails over on 5xx and on connection
  failure to the static-fallback bucket, a private bucket read through origin access control
  holding the bundled career data at the same paths. The bucket lives in the backup region,
  so an outage of the primary region, the one it must cover, does not take it down too. It
  answers a preflight itself (its own CORS rule, the same as the edge's), and a career it does
  not hold is 404, not 403, because the distributions may list it: CloudFront only ever asks for
  one key, and the listing right only lets S3 tell a missing key from a forbidden one.

Three steps in the development shape. Without a domain the `GET /career/*` fallback must try the
primary region, then the backup region, then the static data, but a CloudFront origin group holds
exactly two origins and a group cannot be a member of another group. The chain is therefore
split over two distributions: this one's group is (primary API, fallback distribution), and the
fallback distribution, reachable only as that second member in practice, has the group (backup
API, static bucket) on the same path. A request reaches the static data after two failed API
origins, which the GET budget counts.

Known limitations:
- Without a domain the distributions use CloudFront's default certificate, with which CloudFront
  accepts TLS 1.0 and later from viewers; TLS 1.2 as the minimum needs the domain.
- The fallback distribution's address is public: anyone who learns it can read careers through
  it. Its own web ACL applies AWS's common rules but no per-IP rate limit (its viewers are the
  main distribution's edge servers), so a client calling it directly is limited only by the
  backup stage's throttling.
- Requests the AWS common rules block get WAF's own 403; only the rate limit answers with the
  API's JSON error shape (429). Whether CloudFront adds the CORS headers to answers WAF makes
  has not been verified here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pulumi
import pulumi_aws as aws

from components.api import CORS_METHODS as API_METHODS
from components.buckets import deny_insecure_transport, secure_bucket
from components.failover import validate_certificate

# CloudFront's certificate and web ACL must live in us-east-1, whatever the stack's region.
CLOUDFRONT_REGION = "us-east-1"
# CloudFront's fixed hosted zone for alias records to any distribution.
CLOUDFRONT_ZONE_ID = "Z2FDTNDATAQYW2"
# AWS managed cache policy "CachingDisabled": the API's answers are never cached by default.
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
# Browsers call edge.<domain>.
EDGE_SUBDOMAIN = "edge"

CAREER_PATH = "/career/*"
FAILOVER_METHODS = ["GET", "HEAD", "OPTIONS"]
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
CACHED_METHODS = ["GET", "HEAD"]
FAILOVER_STATUS_CODES = [500, 502, 503, 504]
# The routes' methods, and HEAD, which CloudFront answers for every GET.
CORS_METHODS = sorted({*API_METHODS, "HEAD"})
CORS_EXPOSED_HEADERS = ["X-Data-Source", "X-Request-Id"]
# The settings' wafRateLimit counts requests per IP over this window (WAF's default).
WAF_RATE_WINDOW_SECONDS = 300
RATE_LIMITED_BODY = "rate-limited"
HSTS_MAX_AGE_SECONDS = 2 * 365 * 24 * 3600
# The longest CloudFront keeps a career the origin marked cacheable; the origin's own max-age
# and stale-if-error decide within it.
CAREER_MAX_TTL_SECONDS = 86400
# Static answers are kept briefly so a recovered origin is back within a minute.
STATIC_CACHE_CONTROL = "public, max-age=60, stale-if-error=86400"
# CloudFront accepts 1-60 s as an origin's response timeout without a quota increase.
MAX_RESPONSE_TIMEOUT = 60
SOC_CODE = re.compile(r"^\d{2}-\d{4}\.\d{2}$")
STATIC_CAREERS = (
    Path(__file__).resolve().parent.parent / "functions" / "vetroi_api" / "static" / "careers.json"
)


def load_static_careers(path: Path | None = None) -> dict[str, Any]:
    """The bundled career bodies by O*NET-SOC code; empty when the file is not there."""
    path = path or STATIC_CAREERS
    if not path.exists():
        return {}
    careers = json.loads(path.read_text())
    if not isinstance(careers, dict):
        raise ValueError(f"{path} must hold a JSON object of SOC code to career body")
    bad = [code for code in careers if not SOC_CODE.match(code)]
    if bad:
        raise ValueError(f"{path}: not O*NET-SOC codes (NN-NNNN.NN): {', '.join(sorted(bad))}")
    return careers


@dataclass
class ApiOrigin:
    """An API endpoint CloudFront forwards to: a host name and the path of the stage on it."""

    host: pulumi.Input[str]
    path: pulumi.Input[str] = ""

    @staticmethod
    def from_invoke_url(invoke_url: pulumi.Input[str]) -> ApiOrigin:
        """The origin of a stage's invoke URL, e.g. https://abc.execute-api.../prod."""
        url = pulumi.Output.from_input(invoke_url)
        return ApiOrigin(
            host=url.apply(lambda u: urlparse(u).hostname or ""),
            path=url.apply(lambda u: urlparse(u).path.rstrip("/")),
        )


def backup_api_from_stack(stack_name: str) -> ApiOrigin:
    """The backup region's endpoint, read from the `apiUrl` export of the backup stack.

    A bare stack name is qualified with this stack's organization and project, the form
    every Pulumi backend accepts.
    """
    qualified = stack_name
    if "/" not in stack_name:
        qualified = f"{pulumi.get_organization()}/{pulumi.get_project()}/{stack_name}"
    reference = pulumi.StackReference(f"{stack_name.replace('/', '-')}-stack", qualified)
    return ApiOrigin.from_invoke_url(reference.require_output("apiUrl"))


@dataclass
class EdgeArgs:
    # The origin of every request: api.<domain>, or the primary's endpoint without a domain.
    api: ApiOrigin
    cors_origins: Sequence[str]
    allow_any_origin: bool
    # Access-Control-Allow-Headers and Access-Control-Max-Age, from the settings.
    cors_allowed_headers: Sequence[str]
    cors_max_age_seconds: int
    connection_timeout: int
    connection_attempts: int
    # Seconds CloudFront waits for an API origin's answer before giving up (or failing over).
    response_timeout: int
    waf_rate_limit: int
    log_retention_days: int
    # Region of the access log bucket (the stack's own).
    region: str
    # Region of the static-fallback bucket: the backup region, never the one it stands in for.
    static_region: str
    # Career bodies by SOC code, stored at career/<socCode> in the static-fallback bucket.
    careers: Mapping[str, Any] = field(default_factory=dict)
    # Without a domain: the backup region's endpoint, tried before the static data.
    backup_api: ApiOrigin | None = None
    # With a domain: the public name edge.<domain>, its certificate and its alias records.
    domain: str | None = None
    hosted_zone_id: str | None = None


class Edge(pulumi.ComponentResource):
    """CloudFront, its WAF, policies, certificate and alias, and the static-fallback bucket."""

    def __init__(
        self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:edge:Edge", name, None, opts)
        if bool(args.domain) != bool(args.hosted_zone_id):
            raise ValueError("domain and hosted_zone_id go together")
        child = pulumi.ResourceOptions(parent=self)
        # The public name; api.<domain> is the origin's failover record.
        self.hostname = f"{EDGE_SUBDOMAIN}.{args.domain}" if args.domain else None

        # The static data is rebuilt from the repository, so its bucket may go with the stack.
        self.static_region = args.static_region
        self.static_bucket = self._bucket(
            f"{name}-static", args.static_region, expire_days=None, keep_on_delete=False
        )
        self._static_objects(name, args)
        self._static_cors(name, args)
        self.log_bucket, log_ownership = self._log_bucket(name, args)

        self.origin_access = aws.cloudfront.OriginAccessControl(
            f"{name}-static-access",
            description="CloudFront reads the static-fallback bucket",
            origin_access_control_origin_type="s3",
            signing_behavior="always",
            signing_protocol="sigv4",
            opts=child,
        )
        self.web_acl = self._web_acl(f"{name}-waf", args)
        self.fallback_web_acl: aws.wafv2.WebAcl | None = None
        self.headers_policy = self._headers_policy(name, args)
        self.origin_request_policy, self.career_cache_policy = self._request_policies(name)
        certificate = self._certificate(name, args)

        # The static data is the last step: after the backup region's endpoint when there is
        # one (through the fallback distribution), else straight after the API origin.
        distributions: list[aws.cloudfront.Distribution] = []
        self.fallback_distribution: aws.cloudfront.Distribution | None = None
        second: aws.cloudfront.DistributionOriginArgs = self._static_origin()
        if args.backup_api is not None:
            self.fallback_web_acl = self._web_acl(f"{name}-fallback-waf", args, per_ip_limit=False)
            self.fallback_distribution = self._distribution(
                f"{name}-fallback",
                args,
                api=args.backup_api,
                second=self._static_origin(),
                default_methods=FAILOVER_METHODS,
                log_prefix="edge-fallback/",
                certificate=None,
                web_acl=self.fallback_web_acl,
                depends_on=[log_ownership],
            )
            distributions.append(self.fallback_distribution)
            # The fallback distribution may itself wait on a hung backup before its static
            # data answers, so it gets that wait and as long again.
            second = self._custom_origin(
                "fallback",
                ApiOrigin(host=self.fallback_distribution.domain_name),
                args,
                response_timeout=min(MAX_RESPONSE_TIMEOUT, 2 * args.response_timeout),
            )
        self.distribution = self._distribution(
            f"{name}-cdn",
            args,
            api=args.api,
            second=second,
            default_methods=ALL_METHODS,
            log_prefix="edge/",
            certificate=certificate,
            web_acl=self.web_acl,
            depends_on=[log_ownership],
        )
        distributions.append(self.distribution)

        aws.s3.BucketPolicy(
            f"{name}-static-policy",
            bucket=self.static_bucket.id,
            region=args.static_region,
            policy=pulumi.Output.all(self.static_bucket.arn, *[d.arn for d in distributions]).apply(
                lambda arns: _static_bucket_policy(arns[0], arns[1:])
            ),
            opts=child,
        )

        if self.hostname and args.hosted_zone_id:
            self._alias_records(name, self.hostname, args.hosted_zone_id)
        else:
            pulumi.log.warn(
                "No domain is set: CloudFront's origin is the primary region's own endpoint, so "
                "POST requests cannot fail over to the backup region (CloudFront origin "
                "failover retries GET, HEAD and OPTIONS only). Set domain and hostedZoneId for "
                "DNS failover.",
                resource=self.distribution,
            )

        self.url = (
            pulumi.Output.from_input(f"https://{self.hostname}")
            if self.hostname
            else pulumi.Output.concat("https://", self.distribution.domain_name)
        )
        self.register_outputs(
            {
                "url": self.url,
                "distributionId": self.distribution.id,
                "staticBucket": self.static_bucket.bucket,
                "staticBucketRegion": self.static_region,
                "webAclArn": self.web_acl.arn,
            }
        )

    def _request_policies(
        self, name: str
    ) -> tuple[aws.cloudfront.OriginRequestPolicy, aws.cloudfront.CachePolicy]:
        """What reaches the origin (all but Host) and how careers are cached (as it says)."""
        child = pulumi.ResourceOptions(parent=self)
        forward = aws.cloudfront.OriginRequestPolicy(
            f"{name}-forward",
            comment="Everything the viewer sent except Host, which API Gateway rejects",
            headers_config=aws.cloudfront.OriginRequestPolicyHeadersConfigArgs(
                header_behavior="allExcept",
                headers=aws.cloudfront.OriginRequestPolicyHeadersConfigHeadersArgs(items=["Host"]),
            ),
            cookies_config=aws.cloudfront.OriginRequestPolicyCookiesConfigArgs(
                cookie_behavior="all"
            ),
            query_strings_config=aws.cloudfront.OriginRequestPolicyQueryStringsConfigArgs(
                query_string_behavior="all"
            ),
            opts=child,
        )
        career = aws.cloudfront.CachePolicy(
            f"{name}-career-cache",
            comment="Careers cached as the origin's Cache-Control says (stale-if-error too)",
            # No Cache-Control, no caching: only the origin decides what may be kept.
            min_ttl=0,
            default_ttl=0,
            max_ttl=CAREER_MAX_TTL_SECONDS,
            parameters_in_cache_key_and_forwarded_to_origin={
                # The path alone keys a career; the origin still gets every viewer header
                # and query string through the origin request policy.
                "cookies_config": {"cookie_behavior": "none"},
                "headers_config": {"header_behavior": "none"},
                "query_strings_config": {"query_string_behavior": "none"},
                "enable_accept_encoding_brotli": True,
                "enable_accept_encoding_gzip": True,
            },
            opts=child,
        )
        return forward, career

    def _certificate(self, name: str, args: EdgeArgs) -> aws.acm.CertificateValidation | None:
        """The certificate of edge.<domain> in us-east-1, where CloudFront reads it."""
        if not (self.hostname and args.hosted_zone_id):
            return None
        certificate = aws.acm.Certificate(
            f"{name}-cert",
            domain_name=self.hostname,
            validation_method="DNS",
            region=CLOUDFRONT_REGION,
            tags={"Name": f"{self.hostname} CloudFront"},
            opts=pulumi.ResourceOptions(parent=self),
        )
        return validate_certificate(name, certificate, args.hosted_zone_id, CLOUDFRONT_REGION, self)

    def _alias_records(self, name: str, hostname: str, hosted_zone_id: str) -> None:
        """edge.<domain> points at the distribution, over IPv4 and IPv6."""
        for record_type in ("A", "AAAA"):
            aws.route53.Record(
                f"{name}-alias-{record_type.lower()}",
                zone_id=hosted_zone_id,
                name=hostname,
                type=record_type,
                aliases=[
                    aws.route53.RecordAliasArgs(
                        name=self.distribution.domain_name,
                        zone_id=CLOUDFRONT_ZONE_ID,
                        evaluate_target_health=False,
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _log_bucket(
        self, name: str, args: EdgeArgs
    ) -> tuple[aws.s3.Bucket, aws.s3.BucketOwnershipControls]:
        """Where CloudFront writes its access logs; kept after the stack, expiring on its own."""
        child = pulumi.ResourceOptions(parent=self)
        bucket = self._bucket(
            f"{name}-logs", args.region, expire_days=args.log_retention_days, keep_on_delete=True
        )
        aws.s3.BucketPolicy(
            f"{name}-logs-policy",
            bucket=bucket.id,
            region=args.region,
            policy=bucket.arn.apply(deny_insecure_transport),
            opts=child,
        )
        # CloudFront's standard logs are written with an ACL, so the bucket must accept ACLs.
        ownership = aws.s3.BucketOwnershipControls(
            f"{name}-logs-ownership",
            bucket=bucket.id,
            region=args.region,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerPreferred"),
            opts=child,
        )
        return bucket, ownership

    def _bucket(
        self, name: str, region: str, expire_days: int | None, keep_on_delete: bool
    ) -> aws.s3.Bucket:
        """A private, encrypted, versioned bucket; its policy is set by the caller."""
        bucket = aws.s3.Bucket(
            name,
            region=region,
            force_destroy=not keep_on_delete,
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=keep_on_delete),
        )
        # SSE-S3: origin access control reads SSE-KMS objects only with a key policy for it.
        secure_bucket(name, bucket, region, self, expire_days=expire_days)
        return bucket

    def _static_objects(self, name: str, args: EdgeArgs) -> None:
        """One object per career at career/<socCode>, the path GET /career/{socCode} uses."""
        if not args.careers:
            pulumi.log.warn(
                "No bundled career data (functions/vetroi_api/static/careers.json): the "
                "static-fallback bucket is empty, so GET /career/* has no last-resort answer.",
                resource=self.static_bucket,
            )
            return
        for code, body in sorted(args.careers.items()):
            aws.s3.BucketObjectv2(
                f"{name}-career-{code}",
                bucket=self.static_bucket.id,
                key=f"career/{code}",
                region=args.static_region,
                content=json.dumps(body),
                content_type="application/json",
                cache_control=STATIC_CACHE_CONTROL,
                opts=pulumi.ResourceOptions(parent=self),
            )

    def _static_cors(self, name: str, args: EdgeArgs) -> None:
        """The edge's CORS rule on the bucket, so a preflight that fails over to it is 200.

        The response-headers policy still sets the headers browsers see; without this rule S3
        answers every preflight 403, whatever the edge adds to it.
        """
        aws.s3.BucketCorsConfiguration(
            f"{name}-static-cors",
            bucket=self.static_bucket.id,
            region=args.static_region,
            cors_rules=[
                aws.s3.BucketCorsConfigurationCorsRuleArgs(
                    allowed_origins=_allowed_origins(args),
                    allowed_methods=CACHED_METHODS,
                    allowed_headers=list(args.cors_allowed_headers),
                    max_age_seconds=args.cors_max_age_seconds,
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _web_acl(self, name: str, args: EdgeArgs, *, per_ip_limit: bool = True) -> aws.wafv2.WebAcl:
        """Per-IP rate limit first (cheapest), then AWS's common rule set, in us-east-1.

        Without `per_ip_limit`, for the fallback distribution: its viewers are the main
        distribution's edge servers, each carrying many browsers, so a per-IP limit there would
        block every browser behind one edge server at once, and only during a failover. The
        main distribution's ACL has already counted those browsers by their own address.
        """

        def visibility(metric: str) -> aws.wafv2.WebAclVisibilityConfigArgsDict:
            return {
                "cloudwatch_metrics_enabled": True,
                "metric_name": metric,
                "sampled_requests_enabled": True,
            }

        prefix = "vetroi" if per_ip_limit else "vetroi-fallback"
        rules: list[aws.wafv2.WebAclRuleArgsDict] = []
        if per_ip_limit:
            rules.append(
                {
                    "name": "per-ip-rate-limit",
                    "priority": 0,
                    # 429 with the API's error shape, so a client can tell a rate limit apart.
                    "action": {
                        "block": {
                            "custom_response": {
                                "response_code": 429,
                                "custom_response_body_key": RATE_LIMITED_BODY,
                            }
                        }
                    },
                    "statement": {
                        "rate_based_statement": {
                            "limit": args.waf_rate_limit,
                            "aggregate_key_type": "IP",
                            "evaluation_window_sec": WAF_RATE_WINDOW_SECONDS,
                        }
                    },
                    "visibility_config": visibility(f"{prefix}-per-ip-rate-limit"),
                }
            )
        rules.append(
            {
                "name": "aws-common-rules",
                "priority": 1,
                "override_action": {"none": {}},
                "statement": {
                    "managed_rule_group_statement": {
                        "vendor_name": "AWS",
                        "name": "AWSManagedRulesCommonRuleSet",
                    }
                },
                "visibility_config": visibility(f"{prefix}-aws-common-rules"),
            }
        )
        return aws.wafv2.WebAcl(
            name,
            region=CLOUDFRONT_REGION,
            scope="CLOUDFRONT",
            description=(
                "VetROI edge: per-IP rate limit and AWS common rules"
                if per_ip_limit
                else "VetROI fallback edge, called by the main edge: AWS common rules"
            ),
            default_action={"allow": {}},
            custom_response_bodies=[
                {
                    "key": RATE_LIMITED_BODY,
                    "content_type": "APPLICATION_JSON",
                    "content": json.dumps(
                        {
                            "error": {
                                "code": "rate_limited",
                                "message": "Too many requests from this address; "
                                "try again in a few minutes.",
                            }
                        }
                    ),
                }
            ]
            if per_ip_limit
            else None,
            rules=rules,
            visibility_config=visibility("vetroi-edge" if per_ip_limit else "vetroi-fallback-edge"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _headers_policy(self, name: str, args: EdgeArgs) -> aws.cloudfront.ResponseHeadersPolicy:
        origins = _allowed_origins(args)
        return aws.cloudfront.ResponseHeadersPolicy(
            f"{name}-headers",
            comment="CORS from the stack settings and security headers, over the origin's",
            cors_config={
                "access_control_allow_credentials": False,
                "access_control_allow_origins": {"items": origins},
                "access_control_allow_methods": {"items": CORS_METHODS},
                "access_control_allow_headers": {"items": list(args.cors_allowed_headers)},
                "access_control_expose_headers": {"items": CORS_EXPOSED_HEADERS},
                "access_control_max_age_sec": args.cors_max_age_seconds,
                "origin_override": True,
            },
            security_headers_config={
                "strict_transport_security": {
                    "access_control_max_age_sec": HSTS_MAX_AGE_SECONDS,
                    "include_subdomains": True,
                    "preload": False,
                    "override": True,
                },
                "content_type_options": {"override": True},
                "frame_options": {"frame_option": "DENY", "override": True},
                "referrer_policy": {"referrer_policy": "no-referrer", "override": True},
                # The API answers JSON only: nothing in it may load or frame anything.
                "content_security_policy": {
                    "content_security_policy": "default-src 'none'; frame-ancestors 'none'",
                    "override": True,
                },
                # The legacy XSS auditor is switched off, as current browsers advise.
                "xss_protection": {"protection": False, "override": True},
            },
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _custom_origin(
        self,
        origin_id: str,
        origin: ApiOrigin,
        args: EdgeArgs,
        response_timeout: int | None = None,
    ) -> aws.cloudfront.DistributionOriginArgs:
        return aws.cloudfront.DistributionOriginArgs(
            origin_id=origin_id,
            domain_name=origin.host,
            origin_path=origin.path,
            # Short, so a dead origin is given up on quickly (the GET budget).
            connection_timeout=args.connection_timeout,
            connection_attempts=args.connection_attempts,
            custom_origin_config=aws.cloudfront.DistributionOriginCustomOriginConfigArgs(
                http_port=80,
                https_port=443,
                origin_protocol_policy="https-only",
                origin_ssl_protocols=["TLSv1.2"],
                origin_read_timeout=response_timeout or args.response_timeout,
            ),
        )

    def _static_origin(self) -> aws.cloudfront.DistributionOriginArgs:
        return aws.cloudfront.DistributionOriginArgs(
            origin_id="static",
            domain_name=self.static_bucket.bucket_regional_domain_name,
            origin_access_control_id=self.origin_access.id,
        )

    def _distribution(
        self,
        name: str,
        args: EdgeArgs,
        *,
        api: ApiOrigin,
        second: aws.cloudfront.DistributionOriginArgs,
        default_methods: list[str],
        log_prefix: str,
        certificate: aws.acm.CertificateValidation | None,
        web_acl: aws.wafv2.WebAcl,
        depends_on: list[pulumi.Resource],
    ) -> aws.cloudfront.Distribution:
        """A distribution whose GET /career/* fails over from `api` to `second`."""
        common: dict[str, Any] = {
            "viewer_protocol_policy": "redirect-to-https",
            "origin_request_policy_id": self.origin_request_policy.id,
            "response_headers_policy_id": self.headers_policy.id,
            "compress": True,
        }
        if certificate is not None:
            viewer_certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                acm_certificate_arn=certificate.certificate_arn,
                ssl_support_method="sni-only",
                minimum_protocol_version="TLSv1.2_2021",
            )
        else:
            viewer_certificate = aws.cloudfront.DistributionViewerCertificateArgs(
                cloudfront_default_certificate=True
            )
        return aws.cloudfront.Distribution(
            name,
            enabled=True,
            comment=f"VetROI {name}",
            aliases=[self.hostname] if certificate is not None and self.hostname else None,
            is_ipv6_enabled=True,
            http_version="http2and3",
            price_class="PriceClass_100",
            web_acl_id=web_acl.arn,
            origins=[self._custom_origin("api", api, args), second],
            origin_groups=[
                aws.cloudfront.DistributionOriginGroupArgs(
                    origin_id="career-failover",
                    failover_criteria=aws.cloudfront.DistributionOriginGroupFailoverCriteriaArgs(
                        status_codes=FAILOVER_STATUS_CODES
                    ),
                    members=[
                        aws.cloudfront.DistributionOriginGroupMemberArgs(origin_id="api"),
                        aws.cloudfront.DistributionOriginGroupMemberArgs(
                            origin_id=second.origin_id
                        ),
                    ],
                )
            ],
            default_cache_behavior=aws.cloudfront.DistributionDefaultCacheBehaviorArgs(
                target_origin_id="api",
                allowed_methods=default_methods,
                cached_methods=CACHED_METHODS,
                cache_policy_id=CACHING_DISABLED_POLICY_ID,
                **common,
            ),
            ordered_cache_behaviors=[
                aws.cloudfront.DistributionOrderedCacheBehaviorArgs(
                    path_pattern=CAREER_PATH,
                    target_origin_id="career-failover",
                    # Origin failover retries these methods only; a group on any other
                    # behaviour is rejected by CloudFront.
                    allowed_methods=FAILOVER_METHODS,
                    cached_methods=CACHED_METHODS,
                    cache_policy_id=self.career_cache_policy.id,
                    **common,
                )
            ],
            restrictions=aws.cloudfront.DistributionRestrictionsArgs(
                geo_restriction=aws.cloudfront.DistributionRestrictionsGeoRestrictionArgs(
                    restriction_type="none"
                )
            ),
            viewer_certificate=viewer_certificate,
            logging_config=aws.cloudfront.DistributionLoggingConfigArgs(
                bucket=self.log_bucket.bucket_domain_name,
                prefix=log_prefix,
                include_cookies=False,
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=depends_on),
        )


def _allowed_origins(args: EdgeArgs) -> list[str]:
    origins = ["*"] if args.allow_any_origin else list(args.cors_origins)
    if not origins:
        raise ValueError("the edge's CORS policy needs at least one origin, or any origin")
    return origins


def _static_bucket_policy(bucket_arn: str, distribution_arns: Sequence[str]) -> str:
    """Refuse plain HTTP; let only these distributions read objects, through OAC.

    s3:ListBucket makes S3 answer 404 rather than 403 for a key it does not hold.
    """
    policy = json.loads(deny_insecure_transport(bucket_arn))
    only_these = {"StringEquals": {"AWS:SourceArn": list(distribution_arns)}}
    policy["Statement"] += [
        {
            "Sid": "CloudFrontReadsStaticFallback",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:GetObject",
            "Resource": f"{bucket_arn}/*",
            "Condition": only_these,
        },
        {
            "Sid": "CloudFrontTellsMissingFromForbidden",
            "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
            "Condition": only_these,
        },
    ]
    return json.dumps(policy)

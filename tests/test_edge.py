"""The edge and failover as both stacks declare them, under Pulumi's mock runtime.

The production shape comes from the real stack files (a domain and its zone); the development
shape is the prod stack with the domain removed, whose GET fallback reads the backup stack's
`apiUrl` through a stack reference (the harness answers it with `REFERENCED_OUTPUTS`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from components import edge
from components.failover import CLOUDFRONT_DNS_CACHE_SECONDS
from components.settings import SettingsError
from tests.program import REFERENCED_OUTPUTS, Deployment, Resource, run_stack

DOMAIN = "vetroi.example.com"
API_NAME = f"api.{DOMAIN}"
EDGE_NAME = f"edge.{DOMAIN}"
NO_DOMAIN = ("vetroi:domain", "vetroi:hostedZoneId")
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
RECORD = "aws:route53/record:Record"
# The only allowed-method sets CloudFront accepts on a behaviour (CreateDistribution).
METHOD_SETS = (
    {"GET", "HEAD"},
    {"GET", "HEAD", "OPTIONS"},
    {"DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"},
)
# The status codes an origin group may fail over on (OriginGroupFailoverCriteria).
FAILOVER_CODES = {400, 403, 404, 416, 500, 502, 503, 504}
CAREERS = json.loads(edge.STATIC_CAREERS.read_text())
TUNED = {
    "vetroi:healthCheckInterval": 30,
    "vetroi:healthCheckFailureThreshold": 3,
    "vetroi:failoverRecordTtl": 45,
    "vetroi:originConnectionTimeout": 5,
    "vetroi:originConnectionAttempts": 2,
    "vetroi:wafRateLimit": 250,
    "vetroi:corsOrigins": ["http://localhost:5173"],
    "vetroi:corsAllowedHeaders": ["Content-Type", "X-Trace-Id"],
    "vetroi:corsMaxAgeSeconds": 120,
    "vetroi:functionTimeoutSeconds": 20,
}
DEFAULT_HEADERS = [
    "Content-Type",
    "Authorization",
    "X-Api-Key",
    "X-Amz-Date",
    "X-Amz-Security-Token",
]
ROUTE_METHODS = ["GET", "HEAD", "OPTIONS", "POST"]


@pytest.fixture(scope="module")
def prod() -> Deployment:
    return run_stack("prod")


@pytest.fixture(scope="module")
def backup() -> Deployment:
    return run_stack("backup")


@pytest.fixture(scope="module")
def tuned() -> Deployment:
    """The prod stack with every edge and failover setting moved off its value."""
    return run_stack("prod", overrides=TUNED)


@pytest.fixture(scope="module")
def dev() -> Deployment:
    return run_stack("prod", remove=NO_DOMAIN)


@pytest.fixture(scope="module")
def dev_alone() -> Deployment:
    return run_stack("prod", remove=(*NO_DOMAIN, "vetroi:backupStack"))


def behaviours(distribution: Resource) -> list[dict[str, Any]]:
    return [distribution["defaultCacheBehavior"], *distribution.get("orderedCacheBehaviors", [])]


def origin(distribution: Resource, origin_id: str) -> dict[str, Any]:
    found = [o for o in distribution["origins"] if o["originId"] == origin_id]
    assert len(found) == 1, f"{distribution.name}: origin {origin_id} not found once"
    return found[0]


def failover_record(deployment: Deployment) -> Resource:
    found = [r for r in deployment.of_type(RECORD) if r.get("failoverRoutingPolicies")]
    assert len(found) == 1, f"{deployment.stack}: expected one failover record, found {found}"
    return found[0]


def test_cloudfront_certificate_and_waf_live_in_us_east_1(prod: Deployment):
    """CloudFront's certificate, its validation and the CLOUDFRONT-scoped WAF are in us-east-1."""
    certificate = prod.one("aws:acm/certificate:Certificate", "vetroi-edge")
    issued = prod.one("aws:acm/certificateValidation:CertificateValidation", "vetroi-edge")
    waf = prod.one("aws:wafv2/webAcl:WebAcl")
    distribution = prod.named("vetroi-edge-cdn")

    assert certificate["domainName"] == EDGE_NAME
    assert (certificate.region, issued.region, waf.region) == ("us-east-1",) * 3
    assert waf["scope"] == "CLOUDFRONT"
    validation = prod.named("vetroi-edge-cert-validation")
    assert EDGE_NAME in validation["name"] and validation["zoneId"] == "Z0123456789EXAMPLE"
    # edge.<domain> is certified by prod alone: its record goes with the stack.
    assert not validation.retain_on_delete and not validation.get("allowOverwrite")
    assert issued["validationRecordFqdns"] == [validation["name"].rstrip(".")]
    assert distribution["webAclId"].startswith("arn:aws:wafv2:us-east-1:")
    viewer = distribution["viewerCertificate"]
    assert viewer["acmCertificateArn"] == issued["certificateArn"]
    assert issued["certificateArn"].startswith("arn:aws:acm:us-east-1:")
    assert issued["certificateArn"].endswith(f":{certificate.name}-1a2b3c")
    assert viewer["minimumProtocolVersion"] == "TLSv1.2_2021"
    assert viewer["sslSupportMethod"] == "sni-only"
    assert distribution["aliases"] == [EDGE_NAME]


def test_waf_applies_common_rules_and_the_per_ip_rate_limit(prod: Deployment, tuned: Deployment):
    """AWS's common rule set and a per-IP rate limit taken from the settings."""
    waf = prod.one("aws:wafv2/webAcl:WebAcl")

    rules = {rule["name"]: rule for rule in waf["rules"]}
    managed = rules["aws-common-rules"]["statement"]["managedRuleGroupStatement"]
    assert (managed["vendorName"], managed["name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    rate = rules["per-ip-rate-limit"]["statement"]["rateBasedStatement"]
    assert (rate["limit"], rate["aggregateKeyType"]) == (1000, "IP")
    answer = rules["per-ip-rate-limit"]["action"]["block"]["customResponse"]
    assert answer["responseCode"] == 429
    (body,) = [
        b for b in waf["customResponseBodies"] if b["key"] == answer["customResponseBodyKey"]
    ]
    assert json.loads(body["content"])["error"]["code"] == "rate_limited"
    other = {r["name"]: r for r in tuned.one("aws:wafv2/webAcl:WebAcl")["rules"]}
    assert other["per-ip-rate-limit"]["statement"]["rateBasedStatement"]["limit"] == 250


@pytest.mark.parametrize("stack", ["prod", "backup"])
def test_custom_domain_lives_in_its_own_region(stack: str, prod: Deployment, backup: Deployment):
    """Each stack maps api.<domain> to its stage with a certificate from its own region."""
    deployment = prod if stack == "prod" else backup
    domain = deployment.one("aws:apigateway/domainName:DomainName")
    certificate = deployment.one("aws:acm/certificate:Certificate", "vetroi-failover")
    issued = deployment.one("aws:acm/certificateValidation:CertificateValidation", "failover")
    mapping = deployment.one("aws:apigateway/basePathMapping:BasePathMapping")
    rest_api = deployment.one("aws:apigateway/restApi:RestApi")
    stage = deployment.one("aws:apigateway/stage:Stage")

    assert domain["domainName"] == certificate["domainName"] == API_NAME
    assert domain.region == certificate.region == issued.region == deployment.region
    validation = deployment.named("vetroi-failover-cert-validation")
    assert validation["zoneId"] == "Z0123456789EXAMPLE"
    assert validation["allowOverwrite"] is True
    # Shared by both stacks' certificates: destroying one stack must leave it for the other.
    assert validation.retain_on_delete
    assert issued["validationRecordFqdns"] == [validation["name"].rstrip(".")]
    assert domain["regionalCertificateArn"] == issued["certificateArn"]
    assert domain["endpointConfiguration"]["types"] == "REGIONAL"
    assert domain["securityPolicy"] == "TLS_1_2"
    assert mapping.region == deployment.region
    assert mapping["restApi"] == f"{rest_api.name}-api"
    assert mapping["stageName"] == stage["stageName"]
    assert mapping.get("basePath") in (None, "")


@pytest.mark.parametrize("stack", ["prod", "backup"])
def test_health_check_probes_the_regions_own_endpoint(
    stack: str, prod: Deployment, backup: Deployment
):
    """HTTPS on this region's execute-api host and stage /health, 10 s, threshold 2, latency."""
    deployment = prod if stack == "prod" else backup
    probe = deployment.one(HEALTH_CHECK, "probe")
    rest_api = deployment.one("aws:apigateway/restApi:RestApi")

    assert probe["type"] == "HTTPS"
    assert probe["fqdn"] == f"{rest_api.name}-api.execute-api.{deployment.region}.amazonaws.com"
    assert probe["fqdn"] != API_NAME
    assert probe["resourcePath"] == "/prod/health"
    assert (probe["port"], probe["enableSni"], probe["measureLatency"]) == (443, True, True)
    assert (probe["requestInterval"], probe["failureThreshold"]) == (10, 2)


def test_failover_follows_interval_threshold_and_ttl_settings(tuned: Deployment):
    """The probe and the record take the interval, failure threshold and TTL from the settings."""
    probe = tuned.one(HEALTH_CHECK, "probe")

    assert (probe["requestInterval"], probe["failureThreshold"]) == (30, 3)
    assert failover_record(tuned)["ttl"] == 45
    api = origin(tuned.named("vetroi-edge-cdn"), "api")
    assert (api["connectionTimeout"], api["connectionAttempts"]) == (5, 2)
    assert api["customOriginConfig"]["originReadTimeout"] == 22


def test_failover_pair_is_complete_and_each_half_has_its_health_check(
    prod: Deployment, backup: Deployment
):
    """PRIMARY in prod and SECONDARY in backup, same name and type, each tied to its check."""
    primary, secondary = failover_record(prod), failover_record(backup)

    assert primary["failoverRoutingPolicies"] == [{"type": "PRIMARY"}]
    assert secondary["failoverRoutingPolicies"] == [{"type": "SECONDARY"}]
    for half, deployment in ((primary, prod), (secondary, backup)):
        checks = {f"{c.name}-hc": c for c in deployment.of_type(HEALTH_CHECK)}
        assert half["name"] == API_NAME and half["type"] == "CNAME", half.name
        assert half["ttl"] == 15, half.name
        assert half["zoneId"] == "Z0123456789EXAMPLE", half.name
        assert half["healthCheckId"] in checks, f"{deployment.stack}: record without its check"
        domain = deployment.one("aws:apigateway/domainName:DomainName")
        assert half["records"] == [f"d-{domain.name}.execute-api.{deployment.region}.amazonaws.com"]
    assert primary["setIdentifier"] != secondary["setIdentifier"]
    # The prod half follows the switch, whose only child is the probe of the prod region.
    switch = prod.one(HEALTH_CHECK, "switch")
    assert primary["healthCheckId"] == f"{switch.name}-hc"
    assert switch["type"] == "CALCULATED"
    assert switch["childHealthchecks"] == [f"{prod.one(HEALTH_CHECK, 'probe').name}-hc"]
    assert secondary["healthCheckId"] == f"{backup.one(HEALTH_CHECK, 'probe').name}-hc"
    assert prod.outputs["healthCheckId"] == primary["healthCheckId"]
    assert backup.outputs["healthCheckId"] == secondary["healthCheckId"]


def test_force_failover_makes_the_switch_unhealthy_and_back(prod: Deployment):
    """forceFailover sets the switch's threshold above its one child; false follows the probe."""
    forced = run_stack("prod", overrides={"vetroi:forceFailover": True})

    assert prod.one(HEALTH_CHECK, "switch")["childHealthThreshold"] == 1
    assert forced.one(HEALTH_CHECK, "switch")["childHealthThreshold"] == 2
    # Only the switch changes: nothing regional has to be touched while the primary is down.
    assert forced.one(HEALTH_CHECK, "probe").inputs == prod.one(HEALTH_CHECK, "probe").inputs
    assert failover_record(forced).inputs == failover_record(prod).inputs
    assert "invertHealthcheck" not in forced.one(HEALTH_CHECK, "probe").inputs


def test_distribution_origin_is_the_failover_name(prod: Deployment):
    """The API origin is api.<domain>, HTTPS only with TLS 1.2 and a short connection timeout."""
    distribution = prod.named("vetroi-edge-cdn")
    api = origin(distribution, "api")

    assert api["domainName"] == API_NAME
    assert api.get("originPath", "") == ""
    config = api["customOriginConfig"]
    assert config["originProtocolPolicy"] == "https-only"
    assert config["originSslProtocols"] == ["TLSv1.2"]
    assert (api["connectionTimeout"], api["connectionAttempts"]) == (3, 1)
    # The function's 10 s timeout and 2 s more, not CloudFront's default 30 s.
    assert config["originReadTimeout"] == 12
    assert [r.name for r in prod.of_type(DISTRIBUTION)] == ["vetroi-edge-cdn"]


def test_default_behaviour_allows_every_method_and_caches_nothing(prod: Deployment):
    """All seven methods to the API origin, CachingDisabled, HTTPS redirect."""
    default = prod.named("vetroi-edge-cdn")["defaultCacheBehavior"]

    assert default["targetOriginId"] == "api"
    assert set(default["allowedMethods"]) == {
        "DELETE",
        "GET",
        "HEAD",
        "OPTIONS",
        "PATCH",
        "POST",
        "PUT",
    }
    assert default["cachePolicyId"] == edge.CACHING_DISABLED_POLICY_ID
    assert default["viewerProtocolPolicy"] == "redirect-to-https"


def test_career_behaviour_fails_over_to_the_static_bucket(prod: Deployment):
    """GET /career/* uses the group (api.<domain>, then static bucket) on 5xx, cached by origin."""
    distribution = prod.named("vetroi-edge-cdn")
    (career,) = distribution["orderedCacheBehaviors"]
    (group,) = distribution["originGroups"]
    cache = prod.one("aws:cloudfront/cachePolicy:CachePolicy")

    assert career["pathPattern"] == "/career/*"
    assert career["targetOriginId"] == group["originId"]
    assert [m["originId"] for m in group["members"]] == ["api", "static"]
    assert group["failoverCriteria"]["statusCodes"] == [500, 502, 503, 504]
    assert career["cachePolicyId"] == f"{cache.name}-id"
    assert (cache["minTtl"], cache["defaultTtl"], cache["maxTtl"]) == (0, 0, 86400)
    static = origin(distribution, "static")
    access = prod.one("aws:cloudfront/originAccessControl:OriginAccessControl")
    assert static["originAccessControlId"] == f"{access.name}-id"
    # In the backup region: an outage of the primary must not take its own fallback down.
    assert static["domainName"].endswith(".s3.us-west-2.amazonaws.com")
    assert (access["signingBehavior"], access["signingProtocol"]) == ("always", "sigv4")


@pytest.mark.parametrize("shape", ["prod", "dev", "dev_alone"])
def test_origin_groups_only_on_get_head_options(shape: str, request: pytest.FixtureRequest):
    """Every behaviour that targets an origin group allows GET, HEAD and OPTIONS at most."""
    deployment: Deployment = request.getfixturevalue(shape)

    grouped = 0
    for distribution in deployment.of_type(DISTRIBUTION):
        groups = {g["originId"]: g for g in distribution.get("originGroups", [])}
        for behaviour in behaviours(distribution):
            allowed = set(behaviour["allowedMethods"])
            assert allowed in METHOD_SETS, f"{distribution.name}: CloudFront refuses {allowed}"
            if behaviour["targetOriginId"] in groups:
                grouped += 1
                assert allowed <= {"GET", "HEAD", "OPTIONS"}, distribution.name
        for group in groups.values():
            assert len(group["members"]) == 2, f"{distribution.name}: a group holds two origins"
            codes = set(group["failoverCriteria"]["statusCodes"])
            assert codes <= FAILOVER_CODES, f"{distribution.name}: CloudFront refuses {codes}"
    assert grouped == len(deployment.of_type(DISTRIBUTION))


@pytest.mark.parametrize("shape", ["prod", "dev", "dev_alone"])
def test_no_behaviour_forwards_host(shape: str, request: pytest.FixtureRequest):
    """Every behaviour forwards all viewer headers but Host, and no cache key holds Host."""
    deployment: Deployment = request.getfixturevalue(shape)
    forward = deployment.one("aws:cloudfront/originRequestPolicy:OriginRequestPolicy")
    cache = deployment.one("aws:cloudfront/cachePolicy:CachePolicy")

    headers = forward["headersConfig"]
    assert headers["headerBehavior"] == "allExcept"
    assert headers["headers"]["items"] == ["Host"]
    key = cache["parametersInCacheKeyAndForwardedToOrigin"]["headersConfig"]
    assert key["headerBehavior"] == "none"
    for distribution in deployment.of_type(DISTRIBUTION):
        for behaviour in behaviours(distribution):
            assert behaviour["originRequestPolicyId"] == f"{forward.name}-id", distribution.name
            assert "forwardedValues" not in behaviour, distribution.name


def test_cors_policy_carries_exactly_the_configured_origins(prod: Deployment):
    """The response-headers policy lists the settings' origins, overrides the origin, on all."""
    policy = prod.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    cors = policy["corsConfig"]

    assert cors["accessControlAllowOrigins"]["items"] == [
        "https://vetroi.example.com",
        "https://www.vetroi.example.com",
    ]
    assert cors["originOverride"] is True
    assert cors["accessControlAllowCredentials"] is False
    assert cors["accessControlAllowMethods"]["items"] == ROUTE_METHODS
    assert cors["accessControlAllowHeaders"]["items"] == DEFAULT_HEADERS
    assert cors["accessControlMaxAgeSec"] == 600
    security = policy["securityHeadersConfig"]
    hsts = security["strictTransportSecurity"]
    assert hsts["override"] and hsts["accessControlMaxAgeSec"] >= 31536000
    assert security["contentTypeOptions"]["override"] is True
    assert security["frameOptions"]["frameOption"] == "DENY"
    for behaviour in behaviours(prod.named("vetroi-edge-cdn")):
        assert behaviour["responseHeadersPolicyId"] == f"{policy.name}-id"


def test_cors_policy_follows_the_settings(tuned: Deployment):
    """Other origins in the settings, or any origin, are exactly what the edge allows."""
    anywhere = run_stack("prod", overrides={"vetroi:allowAnyOrigin": True})

    for deployment, expected in ((tuned, ["http://localhost:5173"]), (anywhere, ["*"])):
        policy = deployment.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
        assert policy["corsConfig"]["accessControlAllowOrigins"]["items"] == expected


@pytest.mark.parametrize(
    ("shape", "headers", "max_age"), [("prod", DEFAULT_HEADERS, 600), ("tuned", None, None)]
)
def test_every_cors_answer_carries_the_configured_headers_and_max_age(
    shape: str, headers: list[str] | None, max_age: int | None, request: pytest.FixtureRequest
):
    """Edge policy, API Gateway's own errors and the functions' preflights say the same."""
    deployment: Deployment = request.getfixturevalue(shape)
    headers = headers or TUNED["vetroi:corsAllowedHeaders"]
    max_age = max_age or TUNED["vetroi:corsMaxAgeSeconds"]
    policy = deployment.one("aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy")
    cors = policy["corsConfig"]
    answers = deployment.of_type("aws:apigateway/response:Response")
    functions = deployment.of_type("aws:lambda/function:Function")

    assert cors["accessControlAllowHeaders"]["items"] == headers
    assert cors["accessControlMaxAgeSec"] == max_age
    assert cors["accessControlAllowMethods"]["items"] == ROUTE_METHODS
    assert {a["responseType"] for a in answers} == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for answer in answers:
        parameters = answer["responseParameters"]
        allowed = parameters["gatewayresponse.header.Access-Control-Allow-Headers"]
        assert allowed == f"'{','.join(headers)}'", answer.name
        methods = parameters["gatewayresponse.header.Access-Control-Allow-Methods"]
        assert methods == "'GET,OPTIONS,POST'", answer.name
    api_functions = [f for f in functions if "VETROI_CORS_ORIGINS" in _variables(f)]
    assert api_functions
    for function in api_functions:
        variables = _variables(function)
        assert variables["VETROI_CORS_ALLOWED_HEADERS"] == ",".join(headers), function.name
        assert variables["VETROI_CORS_MAX_AGE"] == str(max_age), function.name


def _variables(function: Resource) -> dict[str, str]:
    return (function.get("environment") or {}).get("variables") or {}


def test_static_bucket_holds_every_career_and_only_cloudfront_reads_it(prod: Deployment):
    """Private bucket, one object per career at career/<socCode>, readable by the distribution."""
    objects = {o["key"]: o for o in prod.of_type("aws:s3/bucketObjectv2:BucketObjectv2")}
    access = prod.named("vetroi-edge-static-public-access")
    policy = json.loads(prod.named("vetroi-edge-static-policy")["policy"])
    distribution = prod.named("vetroi-edge-cdn")

    assert CAREERS, "the bundled careers.json is empty"
    assert set(objects) == {f"career/{code}" for code in CAREERS}
    sample = objects["career/11-1011.00"]
    assert json.loads(sample["content"]) == CAREERS["11-1011.00"]
    assert sample["contentType"] == "application/json"
    assert "stale-if-error" in sample["cacheControl"]
    assert all(access[flag] is True for flag in ("blockPublicAcls", "blockPublicPolicy"))
    assert all(access[flag] is True for flag in ("ignorePublicAcls", "restrictPublicBuckets"))
    allow = {s["Action"]: s for s in policy["Statement"] if s["Effect"] == "Allow"}
    bucket_arn = f"arn:aws:s3:::{prod.named('vetroi-edge-static').id}"
    distribution_arn = f"arn:aws:cloudfront:us-east-2:123456789012:{distribution.name}-1a2b3c"
    # Reading objects, and listing so that a missing career is 404 rather than 403.
    assert set(allow) == {"s3:GetObject", "s3:ListBucket"}
    assert allow["s3:GetObject"]["Resource"] == f"{bucket_arn}/*"
    assert allow["s3:ListBucket"]["Resource"] == bucket_arn
    for statement in allow.values():
        assert statement["Principal"] == {"Service": "cloudfront.amazonaws.com"}
        assert statement["Condition"]["StringEquals"]["AWS:SourceArn"] == [distribution_arn]
    deny = [s for s in policy["Statement"] if s["Effect"] == "Deny"]
    assert deny[0]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("shape", ["prod", "dev"])
def test_static_bucket_and_its_parts_live_in_the_backup_region(
    shape: str, request: pytest.FixtureRequest
):
    """The bucket, its policy, access block, encryption and objects are all in us-west-2."""
    deployment: Deployment = request.getfixturevalue(shape)
    parts = [
        r
        for r in deployment
        if r.typ.startswith("aws:s3/")
        and (r.name.startswith("vetroi-edge-static") or r.name.startswith("vetroi-edge-career-"))
    ]
    bucket = deployment.named("vetroi-edge-static")
    kinds = {r.typ.split(":")[-1] for r in parts}

    assert bucket.region == "us-west-2"
    assert {"BucketPolicy", "BucketPublicAccessBlock", "BucketObjectv2"} <= kinds
    assert "BucketServerSideEncryptionConfiguration" in kinds
    assert {r.name: r.region for r in parts if r.region != "us-west-2"} == {}
    # The access logs stay in the stack's own region.
    assert deployment.named("vetroi-edge-logs").region == "us-east-2"
    assert deployment.outputs["staticBucketRegion"] == "us-west-2"
    statics = [o for d in deployment.of_type(DISTRIBUTION) for o in d["origins"]]
    statics = [o for o in statics if o["originId"] == "static"]
    assert statics and all(
        o["domainName"] == f"{bucket.id}.s3.us-west-2.amazonaws.com" for o in statics
    )


@pytest.mark.parametrize(
    ("shape", "origins", "headers", "max_age"),
    [
        ("prod", ["https://vetroi.example.com", "https://www.vetroi.example.com"], None, 600),
        ("tuned", ["http://localhost:5173"], TUNED["vetroi:corsAllowedHeaders"], 120),
    ],
)
def test_static_bucket_answers_preflights_as_the_edge_does(
    shape: str,
    origins: list[str],
    headers: list[str] | None,
    max_age: int,
    request: pytest.FixtureRequest,
):
    """A preflight that fails over to the bucket gets the edge's origins, headers and max age."""
    deployment: Deployment = request.getfixturevalue(shape)
    cors = deployment.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", "static")
    bucket = deployment.named("vetroi-edge-static")

    assert cors["bucket"] == bucket.id and cors.region == "us-west-2"
    (rule,) = cors["corsRules"]
    assert rule["allowedOrigins"] == origins
    assert rule["allowedMethods"] == ["GET", "HEAD"]
    assert rule["allowedHeaders"] == (headers or DEFAULT_HEADERS)
    assert rule["maxAgeSeconds"] == max_age


def test_static_bucket_allows_any_origin_with_the_edge():
    anywhere = run_stack("prod", overrides={"vetroi:allowAnyOrigin": True})

    cors = anywhere.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", "static")
    assert cors["corsRules"][0]["allowedOrigins"] == ["*"]


def test_missing_static_data_warns_and_deploys(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Without careers.json the bucket is empty and the program says so at deploy time."""
    monkeypatch.setattr(edge, "STATIC_CAREERS", tmp_path / "careers.json")

    deployment = run_stack("prod")

    assert deployment.of_type("aws:s3/bucketObjectv2:BucketObjectv2") == []
    assert any("static-fallback bucket is empty" in w for w in deployment.warnings)


def test_static_data_with_a_bad_code_is_refused(tmp_path: Path):
    """A key that is not an O*NET-SOC code would never be read, so loading stops on it."""
    bad = tmp_path / "careers.json"
    bad.write_text(json.dumps({"11-1011.00": {}, "chief": {}}))

    with pytest.raises(ValueError, match="chief"):
        edge.load_static_careers(bad)


def test_access_logs_go_to_the_log_bucket(prod: Deployment):
    """Standard logs to a private bucket that takes CloudFront's ACL-written objects."""
    distribution = prod.named("vetroi-edge-cdn")
    ownership = prod.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    logs = prod.named("vetroi-edge-logs")

    assert distribution["loggingConfig"]["bucket"] == f"{logs.name}-1a2b3c.s3.amazonaws.com"
    assert ownership["rule"]["objectOwnership"] == "BucketOwnerPreferred"
    assert prod.named("vetroi-edge-logs-public-access")["blockPublicPolicy"] is True
    assert logs.retain_on_delete


def test_alias_records_point_the_public_name_at_cloudfront(prod: Deployment):
    """edge.<domain> A and AAAA aliases to the distribution."""
    aliases = [r for r in prod.of_type(RECORD) if r["name"] == EDGE_NAME]

    assert sorted(r["type"] for r in aliases) == ["A", "AAAA"]
    for record in aliases:
        (target,) = record["aliases"]
        assert target["name"] == "d-vetroi-edge-cdn.cloudfront.net"
        assert target["zoneId"] == edge.CLOUDFRONT_ZONE_ID
    assert prod.outputs["edgeUrl"] == f"https://{EDGE_NAME}"


def test_backup_stack_declares_no_edge(backup: Deployment):
    """CloudFront, its WAF and the static bucket belong to prod only."""
    for typ in (
        DISTRIBUTION,
        "aws:wafv2/webAcl:WebAcl",
        "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy",
        "aws:s3/bucketObjectv2:BucketObjectv2",
    ):
        assert backup.of_type(typ) == [], typ
    assert "edgeUrl" not in backup.outputs


@pytest.mark.parametrize("stack", ["prod", "backup"])
def test_budget_outputs_match_the_stack_files(stack: str, prod: Deployment, backup: Deployment):
    """10 s x 2 + 15 s TTL + CloudFront's DNS caching for POST; 3 s x 1 attempt for GET."""
    deployment = prod if stack == "prod" else backup

    assert deployment.outputs["postFailoverBudgetSeconds"] == 10 * 2 + 15 + 60
    assert CLOUDFRONT_DNS_CACHE_SECONDS == 60
    assert deployment.outputs["getFallbackBudgetSeconds"] == 3 * 1


def test_budget_moves_with_every_setting_and_warns_over_the_limit(tuned: Deployment):
    """Each term follows its setting; over failoverBudgetLimit (120 s here) the stack warns."""
    assert tuned.outputs["postFailoverBudgetSeconds"] == 30 * 3 + 45 + 60
    assert tuned.outputs["getFallbackBudgetSeconds"] == 5 * 2
    assert any("POST failover budget is 195 s, over" in w for w in tuned.warnings)


def test_budget_within_the_limit_does_not_warn(prod: Deployment, backup: Deployment):
    """The stack files accept 120 s, so 95 s gives no warning; 94 s of limit does."""
    tight = run_stack("backup", overrides={"vetroi:failoverBudgetLimit": 94})

    for deployment in (prod, backup):
        assert not any("failover budget" in w for w in deployment.warnings), deployment.stack
    assert any("POST failover budget is 95 s, over" in w for w in tight.warnings)


def test_development_shape_falls_back_to_the_backup_then_static(dev: Deployment):
    """No domain: primary endpoint, then the backup stack's endpoint, then the static data."""
    reference = dev.one("pulumi:pulumi:StackReference")
    outer = dev.named("vetroi-edge-cdn")
    inner = dev.named("vetroi-edge-fallback")
    backup_url = urlparse(REFERENCED_OUTPUTS["apiUrl"])
    rest_api = dev.one("aws:apigateway/restApi:RestApi")

    assert reference["name"] == "organization/vetroi/backup"
    api = origin(outer, "api")
    assert api["domainName"] == f"{rest_api.name}-api.execute-api.us-east-2.amazonaws.com"
    assert api["originPath"] == "/prod"
    fallback = origin(outer, "fallback")
    assert fallback["domainName"] == "d-vetroi-edge-fallback.cloudfront.net"
    # The fallback distribution may wait out a hung backup first: twice the API's wait.
    assert fallback["customOriginConfig"]["originReadTimeout"] == 2 * 12
    assert [m["originId"] for m in outer["originGroups"][0]["members"]] == ["api", "fallback"]
    backup_api = origin(inner, "api")
    assert (backup_api["domainName"], backup_api["originPath"]) == (backup_url.hostname, "/prod")
    assert [m["originId"] for m in inner["originGroups"][0]["members"]] == ["api", "static"]
    # Two API origins before the static data; POST cannot fail over at all.
    assert dev.outputs["getFallbackBudgetSeconds"] == 2 * 3
    assert dev.outputs["postFailoverBudgetSeconds"] is None
    assert any("POST requests cannot fail over" in w for w in dev.warnings)


def test_fallback_distribution_has_its_own_web_acl_without_a_per_ip_limit(dev: Deployment):
    """Its viewers are the main distribution's edge servers: counting them per IP would block
    every browser behind one of them during a failover. The main ACL keeps the limit."""
    main_acl = dev.named("vetroi-edge-waf")
    fallback_acl = dev.named("vetroi-edge-fallback-waf")
    outer = dev.named("vetroi-edge-cdn")
    inner = dev.named("vetroi-edge-fallback")

    assert len(dev.of_type("aws:wafv2/webAcl:WebAcl")) == 2
    assert outer["webAclId"] == main_acl.state["arn"]
    assert inner["webAclId"] == fallback_acl.state["arn"]
    assert (fallback_acl.region, fallback_acl["scope"]) == ("us-east-1", "CLOUDFRONT")
    assert fallback_acl["defaultAction"] == {"allow": {}}
    (rule,) = fallback_acl["rules"]
    managed = rule["statement"]["managedRuleGroupStatement"]
    assert (managed["vendorName"], managed["name"]) == ("AWS", "AWSManagedRulesCommonRuleSet")
    assert not any("rateBasedStatement" in r["statement"] for r in fallback_acl["rules"])
    assert any("rateBasedStatement" in r["statement"] for r in main_acl["rules"])
    metrics = {r["visibilityConfig"]["metricName"] for r in main_acl["rules"]}
    assert rule["visibilityConfig"]["metricName"] not in metrics


def test_development_shape_has_no_dns_layer(dev: Deployment):
    """No certificate, custom domain, health check or record; CloudFront's own certificate."""
    for typ in (
        "aws:acm/certificate:Certificate",
        "aws:apigateway/domainName:DomainName",
        HEALTH_CHECK,
        RECORD,
    ):
        assert dev.of_type(typ) == [], typ
    assert "healthCheckId" not in dev.outputs
    for distribution in dev.of_type(DISTRIBUTION):
        assert distribution["viewerCertificate"] == {"cloudfrontDefaultCertificate": True}
        assert not distribution.get("aliases")
    static_policy = json.loads(dev.named("vetroi-edge-static-policy")["policy"])
    readers = [s for s in static_policy["Statement"] if s["Effect"] == "Allow"]
    assert len(readers[0]["Condition"]["StringEquals"]["AWS:SourceArn"]) == 2


def test_development_shape_without_backup_falls_back_to_static(dev_alone: Deployment):
    """Without backupStack there is no stack reference and the group ends at the static data."""
    (distribution,) = dev_alone.of_type(DISTRIBUTION)

    assert dev_alone.of_type("pulumi:pulumi:StackReference") == []
    members = [m["originId"] for m in distribution["originGroups"][0]["members"]]
    assert members == ["api", "static"]
    assert dev_alone.outputs["getFallbackBudgetSeconds"] == 3


def test_development_shape_forced_failover_serves_from_the_backup():
    """forceFailover without a domain points CloudFront's API origin at the backup endpoint."""
    forced = run_stack("prod", remove=NO_DOMAIN, overrides={"vetroi:forceFailover": True})

    (distribution,) = forced.of_type(DISTRIBUTION)
    assert (
        origin(distribution, "api")["domainName"] == urlparse(REFERENCED_OUTPUTS["apiUrl"]).hostname
    )
    assert [m["originId"] for m in distribution["originGroups"][0]["members"]] == [
        "api",
        "static",
    ]


@pytest.mark.parametrize(
    ("stack", "overrides", "remove", "key", "expected"),
    [
        ("prod", {}, ("vetroi:hostedZoneId",), "hostedZoneId", "zone id"),
        (
            "prod",
            {"vetroi:healthCheckFailureThreshold": 0},
            (),
            "healthCheckFailureThreshold",
            "1 to 10",
        ),
        (
            "backup",
            {"vetroi:healthCheckFailureThreshold": 11},
            (),
            "healthCheckFailureThreshold",
            "1 to 10",
        ),
        ("prod", {"vetroi:healthCheckInterval": 20}, (), "healthCheckInterval", "10 or 30"),
        ("backup", {"vetroi:healthCheckInterval": 60}, (), "healthCheckInterval", "10 or 30"),
        ("backup", {"vetroi:forceFailover": True}, (), "forceFailover", "prod stack"),
        (
            "prod",
            {"vetroi:forceFailover": True},
            (*NO_DOMAIN, "vetroi:backupStack"),
            "forceFailover",
            "backupStack",
        ),
        ("prod", {"vetroi:corsOrigins": []}, (), "corsOrigins", "at least one origin"),
        ("prod", {"vetroi:corsMaxAgeSeconds": -1}, (), "corsMaxAgeSeconds", "0 to 86400"),
        ("prod", {"vetroi:corsMaxAgeSeconds": 86401}, (), "corsMaxAgeSeconds", "0 to 86400"),
        ("prod", {"vetroi:corsMaxAgeSeconds": "10m"}, (), "corsMaxAgeSeconds", "whole number"),
        (
            "prod",
            {"vetroi:corsAllowedHeaders": ["Content-Type", "X Trace"]},
            (),
            "corsAllowedHeaders",
            "an HTTP header name",
        ),
        (
            "backup",
            {"vetroi:corsAllowedHeaders": ["Content-Type", "X-Quote'"]},
            (),
            "corsAllowedHeaders",
            "an HTTP header name",
        ),
        (
            "prod",
            {"vetroi:corsAllowedHeaders": ["Content-Type", "content-type"]},
            (),
            "corsAllowedHeaders",
            "each header name once",
        ),
        ("prod", {"vetroi:corsAllowedHeaders": []}, (), "corsAllowedHeaders", "Content-Type"),
        (
            "prod",
            {"vetroi:corsAllowedHeaders": "Content-Type"},
            (),
            "corsAllowedHeaders",
            "JSON list",
        ),
    ],
)
def test_bad_edge_settings_stop_the_program(
    stack: str, overrides: dict[str, Any], remove: tuple[str, ...], key: str, expected: str
):
    """Each bad edge or failover setting stops the program with the one settings error."""
    with pytest.raises(SettingsError) as error:
        run_stack(stack, overrides=overrides, remove=remove)

    problems = [p for p in error.value.problems if p.key == key]
    assert len(problems) == 1, f"{key} not reported exactly once: {error.value}"
    assert expected in problems[0].expected, str(error.value)

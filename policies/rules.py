"""The rules this platform must never break, each written once.

Every rule has a name, a one-line description (naming the matching checkov, cfn_nag or AWS
Config/Guard rule where one exists, so reviewers can relate them), a severity, the fix, and a
check over the neutral view of `policies.model`. `policies.pack` turns them into CrossGuard
policies for `pulumi preview`; `policies.plan` runs them offline against both stacks.

Properties are pulumi-aws 7 input names (camelCase). A message names the resource, the property
and what to set, so the operator can fix it without reading this file.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from policies.model import (
    UNKNOWN,
    Context,
    Finding,
    NotChecked,
    Resource,
    ResourceCheck,
    Rule,
    Severity,
    Stack,
    StackCheck,
    as_list,
    known,
    lookup,
)

# Resource types (pulumi-aws 7 tokens). S3's split resources keep their deprecated V2 names
# as aliases in pulumi-aws 7, so a rule accepts either spelling.
FUNCTION = "aws:lambda/function:Function"
ALIAS = "aws:lambda/alias:Alias"
PERMISSION = "aws:lambda/permission:Permission"
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
IAM_POLICY = "aws:iam/policy:Policy"
ROLE_POLICY_ATTACHMENT = "aws:iam/rolePolicyAttachment:RolePolicyAttachment"
# The other two ways a managed policy reaches a role.
POLICY_ATTACHMENT = "aws:iam/policyAttachment:PolicyAttachment"
ROLE_POLICY_ATTACHMENTS = "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive"
# Where each resource that attaches managed policies names them.
ATTACHED_POLICY_ARNS = {
    ROLE: "managedPolicyArns",
    ROLE_POLICY_ATTACHMENT: "policyArn",
    POLICY_ATTACHMENT: "policyArn",
    ROLE_POLICY_ATTACHMENTS: "policyArns",
}
REST_API = "aws:apigateway/restApi:RestApi"
GATEWAY_RESPONSE = "aws:apigateway/response:Response"
STAGE = "aws:apigateway/stage:Stage"
METHOD_SETTINGS = "aws:apigateway/methodSettings:MethodSettings"
INTEGRATION = "aws:apigateway/integration:Integration"
TABLE = "aws:dynamodb/table:Table"
BUCKETS = ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
)
VERSIONING = (
    "aws:s3/bucketVersioning:BucketVersioning",
    "aws:s3/bucketVersioningV2:BucketVersioningV2",
)
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
ORIGIN_REQUEST_POLICY = "aws:cloudfront/originRequestPolicy:OriginRequestPolicy"
CACHE_POLICY = "aws:cloudfront/cachePolicy:CachePolicy"
RESPONSE_HEADERS_POLICY = "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
RECORD = "aws:route53/record:Record"
HEALTH_CHECK = "aws:route53/healthCheck:HealthCheck"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
STACK = "pulumi:pulumi:Stack"

# The Lambda runtimes the project builds for (components.settings.LAMBDA_PYTHON_VERSIONS).
SUPPORTED_RUNTIMES = ("python3.12", "python3.13", "python3.14")
# CloudFront's viewer security policies that refuse anything older than TLS 1.2
# (TLSv1.2_2018 ... TLSv1.2_2025, TLSv1.3_2025); TLSv1, TLSv1_2016 and TLSv1.1_2016 do not.
TLS12_POLICY = re.compile(r"^TLSv1\.[23]_\d{4}$")
# Methods CloudFront origin failover retries; an origin group only works for these.
FAILOVER_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# CloudFront's managed origin request policies that forward the viewer's Host header:
# AllViewer and AllViewerAndCloudFrontHeaders-2022-06.
MANAGED_ALL_VIEWER = "216adef6-5c7f-47e4-b989-5492eafa07d3"
MANAGED_ALL_VIEWER_AND_CLOUDFRONT = "33f36d7e-f396-46d9-90e0-52428a34d9dc"
HOST_FORWARDING_MANAGED_POLICIES = frozenset(
    {MANAGED_ALL_VIEWER, MANAGED_ALL_VIEWER_AND_CLOUDFRONT}
)
# Metrics CloudWatch publishes only in us-east-1 (Route53 health checks, CloudFront, billing).
GLOBAL_NAMESPACES = frozenset({"AWS/Route53", "AWS/CloudFront", "AWS/Billing"})
GLOBAL_REGION = "us-east-1"
# AWS's managed policies that grant everything (or everything but IAM).
ADMIN_POLICY_ARNS = re.compile(
    r"^arn:aws[\w-]*:iam::aws:policy/(AdministratorAccess|PowerUserAccess)$"
)
# Route53 health check defaults when the properties are unset.
DEFAULT_INTERVAL = 30
DEFAULT_THRESHOLD = 3
# An alias record to an AWS endpoint takes that endpoint's TTL, which AWS sets to 60 s.
ALIAS_RECORD_TTL = 60
# Names of environment variables that hold a credential rather than name where one is kept.
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|TOKEN|API_?KEY|PRIVATE_?KEY|SECRET_?KEY|ACCESS_?KEY|"
    r"CLIENT_?SECRET|CREDENTIALS?)",
    re.IGNORECASE,
)
# Values that are credentials whatever the variable is called.
SECRET_VALUE = re.compile(
    r"(\b(AKIA|ASIA)[0-9A-Z]{16}\b|-----BEGIN [A-Z ]*PRIVATE KEY-----|://[^/\s:@]+:[^/\s@]+@)"
)

RULES: list[Rule] = []


def resource_rule(
    name: str, description: str, severity: Severity, remediation: str, types: Iterable[str]
) -> Callable[[ResourceCheck], ResourceCheck]:
    """Register a rule that checks one resource of `types` at a time."""

    def register(check: ResourceCheck) -> ResourceCheck:
        RULES.append(Rule(name, description, severity, remediation, check, None, frozenset(types)))
        return check

    return register


def stack_rule(
    name: str, description: str, severity: Severity, remediation: str, types: Iterable[str]
) -> Callable[[StackCheck], StackCheck]:
    """Register a rule over the whole stack; `types` are the resources it is about."""

    def register(check: StackCheck) -> StackCheck:
        RULES.append(Rule(name, description, severity, remediation, None, check, frozenset(types)))
        return check

    return register


# ---------------------------------------------------------------------------------------------
# Functions


@resource_rule(
    "lambda-no-layers",
    "Lambda functions carry every dependency in their own zip and use no layers.",
    Severity.HIGH,
    "Remove `layers` from the function and add the dependency to functions/requirements.txt.",
    [FUNCTION],
)
def _no_layers(fn: Resource, _: Context) -> Iterator[str]:
    layers = as_list(fn.get("layers"))
    if layers:
        yield (
            f"{fn.label()} uses layers {layers}: a layer is built, versioned and deleted "
            "apart from the code that imports it. Remove `layers` and ship the dependency in "
            "the zip."
        )


@resource_rule(
    "lambda-xray-active",
    "Lambda functions trace with X-Ray in Active mode (checkov CKV_AWS_50).",
    Severity.MEDIUM,
    "Set `tracingConfig.mode` to Active on the function.",
    [FUNCTION],
)
def _xray(fn: Resource, _: Context) -> Iterator[str]:
    mode = fn.get("tracingConfig.mode")
    if mode != "Active":
        yield f"{fn.label()} has tracingConfig.mode = {mode!r}: set it to 'Active'."


@resource_rule(
    "lambda-supported-runtime",
    "Lambda functions run a supported Python runtime, 3.12 or newer (checkov CKV_AWS_363).",
    Severity.HIGH,
    "Set `vetroi:pythonVersion` to 3.12 or newer, which sets the function's `runtime`.",
    [FUNCTION],
)
def _runtime(fn: Resource, _: Context) -> Iterator[str]:
    runtime = fn.get("runtime")
    if runtime not in SUPPORTED_RUNTIMES:
        yield (
            f"{fn.label()} has runtime = {runtime!r}: use one of {', '.join(SUPPORTED_RUNTIMES)}."
        )


@resource_rule(
    "log-group-retention",
    "Every log group has a retention period (checkov CKV_AWS_66).",
    Severity.MEDIUM,
    "Set `retentionInDays` on the log group (vetroi:logRetentionDays for the functions).",
    [LOG_GROUP],
)
def _retention(group: Resource, _: Context) -> Iterator[str]:
    days = group.get("retentionInDays")
    # Numbers reach a policy pack as floats (protobuf), so 30.0 is as good as 30.
    if not _positive(days):
        yield (
            f"{group.label()} keeps logs forever (retentionInDays = {days!r}): set "
            "retentionInDays, e.g. 30."
        )


@stack_rule(
    "lambda-log-group",
    "Each Lambda function writes to a log group the stack declares, so its retention is set.",
    Severity.MEDIUM,
    "Declare the function's log group (/aws/lambda/<name>, or `loggingConfig.logGroup`) "
    "before the function, with `retentionInDays`.",
    [FUNCTION],
)
def _function_log_group(stack: Stack, _: Context) -> Iterator[Finding]:
    groups = {(g.get("name"), g.region) for g in stack.of(LOG_GROUP)}
    for fn in stack.of(FUNCTION):
        name = fn.get("name")
        group = fn.get("loggingConfig.logGroup") or (f"/aws/lambda/{name}" if name else None)
        if group is None:
            yield Finding(
                f"{fn.label()} has neither a name nor loggingConfig.logGroup, so its log group "
                "cannot be known: set loggingConfig.logGroup to the group the stack declares.",
                fn,
            )
        elif (group, fn.region) not in groups:
            yield Finding(
                f"{fn.label()} writes to log group {group!r}, which this stack does not declare "
                f"in {fn.region}: Lambda would create it without retention. Declare it.",
                fn,
            )


def _invoked_reference(uri: str) -> str | None:
    """The function reference in an API Gateway Lambda integration URI, if it is one."""
    match = re.search(r":lambda:path/[^/]*/?functions/(.+)/invocations$", uri)
    return match.group(1) if match else None


def _qualifier(reference: str) -> str | None:
    """`live` in `arn:aws:lambda:r:a:function:name:live` or `name:live`; None if unqualified."""
    parts = reference.split(":")
    if reference.startswith("arn:"):
        return parts[7] if len(parts) == 8 else None
    return parts[1] if len(parts) == 2 else None


@stack_rule(
    "lambda-alias-invoked",
    "API Gateway invokes each function through an alias that points at a published version, "
    "never the unqualified function or $LATEST.",
    Severity.HIGH,
    "Point the integration `uri` at the alias's invokeArn, grant the permission with "
    "`qualifier` set to the alias, and give the alias a published `functionVersion`.",
    [INTEGRATION, ALIAS, PERMISSION],
)
def _alias_invoked(stack: Stack, _: Context) -> Iterator[Finding]:
    aliases = {a.get("name") for a in stack.of(ALIAS)}
    for alias in stack.of(ALIAS):
        if alias.get("functionVersion") == "$LATEST":
            yield Finding(
                f"{alias.label()} points at $LATEST: give it a published version "
                "(publish the function and use its `version`).",
                alias,
            )
    for integration in stack.of(INTEGRATION):
        uri = integration.get("uri")
        reference = _invoked_reference(uri) if isinstance(uri, str) else None
        if reference is None:
            continue
        qualifier = _qualifier(reference)
        if qualifier is None or qualifier == "$LATEST":
            yield Finding(
                f"{integration.label()} invokes {reference!r} without an alias: set `uri` to "
                "the `live` alias's invokeArn.",
                integration,
            )
        elif qualifier not in aliases:
            yield Finding(
                f"{integration.label()} invokes qualifier {qualifier!r}, which is not an alias "
                "this stack declares: invoke the `live` alias.",
                integration,
            )
    for permission in stack.of(PERMISSION):
        if permission.get("principal") != "apigateway.amazonaws.com":
            continue
        qualifier = permission.get("qualifier")
        function = None
        if not qualifier:
            function = known(permission.get("function"), "function")
            qualifier = _qualifier(str(function))
        if not qualifier or qualifier == "$LATEST":
            yield Finding(
                f"{permission.label()} lets API Gateway invoke the unqualified function "
                f"{function!r}: set `qualifier` to the alias it invokes.",
                permission,
            )


def _statements(document: Any) -> list[Mapping[str, Any]]:
    if isinstance(document, str):
        document = json.loads(document)
    return [s for s in as_list(lookup(document, "Statement")) if isinstance(s, Mapping)]


def _wildcard_statements(document: Any) -> Iterator[str]:
    """Describe each Allow statement that grants a wildcard action on every resource."""
    for statement in _statements(known(document, "policy")):
        if statement.get("Effect") != "Allow":
            continue
        actions = [str(a) for a in as_list(statement.get("Action"))]
        resources = [str(r) for r in as_list(statement.get("Resource"))]
        any_action = "NotAction" in statement or any("*" in a for a in actions)
        any_resource = "NotResource" in statement or "*" in resources
        if any_action and any_resource:
            granted = actions or [f"NotAction {statement.get('NotAction')}"]
            yield f"Allow {granted} on {resources or ['NotResource']}"


@resource_rule(
    "iam-no-wildcard-admin",
    "No role grants a wildcard action on every resource (checkov CKV_AWS_62, CKV_AWS_63, "
    "CKV2_AWS_51; cfn_nag F3).",
    Severity.CRITICAL,
    "Name the exact actions (dynamodb:GetItem) and resources (the table's ARN) the code uses.",
    [ROLE_POLICY, IAM_POLICY, *ATTACHED_POLICY_ARNS],
)
def _wildcards(resource: Resource, _: Context) -> Iterator[str]:
    arns_key = ATTACHED_POLICY_ARNS.get(resource.type)
    for arn in as_list(resource.get(arns_key)) if arns_key else []:
        if isinstance(arn, str) and ADMIN_POLICY_ARNS.match(arn):
            yield f"{resource.label()} attaches {arn}: attach a least-privilege policy instead."
    if resource.type == ROLE:
        documents = [p.get("policy") for p in as_list(resource.get("inlinePolicies"))]
    elif resource.type in (ROLE_POLICY, IAM_POLICY):
        documents = [resource.get("policy")]
    else:
        return  # an attachment: it names managed policies only
    for document in documents:
        if document is None:
            continue
        for grant in _wildcard_statements(document):
            yield f"{resource.label()} grants {grant}: name the actions and resources."


@resource_rule(
    "lambda-no-plain-secrets",
    "No credential sits in a Lambda environment variable (checkov CKV_AWS_45).",
    Severity.CRITICAL,
    "Keep the credential in Secrets Manager and pass its ARN (VETROI_ONET_SECRET) instead.",
    [FUNCTION],
)
def _plain_secrets(fn: Resource, _: Context) -> Iterator[str]:
    variables = lookup(fn.props, "environment.variables", {}, strict=False)
    if variables is UNKNOWN:
        raise NotChecked("the function's environment is not known until its inputs are")
    for key, value in variables.items():
        if SECRET_NAME.search(key):
            yield (
                f"{fn.label()} sets environment variable {key}, which holds a credential in "
                "clear: move it to Secrets Manager and pass the secret's ARN."
            )
        elif isinstance(value, str) and SECRET_VALUE.search(value):
            yield (
                f"{fn.label()} sets environment variable {key} to a value that is a "
                "credential: move it to Secrets Manager and pass the secret's ARN."
            )


# ---------------------------------------------------------------------------------------------
# API Gateway


@resource_rule(
    "apigw-regional-endpoint",
    "REST APIs use a regional endpoint, so each region answers on its own and CloudFront fronts "
    "them.",
    Severity.MEDIUM,
    "Set `endpointConfiguration.types` to ['REGIONAL'].",
    [REST_API],
)
def _regional(api: Resource, _: Context) -> Iterator[str]:
    types = as_list(api.get("endpointConfiguration.types"))
    if types != ["REGIONAL"]:
        yield (
            f"{api.label()} has endpointConfiguration.types = {types or 'unset (EDGE)'}: set "
            "it to ['REGIONAL']."
        )


@stack_rule(
    "apigw-cors-on-gateway-errors",
    "API Gateway's own 4XX and 5XX answers (DEFAULT_4XX, DEFAULT_5XX) carry the CORS headers.",
    Severity.HIGH,
    "Declare aws.apigateway.Response for DEFAULT_4XX and DEFAULT_5XX with "
    "`responseParameters` setting gatewayresponse.header.Access-Control-Allow-Origin.",
    [REST_API],
)
def _gateway_cors(stack: Stack, _: Context) -> Iterator[Finding]:
    header = "gatewayresponse.header.Access-Control-Allow-Origin"
    for api in stack.of(REST_API):
        responses = stack.referring(api, [GATEWAY_RESPONSE], "restApiId")
        for kind in ("DEFAULT_4XX", "DEFAULT_5XX"):
            found = [r for r in responses if r.get("responseType") == kind]
            if not found:
                yield Finding(
                    f"{api.label()} has no {kind} gateway response: its own errors reach the "
                    f"browser without CORS headers. Declare one with {header}.",
                    api,
                )
            for response in found:
                if not lookup(response.props, "responseParameters", {}).get(header):
                    yield Finding(
                        f"{response.label()} ({kind}) does not set {header} in "
                        "responseParameters: add it.",
                        response,
                    )


@resource_rule(
    "apigw-stage-access-logs",
    "API stages write access logs to a log group (checkov CKV_AWS_76).",
    Severity.MEDIUM,
    "Set `accessLogSettings` (destinationArn of a log group, and a JSON format) on the stage.",
    [STAGE],
)
def _access_logs(stage: Resource, _: Context) -> Iterator[str]:
    destination = stage.get("accessLogSettings.destinationArn")
    log_format = stage.get("accessLogSettings.format")
    if not destination or not log_format:
        yield (
            f"{stage.label()} has no access logs (accessLogSettings.destinationArn and "
            "format): set both."
        )


@resource_rule(
    "apigw-stage-tracing",
    "API stages trace requests with X-Ray (checkov CKV_AWS_73).",
    Severity.MEDIUM,
    "Set `xrayTracingEnabled` to true on the stage.",
    [STAGE],
)
def _stage_tracing(stage: Resource, _: Context) -> Iterator[str]:
    if stage.get("xrayTracingEnabled") is not True:
        yield f"{stage.label()} has xrayTracingEnabled unset or false: set it to true."


@stack_rule(
    "apigw-stage-throttling",
    "Every API stage has throttling limits on all its methods, so a burst cannot exhaust "
    "the account's Lambda concurrency.",
    Severity.HIGH,
    "Declare aws.apigateway.MethodSettings for the stage with methodPath '*/*' and "
    "`settings.throttlingRateLimit` / `throttlingBurstLimit` above 0.",
    [STAGE],
)
def _throttling(stack: Stack, _: Context) -> Iterator[Finding]:
    for stage in stack.of(STAGE):
        api = known(stage.get("restApi"), "restApi")
        settings = [
            s
            for s in stack.of(METHOD_SETTINGS)
            if s.get("restApi") == api
            and s.get("stageName") == stage.get("stageName")
            and s.get("methodPath") == "*/*"
        ]
        if not settings:
            yield Finding(
                f"{stage.label()} has no method settings for '*/*': declare MethodSettings "
                "with throttlingRateLimit and throttlingBurstLimit.",
                stage,
            )
        for setting in settings:
            rate = setting.get("settings.throttlingRateLimit")
            burst = setting.get("settings.throttlingBurstLimit")
            if not _positive(rate) or not _positive(burst):
                yield Finding(
                    f"{setting.label()} has throttlingRateLimit = {rate!r} and "
                    f"throttlingBurstLimit = {burst!r}: set both above 0.",
                    setting,
                )


def _positive(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and value > 0


# ---------------------------------------------------------------------------------------------
# DynamoDB


@resource_rule(
    "dynamodb-pitr",
    "DynamoDB tables have point-in-time recovery (checkov CKV_AWS_28).",
    Severity.HIGH,
    "Set `pointInTimeRecovery.enabled` to true on the table.",
    [TABLE],
)
def _pitr(table: Resource, _: Context) -> Iterator[str]:
    if table.get("pointInTimeRecovery.enabled") is not True:
        yield f"{table.label()} has no point-in-time recovery: set pointInTimeRecovery.enabled."


@resource_rule(
    "dynamodb-deletion-protection",
    "DynamoDB tables refuse deletion (AWS Config dynamodb-table-deletion-protection-enabled).",
    Severity.HIGH,
    "Set `deletionProtectionEnabled` to true on the table.",
    [TABLE],
)
def _deletion_protection(table: Resource, _: Context) -> Iterator[str]:
    if table.get("deletionProtectionEnabled") is not True:
        yield f"{table.label()} can be deleted: set deletionProtectionEnabled to true."


@resource_rule(
    "dynamodb-stream",
    "DynamoDB tables stream NEW_AND_OLD_IMAGES, which global tables need.",
    Severity.HIGH,
    "Set `streamEnabled` to true and `streamViewType` to NEW_AND_OLD_IMAGES.",
    [TABLE],
)
def _stream(table: Resource, _: Context) -> Iterator[str]:
    enabled, view = table.get("streamEnabled"), table.get("streamViewType")
    if enabled is not True or view != "NEW_AND_OLD_IMAGES":
        yield (
            f"{table.label()} has streamEnabled = {enabled!r}, streamViewType = {view!r}: set "
            "true and NEW_AND_OLD_IMAGES, or every deploy tries to turn the stream off."
        )


@resource_rule(
    "dynamodb-replica-other-region",
    "The global table has a replica in the other stack's region, so that region can serve alone.",
    Severity.CRITICAL,
    "Add `replicas=[{regionName: <vetroi:otherRegion>}]` to the table.",
    [TABLE],
)
def _replica(table: Resource, context: Context) -> Iterator[str]:
    regions = [lookup(r, "regionName") for r in as_list(table.get("replicas"))]
    elsewhere = [r for r in regions if r and r != table.region]
    if context.other_region and context.other_region not in regions:
        yield (
            f"{table.label()} has replicas in {regions or 'no region'}: add one in "
            f"{context.other_region}, the other stack's region."
        )
    elif not elsewhere:
        yield f"{table.label()} has no replica outside its own region: add one."


@resource_rule(
    "dynamodb-protected",
    "The table is `protect`ed, so no `pulumi destroy` or replacement deletes it.",
    Severity.CRITICAL,
    "Pass `opts=pulumi.ResourceOptions(protect=True)` to the table.",
    [TABLE],
)
def _table_protected(table: Resource, _: Context) -> Iterator[str]:
    if not table.protect:
        yield f"{table.label()} is not protected: set the resource option protect=True."


# ---------------------------------------------------------------------------------------------
# S3


def _bucket_configs(stack: Stack, bucket: Resource, types: Iterable[str]) -> list[Resource]:
    return stack.referring(bucket, types, "bucket")


@stack_rule(
    "s3-public-access-blocked",
    "Every bucket blocks all public access (checkov CKV2_AWS_6, CKV_AWS_53 to CKV_AWS_56).",
    Severity.CRITICAL,
    "Declare aws.s3.BucketPublicAccessBlock for the bucket with all four settings true.",
    BUCKETS,
)
def _public_access(stack: Stack, _: Context) -> Iterator[Finding]:
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    for bucket in stack.of(*BUCKETS):
        blocks = _bucket_configs(stack, bucket, [PUBLIC_ACCESS_BLOCK])
        if not blocks:
            yield Finding(
                f"{bucket.label()} has no BucketPublicAccessBlock: declare one with "
                f"{', '.join(flags)} true.",
                bucket,
            )
        for block in blocks:
            off = [f for f in flags if block.get(f) is not True]
            if off:
                yield Finding(f"{block.label()} leaves {', '.join(off)} off: set them true.", block)


@stack_rule(
    "s3-encryption",
    "Every bucket encrypts at rest with a declared default (checkov CKV_AWS_19; CKV_AWS_145 "
    "with aws:kms).",
    Severity.HIGH,
    "Declare aws.s3.BucketServerSideEncryptionConfiguration for the bucket (aws:kms for "
    "personal data).",
    BUCKETS,
)
def _encryption(stack: Stack, _: Context) -> Iterator[Finding]:
    algorithms = {"AES256", "aws:kms", "aws:kms:dsse"}
    for bucket in stack.of(*BUCKETS):
        configs = _bucket_configs(stack, bucket, ENCRYPTION)
        chosen = [
            lookup(rule, "applyServerSideEncryptionByDefault.sseAlgorithm")
            for config in configs
            for rule in as_list(config.get("rules"))
        ]
        if not any(a in algorithms for a in chosen):
            yield Finding(
                f"{bucket.label()} declares no default encryption ({chosen or 'none'}): declare "
                "a BucketServerSideEncryptionConfiguration with sseAlgorithm aws:kms or AES256.",
                bucket,
            )


@stack_rule(
    "s3-versioning",
    "Every bucket keeps object versions (checkov CKV_AWS_21).",
    Severity.HIGH,
    "Declare aws.s3.BucketVersioning for the bucket with status Enabled.",
    BUCKETS,
)
def _versioning(stack: Stack, _: Context) -> Iterator[Finding]:
    for bucket in stack.of(*BUCKETS):
        statuses = [
            v.get("versioningConfiguration.status")
            for v in _bucket_configs(stack, bucket, VERSIONING)
        ]
        if "Enabled" not in statuses:
            yield Finding(
                f"{bucket.label()} has versioning {statuses or 'undeclared'}: declare "
                "BucketVersioning with versioningConfiguration.status = Enabled.",
                bucket,
            )


def _refuses_plain_http(statement: Mapping[str, Any], bucket: str) -> bool:
    condition = lookup(statement, "Condition.Bool", {}) or {}
    secure = condition.get("aws:SecureTransport")
    principal = statement.get("Principal")
    everyone = principal == "*" or lookup(principal, "AWS") == "*"
    actions = {str(a) for a in as_list(statement.get("Action"))}
    resources = {str(r) for r in as_list(statement.get("Resource"))}
    arn = f"arn:aws:s3:::{bucket}"
    return (
        statement.get("Effect") == "Deny"
        and str(secure).lower() == "false"
        and everyone
        and bool(actions & {"s3:*", "*"})
        and {arn, f"{arn}/*"} <= resources
    )


@stack_rule(
    "s3-tls-only",
    "Every bucket policy refuses requests without TLS (AWS Config/Guard "
    "S3_BUCKET_SSL_REQUESTS_ONLY).",
    Severity.HIGH,
    "Declare aws.s3.BucketPolicy denying s3:* to everyone on the bucket and its objects when "
    "aws:SecureTransport is false.",
    BUCKETS,
)
def _tls_only(stack: Stack, _: Context) -> Iterator[Finding]:
    for bucket in stack.of(*BUCKETS):
        name = known(bucket.get("bucket") or bucket.id, "bucket")
        policies = _bucket_configs(stack, bucket, [BUCKET_POLICY])
        statements = [s for p in policies for s in _statements(known(p.get("policy"), "policy"))]
        if not any(_refuses_plain_http(s, name) for s in statements):
            yield Finding(
                f"{bucket.label()} has no policy statement denying s3:* on arn:aws:s3:::{name} "
                "and its objects when aws:SecureTransport is false: add one.",
                bucket,
            )


def _is_data_bucket(bucket: Resource) -> bool:
    return any(parent.startswith("vetroi:data:") for parent in bucket.parents)


@resource_rule(
    "s3-data-bucket-retained",
    "The data buckets (DD-214 uploads, O*NET cache) are protected and retained when the stack "
    "is deleted.",
    Severity.CRITICAL,
    "Pass `opts=pulumi.ResourceOptions(protect=True, retain_on_delete=True)` to the bucket.",
    BUCKETS,
)
def _retained(bucket: Resource, _: Context) -> Iterator[str]:
    if not _is_data_bucket(bucket):
        return
    if not bucket.protect:
        yield f"{bucket.label()} holds data but is not protected: set protect=True."
    if bucket.retain_on_delete is None:
        if bucket.protect:
            raise NotChecked(
                "Pulumi does not send retainOnDelete to policy packs; `make plan` checks it"
            )
    elif not bucket.retain_on_delete:
        yield f"{bucket.label()} holds data but is not retained on delete: set retain_on_delete."


# ---------------------------------------------------------------------------------------------
# CloudFront


def _behaviours(distribution: Resource) -> list[tuple[str, Mapping[str, Any]]]:
    """(path pattern, behaviour) for the default behaviour and every ordered one."""
    found: list[tuple[str, Mapping[str, Any]]] = []
    default = distribution.get("defaultCacheBehavior")
    if isinstance(default, Mapping):
        found.append(("default (*)", default))
    for ordered in as_list(distribution.get("orderedCacheBehaviors")):
        if isinstance(ordered, Mapping):
            found.append((str(ordered.get("pathPattern")), ordered))
    return found


@resource_rule(
    "cloudfront-tls12",
    "CloudFront accepts viewers on TLS 1.2 or newer only (checkov CKV_AWS_174).",
    Severity.HIGH,
    "Use an ACM certificate (us-east-1) and set `viewerCertificate.minimumProtocolVersion` to "
    "TLSv1.2_2021.",
    [DISTRIBUTION],
)
def _tls12(distribution: Resource, _: Context) -> Iterator[str]:
    if distribution.get("viewerCertificate.cloudfrontDefaultCertificate") is True:
        yield (
            f"{distribution.label()} uses the default *.cloudfront.net certificate, which "
            "accepts TLS 1.0: give it an ACM certificate with minimumProtocolVersion "
            "TLSv1.2_2021."
        )
        return
    version = distribution.get("viewerCertificate.minimumProtocolVersion")
    if not isinstance(version, str) or not TLS12_POLICY.match(version):
        yield (
            f"{distribution.label()} has viewerCertificate.minimumProtocolVersion = "
            f"{version!r}: set TLSv1.2_2021."
        )


@resource_rule(
    "cloudfront-https",
    "CloudFront talks HTTPS to viewers and to every custom origin (checkov CKV_AWS_34; AWS "
    "Config cloudfront-traffic-to-origin-encrypted, cloudfront-no-deprecated-ssl-protocols).",
    Severity.HIGH,
    "Set each behaviour's `viewerProtocolPolicy` to redirect-to-https and each custom origin's "
    "`originProtocolPolicy` to https-only with `originSslProtocols` ['TLSv1.2'].",
    [DISTRIBUTION],
)
def _https(distribution: Resource, _: Context) -> Iterator[str]:
    for path, behaviour in _behaviours(distribution):
        policy = behaviour.get("viewerProtocolPolicy")
        if policy not in ("redirect-to-https", "https-only"):
            yield (
                f"{distribution.label()} behaviour {path} has viewerProtocolPolicy = "
                f"{policy!r}: set redirect-to-https."
            )
    for origin in as_list(distribution.get("origins")):
        custom = lookup(origin, "customOriginConfig")
        if not isinstance(custom, Mapping):
            continue
        origin_id = lookup(origin, "originId")
        protocol = custom.get("originProtocolPolicy")
        if protocol != "https-only":
            yield (
                f"{distribution.label()} origin {origin_id} has originProtocolPolicy = "
                f"{protocol!r}: set https-only."
            )
        weak = [p for p in as_list(custom.get("originSslProtocols")) if p != "TLSv1.2"]
        if weak:
            yield (
                f"{distribution.label()} origin {origin_id} allows {weak}: set "
                "originSslProtocols to ['TLSv1.2']."
            )


@resource_rule(
    "cloudfront-waf",
    "CloudFront is behind a WAF web ACL (checkov CKV_AWS_68; AWS Config "
    "cloudfront-associated-with-waf).",
    Severity.HIGH,
    "Set `webAclId` to the ARN of a wafv2 WebAcl with scope CLOUDFRONT in us-east-1.",
    [DISTRIBUTION],
)
def _waf(distribution: Resource, _: Context) -> Iterator[str]:
    if not distribution.get("webAclId"):
        yield f"{distribution.label()} has no webAclId: attach the WAF web ACL."


@resource_rule(
    "edge-in-us-east-1",
    "CloudFront's certificate and WAF web ACL live in us-east-1, the only region CloudFront "
    "reads them from.",
    Severity.HIGH,
    "Create the ACM certificate and the CLOUDFRONT-scope WebAcl with region='us-east-1'.",
    [DISTRIBUTION, WEB_ACL],
)
def _edge_region(resource: Resource, _: Context) -> Iterator[str]:
    if resource.type == WEB_ACL:
        if resource.get("scope") == "CLOUDFRONT" and resource.region != GLOBAL_REGION:
            yield f"{resource.label()} has scope CLOUDFRONT: create it in {GLOBAL_REGION}."
        return
    certificate = resource.get("viewerCertificate.acmCertificateArn")
    if isinstance(certificate, str) and f":{GLOBAL_REGION}:" not in certificate:
        yield (
            f"{resource.label()} uses certificate {certificate}: CloudFront needs one issued "
            f"in {GLOBAL_REGION}."
        )


def _policy_by_id(stack: Stack, policy_id: Any, policy_type: str) -> Resource | None:
    if not isinstance(policy_id, str):
        return None
    for policy in stack.of(policy_type):
        if policy_id in policy.refs():
            return policy
    return None


@stack_rule(
    "cloudfront-cors-policy",
    "Every CloudFront behaviour carries the stack's CORS response-headers policy, which "
    "overrides what the origin sent (checkov CKV2_AWS_32).",
    Severity.CRITICAL,
    "Set `responseHeadersPolicyId` on every behaviour to the ResponseHeadersPolicy with "
    "`corsConfig` (originOverride true).",
    [DISTRIBUTION],
)
def _cors_policy(stack: Stack, _: Context) -> Iterator[Finding]:
    for distribution in stack.of(DISTRIBUTION):
        for path, behaviour in _behaviours(distribution):
            policy_id = known(behaviour.get("responseHeadersPolicyId"), "responseHeadersPolicyId")
            policy = _policy_by_id(stack, policy_id, RESPONSE_HEADERS_POLICY)
            if policy is None:
                yield Finding(
                    f"{distribution.label()} behaviour {path} has responseHeadersPolicyId = "
                    f"{policy_id!r}, not a CORS policy this stack declares: set the stack's.",
                    distribution,
                )
                continue
            cors = policy.get("corsConfig")
            if not isinstance(cors, Mapping) or cors.get("originOverride") is not True:
                yield Finding(
                    f"{policy.label()} (behaviour {path}) has no corsConfig with "
                    "originOverride = true: add it, so the edge decides CORS.",
                    policy,
                )


@resource_rule(
    "cloudfront-origin-group-methods",
    "Origin groups are used only by behaviours limited to GET, HEAD and OPTIONS, the methods "
    "CloudFront fails over.",
    Severity.HIGH,
    "Give the behaviour `allowedMethods` ['GET', 'HEAD', 'OPTIONS'], or target the origin "
    "itself instead of the group.",
    [DISTRIBUTION],
)
def _origin_group_methods(distribution: Resource, _: Context) -> Iterator[str]:
    groups = {lookup(g, "originId") for g in as_list(distribution.get("originGroups"))}
    for path, behaviour in _behaviours(distribution):
        if behaviour.get("targetOriginId") not in groups:
            continue
        methods = {str(m).upper() for m in as_list(behaviour.get("allowedMethods"))}
        extra = sorted(methods - FAILOVER_METHODS)
        if extra:
            yield (
                f"{distribution.label()} behaviour {path} targets origin group "
                f"{behaviour.get('targetOriginId')} but allows {extra}: CloudFront cannot fail "
                "those over. Limit allowedMethods to GET, HEAD, OPTIONS."
            )


def _header_names(value: Any) -> set[str]:
    """Header names as CloudFront compares them: case-insensitively."""
    return {str(h).lower() for h in as_list(value)}


def _policy_forwards_host(policy: Resource, headers_config: str) -> str | None:
    """Why an origin request or cache policy's `headers_config` forwards Host, or None.

    CloudFront's header behaviours: `allViewer` and `allViewerAndWhitelistCloudFront` forward
    every viewer header, `allExcept` every header not listed, `whitelist` only those listed;
    a cache policy's key headers are forwarded to the origin as well.
    """
    kind = policy.get(f"{headers_config}.headerBehavior")
    names = _header_names(policy.get(f"{headers_config}.headers.items"))
    forwards = (
        kind in ("allViewer", "allViewerAndWhitelistCloudFront")
        or (kind == "allExcept" and "host" not in names)
        or (kind == "whitelist" and "host" in names)
    )
    if forwards:
        return (
            f"{policy.label()} ({headers_config}: headerBehavior {kind}, headers {sorted(names)})"
        )
    return None


def _forwards_host(behaviour: Mapping[str, Any], stack: Stack) -> str | None:
    """Why the behaviour forwards the viewer's Host header, or None if it does not.

    A policy that this stack does not declare counts as not forwarding Host, unless it is one of
    CloudFront's managed policies that do (AllViewer, AllViewerAndCloudFrontHeaders-2022-06): a
    policy shared from elsewhere cannot be read here.
    """
    headers = _header_names(lookup(behaviour, "forwardedValues.headers"))
    if "host" in headers or "*" in headers:
        return f"forwardedValues.headers = {sorted(headers)}"
    request_policy_id = behaviour.get("originRequestPolicyId")
    if request_policy_id:
        if known(request_policy_id, "originRequestPolicyId") in HOST_FORWARDING_MANAGED_POLICIES:
            return f"the managed origin request policy {request_policy_id}"
        policy = _policy_by_id(stack, request_policy_id, ORIGIN_REQUEST_POLICY)
        reason = _policy_forwards_host(policy, "headersConfig") if policy else None
        if reason:
            return reason
    cache_policy_id = behaviour.get("cachePolicyId")
    if cache_policy_id is not None:
        cache_policy_id = known(cache_policy_id, "cachePolicyId")
    cache_policy = _policy_by_id(stack, cache_policy_id, CACHE_POLICY)
    if cache_policy is not None:
        return _policy_forwards_host(
            cache_policy, "parametersInCacheKeyAndForwardedToOrigin.headersConfig"
        )
    return None


@stack_rule(
    "cloudfront-no-host-to-apigw",
    "CloudFront never forwards the viewer's Host header to an API Gateway origin, which "
    "answers 403 when it does.",
    Severity.CRITICAL,
    "Use an origin request policy with headerBehavior allExcept listing Host, or whitelist "
    "without Host (or the managed AllViewerExceptHostHeader), and keep Host out of the cache "
    "policy's key.",
    [DISTRIBUTION],
)
def _no_host(stack: Stack, _: Context) -> Iterator[Finding]:
    for distribution in stack.of(DISTRIBUTION):
        custom = {
            lookup(o, "originId")
            for o in as_list(distribution.get("origins"))
            if isinstance(lookup(o, "customOriginConfig"), Mapping)
        }
        groups = {
            lookup(g, "originId"): {lookup(m, "originId") for m in as_list(lookup(g, "members"))}
            for g in as_list(distribution.get("originGroups"))
        }
        for path, behaviour in _behaviours(distribution):
            target = behaviour.get("targetOriginId")
            if not ({target} | groups.get(target, set())) & custom:
                continue
            reason = _forwards_host(behaviour, stack)
            if reason:
                yield Finding(
                    f"{distribution.label()} behaviour {path} forwards Host to its API origin "
                    f"through {reason}: API Gateway answers 403. Forward everything but Host.",
                    distribution,
                )


# ---------------------------------------------------------------------------------------------
# Route53


def _failover_records(stack: Stack) -> list[Resource]:
    return [r for r in stack.of(RECORD) if as_list(r.get("failoverRoutingPolicies"))]


@stack_rule(
    "route53-failover-health-check",
    "Each failover record is tied to a health check the stack declares.",
    Severity.CRITICAL,
    "Set `healthCheckId` on the record to the HealthCheck probing that region's /health.",
    [RECORD],
)
def _failover_health(stack: Stack, _: Context) -> Iterator[Finding]:
    for record in _failover_records(stack):
        check_id = record.get("healthCheckId")
        if not check_id:
            yield Finding(
                f"{record.label()} is a failover record without healthCheckId: Route53 would "
                "never fail it over. Tie it to its region's health check.",
                record,
            )
        elif _policy_by_id(stack, check_id, HEALTH_CHECK) is None:
            yield Finding(
                f"{record.label()} points at health check {check_id!r}, which this stack does "
                "not declare: declare it here, so the check lives and dies with the record.",
                record,
            )


def probes(stack: Stack, check: Resource, depth: int = 0) -> list[Resource]:
    """The checks that probe an endpoint behind `check`: itself, or a CALCULATED check's children.

    A CALCULATED check (the manual failover switch) turns unhealthy when its children do, so
    its detection time is theirs.
    """
    if check.get("type") != "CALCULATED":
        return [check]
    found: list[Resource] = []
    for child_id in as_list(check.get("childHealthchecks")):
        child = _policy_by_id(stack, child_id, HEALTH_CHECK)
        if child is not None and depth < 5:
            found += probes(stack, child, depth + 1)
    return found


def detection_seconds(probe: Resource) -> int:
    """Worst case before Route53 calls the endpoint unhealthy: interval x failure threshold."""
    interval = probe.get("requestInterval") or DEFAULT_INTERVAL
    threshold = probe.get("failureThreshold") or DEFAULT_THRESHOLD
    return int(interval) * int(threshold)


def failover_budget(record: Resource, detection: int) -> int:
    """Seconds until Route53 answers with the other region: detection plus the record's TTL.

    CloudFront's own DNS caching comes on top and is not published, so the stacks add their
    own allowance in their exported figure; this is the part the resources decide.
    """
    ttl = record.get("ttl") or (ALIAS_RECORD_TTL if record.get("aliases") else 0)
    return detection + int(ttl)


# Stack exports (seconds) that hold the stack's own POST failover budget, when it has one.
BUDGET_EXPORTS = ("postFailoverBudgetSeconds",)


@stack_rule(
    "failover-post-budget",
    "POST traffic reaches the backup region within the failover budget (health-check interval "
    "x threshold + record TTL, and the stack's exported figure).",
    Severity.HIGH,
    "Lower vetroi:healthCheckInterval (10), vetroi:healthCheckFailureThreshold or "
    "vetroi:failoverRecordTtl, or raise vetroi:failoverBudgetLimit knowingly.",
    [RECORD],
)
def _budget(stack: Stack, context: Context) -> Iterator[Finding]:
    limit = context.failover_budget_limit
    for record in _failover_records(stack):
        check = _policy_by_id(stack, record.get("healthCheckId"), HEALTH_CHECK)
        if check is None:
            continue  # route53-failover-health-check reports it
        probing = probes(stack, check)
        if not probing:
            yield Finding(
                f"{record.label()} uses CALCULATED health check {check.name!r}, whose children "
                "are not in this stack: the budget cannot be known. Declare the probe here.",
                record,
            )
            continue
        slowest = max(probing, key=detection_seconds)
        budget = failover_budget(record, detection_seconds(slowest))
        if budget > limit:
            yield Finding(
                f"{record.label()} fails over in {budget} s at worst ({slowest.label()} every "
                f"{slowest.get('requestInterval') or DEFAULT_INTERVAL:g} s x "
                f"{slowest.get('failureThreshold') or DEFAULT_THRESHOLD:g} failures + TTL), "
                f"over the {limit:g} s budget (vetroi:failoverBudgetLimit).",
                record,
            )
    for key in BUDGET_EXPORTS:
        exported: Any = stack.outputs.get(key)
        if _positive(exported) and float(exported) > limit:
            yield Finding(
                f"the stack exports {key} = {exported:g} s, over the {limit:g} s budget "
                "(vetroi:failoverBudgetLimit): lower healthCheckInterval, "
                "healthCheckFailureThreshold or failoverRecordTtl, or raise the limit in the "
                "stack's settings if that figure is accepted."
            )


# ---------------------------------------------------------------------------------------------
# Monitoring


def _arn_region(arn: str) -> str | None:
    parts = arn.split(":")
    return parts[3] if len(parts) > 3 and arn.startswith("arn:") else None


@resource_rule(
    "alarm-has-action",
    "Every alarm notifies someone: actions enabled, an action in its own region "
    "(checkov CKV_AWS_319; AWS Config cloudwatch-alarm-action-check).",
    Severity.HIGH,
    "Set `alarmActions` (and okActions) to the region's alert topic and leave actionsEnabled on.",
    [METRIC_ALARM],
)
def _alarm_action(alarm: Resource, _: Context) -> Iterator[str]:
    # A topic created in the same preview has no ARN yet: it still counts as an action.
    actions = as_list(lookup(alarm.props, "alarmActions", strict=False))
    if alarm.get("actionsEnabled") is False:
        yield f"{alarm.label()} has actionsEnabled = false: nobody would be told. Enable it."
    if not actions:
        yield f"{alarm.label()} has no alarmActions: set the region's alert topic."
    for action in actions:
        if not isinstance(action, str):
            continue
        region = _arn_region(action)
        if action.startswith("arn:aws:sns:") and alarm.region and region != alarm.region:
            yield (
                f"{alarm.label()} notifies {action} in {region}: CloudWatch only notifies "
                f"topics in its own region, use the {alarm.region} topic."
            )


def _alarm_namespaces(alarm: Resource) -> set[str]:
    namespaces = {alarm.get("namespace")}
    for query in as_list(alarm.get("metricQueries")):
        namespaces.add(lookup(query, "metric.namespace"))
    return {n for n in namespaces if isinstance(n, str)}


@resource_rule(
    "alarm-global-metrics-us-east-1",
    "Alarms on Route53 health checks and CloudFront are in us-east-1, where those metrics are.",
    Severity.HIGH,
    "Create the alarm (and its topic) with region='us-east-1'.",
    [METRIC_ALARM],
)
def _global_alarm(alarm: Resource, _: Context) -> Iterator[str]:
    global_ones = sorted(_alarm_namespaces(alarm) & GLOBAL_NAMESPACES)
    if global_ones and alarm.region != GLOBAL_REGION:
        yield (
            f"{alarm.label()} watches {', '.join(global_ones)}, published only in "
            f"{GLOBAL_REGION}: it would stay INSUFFICIENT_DATA. Create it in {GLOBAL_REGION}."
        )

"""The policy pack: every rule on synthetic resources that keep and break it, the pack as the
Pulumi CLI loads it, the offline plan on the real stacks, and the preview workflow."""

from __future__ import annotations

import ast
import copy
import dataclasses
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

import grpc
import pytest
import yaml
from google.protobuf import empty_pb2, struct_pb2
from pulumi.runtime.proto import analyzer_pb2, analyzer_pb2_grpc
from pulumi_policy.proxy import UNKNOWN_OBJECT_VALUE, UNKNOWN_STRING_VALUE

from components import settings as stack_settings
from policies import plan
from policies import rules as r
from policies.model import Context, Resource, Stack, lookup
from tests import program

ROOT = Path(__file__).resolve().parent.parent
REGION, OTHER, GLOBAL = "us-east-2", "us-west-2", "us-east-1"
ACCOUNT = "123456789012"
CONTEXT = Context(stack="test", other_region=OTHER, failover_budget_limit=60)
DATA = ("vetroi:data:GlobalData",)
API_URI = (
    f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/"
    f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vetroi-test-recommend:live/invocations"
)
ALL_METHODS = ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"]
CORS_HEADER = "gatewayresponse.header.Access-Control-Allow-Origin"


def res(
    typ: str,
    name: str,
    props: dict[str, Any],
    *,
    region: str = REGION,
    protect: bool = False,
    retain: bool = False,
    parents: tuple[str, ...] = (),
    id: str | None = None,
) -> Resource:
    return Resource(typ, name, props, region, protect, retain, "", parents, id or f"{name}-id")


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def bucket(name: str, physical: str, *, data: bool) -> list[Resource]:
    """A bucket with every companion resource the S3 rules ask for."""
    arn = f"arn:aws:s3:::{physical}"
    deny_plain_http = {
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [arn, f"{arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }
    options: dict[str, Any] = {"parents": DATA, "protect": True, "retain": True} if data else {}
    return [
        res(r.BUCKETS[0], name, {"bucket": physical, "arn": arn}, id=physical, **options),
        res(
            r.PUBLIC_ACCESS_BLOCK,
            f"{name}-public-access",
            {
                "bucket": physical,
                "blockPublicAcls": True,
                "blockPublicPolicy": True,
                "ignorePublicAcls": True,
                "restrictPublicBuckets": True,
            },
        ),
        res(
            r.ENCRYPTION[0],
            f"{name}-encryption",
            {
                "bucket": physical,
                "rules": [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}],
            },
        ),
        res(
            r.VERSIONING[0],
            f"{name}-versioning",
            {"bucket": physical, "versioningConfiguration": {"status": "Enabled"}},
        ),
        res(
            r.BUCKET_POLICY,
            f"{name}-policy",
            {"bucket": physical, "policy": policy(deny_plain_http)},
        ),
    ]


def healthy() -> Stack:
    """A small stack of every kind of resource the rules look at, keeping every rule."""
    behaviour = {
        "targetOriginId": "api",
        "viewerProtocolPolicy": "redirect-to-https",
        "allowedMethods": ALL_METHODS,
        "responseHeadersPolicyId": "headers-id",
        "originRequestPolicyId": "forward-id",
    }
    resources = [
        res(
            r.FUNCTION,
            "recommend-function",
            {
                "name": "vetroi-test-recommend",
                "runtime": "python3.12",
                "tracingConfig": {"mode": "Active"},
                "loggingConfig": {"logGroup": "/aws/lambda/vetroi-test-recommend"},
                "environment": {
                    "variables": {
                        "VETROI_TABLE": "vetroi-data",
                        "VETROI_ONET_SECRET": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:o",
                        "VETROI_ONET_BASE_URL": "https://services.onetcenter.org/ws",
                    }
                },
            },
        ),
        res(
            r.LOG_GROUP,
            "recommend-logs",
            {"name": "/aws/lambda/vetroi-test-recommend", "retentionInDays": 30.0},
        ),
        res(
            r.ALIAS,
            "recommend-live",
            {"name": "live", "functionName": "vetroi-test-recommend", "functionVersion": "3"},
        ),
        res(r.INTEGRATION, "recommend-integration", {"type": "AWS_PROXY", "uri": API_URI}),
        res(
            r.PERMISSION,
            "recommend-invoke",
            {
                "function": "vetroi-test-recommend",
                "qualifier": "live",
                "principal": "apigateway.amazonaws.com",
            },
        ),
        res(
            r.ROLE,
            "recommend-role",
            {"assumeRolePolicy": policy({"Effect": "Allow", "Action": "sts:AssumeRole"})},
        ),
        res(
            r.ROLE_POLICY,
            "recommend-policy",
            {
                "policy": policy(
                    {
                        "Effect": "Allow",
                        "Action": ["dynamodb:GetItem", "dynamodb:PutItem"],
                        "Resource": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/vetroi-data",
                    },
                    # X-Ray takes no resource ARNs: a named action on "*" is fine.
                    {"Effect": "Allow", "Action": ["xray:PutTraceSegments"], "Resource": "*"},
                    {"Effect": "Deny", "Action": "*", "Resource": "*"},
                )
            },
        ),
        res(
            r.ROLE_POLICY_ATTACHMENT,
            "logging-role-logs",
            {
                "policyArn": "arn:aws:iam::aws:policy/service-role/"
                "AmazonAPIGatewayPushToCloudWatchLogs"
            },
        ),
        res(r.REST_API, "api", {"endpointConfiguration": {"types": ["REGIONAL"]}}, id="api-id"),
        *[
            res(
                r.GATEWAY_RESPONSE,
                f"api-{kind.lower()}",
                {
                    "restApiId": "api-id",
                    "responseType": kind,
                    "responseParameters": {CORS_HEADER: "'https://vetroi.example.com'"},
                },
            )
            for kind in ("DEFAULT_4XX", "DEFAULT_5XX")
        ],
        res(
            r.STAGE,
            "api-stage",
            {
                "restApi": "api-id",
                "stageName": "prod",
                "xrayTracingEnabled": True,
                "accessLogSettings": {
                    "destinationArn": f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:access",
                    "format": '{"requestId":"$context.requestId"}',
                },
            },
        ),
        res(
            r.METHOD_SETTINGS,
            "api-method-settings",
            {
                "restApi": "api-id",
                "stageName": "prod",
                "methodPath": "*/*",
                "settings": {"throttlingRateLimit": 100.0, "throttlingBurstLimit": 200.0},
            },
        ),
        res(
            r.TABLE,
            "table",
            {
                "name": "vetroi-data",
                "pointInTimeRecovery": {"enabled": True},
                "deletionProtectionEnabled": True,
                "streamEnabled": True,
                "streamViewType": "NEW_AND_OLD_IMAGES",
                "replicas": [{"regionName": OTHER}],
            },
            protect=True,
        ),
        *bucket("uploads", "vetroi-uploads", data=True),
        # Not data: the edge's static copy can be rebuilt, so it need not be retained.
        *bucket("static", "vetroi-static", data=False),
        res(
            r.DISTRIBUTION,
            "cdn",
            {
                "viewerCertificate": {
                    "acmCertificateArn": f"arn:aws:acm:{GLOBAL}:{ACCOUNT}:certificate/abc",
                    "minimumProtocolVersion": "TLSv1.2_2021",
                    "sslSupportMethod": "sni-only",
                },
                "webAclId": f"arn:aws:wafv2:{GLOBAL}:{ACCOUNT}:global/webacl/edge/1",
                "origins": [
                    {
                        "originId": "api",
                        "domainName": "api.vetroi.example.com",
                        "customOriginConfig": {
                            "originProtocolPolicy": "https-only",
                            "originSslProtocols": ["TLSv1.2"],
                            "httpPort": 80,
                            "httpsPort": 443,
                        },
                    },
                    {
                        "originId": "static",
                        "domainName": "vetroi-static.s3.us-east-2.amazonaws.com",
                        "originAccessControlId": "oac-id",
                    },
                ],
                "originGroups": [
                    {
                        "originId": "career",
                        "members": [{"originId": "api"}, {"originId": "static"}],
                        "failoverCriteria": {"statusCodes": [500, 502, 503, 504]},
                    }
                ],
                "defaultCacheBehavior": behaviour,
                "orderedCacheBehaviors": [
                    {
                        **behaviour,
                        "pathPattern": "/career/*",
                        "targetOriginId": "career",
                        "allowedMethods": ["GET", "HEAD", "OPTIONS"],
                    }
                ],
            },
        ),
        res(
            r.RESPONSE_HEADERS_POLICY,
            "headers",
            {
                "corsConfig": {
                    "originOverride": True,
                    "accessControlAllowOrigins": {"items": ["https://vetroi.example.com"]},
                }
            },
            id="headers-id",
        ),
        # Everything but Host, as the edge declares it.
        res(
            r.ORIGIN_REQUEST_POLICY,
            "forward",
            {"headersConfig": {"headerBehavior": "allExcept", "headers": {"items": ["Host"]}}},
            id="forward-id",
        ),
        res(r.WEB_ACL, "waf", {"scope": "CLOUDFRONT"}, region=GLOBAL),
        res(
            r.HEALTH_CHECK,
            "probe",
            {
                "type": "HTTPS",
                "resourcePath": "/prod/health",
                "requestInterval": 10.0,
                "failureThreshold": 2.0,
            },
            id="probe-hc",
        ),
        res(
            r.RECORD,
            "failover",
            {
                "name": "api.vetroi.example.com",
                "type": "CNAME",
                "ttl": 15.0,
                "setIdentifier": "primary",
                "failoverRoutingPolicies": [{"type": "PRIMARY"}],
                "healthCheckId": "probe-hc",
            },
        ),
        res(
            r.METRIC_ALARM,
            "api-5xx",
            {
                "namespace": "AWS/ApiGateway",
                "metricName": "5XXError",
                "alarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"],
            },
        ),
        res(
            r.METRIC_ALARM,
            "health-alarm",
            {
                "namespace": "AWS/Route53",
                "metricName": "HealthCheckStatus",
                "alarmActions": [f"arn:aws:sns:{GLOBAL}:{ACCOUNT}:alerts-global"],
            },
            region=GLOBAL,
        ),
    ]
    return Stack(resources, {"postFailoverBudgetSeconds": 50})


# Editing the healthy stack ------------------------------------------------------------------


def _walk(props: Any, path: str) -> tuple[Any, str | int]:
    *parents, last = path.split(".")
    for key in parents:
        props = props[int(key)] if isinstance(props, list) else props[key]
    return props, int(last) if isinstance(props, list) else last


Edit = Callable[[Stack], Stack]


def change(
    name: str, props: dict[str, Any] | None = None, drop: tuple[str, ...] = (), **fields: Any
) -> Edit:
    """An edit of resource `name`: set dotted paths, drop others, replace view fields."""

    def edit(stack: Stack) -> Stack:
        found = [x for x in stack.resources if x.name == name]
        assert found, f"no resource {name} in the synthetic stack"
        edited = []
        for resource in stack.resources:
            if resource.name == name:
                values = copy.deepcopy(dict(resource.props))
                for path, value in (props or {}).items():
                    parent, key = _walk(values, path)
                    parent[key] = value
                for path in drop:
                    parent, key = _walk(values, path)
                    del parent[key]
                resource = dataclasses.replace(resource, props=values, **fields)
            edited.append(resource)
        return Stack(edited, dict(stack.outputs))

    return edit


def rewrite(name: str, path: str, how: Callable[[Any], Any]) -> Edit:
    """An edit of resource `name` that replaces the value at `path` with `how(value)`."""

    def edit(stack: Stack) -> Stack:
        [target] = [x for x in stack.resources if x.name == name]
        return change(name, {path: how(lookup(target.props, path))})(stack)

    return edit


def remove(name: str) -> Edit:
    def edit(stack: Stack) -> Stack:
        kept = [x for x in stack.resources if x.name != name]
        assert len(kept) == len(stack.resources) - 1, f"no resource {name}"
        return Stack(kept, dict(stack.outputs))

    return edit


def add(resource: Resource) -> Edit:
    return lambda stack: Stack([*stack.resources, resource], dict(stack.outputs))


def outputs(**values: Any) -> Edit:
    return lambda stack: Stack(list(stack.resources), {**stack.outputs, **values})


def both(*edits: Edit) -> Edit:
    def edit(stack: Stack) -> Stack:
        for one in edits:
            stack = one(stack)
        return stack

    return edit


def calculated(children: list[str]) -> Resource:
    return res(
        r.HEALTH_CHECK,
        "switch",
        {"type": "CALCULATED", "childHealthchecks": children},
        id="switch-hc",
    )


def cache_policy(headers_config: dict[str, Any]) -> Resource:
    return res(
        r.CACHE_POLICY,
        "keyed",
        {"parametersInCacheKeyAndForwardedToOrigin": {"headersConfig": headers_config}},
        region=GLOBAL,
        id="keyed-id",
    )


def wildcard_policy(statement: dict[str, Any]) -> Edit:
    return change("recommend-policy", {"policy": policy(statement)})


# Each rule, and the ways of breaking it. Every rule must appear (test below).
BREAKS: dict[str, dict[str, Edit]] = {
    "lambda-no-layers": {
        "a layer": change(
            "recommend-function", {"layers": [f"arn:aws:lambda:{REGION}:1:layer:d:1"]}
        ),
    },
    "lambda-xray-active": {
        "pass-through": change("recommend-function", {"tracingConfig.mode": "PassThrough"}),
        "unset": change("recommend-function", drop=("tracingConfig",)),
    },
    "lambda-supported-runtime": {
        "python3.9": change("recommend-function", {"runtime": "python3.9"}),
        "python3.11": change("recommend-function", {"runtime": "python3.11"}),
    },
    "log-group-retention": {
        "forever": change("recommend-logs", drop=("retentionInDays",)),
        "zero": change("recommend-logs", {"retentionInDays": 0}),
    },
    "lambda-log-group": {
        "no group": remove("recommend-logs"),
        "other group": change("recommend-function", {"loggingConfig.logGroup": "/elsewhere"}),
        "other region": change("recommend-logs", region=OTHER),
        "neither name nor logging config": change(
            "recommend-function", drop=("name", "loggingConfig")
        ),
    },
    "lambda-alias-invoked": {
        "unqualified uri": change("recommend-integration", {"uri": API_URI.replace(":live/", "/")}),
        "$LATEST uri": change(
            "recommend-integration", {"uri": API_URI.replace(":live/", ":$LATEST/")}
        ),
        "version, not alias": change(
            "recommend-integration", {"uri": API_URI.replace(":live/", ":7/")}
        ),
        "alias on $LATEST": change("recommend-live", {"functionVersion": "$LATEST"}),
        "unqualified permission": change("recommend-invoke", drop=("qualifier",)),
    },
    "iam-no-wildcard-admin": {
        "* on *": wildcard_policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
        "s3:* on *": wildcard_policy({"Effect": "Allow", "Action": ["s3:*"], "Resource": ["*"]}),
        "NotAction on *": wildcard_policy(
            {"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}
        ),
        "inline on the role": change(
            "recommend-role",
            {
                "inlinePolicies": [
                    {
                        "name": "all",
                        "policy": policy({"Effect": "Allow", "Action": "*", "Resource": "*"}),
                    }
                ]
            },
        ),
        "AdministratorAccess": change(
            "logging-role-logs", {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess"}
        ),
        "AdministratorAccess in the role's managed policies": change(
            "recommend-role", {"managedPolicyArns": ["arn:aws:iam::aws:policy/AdministratorAccess"]}
        ),
        "AdministratorAccess by a policy attachment": add(
            res(
                r.POLICY_ATTACHMENT,
                "admin-attachment",
                {"policyArn": "arn:aws:iam::aws:policy/AdministratorAccess", "roles": ["r"]},
            )
        ),
        "PowerUserAccess among a role's exclusive attachments": add(
            res(
                r.ROLE_POLICY_ATTACHMENTS,
                "exclusive-attachments",
                {
                    "roleName": "r",
                    "policyArns": [
                        "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess",
                        "arn:aws:iam::aws:policy/PowerUserAccess",
                    ],
                },
            )
        ),
    },
    "lambda-no-plain-secrets": {
        "password variable": change(
            "recommend-function", {"environment.variables.ONET_PASSWORD": "hunter2"}
        ),
        "access key value": change(
            "recommend-function", {"environment.variables.UPSTREAM": "AKIAIOSFODNN7EXAMPLE"}
        ),
        "credentials in a URL": change(
            "recommend-function",
            {"environment.variables.UPSTREAM_URL": "https://user:pass@onet.example.com/ws"},
        ),
    },
    "apigw-regional-endpoint": {
        "edge": change("api", {"endpointConfiguration.types": ["EDGE"]}),
        "unset": change("api", drop=("endpointConfiguration",)),
    },
    "apigw-cors-on-gateway-errors": {
        "no 5xx": remove("api-default_5xx"),
        "4xx without CORS": change("api-default_4xx", {"responseParameters": {}}),
        "responses of another API": change("api-default_4xx", {"restApiId": "other-api"}),
    },
    "apigw-stage-access-logs": {
        "none": change("api-stage", drop=("accessLogSettings",)),
        "no format": change("api-stage", drop=("accessLogSettings.format",)),
    },
    "apigw-stage-tracing": {
        "off": change("api-stage", {"xrayTracingEnabled": False}),
    },
    "apigw-stage-throttling": {
        "no settings": remove("api-method-settings"),
        "unlimited rate": change("api-method-settings", {"settings.throttlingRateLimit": -1}),
        "one method only": change("api-method-settings", {"methodPath": "recommend/POST"}),
        "another stage": change("api-method-settings", {"stageName": "dev"}),
    },
    "dynamodb-pitr": {"off": change("table", {"pointInTimeRecovery.enabled": False})},
    "dynamodb-deletion-protection": {"off": change("table", drop=("deletionProtectionEnabled",))},
    "dynamodb-stream": {
        "keys only": change("table", {"streamViewType": "KEYS_ONLY"}),
        "off": change("table", {"streamEnabled": False}),
    },
    "dynamodb-replica-other-region": {
        "no replica": change("table", {"replicas": []}),
        "wrong region": change("table", {"replicas": [{"regionName": "eu-west-1"}]}),
    },
    "dynamodb-protected": {"unprotected": change("table", protect=False)},
    "s3-public-access-blocked": {
        "no block": remove("uploads-public-access"),
        "policy allowed": change("static-public-access", {"blockPublicPolicy": False}),
    },
    "s3-encryption": {"none": remove("static-encryption")},
    "s3-versioning": {
        "suspended": change("uploads-versioning", {"versioningConfiguration.status": "Suspended"}),
        "none": remove("static-versioning"),
    },
    "s3-tls-only": {
        "no policy": remove("uploads-policy"),
        "objects not covered": change(
            "uploads-policy",
            {
                "policy": policy(
                    {
                        "Effect": "Deny",
                        "Principal": "*",
                        "Action": "s3:*",
                        "Resource": "arn:aws:s3:::vetroi-uploads",
                        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                    }
                )
            },
        ),
    },
    "s3-data-bucket-retained": {
        "not retained": change("uploads", retain_on_delete=False),
        "not protected": change("uploads", protect=False),
    },
    "cloudfront-tls12": {
        "TLS 1.0": change("cdn", {"viewerCertificate.minimumProtocolVersion": "TLSv1_2016"}),
        "default certificate": change(
            "cdn", {"viewerCertificate.cloudfrontDefaultCertificate": True}
        ),
    },
    "cloudfront-https": {
        "viewer http": change("cdn", {"defaultCacheBehavior.viewerProtocolPolicy": "allow-all"}),
        "origin http": change(
            "cdn", {"origins.0.customOriginConfig.originProtocolPolicy": "match-viewer"}
        ),
        "origin TLS 1.0": change(
            "cdn", {"origins.0.customOriginConfig.originSslProtocols": ["TLSv1", "TLSv1.2"]}
        ),
    },
    "cloudfront-waf": {"none": change("cdn", drop=("webAclId",))},
    "edge-in-us-east-1": {
        "WAF in the API's region": change("waf", region=REGION),
        "certificate in the API's region": change(
            "cdn",
            {
                "viewerCertificate.acmCertificateArn": (
                    f"arn:aws:acm:{REGION}:{ACCOUNT}:certificate/abc"
                )
            },
        ),
    },
    "cloudfront-cors-policy": {
        "behaviour without it": change(
            "cdn", drop=("orderedCacheBehaviors.0.responseHeadersPolicyId",)
        ),
        "managed policy": change(
            "cdn",
            {
                # The managed CORS-With-Preflight policy: not the stack's own origins.
                "defaultCacheBehavior.responseHeadersPolicyId": (
                    "5cc3b908-e619-4b99-88e5-2cf7f45965bd"
                )
            },
        ),
        "no CORS in it": change("headers", drop=("corsConfig",)),
        "origin decides": change("headers", {"corsConfig.originOverride": False}),
    },
    "cloudfront-origin-group-methods": {
        "POST to a group": change("cdn", {"orderedCacheBehaviors.0.allowedMethods": ALL_METHODS}),
    },
    "cloudfront-no-host-to-apigw": {
        "all viewer headers": change("forward", {"headersConfig.headerBehavior": "allViewer"}),
        # "All viewer headers and the following CloudFront headers" includes the viewer's Host.
        "all viewer and CloudFront headers": change(
            "forward",
            {"headersConfig": {"headerBehavior": "allViewerAndWhitelistCloudFront"}},
        ),
        "all except others than Host": change(
            "forward", {"headersConfig.headers.items": ["Authorization"]}
        ),
        "all except nothing": change("forward", drop=("headersConfig.headers",)),
        "Host listed": change(
            "forward",
            {"headersConfig": {"headerBehavior": "whitelist", "headers": {"items": ["Host"]}}},
        ),
        "managed AllViewer": change(
            "cdn", {"defaultCacheBehavior.originRequestPolicyId": r.MANAGED_ALL_VIEWER}
        ),
        "managed AllViewerAndCloudFrontHeaders": change(
            "cdn",
            {"defaultCacheBehavior.originRequestPolicyId": r.MANAGED_ALL_VIEWER_AND_CLOUDFRONT},
        ),
        # A cache policy's key headers reach the origin whatever the origin request policy says.
        "Host in the cache key": both(
            add(cache_policy({"headerBehavior": "whitelist", "headers": {"items": ["host"]}})),
            change("cdn", {"defaultCacheBehavior.cachePolicyId": "keyed-id"}),
        ),
        "legacy forwarded values": both(
            change("cdn", drop=("defaultCacheBehavior.originRequestPolicyId",)),
            change("cdn", {"defaultCacheBehavior.forwardedValues": {"headers": ["Host"]}}),
        ),
        "through the origin group": change(
            "cdn",
            {"orderedCacheBehaviors.0.originRequestPolicyId": r.MANAGED_ALL_VIEWER},
        ),
    },
    "route53-failover-health-check": {
        "none": change("failover", drop=("healthCheckId",)),
        "not in the stack": change("failover", {"healthCheckId": "elsewhere-hc"}),
    },
    "failover-post-budget": {
        "slow probe": change("probe", {"requestInterval": 30.0, "failureThreshold": 3.0}),
        "long TTL": change("failover", {"ttl": 300.0}),
        "exported budget": outputs(postFailoverBudgetSeconds=95),
        # Route53 answers an alias to an AWS endpoint with a 60 s TTL: over budget on its own.
        "alias record": change(
            "failover", {"aliases": [{"name": "d-1.execute-api"}]}, drop=("ttl",)
        ),
        "slow probe behind a switch": both(
            add(calculated(["probe-hc"])),
            change("failover", {"healthCheckId": "switch-hc"}),
            change("probe", {"requestInterval": 30.0}),
        ),
        "switch without its probe": both(
            add(calculated(["elsewhere-hc"])),
            change("failover", {"healthCheckId": "switch-hc"}),
        ),
    },
    "alarm-has-action": {
        "no action": change("api-5xx", {"alarmActions": []}),
        "actions off": change("api-5xx", {"actionsEnabled": False}),
        "topic in another region": change(
            "api-5xx", {"alarmActions": [f"arn:aws:sns:{OTHER}:{ACCOUNT}:alerts"]}
        ),
    },
    "alarm-global-metrics-us-east-1": {
        "Route53 alarm in the API's region": change(
            "health-alarm",
            {"alarmActions": [f"arn:aws:sns:{REGION}:{ACCOUNT}:alerts"]},
            region=REGION,
        ),
        "CloudFront metric in a math alarm": change(
            "api-5xx",
            {"metricQueries": [{"id": "m1", "metric": {"namespace": "AWS/CloudFront"}}]},
        ),
    },
}

# Ways of changing the healthy stack that every rule must still accept.
KEEPS: dict[str, Edit] = {
    "calculated switch over a fast probe": both(
        add(calculated(["probe-hc"])), change("failover", {"healthCheckId": "switch-hc"})
    ),
    "V2 bucket resources": change("uploads-versioning", type=r.VERSIONING[1]),
    "monolith uri in the mock's shape": change(
        "recommend-integration",
        {
            "uri": f"arn:aws:apigateway:{REGION}:lambda:path/functions/"
            "vetroi-test-recommend:live/invocations"
        },
    ),
    "permission on the alias ARN": both(
        change("recommend-invoke", drop=("qualifier",)),
        change(
            "recommend-invoke",
            {"function": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:vetroi-test-recommend:live"},
        ),
    ),
    "secret named by ARN": change(
        "recommend-function", {"environment.variables.ONET_SECRET_ARN": "arn:aws:secretsmanager:x"}
    ),
    "whitelist without Host": change(
        "forward",
        {"headersConfig": {"headerBehavior": "whitelist", "headers": {"items": ["Origin"]}}},
    ),
    "all except host, lower case": change("forward", {"headersConfig.headers.items": ["host"]}),
    "managed AllViewerExceptHostHeader": change(
        "cdn",
        {"defaultCacheBehavior.originRequestPolicyId": "b689b0a8-53d0-40ab-baf2-68738e2966ac"},
    ),
    "cache key without Host": both(
        add(cache_policy({"headerBehavior": "whitelist", "headers": {"items": ["Accept"]}})),
        change("cdn", {"defaultCacheBehavior.cachePolicyId": "keyed-id"}),
    ),
    "TLS 1.3 minimum": change("cdn", {"viewerCertificate.minimumProtocolVersion": "TLSv1.3_2025"}),
}


def failing(stack: Stack, context: Context = CONTEXT) -> dict[str, list[str]]:
    """Rule name -> messages, for every rule the stack breaks."""
    verdicts = plan.evaluate(stack, context)
    return {v.rule.name: [f.message for f in v.findings] for v in verdicts if v.status == "FAIL"}


CASES = [(rule, way) for rule, ways in BREAKS.items() for way in ways]


def test_the_healthy_stack_keeps_every_rule_and_each_rule_looks_at_something() -> None:
    """The synthetic stack passes every rule, and no rule passes for lack of resources."""
    verdicts = plan.evaluate(healthy(), CONTEXT)

    assert {v.rule.name: v.status for v in verdicts} == {rule.name: "pass" for rule in r.RULES}


@pytest.mark.parametrize("keep", KEEPS, ids=list(KEEPS))
def test_acceptable_variations_keep_every_rule(keep: str) -> None:
    """Other correct shapes (alias records, V2 types, a calculated switch) are not flagged."""
    assert failing(KEEPS[keep](healthy())) == {}


@pytest.mark.parametrize(("rule", "way"), CASES, ids=[f"{a}: {b}" for a, b in CASES])
def test_each_rule_fails_on_a_resource_that_breaks_it(rule: str, way: str) -> None:
    """The edit breaks exactly this rule, and the message names what to change."""
    broken = failing(BREAKS[rule][way](healthy()))

    assert list(broken) == [rule], f"{way!r} should break only {rule}, broke {broken}"
    assert all(len(message) > 30 for message in broken[rule])


def test_every_rule_has_breaking_cases() -> None:
    """A rule without a failing case could be one that cannot fail."""
    assert set(BREAKS) == {rule.name for rule in r.RULES}


def test_rules_are_described_once_with_a_severity_and_a_fix() -> None:
    names = [rule.name for rule in r.RULES]

    assert len(names) == len(set(names))
    for rule in r.RULES:
        assert rule.description.endswith(".") and "\n" not in rule.description, rule.name
        assert rule.remediation and rule.types, rule.name


def test_runtime_rule_follows_the_settings_choices() -> None:
    """The rule accepts exactly the Python versions the settings allow."""
    expected = tuple(f"python{v}" for v in stack_settings.LAMBDA_PYTHON_VERSIONS)

    assert r.SUPPORTED_RUNTIMES == expected


def test_replica_rule_without_knowing_the_other_region() -> None:
    """In a preview without config the rule still wants a replica outside the table's region."""
    no_config = Context()
    local = change("table", {"replicas": [{"regionName": REGION}]})(healthy())

    assert failing(healthy(), no_config) == {}
    assert list(failing(local, no_config)) == ["dynamodb-replica-other-region"]


# The pack as the Pulumi CLI runs it ----------------------------------------------------------


@pytest.fixture(scope="module")
def analyzer() -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """Start the pack the way the CLI's pulumi-analyzer-policy-python does, and connect.

    That script runs `<virtualenv>/bin/python -u -m pulumi.policy <engine> .` in the pack's
    directory; only the pack's own path setup then finds the `policies` package.
    """
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "pulumi.policy", "127.0.0.1:0", "."],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT / "policies",
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    try:
        assert process.stdout is not None
        port = process.stdout.readline().decode().strip()
        assert port.isdigit(), process.stderr.read().decode() if process.stderr else port
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        yield analyzer_pb2_grpc.AnalyzerStub(channel)
        channel.close()
    finally:
        process.terminate()
        process.wait(timeout=10)


def struct(values: dict[str, Any]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(values)
    return message


def urn_of(resource: Resource) -> str:
    types = "$".join((*resource.parents, resource.type))
    return f"urn:pulumi:test::vetroi::{types}::{resource.name}"


PROVIDER = analyzer_pb2.AnalyzerProviderResource(
    type="pulumi:providers:aws",
    name="default",
    urn="urn:pulumi:test::vetroi::pulumi:providers:aws::default",
    properties=struct({"region": REGION}),
)


def wire_props(resource: Resource) -> dict[str, Any]:
    """Properties as the CLI sends them: the region is the provider's unless set."""
    props = {**resource.props, "id": resource.id}
    if resource.region != REGION:
        props["region"] = resource.region
    return props


def request(resource: Resource, **overrides: Any) -> analyzer_pb2.AnalyzeRequest:
    return analyzer_pb2.AnalyzeRequest(
        type=resource.type,
        name=resource.name,
        urn=urn_of(resource),
        properties=struct({**wire_props(resource), **overrides}),
        options=analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect),
        provider=PROVIDER,
    )


def stack_request(stack: Stack) -> analyzer_pb2.AnalyzeStackRequest:
    resources = [
        analyzer_pb2.AnalyzerResource(
            type=resource.type,
            name=resource.name,
            urn=urn_of(resource),
            properties=struct(wire_props(resource)),
            options=analyzer_pb2.AnalyzerResourceOptions(protect=resource.protect),
            provider=PROVIDER,
        )
        for resource in stack
    ]
    root = analyzer_pb2.AnalyzerResource(
        type=r.STACK,
        name="vetroi-test",
        urn="urn:pulumi:test::vetroi::pulumi:pulumi:Stack::vetroi-test",
        properties=struct(dict(stack.outputs)),
    )
    return analyzer_pb2.AnalyzeStackRequest(resources=[root, *resources])


def named(stack: Stack, name: str) -> Resource:
    return next(x for x in stack if x.name == name)


def test_pack_registers_every_rule_with_its_kind_severity_and_fix(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """GetAnalyzerInfo, the CLI's first call, lists each rule once, mandatory."""
    info = analyzer.GetAnalyzerInfo(empty_pb2.Empty())
    policies = {p.name: p for p in info.policies}

    assert info.name == "vetroi"
    assert list(policies) == [rule.name for rule in r.RULES]
    for rule in r.RULES:
        registered = policies[rule.name]
        kind = "POLICY_TYPE_STACK" if rule.is_stack_rule else "POLICY_TYPE_RESOURCE"
        assert analyzer_pb2.PolicyType.Name(registered.policy_type) == kind, rule.name
        assert registered.description == rule.description
        assert registered.remediation_steps == rule.remediation
        assert registered.enforcementLevel == analyzer_pb2.MANDATORY
        severity = analyzer_pb2.PolicySeverity.Name(registered.severity)
        assert severity == f"POLICY_SEVERITY_{rule.severity.name}"


def test_pack_passes_every_healthy_resource(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    for resource in healthy():
        response = analyzer.Analyze(request(resource))
        assert list(response.diagnostics) == [], resource.name


def test_pack_reports_a_broken_resource_on_its_urn(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    function = named(healthy(), "recommend-function")

    response = analyzer.Analyze(request(function, layers=["arn:aws:lambda:us-east-2:1:layer:x:1"]))

    [diagnostic] = response.diagnostics
    assert diagnostic.policyName == "lambda-no-layers"
    assert diagnostic.enforcementLevel == analyzer_pb2.MANDATORY
    assert "recommend-function" in diagnostic.message and "layers" in diagnostic.message


def test_pack_reads_the_region_from_the_provider(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """An alarm on Route53 metrics with no region of its own takes the provider's us-east-2."""
    alarm = named(healthy(), "health-alarm")

    response = analyzer.Analyze(
        request(
            dataclasses.replace(alarm, region=REGION), alarmActions=[f"arn:aws:sns:{REGION}:1:a"]
        )
    )

    assert [d.policyName for d in response.diagnostics] == ["alarm-global-metrics-us-east-1"]


def test_pack_cannot_see_retain_on_delete_and_says_so(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """The analyzer protocol has no retainOnDelete: the rule checks protect, then steps aside."""
    uploads = named(healthy(), "uploads")

    kept = analyzer.Analyze(request(uploads))
    unprotected = analyzer.Analyze(request(dataclasses.replace(uploads, protect=False)))

    assert [(n.policy_name, "retainOnDelete" in n.reason) for n in kept.not_applicable] == [
        ("s3-data-bucket-retained", True)
    ]
    assert [d.policyName for d in unprotected.diagnostics] == ["s3-data-bucket-retained"]


def test_pack_checks_the_whole_stack(analyzer: analyzer_pb2_grpc.AnalyzerStub) -> None:
    """AnalyzeStack: healthy passes; each cross-resource break is reported on its resource."""
    assert list(analyzer.AnalyzeStack(stack_request(healthy())).diagnostics) == []

    broken = both(
        remove("uploads-policy"),
        change("failover", drop=("healthCheckId",)),
        outputs(postFailoverBudgetSeconds=95),
    )(healthy())
    diagnostics = analyzer.AnalyzeStack(stack_request(broken)).diagnostics
    found = {(d.policyName, d.urn.rsplit("::", 1)[-1]) for d in diagnostics}

    assert found == {
        ("s3-tls-only", "uploads"),
        ("route53-failover-health-check", "failover"),
        ("failover-post-budget", ""),
    }


def test_pack_reports_unknown_values_as_not_checked(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """During a preview an id is unknown: the SDK reports the rule as not run, not as passed."""
    stack = change("api-default_4xx", {"restApiId": UNKNOWN_STRING_VALUE})(healthy())
    function = named(healthy(), "recommend-function")

    stack_response = analyzer.AnalyzeStack(stack_request(stack))
    env_response = analyzer.Analyze(request(function, environment=UNKNOWN_OBJECT_VALUE))

    [diagnostic] = stack_response.diagnostics
    assert diagnostic.policyName == "apigw-cors-on-gateway-errors"
    assert "can't be known during preview" in diagnostic.message
    assert diagnostic.enforcementLevel == analyzer_pb2.ADVISORY
    assert [n.policy_name for n in env_response.not_applicable] == ["lambda-no-plain-secrets"]


def test_pack_counts_a_topic_not_created_yet_as_an_action(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """An alarm whose new topic has no ARN during the preview still has its action."""
    alarm = named(healthy(), "api-5xx")

    with_unknown = analyzer.Analyze(request(alarm, alarmActions=[UNKNOWN_STRING_VALUE]))
    without = analyzer.Analyze(request(alarm, alarmActions=[]))

    assert list(with_unknown.diagnostics) == []
    assert [d.policyName for d in without.diagnostics] == ["alarm-has-action"]


def test_pack_takes_the_replica_region_from_its_config(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """`--policy-pack-config` gives the other stack's region; a replica elsewhere breaks it."""
    table = change("table", {"replicas": [{"regionName": "eu-west-1"}]})(healthy())
    config = analyzer_pb2.PolicyConfig(properties=struct({"otherRegion": OTHER}))

    analyzer.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={"dynamodb-replica-other-region": config}
        )
    )
    try:
        response = analyzer.Analyze(request(named(table, "table")))
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest())

    assert [d.policyName for d in response.diagnostics] == ["dynamodb-replica-other-region"]
    assert OTHER in response.diagnostics[0].message


def test_pack_rule_can_be_made_advisory_for_a_development_stack(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> None:
    """The README's policy config turns cloudfront-tls12 into a warning for a no-domain stack."""
    cdn = change("cdn", {"viewerCertificate.cloudfrontDefaultCertificate": True})(healthy())
    advisory = analyzer_pb2.PolicyConfig(enforcementLevel=analyzer_pb2.ADVISORY)

    analyzer.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(policyConfig={"cloudfront-tls12": advisory})
    )
    try:
        relaxed = analyzer.Analyze(request(named(cdn, "cdn")))
    finally:
        analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest())
    strict = analyzer.Analyze(request(named(cdn, "cdn")))

    assert [(d.policyName, d.enforcementLevel) for d in relaxed.diagnostics] == [
        ("cloudfront-tls12", analyzer_pb2.ADVISORY)
    ]
    assert [(d.policyName, d.enforcementLevel) for d in strict.diagnostics] == [
        ("cloudfront-tls12", analyzer_pb2.MANDATORY)
    ]


def test_policy_pack_project_file() -> None:
    """PulumiPolicy.yaml declares a Python pack whose requirements pin the SDK in use."""
    project = yaml.safe_load((ROOT / "policies" / "PulumiPolicy.yaml").read_text())
    requirements = (ROOT / "policies" / "requirements.txt").read_text().split()

    assert project["runtime"]["name"] == "python"
    assert project["version"]
    assert "pulumi-policy==1.21.0" in requirements


# What the pack cannot see during `pulumi preview`, so it reports the rule as not applicable.
PACK_BLIND = {("s3-data-bucket-retained", "not retained"): "retainOnDelete is not sent"}


@pytest.fixture
def configured(
    analyzer: analyzer_pb2_grpc.AnalyzerStub,
) -> Iterator[analyzer_pb2_grpc.AnalyzerStub]:
    """The pack with the policy config the preview workflow writes, matching CONTEXT."""
    config = {
        "dynamodb-replica-other-region": {"otherRegion": OTHER},
        "failover-post-budget": {"failoverBudgetLimit": CONTEXT.failover_budget_limit},
    }
    analyzer.Configure(
        analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(properties=struct(values))
                for name, values in config.items()
            }
        )
    )
    yield analyzer
    analyzer.Configure(analyzer_pb2.ConfigureAnalyzerRequest())


def reported(analyzer: analyzer_pb2_grpc.AnalyzerStub, stack: Stack) -> tuple[set[str], set[str]]:
    """The rules the pack reports broken in `stack`, and those it says it could not check."""
    broken = {d.policyName for d in analyzer.AnalyzeStack(stack_request(stack)).diagnostics}
    unchecked: set[str] = set()
    for resource in stack:
        response = analyzer.Analyze(request(resource))
        broken |= {d.policyName for d in response.diagnostics}
        unchecked |= {n.policy_name for n in response.not_applicable}
    return broken, unchecked


@pytest.mark.parametrize(("rule", "way"), CASES, ids=[f"{a}: {b}" for a, b in CASES])
def test_pack_reports_each_breaking_case_as_the_plan_does(
    configured: analyzer_pb2_grpc.AnalyzerStub, rule: str, way: str
) -> None:
    """The same rules through the CLI's protocol: each break is reported, and nothing else."""
    broken, unchecked = reported(configured, BREAKS[rule][way](healthy()))

    if (rule, way) in PACK_BLIND:
        assert rule not in broken and rule in unchecked, PACK_BLIND[rule, way]
    else:
        assert broken == {rule}


def _normal(distribution: str) -> str:
    return re.sub(r"[-_.]+", "-", distribution).lower()


def _installed_by(requirements: list[str]) -> set[str]:
    """The distributions `pip install -r` of `requirements` brings, with their dependencies."""
    found: set[str] = set()
    todo = [re.split(r"[\s<>=!~;\[]", line, maxsplit=1)[0] for line in requirements]
    while todo:
        name = _normal(todo.pop())
        if name in found:
            continue
        found.add(name)
        for requirement in metadata.requires(name) or []:
            if "extra ==" not in requirement:
                todo.append(re.split(r"[\s<>=!~;\[(]", requirement, maxsplit=1)[0])
    return found


def _imported_names(source: Path) -> set[str]:
    """The top-level names of the absolute imports in a Python file."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_pack_imports_nothing_its_own_requirements_do_not_install() -> None:
    """The CLI runs the pack in policies/venv, built from policies/requirements.txt alone.

    The pack is loaded as `python -m pulumi.policy` loads it (its directory run as a script),
    with PolicyPack replaced by a recorder: its policies are the rules, in order, and every
    module of this repository it loads imports only the standard library, this repository's
    modules and what those requirements install (pulumi, pulumi-policy and their dependencies,
    not pulumi_aws or boto3).
    """
    script = textwrap.dedent(
        """
        import json, runpy, sys
        import pulumi_policy

        recorded = {}
        pulumi_policy.PolicyPack = lambda **kwargs: recorded.update(kwargs)
        runpy.run_path(".", run_name="__main__")

        files = sorted({getattr(m, "__file__", None) or "" for m in list(sys.modules.values())})
        print(json.dumps({"policies": [p.name for p in recorded["policies"]], "files": files}))
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT / "policies",
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    # This repository's modules, not those of an environment kept inside it.
    ours = {
        path
        for path in (Path(f).resolve() for f in loaded["files"] if f)
        if path.is_relative_to(ROOT) and "site-packages" not in path.parts
    }
    # The script itself: runpy takes it out of sys.modules again once it has run.
    ours.add(ROOT / "policies" / "__main__.py")
    lines = (ROOT / "policies" / "requirements.txt").read_text().splitlines()
    installed = _installed_by([x for x in lines if x.strip() and not x.startswith("#")])
    provides = metadata.packages_distributions()
    # The pack puts the repository root on sys.path: its own packages import as they are.
    local = {p.stem for p in ROOT.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()}
    allowed = set(sys.stdlib_module_names) | local

    assert loaded["policies"] == [rule.name for rule in r.RULES]
    assert {f.relative_to(ROOT).as_posix() for f in ours} >= {
        "policies/__main__.py",
        "policies/pack.py",
        "policies/rules.py",
        "policies/model.py",
    }
    for source in ours:
        for name in _imported_names(source) - allowed:
            owners = {_normal(d) for d in provides.get(name, [])}
            assert owners & installed, (
                f"{source.relative_to(ROOT)} imports {name}, which policies/requirements.txt "
                "does not install"
            )


# The offline plan on the real stacks ---------------------------------------------------------


@pytest.fixture(scope="module")
def stacks() -> dict[str, Stack]:
    """Each variant's resources as the program declares them under the mocks."""
    return {
        variant.name: plan.neutral_view(
            program.run_stack(variant.stack, variant.overrides, variant.remove)
        )
        for variant in plan.VARIANTS
    }


@pytest.fixture(scope="module")
def verdicts(stacks: dict[str, Stack]) -> dict[str, list[plan.Verdict]]:
    return {
        variant.name: plan.evaluate(
            stacks[variant.name], plan.context_for(variant), variant.waivers
        )
        for variant in plan.VARIANTS
    }


# One break of each rule on the prod stack as declared, by the program's own resource names: a
# rule that read a property under another name or shape than the program declares (and
# `pulumi preview` sends) would miss it.
PROD_FUNCTION = "vetroi-api-recommend-function"
PROD_TABLE = "vetroi-data-table"
PROD_CDN = "vetroi-edge-cdn"
REAL_BREAKS: dict[str, Edit] = {
    "lambda-no-layers": change(
        PROD_FUNCTION, {"layers": [f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:deps:1"]}
    ),
    "lambda-xray-active": change(PROD_FUNCTION, {"tracingConfig.mode": "PassThrough"}),
    "lambda-supported-runtime": change(PROD_FUNCTION, {"runtime": "python3.11"}),
    "log-group-retention": change("vetroi-api-recommend-logs", drop=("retentionInDays",)),
    "lambda-log-group": remove("vetroi-api-recommend-logs"),
    "lambda-alias-invoked": rewrite(
        "vetroi-api-recommend-post-integration", "uri", lambda uri: uri.replace(":live/", "/")
    ),
    "iam-no-wildcard-admin": rewrite(
        "vetroi-api-recommend-policy",
        "policy",
        lambda document: policy(
            *json.loads(document)["Statement"],
            {"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"},
        ),
    ),
    "lambda-no-plain-secrets": change(
        PROD_FUNCTION, {"environment.variables.VETROI_ONET_PASSWORD": "hunter2"}
    ),
    # pulumi-aws 7 declares endpointConfiguration.types as one string.
    "apigw-regional-endpoint": change(
        "vetroi-api-rest-api", {"endpointConfiguration.types": "EDGE"}
    ),
    "apigw-cors-on-gateway-errors": change("vetroi-api-default-4xx", {"responseParameters": {}}),
    "apigw-stage-access-logs": change("vetroi-api-stage", drop=("accessLogSettings",)),
    "apigw-stage-tracing": change("vetroi-api-stage", {"xrayTracingEnabled": False}),
    "apigw-stage-throttling": change(
        "vetroi-api-method-settings", {"settings.throttlingBurstLimit": 0}
    ),
    "dynamodb-pitr": change(PROD_TABLE, {"pointInTimeRecovery.enabled": False}),
    "dynamodb-deletion-protection": change(PROD_TABLE, {"deletionProtectionEnabled": False}),
    "dynamodb-stream": change(PROD_TABLE, {"streamViewType": "KEYS_ONLY"}),
    "dynamodb-replica-other-region": change(PROD_TABLE, {"replicas": []}),
    "dynamodb-protected": change(PROD_TABLE, protect=False),
    "s3-public-access-blocked": change(
        "vetroi-data-dd214-public-access", {"restrictPublicBuckets": False}
    ),
    "s3-encryption": remove("vetroi-edge-static-encryption"),
    "s3-versioning": change(
        "vetroi-data-onet-cache-versioning", {"versioningConfiguration.status": "Suspended"}
    ),
    "s3-tls-only": remove("vetroi-data-dd214-policy"),
    "s3-data-bucket-retained": change("vetroi-data-dd214", retain_on_delete=False),
    "cloudfront-tls12": change(
        PROD_CDN, {"viewerCertificate.minimumProtocolVersion": "TLSv1_2016"}
    ),
    "cloudfront-https": change(
        PROD_CDN, {"origins.0.customOriginConfig.originProtocolPolicy": "match-viewer"}
    ),
    "cloudfront-waf": change(PROD_CDN, drop=("webAclId",)),
    "edge-in-us-east-1": change("vetroi-edge-waf", region=REGION),
    "cloudfront-cors-policy": change(
        PROD_CDN, drop=("defaultCacheBehavior.responseHeadersPolicyId",)
    ),
    "cloudfront-origin-group-methods": change(
        PROD_CDN, {"orderedCacheBehaviors.0.allowedMethods": ALL_METHODS}
    ),
    # The edge forwards all headers except those listed; listing another instead of Host.
    "cloudfront-no-host-to-apigw": change(
        "vetroi-edge-forward", {"headersConfig.headers.items": ["Authorization"]}
    ),
    "route53-failover-health-check": change("vetroi-failover-record", drop=("healthCheckId",)),
    "failover-post-budget": change(
        "vetroi-failover-probe", {"requestInterval": 30.0, "failureThreshold": 5.0}
    ),
    "alarm-has-action": change("vetroi-prod-api-5xx", {"alarmActions": []}),
    "alarm-global-metrics-us-east-1": change("vetroi-prod-global-cloudfront-5xx", region=REGION),
}


@pytest.mark.parametrize("rule", [rule.name for rule in r.RULES])
def test_each_rule_fails_on_a_break_of_the_real_stack(stacks: dict[str, Stack], rule: str) -> None:
    """Breaking the prod stack as the program declares it breaks the rule.

    The synthetic stack above is written by hand; this one is the program's own output, so a
    rule reading a property name or shape the program does not produce cannot pass here.
    """
    assert rule in REAL_BREAKS, f"{rule} has no break of the real stack in REAL_BREAKS"
    [prod] = [v for v in plan.VARIANTS if v.name == "prod"]

    broken = failing(REAL_BREAKS[rule](stacks["prod"]), plan.context_for(prod))

    assert rule in broken, f"breaking the prod stack for {rule} broke only {sorted(broken)}"


@pytest.mark.parametrize("variant", [v.name for v in plan.VARIANTS])
def test_stacks_keep_every_rule(verdicts: dict[str, list[plan.Verdict]], variant: str) -> None:
    """Both stacks and the no-domain shape, as declared, break no rule."""
    broken = {
        v.rule.name: [f.message for f in v.findings]
        for v in verdicts[variant]
        if v.status not in ("pass", "n/a", "waived")
    }

    assert broken == {}


def test_every_rule_checks_something_in_the_real_stacks(
    verdicts: dict[str, list[plan.Verdict]],
) -> None:
    """A rule that never meets a resource (a mistyped type token) would pass forever."""
    applied = {v.rule.name for found in verdicts.values() for v in found if v.status != "n/a"}

    assert applied == {rule.name for rule in r.RULES}


def test_waivers_are_still_needed(verdicts: dict[str, list[plan.Verdict]]) -> None:
    """A waiver for a rule the variant no longer breaks must be removed."""
    for variant in plan.VARIANTS:
        statuses = {v.rule.name: v.status for v in verdicts[variant.name]}
        for rule in variant.waivers:
            assert statuses[rule] == "waived", f"{variant.name}: {rule} no longer needs a waiver"


def test_neutral_view_keeps_options_parents_and_ids() -> None:
    """The plan reads protect, retainOnDelete, the component chain and the mock's id."""
    deployment = program.Deployment(
        "prod",
        REGION,
        [
            program.Resource("vetroi:data:GlobalData", "data", {}, REGION, component=True),
            program.Resource(
                r.BUCKETS[0],
                "data-uploads",
                {"bucket": "b"},
                REGION,
                protect=True,
                retain_on_delete=True,
                parent="data",
                state={"bucket": "b", "arn": "arn:aws:s3:::b"},
                id="b",
            ),
        ],
        {"apiUrl": "https://x"},
        [],
    )

    stack = plan.neutral_view(deployment)

    [bucket_view] = stack.resources
    assert bucket_view.parents == ("vetroi:data:GlobalData",)
    assert (bucket_view.protect, bucket_view.retain_on_delete, bucket_view.id) == (True, True, "b")
    assert bucket_view.props["arn"] == "arn:aws:s3:::b"
    assert stack.outputs == {"apiUrl": "https://x"}


def test_plan_exits_non_zero_and_names_the_broken_rule(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`make plan` fails when a stack breaks a rule, and prints the table and the verdicts."""
    layered = program.Resource(
        r.FUNCTION,
        "api-recommend-function",
        {},
        REGION,
        state={
            "name": "f",
            "runtime": "python3.12",
            "tracingConfig": {"mode": "Active"},
            "layers": ["arn:aws:lambda:us-east-2:1:layer:x:1"],
        },
        id="f",
    )
    deployment = program.Deployment("prod", REGION, [layered], {}, [])
    monkeypatch.setattr(program, "run_stack", lambda *args, **kwargs: deployment)

    status = plan.main(["prod"])
    printed = capsys.readouterr().out

    assert status == 1
    assert "lambda:Function  api-recommend-function  us-east-2" in printed
    assert "lambda-no-layers" in printed and "FAIL" in printed
    assert "prod: lambda-no-layers" in printed


def test_plan_exits_2_when_a_stack_cannot_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def explode(*args: Any, **kwargs: Any) -> program.Deployment:
        raise RuntimeError("bad settings")

    monkeypatch.setattr(program, "run_stack", explode)

    assert plan.main(["backup"]) == 2
    assert "backup: the program failed: bad settings" in capsys.readouterr().out


# The preview workflow ------------------------------------------------------------------------


def test_preview_workflow_runs_the_pack_on_both_stacks_for_pull_requests() -> None:
    workflow = yaml.safe_load((ROOT / ".github" / "workflows" / "preview.yml").read_text())
    # YAML 1.1 reads the bare key `on` as True.
    triggers = workflow.get("on", workflow.get(True))
    [job] = workflow["jobs"].values()
    steps = "\n".join(str(step.get("run", "")) + str(step.get("with", "")) for step in job["steps"])

    assert "pull_request" in triggers
    assert sorted(job["strategy"]["matrix"]["stack"]) == ["backup", "prod"]
    assert "pulumi preview" in steps and "--policy-pack policies" in steps
    assert "${{ matrix.stack }}" in steps


def test_preview_workflow_matches_the_github_actions_schema() -> None:
    """The workflow validates against GitHub's workflow schema (check-jsonschema's copy)."""
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            str(ROOT / ".github" / "workflows" / "preview.yml"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 0, result.stdout + result.stderr

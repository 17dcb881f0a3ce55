"""The regional API: an API Gateway REST API in front of the functions' `live` aliases.

Each stack builds one in its own region. API Gateway's own errors (throttling, a missing route,
a failed integration) carry CORS headers through the DEFAULT_4XX and DEFAULT_5XX gateway
responses, so a browser can read every answer, not just the ones the functions write.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.function import ApiFunction, ApiFunctionArgs, Statement
from components.iam import assume_role_policy
from components.packaging import Package
from components.settings import Settings


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    handler: str


ROUTES = (
    Route("recommend", "POST", "/recommend", "vetroi_api.handlers.recommend_handler"),
    Route("career", "GET", "/career/{socCode}", "vetroi_api.handlers.career_handler"),
    Route("health", "GET", "/health", "vetroi_api.handlers.health_handler"),
    Route("uploads", "POST", "/uploads", "vetroi_api.handlers.uploads_handler"),
)
MONOLITH_HANDLER = "vetroi_api.handlers.lambda_handler"
# The methods browsers may use follow from the routes (each with its preflight); the allowed
# headers and the preflight's max age are settings (corsAllowedHeaders, corsMaxAgeSeconds).
CORS_METHODS = tuple(sorted({route.method for route in ROUTES} | {"OPTIONS"}))
# API Gateway's own 4xx and 5xx answers. $context.error.messageString arrives already quoted as
# a JSON string, so it stands bare; quoting it again would make the body invalid JSON.
GATEWAY_ERROR_BODY = '{"error": {"code": "GATEWAY_ERROR", "message": $context.error.messageString}}'
# API Gateway's ceiling for a REST integration; the functions' own timeout comes first.
INTEGRATION_TIMEOUT_MS = 29_000

# One JSON object per request in the stage's access log.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "extendedRequestId": "$context.extendedRequestId",
        "ip": "$context.identity.sourceIp",
        "requestTime": "$context.requestTime",
        "httpMethod": "$context.httpMethod",
        "resourcePath": "$context.resourcePath",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "latencyMs": "$context.responseLatency",
        "integrationLatencyMs": "$context.integration.latency",
        "integrationStatus": "$context.integration.status",
        "errorMessage": "$context.error.message",
        "xrayTraceId": "$context.xrayTraceId",
    }
)


@dataclass
class RegionalApiArgs:
    settings: Settings
    package: Package
    # Permissions each route's code needs, keyed by route name.
    permissions: dict[str, list[Statement]]
    environment: dict[str, pulumi.Input[str]] = field(default_factory=dict)


class RegionalApi(pulumi.ComponentResource):
    """A regional REST API with one function per route, or one function for every route."""

    def __init__(
        self, name: str, args: RegionalApiArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:api:RegionalApi", name, None, opts)
        self.region = args.settings.region
        child = pulumi.ResourceOptions(parent=self)

        self.functions = self._functions(name, args)
        self.rest_api = aws.apigateway.RestApi(
            f"{name}-rest-api",
            name=f"{name}-{args.settings.stack}",
            description="VetROI API",
            region=args.settings.region,
            endpoint_configuration=aws.apigateway.RestApiEndpointConfigurationArgs(
                types="REGIONAL"
            ),
            opts=child,
        )
        # API Gateway serves a snapshot: routes and gateway responses take effect only in a new
        # deployment. Every setting they are declared with is also noted here, and a deployment
        # is made whenever any of them changes, and none otherwise.
        self._snapshot: list[dict[str, Any]] = []
        responses = self._gateway_responses(name, args)
        methods = self._routes(name, args)
        fingerprint = hashlib.sha256(
            json.dumps(self._snapshot, sort_keys=True).encode()
        ).hexdigest()
        deployment = aws.apigateway.Deployment(
            f"{name}-deployment",
            rest_api=self.rest_api.id,
            region=args.settings.region,
            triggers={"configuration": fingerprint},
            opts=pulumi.ResourceOptions(parent=self, depends_on=methods + responses),
        )
        self.stage = self._stage(name, args, deployment)

        self.stage_name = self.stage.stage_name
        self.invoke_url = self.stage.invoke_url
        self.execution_arn = self.rest_api.execution_arn
        self.register_outputs(
            {
                "restApiId": self.rest_api.id,
                "stageName": self.stage.stage_name,
                "invokeUrl": self.stage.invoke_url,
            }
        )

    def _functions(self, name: str, args: RegionalApiArgs) -> dict[str, ApiFunction]:
        if args.settings.function_layout == "monolith":
            targets = {"monolith": (MONOLITH_HANDLER, [r.name for r in ROUTES])}
        else:
            targets = {r.name: (r.handler, [r.name]) for r in ROUTES}

        functions = {}
        for target, (handler, routes) in targets.items():
            function_args = ApiFunctionArgs.from_settings(
                args.settings,
                package=args.package,
                handler=handler,
                environment=args.environment,
                statements=[s for route in routes for s in args.permissions.get(route, [])],
                description=f"VetROI API: {', '.join(routes)}",
                target=target,
            )
            function_args.function_name = f"vetroi-{args.settings.stack}-{target}"
            functions[target] = ApiFunction(
                f"{name}-{target}", function_args, opts=pulumi.ResourceOptions(parent=self)
            )
        return functions

    def _target_name(self, route: Route) -> str:
        return route.name if route.name in self.functions else "monolith"

    def _target(self, route: Route) -> ApiFunction:
        return self.functions[self._target_name(route)]

    def _gateway_responses(self, name: str, args: RegionalApiArgs) -> list[pulumi.Resource]:
        created: list[pulumi.Resource] = []
        for response_type in ("DEFAULT_4XX", "DEFAULT_5XX"):
            declared: dict[str, Any] = {
                "response_type": response_type,
                "response_parameters": self._gateway_headers(args),
                "response_templates": {"application/json": GATEWAY_ERROR_BODY},
            }
            self._snapshot.append(declared)
            created.append(
                aws.apigateway.Response(
                    f"{name}-{response_type.lower().replace('_', '-')}",
                    rest_api_id=self.rest_api.id,
                    region=args.settings.region,
                    opts=pulumi.ResourceOptions(parent=self),
                    **declared,
                )
            )
        return created

    @staticmethod
    def _gateway_headers(args: RegionalApiArgs) -> dict[str, str]:
        """CORS headers on API Gateway's own 4xx and 5xx answers.

        A gateway response can only carry a fixed value or a request header, not a choice among
        several origins: with one allowed origin it is that origin; with several the request's
        Origin is echoed (these answers carry an error, never data), and CloudFront's
        response-headers policy, which overrides it, is the authority for browsers.
        """
        if args.settings.allow_any_origin:
            origin = "'*'"
        elif len(args.settings.cors_origins) == 1:
            origin = f"'{args.settings.cors_origins[0]}'"
        else:
            origin = "method.request.header.Origin"
        return {
            "gatewayresponse.header.Access-Control-Allow-Origin": origin,
            "gatewayresponse.header.Access-Control-Allow-Headers": (
                f"'{','.join(args.settings.cors_allowed_headers)}'"
            ),
            "gatewayresponse.header.Access-Control-Allow-Methods": f"'{','.join(CORS_METHODS)}'",
            "gatewayresponse.header.Vary": "'Origin'",
        }

    def _routes(self, name: str, args: RegionalApiArgs) -> list[pulumi.Resource]:
        """Resources, methods and proxy integrations for every route and its preflight."""
        child = pulumi.ResourceOptions(parent=self)
        parents: dict[str, pulumi.Output[str]] = {"": self.rest_api.root_resource_id}
        created: list[pulumi.Resource] = []

        for route in ROUTES:
            path = ""
            for part in route.path.strip("/").split("/"):
                parent_path, path = path, f"{path}/{part}"
                if path in parents:
                    continue
                slug = path.strip("/").replace("/", "-").replace("{", "").replace("}", "")
                resource = aws.apigateway.Resource(
                    f"{name}-{slug.lower()}",
                    rest_api=self.rest_api.id,
                    region=args.settings.region,
                    parent_id=parents[parent_path],
                    path_part=part,
                    opts=child,
                )
                parents[path] = resource.id

            target = self._target(route)
            for method in (route.method, "OPTIONS"):
                slug = f"{route.name}-{method.lower()}"
                method_settings: dict[str, Any] = {
                    "http_method": method,
                    "authorization": "NONE",
                    "request_parameters": (
                        {"method.request.path.socCode": True} if "{socCode}" in path else None
                    ),
                }
                integration_settings: dict[str, Any] = {
                    "type": "AWS_PROXY",
                    # Lambda proxy integrations are always invoked with POST.
                    "integration_http_method": "POST",
                    "timeout_milliseconds": INTEGRATION_TIMEOUT_MS,
                }
                self._snapshot.append(
                    {
                        "path": path,
                        "target": self._target_name(route),
                        **method_settings,
                        **integration_settings,
                    }
                )
                method_resource = aws.apigateway.Method(
                    f"{name}-{slug}",
                    rest_api=self.rest_api.id,
                    region=args.settings.region,
                    resource_id=parents[path],
                    opts=child,
                    **method_settings,
                )
                integration = aws.apigateway.Integration(
                    f"{name}-{slug}-integration",
                    rest_api=self.rest_api.id,
                    region=args.settings.region,
                    resource_id=parents[path],
                    http_method=method_resource.http_method,
                    uri=target.alias.invoke_arn,
                    opts=child,
                    **integration_settings,
                )
                created += [method_resource, integration]

            aws.lambda_.Permission(
                f"{name}-{route.name}-invoke",
                action="lambda:InvokeFunction",
                function=target.function.name,
                qualifier=target.alias.name,
                principal="apigateway.amazonaws.com",
                region=args.settings.region,
                source_arn=pulumi.Output.concat(
                    self.rest_api.execution_arn, "/*/*", _arn_path(route.path)
                ),
                opts=child,
            )
        return created

    def _stage(
        self, name: str, args: RegionalApiArgs, deployment: aws.apigateway.Deployment
    ) -> aws.apigateway.Stage:
        child = pulumi.ResourceOptions(parent=self)
        account = _api_gateway_logging(f"{name}-logging", args.settings.region, self)
        access_logs = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=f"/aws/apigateway/{name}-{args.settings.stack}/access",
            region=args.settings.region,
            retention_in_days=args.settings.log_retention_days,
            opts=child,
        )
        # Execution logging (logging_level below) writes to this group; API Gateway would
        # create it itself, with no retention, if it did not exist before the stage logs.
        execution_logs = aws.cloudwatch.LogGroup(
            f"{name}-execution-logs",
            name=pulumi.Output.concat(
                "API-Gateway-Execution-Logs_", self.rest_api.id, "/", args.settings.stage_name
            ),
            region=args.settings.region,
            retention_in_days=args.settings.log_retention_days,
            opts=child,
        )
        stage = aws.apigateway.Stage(
            f"{name}-stage",
            rest_api=self.rest_api.id,
            region=args.settings.region,
            deployment=deployment.id,
            stage_name=args.settings.stage_name,
            xray_tracing_enabled=True,
            access_log_settings=aws.apigateway.StageAccessLogSettingsArgs(
                destination_arn=access_logs.arn, format=ACCESS_LOG_FORMAT
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[account, execution_logs]),
        )
        # REST APIs throttle per method: the `*/*` method settings give each method of the stage
        # these limits separately (8 methods here), not one budget for the whole stage.
        aws.apigateway.MethodSettings(
            f"{name}-method-settings",
            rest_api=self.rest_api.id,
            region=args.settings.region,
            stage_name=stage.stage_name,
            method_path="*/*",
            settings=aws.apigateway.MethodSettingsSettingsArgs(
                throttling_rate_limit=args.settings.throttle_rate_limit,
                throttling_burst_limit=args.settings.throttle_burst_limit,
                metrics_enabled=True,
                logging_level="ERROR",
                # Full request logging would put veterans' data into the logs.
                data_trace_enabled=False,
            ),
            opts=child,
        )
        return stage


def _api_gateway_logging(name: str, region: str, parent: pulumi.Resource) -> aws.apigateway.Account:
    """API Gateway's per-region account setting: the role it uses to write stage logs.

    Stages refuse access logging until the region's account setting names such a role. It is
    one setting per region and account, so a second project in the same region shares it.
    """
    child = pulumi.ResourceOptions(parent=parent)
    role = aws.iam.Role(
        f"{name}-role",
        assume_role_policy=assume_role_policy("apigateway.amazonaws.com"),
        opts=child,
    )
    attachment = aws.iam.RolePolicyAttachment(
        f"{name}-role-logs",
        role=role.name,
        policy_arn="arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs",
        opts=child,
    )
    return aws.apigateway.Account(
        f"{name}-account",
        cloudwatch_role_arn=role.arn,
        region=region,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[attachment]),
    )


def _arn_path(path: str) -> str:
    """`/career/{socCode}` as it appears in an execute-api ARN: `/career/*`."""
    return "/".join("*" if part.startswith("{") else part for part in path.split("/"))

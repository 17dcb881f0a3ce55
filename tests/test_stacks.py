"""Both stacks as the program declares them, under the mock runtime with the real stack files."""

from __future__ import annotations

import json

import pytest

from tests.program import Deployment, Resource, run_stack

ROUTES = {("POST", "recommend"), ("GET", "{socCode}"), ("GET", "health"), ("POST", "uploads")}
DATA_TYPES = (
    "aws:dynamodb/table:Table",
    "aws:s3/bucket:Bucket",
    "aws:kms/key:Key",
)


def api_functions(deployment: Deployment) -> list[Resource]:
    """The functions behind the API routes (other components add functions of their own)."""
    return [
        f
        for f in deployment.of_type("aws:lambda/function:Function")
        if f.name.startswith("vetroi-api-")
    ]


def data_buckets(deployment: Deployment) -> list[Resource]:
    return [
        b for b in deployment.of_type("aws:s3/bucket:Bucket") if b.name.startswith("vetroi-data")
    ]


@pytest.fixture(scope="module")
def prod() -> Deployment:
    return run_stack("prod")


@pytest.fixture(scope="module")
def backup() -> Deployment:
    return run_stack("backup")


@pytest.fixture(scope="module")
def monolith() -> Deployment:
    return run_stack("backup", overrides={"vetroi:functionLayout": "monolith"})


def test_regional_resources_stay_in_their_region(prod: Deployment, backup: Deployment):
    """Everything regional lands in the stack's own region (global ones aside).

    The static-fallback bucket is the exception by design: it stands in for the primary region,
    so it and its objects live in the backup region.
    """
    for deployment, region, other in ((prod, "us-east-2", "us-west-2"), (backup, "us-west-2", "")):
        for resource in deployment:
            if resource.component or resource.region == "us-east-1":
                continue
            static = resource.typ.startswith("aws:s3/") and resource.name.startswith(
                ("vetroi-edge-static", "vetroi-edge-career-")
            )
            expected = other if static else region
            assert resource.region == expected, f"{resource.name} is in {resource.region}"


def test_each_stack_is_a_complete_regional_api(prod: Deployment, backup: Deployment):
    """Each stack has the API, a function per route, their aliases, roles and log groups."""
    for deployment in (prod, backup):
        counts = deployment.types()
        assert counts["aws:apigateway/restApi:RestApi"] == 1
        assert counts["aws:apigateway/stage:Stage"] == 1
        assert len(api_functions(deployment)) == 4
        assert counts["aws:lambda/alias:Alias"] >= 4
        # Eight methods: each route and its preflight.
        assert counts["aws:apigateway/method:Method"] == 8
        assert counts["aws:apigateway/integration:Integration"] == 8


def test_only_prod_owns_the_data(prod: Deployment, backup: Deployment):
    """The table, both buckets and the upload key belong to prod; backup declares none."""
    assert len(prod.of_type("aws:dynamodb/table:Table")) == 1
    assert len(data_buckets(prod)) == 2
    for typ in DATA_TYPES:
        assert backup.of_type(typ) == [], f"backup declares a {typ}"
    assert backup.outputs["tableName"] == prod.outputs["tableName"] == "vetroi-data"
    assert backup.outputs["uploadBucket"] == prod.outputs["uploadBucket"]


def test_global_table_is_durable_and_replicated(prod: Deployment):
    """On-demand, streamed, recoverable, undeletable, with its replica in us-west-2."""
    table = prod.one("aws:dynamodb/table:Table")

    assert table["billingMode"] == "PAY_PER_REQUEST"
    assert table["streamEnabled"] is True
    assert table["streamViewType"] == "NEW_AND_OLD_IMAGES"
    assert table["pointInTimeRecovery"] == {"enabled": True}
    assert table["deletionProtectionEnabled"] is True
    assert table["ttl"] == {"attributeName": "expiresAt", "enabled": True}
    assert [r["regionName"] for r in table["replicas"]] == ["us-west-2"]
    assert table.region == "us-east-2"
    assert table.protect and table.retain_on_delete


def test_data_buckets_are_kept_private_and_encrypted(prod: Deployment):
    """Both buckets: protected, retained, versioned, encrypted, private, TLS only, lifecycle."""
    for bucket in data_buckets(prod):
        name = bucket.name
        assert bucket.protect and bucket.retain_on_delete, f"{name} not kept"
        access = prod.named(f"{name}-public-access")
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls"):
            assert access[flag] is True, f"{name}: {flag}"
        assert access["restrictPublicBuckets"] is True
        versioning = prod.named(f"{name}-versioning")
        assert versioning["versioningConfiguration"]["status"] == "Enabled"
        lifecycle = prod.named(f"{name}-lifecycle")
        assert lifecycle["rules"][0]["status"] == "Enabled"
        policy = json.loads(prod.named(f"{name}-policy")["policy"])
        deny = policy["Statement"][0]
        assert deny["Effect"] == "Deny"
        assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}

    dd214 = prod.named("vetroi-data-dd214-encryption")["rules"][0]
    assert dd214["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    key = prod.one("aws:kms/key:Key")
    assert key["enableKeyRotation"] is True
    assert key.protect and key.retain_on_delete, "losing the key loses every upload"


def test_data_buckets_keep_their_configuration_on_delete(prod: Deployment):
    """Every resource that configures the data buckets or their key is retained on delete, so a
    destroy leaves each bucket private, versioned, encrypted and TLS-only, not bare."""
    configuring = [
        r for r in prod if r.parent == "vetroi-data" and not r.component and r.typ not in DATA_TYPES
    ]
    expected = {
        f"{bucket}-{part}"
        for bucket in ("vetroi-data-dd214", "vetroi-data-onet-cache")
        for part in ("public-access", "versioning", "encryption", "lifecycle", "policy")
    } | {"vetroi-data-dd214-cors", "vetroi-data-dd214-key-alias"}

    assert {r.name for r in configuring} == expected
    loose = [r.name for r in configuring if not r.retain_on_delete]
    assert loose == [], f"deleted with the stack: {loose}"


def test_upload_bucket_accepts_posts_from_the_front_end_only(prod: Deployment):
    """Browsers post DD-214s to S3 directly: the bucket's CORS allows exactly those origins."""
    cors = prod.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", "dd214")
    (rule,) = cors["corsRules"]

    assert rule["allowedMethods"] == ["POST"]
    assert rule["allowedOrigins"] == [
        "https://vetroi.example.com",
        "https://www.vetroi.example.com",
    ]
    assert cors.name.endswith("dd214-cors")


def test_buckets_adopted_by_name(prod: Deployment):
    """A bucket name in the settings imports the old bucket instead of creating one."""
    adopted = run_stack("prod", overrides={"vetroi:uploadBucketName": "vetroi-dd214-uploads"})

    bucket = adopted.named("vetroi-data-dd214")
    assert bucket.import_id == "vetroi-dd214-uploads"
    assert bucket["bucket"] == "vetroi-dd214-uploads"
    assert adopted.outputs["uploadBucket"] == "vetroi-dd214-uploads"
    assert prod.named("vetroi-data-dd214").import_id is None


def test_api_is_regional_with_every_route_and_preflight(prod: Deployment):
    """REST API with a regional endpoint; each route and OPTIONS on each route's resource."""
    api = prod.one("aws:apigateway/restApi:RestApi")
    assert api["endpointConfiguration"]["types"] == "REGIONAL"

    paths = {r.name: r["pathPart"] for r in prod.of_type("aws:apigateway/resource:Resource")}
    assert sorted(paths.values()) == ["career", "health", "recommend", "uploads", "{socCode}"]
    methods = {(m["httpMethod"], m.name) for m in prod.of_type("aws:apigateway/method:Method")}
    for method, route in (("POST", "recommend"), ("GET", "career"), ("GET", "health")):
        assert (method, f"vetroi-api-{route}-{method.lower()}") in methods
        assert ("OPTIONS", f"vetroi-api-{route}-options") in methods


def test_integrations_invoke_the_live_alias(prod: Deployment):
    """Every integration is a Lambda proxy to a `live` alias, never to $LATEST."""
    for integration in prod.of_type("aws:apigateway/integration:Integration"):
        assert integration["type"] == "AWS_PROXY"
        assert integration["integrationHttpMethod"] == "POST"
        assert integration["uri"].endswith(":live/invocations"), integration.name
    for permission in prod.of_type("aws:lambda/permission:Permission"):
        if not permission.name.startswith("vetroi-api-"):
            continue
        assert permission["qualifier"] == "live", permission.name
        assert permission["principal"] == "apigateway.amazonaws.com"


def test_gateway_errors_carry_cors_headers(prod: Deployment):
    """DEFAULT_4XX and DEFAULT_5XX answers carry the CORS headers a browser needs."""
    responses = {r["responseType"]: r for r in prod.of_type("aws:apigateway/response:Response")}

    assert set(responses) == {"DEFAULT_4XX", "DEFAULT_5XX"}
    for response in responses.values():
        headers = response["responseParameters"]
        assert headers["gatewayresponse.header.Access-Control-Allow-Origin"]
        assert "Content-Type" in headers["gatewayresponse.header.Access-Control-Allow-Headers"]
        assert "OPTIONS" in headers["gatewayresponse.header.Access-Control-Allow-Methods"]
        # The body is JSON once API Gateway puts in its message, which it quotes itself.
        template = response["responseTemplates"]["application/json"]
        rendered = template.replace("$context.error.messageString", json.dumps('Missing "x"'))
        assert json.loads(rendered)["error"]["message"] == 'Missing "x"'


def _deployment_trigger(deployment: Deployment) -> str:
    return deployment.one("aws:apigateway/deployment:Deployment")["triggers"]["configuration"]


def test_api_redeploys_when_what_it_serves_changes(prod: Deployment, monkeypatch):
    """A change to a route, an integration or a gateway response makes a new deployment."""
    import components.api

    baseline = _deployment_trigger(prod)
    assert _deployment_trigger(run_stack("prod")) == baseline, "the trigger must be stable"
    assert _deployment_trigger(run_stack("prod", {"vetroi:functionMemoryMb": 1024})) == baseline

    headers = run_stack("prod", {"vetroi:corsAllowedHeaders": ["Content-Type", "X-Demo"]})
    assert _deployment_trigger(headers) != baseline, "gateway response headers"

    monkeypatch.setattr(components.api, "INTEGRATION_TIMEOUT_MS", 20_000)
    assert _deployment_trigger(run_stack("prod")) != baseline, "integration settings"

    monkeypatch.undo()
    monkeypatch.setattr(components.api, "GATEWAY_ERROR_BODY", '{"error": "x"}')
    assert _deployment_trigger(run_stack("prod")) != baseline, "gateway response body"


def test_gateway_errors_name_the_single_origin():
    """With one allowed origin the gateway answers with exactly that origin."""
    single = run_stack("backup", overrides={"vetroi:corsOrigins": ["https://app.example.com"]})

    header = "gatewayresponse.header.Access-Control-Allow-Origin"
    for response in single.of_type("aws:apigateway/response:Response"):
        assert response["responseParameters"][header] == "'https://app.example.com'"


def test_stage_traces_logs_and_throttles(prod: Deployment):
    """One stage: X-Ray on, JSON access logs to a retained log group, throttling from settings."""
    stage = prod.one("aws:apigateway/stage:Stage")
    assert stage["stageName"] == "prod"
    assert stage["xrayTracingEnabled"] is True
    log_format = json.loads(stage["accessLogSettings"]["format"])
    assert log_format["requestId"] == "$context.requestId"

    access_logs = prod.one("aws:cloudwatch/logGroup:LogGroup", "access-logs")
    assert access_logs["retentionInDays"] == 30
    settings = prod.one("aws:apigateway/methodSettings:MethodSettings")["settings"]
    assert settings["throttlingRateLimit"] == 100
    assert settings["throttlingBurstLimit"] == 200
    assert settings["dataTraceEnabled"] is False
    assert prod.one("aws:apigateway/account:Account")["cloudwatchRoleArn"]


def test_execution_logs_go_to_a_declared_group_with_retention(prod: Deployment):
    """The group API Gateway's execution logging writes to is declared before the stage, with
    the settings' retention, so API Gateway does not create it without one."""
    stage = prod.one("aws:apigateway/stage:Stage")
    api = prod.one("aws:apigateway/restApi:RestApi")
    group = prod.one("aws:cloudwatch/logGroup:LogGroup", "execution-logs")
    method_settings = prod.one("aws:apigateway/methodSettings:MethodSettings")

    assert method_settings["settings"]["loggingLevel"] == "ERROR"
    assert group["name"] == f"API-Gateway-Execution-Logs_{api.id}/{stage['stageName']}"
    assert group["retentionInDays"] == 30
    assert group.region == stage.region == "us-east-2"
    assert group.name in stage.depends_on


def test_invoke_url_and_stage_are_outputs(prod: Deployment, backup: Deployment):
    """Operators and the other stack read the API from the stack outputs."""
    assert prod.outputs["apiUrl"].startswith("https://")
    assert ".us-east-2." in prod.outputs["apiUrl"]
    assert ".us-west-2." in backup.outputs["apiUrl"]
    assert prod.outputs["stageName"] == backup.outputs["stageName"] == "prod"
    assert set(prod.outputs["functionNames"]) == {"recommend", "career", "health", "uploads"}


def test_functions_are_self_contained_traced_and_aliased(prod: Deployment):
    """No layers, X-Ray active, published, arm64 python3.12, alias live, logs retained."""
    for function in api_functions(prod):
        name = function.name
        assert not function.get("layers"), f"{name} has layers"
        assert function["tracingConfig"] == {"mode": "Active"}, name
        assert function["publish"] is True, name
        assert function["architectures"] == ["arm64"], name
        assert function["runtime"] == "python3.12", name
        assert function["sourceCodeHash"] == prod.outputs["packageHash"], name
        assert function["handler"].startswith("vetroi_api.handlers."), name
    for alias in prod.of_type("aws:lambda/alias:Alias"):
        assert alias["name"] == "live", alias.name
    for group in prod.of_type("aws:cloudwatch/logGroup:LogGroup"):
        assert group["retentionInDays"] == 30, group.name


def test_roles_are_least_privilege(prod: Deployment, backup: Deployment):
    """Each function's role names exact actions; no wildcard action on a wildcard resource."""
    for deployment in (prod, backup):
        policies = deployment.of_type("aws:iam/rolePolicy:RolePolicy")
        assert len([p for p in policies if p.name.startswith("vetroi-api-")]) == 4
        for policy in policies:
            for statement in json.loads(policy["policy"])["Statement"]:
                actions = _as_list(statement["Action"])
                resources = _as_list(statement["Resource"])
                assert not any("*" in a for a in actions), f"{policy.name}: {actions}"
                assert not ("*" in resources and any(a.endswith("*") for a in actions))

    health = _statements(prod, "health")
    assert {a for s in health for a in _as_list(s["Action"]) if a.startswith("dynamodb:")} == {
        "dynamodb:GetItem"
    }
    uploads = _statements(prod, "uploads")
    assert not any(a.startswith("dynamodb:") for s in uploads for a in _as_list(s["Action"]))
    s3 = [s for s in uploads if "s3:PutObject" in _as_list(s["Action"])]
    assert _as_list(s3[0]["Resource"]) == [
        "arn:aws:s3:::vetroi-dd214-123456789012-us-east-2/uploads/*"
    ]
    kms = [s for s in uploads if "kms:GenerateDataKey" in _as_list(s["Action"])]
    assert kms[0]["Condition"] == {"StringEquals": {"kms:ViaService": "s3.us-east-2.amazonaws.com"}}


def test_backup_reads_its_own_table_replica(backup: Deployment):
    """The backup region's functions use the replica in us-west-2, by the shared name."""
    career = _statements(backup, "career")
    tables = [r for s in career for r in _as_list(s["Resource"]) if ":dynamodb:" in r]
    assert tables == ["arn:aws:dynamodb:us-west-2:123456789012:table/vetroi-data"]


def test_environment_names_the_data_and_holds_no_secret():
    """Functions learn where the data is; O*NET credentials arrive as a secret ARN only."""
    deployment = run_stack(
        "backup",
        secrets={"vetroi:onetUsername": "vetroi-user", "vetroi:onetPassword": "hunter2"},
    )

    for function in api_functions(deployment):
        variables = function["environment"]["variables"]
        assert variables["VETROI_TABLE"] == "vetroi-data"
        assert variables["VETROI_REGION_ROLE"] == "backup"
        # Uploads land in the primary's bucket, so they are signed for its region.
        assert variables["VETROI_UPLOAD_REGION"] == "us-east-2"
        assert variables["VETROI_ONET_SECRET"].startswith("arn:aws:secretsmanager:us-west-2:")
        assert "hunter2" not in json.dumps(variables)
    assert deployment.one("aws:secretsmanager/secret:Secret").region == "us-west-2"
    assert "hunter2" not in json.dumps(deployment.outputs)


def test_without_onet_credentials_the_program_warns(prod: Deployment):
    """No credentials: no secret resource, and the operator is told what that means."""
    assert prod.of_type("aws:secretsmanager/secret:Secret") == []
    assert any("onetUsername" in warning for warning in prod.warnings)


def test_without_a_python_to_byte_compile_with_the_program_warns(
    monkeypatch: pytest.MonkeyPatch,
):
    """A package of sources only still deploys; the operator is told what it costs and how to
    avoid it."""
    from components import packaging

    monkeypatch.setattr(packaging, "find_interpreter", lambda version: None)
    deployment = run_stack("backup")

    (warning,) = [w for w in deployment.warnings if "byte-compile" in w]
    assert "CPython 3.12" in warning and "VETROI_BUILD_PYTHON" in warning
    functions = api_functions(deployment)
    assert functions
    assert {f["sourceCodeHash"] for f in functions} == {deployment.outputs["packageHash"]}


def test_monolith_serves_every_route_with_one_function(monolith: Deployment):
    """The monolith layout: one function and alias, every integration pointing at it."""
    (function,) = api_functions(monolith)
    assert function["handler"] == "vetroi_api.handlers.lambda_handler"
    uris = {i["uri"] for i in monolith.of_type("aws:apigateway/integration:Integration")}
    assert len(monolith.of_type("aws:apigateway/integration:Integration")) == 8
    assert len(uris) == 1
    policy = json.loads(monolith.one("aws:iam/rolePolicy:RolePolicy", "vetroi-api-")["policy"])
    actions = {a for s in policy["Statement"] for a in _as_list(s["Action"])}
    assert {"dynamodb:PutItem", "s3:PutObject"} <= actions


def _as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _statements(deployment: Deployment, route: str) -> list[dict]:
    policy = deployment.one("aws:iam/rolePolicy:RolePolicy", f"vetroi-api-{route}")
    return json.loads(policy["policy"])["Statement"]


def test_pinned_version_per_function_rolls_back_only_that_function():
    """A per-function pin moves that function's live alias alone; the others stay on the new one."""
    deployment = run_stack("prod", overrides={"vetroi:pinnedVersion": '{"career": "7"}'})

    versions = {
        alias["functionName"].removeprefix("vetroi-prod-"): alias["functionVersion"]
        for alias in deployment.of_type("aws:lambda/alias:Alias")
        if alias["functionName"] in deployment.outputs["functionNames"].values()
    }
    assert versions == {"career": "7", "recommend": "1", "health": "1", "uploads": "1"}

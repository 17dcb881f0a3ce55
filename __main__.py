"""VetROI: one complete regional copy of the API per stack.

`prod` (primary, us-east-2) and `backup` (us-west-2) each deploy:
- a REST API (regional endpoint) with CORS on every answer, API Gateway's own errors included;
- the functions behind it, each zip carrying every dependency, invoked through alias `live`;
- the O*NET credentials in Secrets Manager;
- with a domain, the custom domain api.<domain> with its certificate, a health check on the
  region's own /health, and its half (PRIMARY or SECONDARY) of the api.<domain> failover record;
- alert topics (its region and us-east-1), alarms, a dashboard, a scheduled synthetic check and
  a warm-up schedule; the change freeze before a demo stops `pulumi up` before any of it.
The prod stack also owns the data that outlives stacks: the DynamoDB global table with its
replica in the backup region, and the DD-214 upload and O*NET cache buckets. It also owns the
edge: CloudFront with its WAF and certificate in us-east-1, the CORS response-headers policy and
the static-fallback bucket (in the backup region), and the table's AWS Backup plan (copies go to
a vault the backup stack owns).
"""

from pathlib import Path

import pulumi
import pulumi_aws as aws

from components import freeze, packaging
from components import settings as stack_settings
from components.access import DataLocations, route_permissions
from components.api import RegionalApi, RegionalApiArgs
from components.data import GlobalData, GlobalDataArgs, bucket_names
from components.frontdoor import front_door
from components.operations import operations
from components.secrets import OnetCredentials, OnetCredentialsArgs

ROOT = Path(__file__).resolve().parent
FUNCTIONS = ROOT / "functions"

settings = stack_settings.load()
# Before any resource: an update stopped half-way would delete what was not declared yet.
change_freeze = freeze.enforce(settings)
account_id = aws.get_caller_identity_output().account_id
upload_bucket, cache_bucket = bucket_names(account_id, settings.primary_region)
upload_bucket = pulumi.Output.from_input(settings.upload_bucket_name or upload_bucket)
cache_bucket = pulumi.Output.from_input(settings.cache_bucket_name or cache_bucket)

if settings.is_primary:
    data = GlobalData(
        "vetroi-data",
        GlobalDataArgs(
            table_name=settings.table_name,
            primary_region=settings.region,
            replica_region=settings.other_region,
            upload_bucket_name=upload_bucket,
            cache_bucket_name=cache_bucket,
            upload_origins=["*"] if settings.allow_any_origin else list(settings.cors_origins),
            adopt_upload_bucket=settings.upload_bucket_name,
            adopt_cache_bucket=settings.cache_bucket_name,
        ),
    )
    upload_bucket = data.upload_bucket.bucket

onet_secret_arn = None
if settings.onet_username is not None and settings.onet_password is not None:
    onet_secret_arn = OnetCredentials(
        "vetroi-onet",
        OnetCredentialsArgs(
            region=settings.region,
            stack=settings.stack,
            username=settings.onet_username,
            password=settings.onet_password,
        ),
    ).arn

else:
    pulumi.log.warn(
        "onetUsername/onetPassword are not set: the functions will serve the O*NET cache and the "
        "bundled static data only. Set them with `pulumi config set --secret`."
    )

package = packaging.build_package(
    FUNCTIONS,
    FUNCTIONS / "requirements.txt",
    platform=settings.package_platform,
    python_version=settings.python_version,
    out_dir=ROOT / ".build",
    # One package serves every function of either layout; errors name it so.
    name="vetroi-api (every function's code)",
)
if package.bytecode is None:
    pulumi.log.warn(
        f"No CPython {settings.python_version} here to byte-compile the function package, so it "
        "ships sources only and every cold start compiles its modules again (0.3 s or more). "
        f"Install Python {settings.python_version} or point {packaging.BUILD_PYTHON_VARIABLE} "
        "at one."
    )
environment: dict[str, pulumi.Input[str]] = {
    "VETROI_TABLE": settings.table_name,
    "VETROI_UPLOAD_BUCKET": upload_bucket,
    "VETROI_UPLOAD_REGION": settings.primary_region,
    "VETROI_UPLOAD_MAX_BYTES": str(settings.upload_max_bytes),
    "VETROI_CORS_ORIGINS": "*" if settings.allow_any_origin else ",".join(settings.cors_origins),
    "VETROI_CORS_ALLOWED_HEADERS": ",".join(settings.cors_allowed_headers),
    "VETROI_CORS_MAX_AGE": str(settings.cors_max_age_seconds),
    "VETROI_ONET_BASE_URL": settings.onet_base_url,
    "VETROI_REGION_ROLE": settings.role,
}
if onet_secret_arn is not None:
    environment["VETROI_ONET_SECRET"] = onet_secret_arn

api = RegionalApi(
    "vetroi-api",
    RegionalApiArgs(
        settings=settings,
        package=package,
        permissions=route_permissions(
            DataLocations(
                account_id=account_id,
                region=settings.region,
                primary_region=settings.primary_region,
                table_name=settings.table_name,
                upload_bucket=upload_bucket,
                onet_secret_arn=onet_secret_arn,
            )
        ),
        environment=environment,
    ),
)

front = front_door(
    settings,
    rest_api_id=api.rest_api.id,
    stage_name=api.stage_name,
    invoke_url=api.invoke_url,
)

ops = operations(
    settings,
    api=api,
    package=package,
    front=front,
    table_arn=data.table_arn if settings.is_primary else None,
)

pulumi.export("role", settings.role)
pulumi.export("region", settings.region)
pulumi.export("apiUrl", api.invoke_url)
pulumi.export("stageName", api.stage_name)
pulumi.export("tableName", settings.table_name)
pulumi.export("uploadBucket", upload_bucket)
pulumi.export("cacheBucket", cache_bucket)
pulumi.export("functionNames", {route: f.function.name for route, f in api.functions.items()})
pulumi.export("aliasArns", {route: f.alias.arn for route, f in api.functions.items()})
pulumi.export("packageHash", package.sha256_b64)
pulumi.export("corsOrigins", list(settings.cors_origins))
pulumi.export("changeFreeze", change_freeze.as_output() if change_freeze else None)
pulumi.export("alertTopicArn", ops.monitoring.topic.arn)
pulumi.export("dashboardName", ops.monitoring.dashboard.dashboard_name)
pulumi.export("postFailoverBudgetSeconds", front.budget.post_seconds)
pulumi.export("getFallbackBudgetSeconds", front.budget.get_seconds)
if front.failover is not None:
    # The check the failover record follows; the operations commands flip it.
    pulumi.export("healthCheckId", front.failover.health_check_id)
    pulumi.export("probeHealthCheckId", front.failover.probe.id)
if front.edge is not None:
    pulumi.export("edgeUrl", front.edge.url)
    pulumi.export("distributionId", front.edge.distribution.id)
    pulumi.export("staticBucket", front.edge.static_bucket.bucket)
    pulumi.export("staticBucketRegion", front.edge.static_region)

"""Data that outlives stacks: the DynamoDB global table and the two buckets the plan keeps.

The prod stack is the one owner of all three. The backup stack declares none of them: it refers
to the table (whose replica lives in its region) and to the buckets by name, so that deleting or
re-creating either stack never touches the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.buckets import deny_insecure_transport, secure_bucket

# Item keys and the TTL attribute the API code writes (functions/vetroi_api).
PARTITION_KEY = "pk"
SORT_KEY = "sk"
TTL_ATTRIBUTE = "expiresAt"

# Uploaded DD-214s are kept a year, then expire.
UPLOAD_RETENTION_DAYS = 365


def bucket_names(
    account_id: pulumi.Input[str], primary_region: str
) -> tuple[pulumi.Output[str], pulumi.Output[str]]:
    """Default names of the upload and cache buckets, the same when computed by either stack.

    The backup stack deploys before prod and must not read prod's outputs, so both stacks
    derive the names from the account and the primary region.
    """
    account = pulumi.Output.from_input(account_id)
    return (
        account.apply(lambda a: f"vetroi-dd214-{a}-{primary_region}"),
        account.apply(lambda a: f"vetroi-onet-cache-{a}-{primary_region}"),
    )


@dataclass
class GlobalDataArgs:
    table_name: str
    primary_region: str
    replica_region: str
    upload_bucket_name: pulumi.Input[str]
    cache_bucket_name: pulumi.Input[str]
    # Browser origins that post DD-214s straight to the upload bucket (presigned POST).
    upload_origins: Sequence[str] = ()
    # Names of buckets from an earlier deployment to adopt instead of creating new ones.
    adopt_upload_bucket: str | None = None
    adopt_cache_bucket: str | None = None


class GlobalData(pulumi.ComponentResource):
    """The global table with its replica, and the DD-214 and O*NET cache buckets (prod only)."""

    def __init__(
        self, name: str, args: GlobalDataArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("vetroi:data:GlobalData", name, None, opts)
        region = args.primary_region
        # Data resources are protected and survive `pulumi destroy` and stack removal.
        keep = pulumi.ResourceOptions(parent=self, protect=True, retain_on_delete=True)
        # What configures them is retained too: a destroy (after unprotecting, or with
        # --exclude-protected) leaves each bucket as private, encrypted and TLS-only as it was.
        kept = pulumi.ResourceOptions(parent=self, retain_on_delete=True)

        self.table = aws.dynamodb.Table(
            f"{name}-table",
            name=args.table_name,
            region=region,
            billing_mode="PAY_PER_REQUEST",
            hash_key=PARTITION_KEY,
            range_key=SORT_KEY,
            attributes=[
                aws.dynamodb.TableAttributeArgs(name=PARTITION_KEY, type="S"),
                aws.dynamodb.TableAttributeArgs(name=SORT_KEY, type="S"),
            ],
            # Global tables need the stream; leaving it unset makes every update try to remove it.
            stream_enabled=True,
            stream_view_type="NEW_AND_OLD_IMAGES",
            point_in_time_recovery=aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True),
            deletion_protection_enabled=True,
            server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
            ttl=aws.dynamodb.TableTtlArgs(attribute_name=TTL_ATTRIBUTE, enabled=True),
            replicas=[
                aws.dynamodb.TableReplicaArgs(
                    region_name=args.replica_region,
                    point_in_time_recovery=True,
                    deletion_protection_enabled=True,
                    propagate_tags=True,
                )
            ],
            tags={"vetroi:data": "global-table"},
            opts=keep,
        )

        self.upload_key = aws.kms.Key(
            f"{name}-dd214-key",
            region=region,
            # Kept with the bucket: without the key its objects could never be read again.
            description="Encrypts DD-214 uploads",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            opts=keep,
        )
        aws.kms.Alias(
            f"{name}-dd214-key-alias",
            name="alias/vetroi-dd214",
            target_key_id=self.upload_key.key_id,
            region=region,
            opts=kept,
        )
        self.upload_bucket = self._bucket(
            f"{name}-dd214",
            args.upload_bucket_name,
            args.adopt_upload_bucket,
            region,
            kms_key_arn=self.upload_key.arn,
            expire_days=UPLOAD_RETENTION_DAYS,
        )
        if args.upload_origins:
            # The browser posts the form to S3 itself; without CORS it cannot read the answer
            # and reports the upload as failed even when it landed.
            aws.s3.BucketCorsConfiguration(
                f"{name}-dd214-cors",
                bucket=self.upload_bucket.id,
                region=region,
                cors_rules=[
                    aws.s3.BucketCorsConfigurationCorsRuleArgs(
                        allowed_methods=["POST"],
                        allowed_origins=list(args.upload_origins),
                        allowed_headers=["*"],
                        expose_headers=["ETag", "Location"],
                        max_age_seconds=600,
                    )
                ],
                opts=kept,
            )
        self.cache_bucket = self._bucket(
            f"{name}-onet-cache",
            args.cache_bucket_name,
            args.adopt_cache_bucket,
            region,
            kms_key_arn=None,
            expire_days=None,
        )

        self.table_name = self.table.name
        self.table_arn = self.table.arn
        self.register_outputs(
            {
                "tableName": self.table.name,
                "tableArn": self.table.arn,
                "uploadBucket": self.upload_bucket.bucket,
                "cacheBucket": self.cache_bucket.bucket,
            }
        )

    def _bucket(
        self,
        name: str,
        bucket_name: pulumi.Input[str],
        adopt: str | None,
        region: str,
        kms_key_arn: pulumi.Input[str] | None,
        expire_days: int | None,
    ) -> aws.s3.Bucket:
        """A private, versioned, encrypted bucket that refuses plain HTTP and outlives the stack.

        With `adopt`, Pulumi imports the existing bucket of that name on the first `up` rather
        than creating one, so an operator migrating from the old deployment keeps its objects.
        """
        bucket = aws.s3.Bucket(
            name,
            bucket=adopt or bucket_name,
            region=region,
            tags={"vetroi:data": name},
            opts=pulumi.ResourceOptions(
                parent=self, protect=True, retain_on_delete=True, import_=adopt
            ),
        )
        secure_bucket(
            name,
            bucket,
            region,
            self,
            kms_key_arn=kms_key_arn,
            expire_days=expire_days,
            retain_on_delete=True,
        )
        aws.s3.BucketPolicy(
            f"{name}-policy",
            bucket=bucket.id,
            region=region,
            policy=bucket.arn.apply(deny_insecure_transport),
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
        )
        return bucket

"""What every bucket of the platform gets: no public access, versions, encryption, a lifecycle.

The data buckets (components/data.py) and the edge's buckets (components/edge.py) differ in who
owns them and who may read them, which their callers decide; the rest is the same and lives here.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

# Old object versions are kept 30 days after they are overwritten or deleted.
NONCURRENT_VERSION_DAYS = 30

_BY_DEFAULT = (
    aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
)


def secure_bucket(
    name: str,
    bucket: aws.s3.Bucket,
    region: str,
    parent: pulumi.Resource,
    *,
    kms_key_arn: pulumi.Input[str] | None = None,
    expire_days: int | None = None,
    retain_on_delete: bool = False,
) -> None:
    """Block public access, turn on versioning and encryption, and expire what is old.

    Encryption is SSE-KMS with `kms_key_arn`, else SSE-S3 (which CloudFront's origin access
    control can read without a key policy). With `expire_days`, current objects expire too.
    With `retain_on_delete` (a bucket that outlives the stack), deleting these resources from the
    stack leaves them on the bucket, so it is not left public, unversioned or unencrypted.
    """
    child = pulumi.ResourceOptions(parent=parent, retain_on_delete=retain_on_delete)
    aws.s3.BucketPublicAccessBlock(
        f"{name}-public-access",
        bucket=bucket.id,
        region=region,
        block_public_acls=True,
        block_public_policy=True,
        ignore_public_acls=True,
        restrict_public_buckets=True,
        opts=child,
    )
    aws.s3.BucketVersioning(
        f"{name}-versioning",
        bucket=bucket.id,
        region=region,
        versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
            status="Enabled"
        ),
        opts=child,
    )
    encryption = (
        _BY_DEFAULT(sse_algorithm="aws:kms", kms_master_key_id=kms_key_arn)
        if kms_key_arn is not None
        else _BY_DEFAULT(sse_algorithm="AES256")
    )
    aws.s3.BucketServerSideEncryptionConfiguration(
        f"{name}-encryption",
        bucket=bucket.id,
        region=region,
        rules=[
            aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                apply_server_side_encryption_by_default=encryption,
                # One KMS data key per bucket, not per object: fewer KMS calls.
                bucket_key_enabled=kms_key_arn is not None,
            )
        ],
        opts=child,
    )
    aws.s3.BucketLifecycleConfiguration(
        f"{name}-lifecycle",
        bucket=bucket.id,
        region=region,
        rules=[_lifecycle_rule(expire_days)],
        opts=child,
    )


def _lifecycle_rule(expire_days: int | None) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id="expire-old-versions",
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
        abort_incomplete_multipart_upload=(
            aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                days_after_initiation=1
            )
        ),
        noncurrent_version_expiration=(
            aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                noncurrent_days=NONCURRENT_VERSION_DAYS
            )
        ),
        expiration=(
            aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=expire_days)
            if expire_days
            else None
        ),
    )


def deny_insecure_transport(bucket_arn: str) -> str:
    """A bucket policy that refuses every request not made over TLS."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "s3:*",
                    "Resource": [bucket_arn, f"{bucket_arn}/*"],
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                }
            ],
        }
    )

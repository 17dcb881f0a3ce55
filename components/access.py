"""What each route's code may do in AWS: exact actions on exact resources.

The API code (functions/vetroi_api) decides the list: a route gets only the calls it makes.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from components.function import Statement

# The O*NET cache and the app's data: read an entry (or several at once), store an O*NET answer.
TABLE_READ_WRITE = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:PutItem"]
# /health reads one item from this region's replica.
TABLE_READ = ["dynamodb:GetItem"]


@dataclass
class DataLocations:
    account_id: pulumi.Input[str]
    region: str
    primary_region: str
    table_name: str
    upload_bucket: pulumi.Input[str]
    onet_secret_arn: pulumi.Input[str] | None


def route_permissions(where: DataLocations) -> dict[str, list[Statement]]:
    """The statements each route's function needs, keyed by route name."""
    table_arn = pulumi.Output.concat(
        "arn:aws:dynamodb:", where.region, ":", where.account_id, ":table/", where.table_name
    )
    onet = (
        [Statement(actions=["secretsmanager:GetSecretValue"], resources=[where.onet_secret_arn])]
        if where.onet_secret_arn is not None
        else []
    )
    table = [Statement(actions=TABLE_READ_WRITE, resources=[table_arn])]
    uploads_key_arns = pulumi.Output.concat(
        "arn:aws:kms:", where.primary_region, ":", where.account_id, ":key/*"
    )
    return {
        "recommend": table + onet,
        "career": table + onet,
        "health": [Statement(actions=TABLE_READ, resources=[table_arn])],
        "uploads": [
            # The presigned POST is signed with the function's role: it may write new uploads
            # under the uploads/ prefix and nothing else.
            Statement(
                actions=["s3:PutObject"],
                resources=[
                    pulumi.Output.concat("arn:aws:s3:::", where.upload_bucket, "/uploads/*")
                ],
            ),
            # The bucket encrypts with its KMS key; S3 asks KMS on the uploader's behalf. The
            # key is named by region, not id, because the backup stack cannot read prod's
            # outputs; the condition keeps it to requests S3 makes in that region.
            Statement(
                actions=["kms:GenerateDataKey"],
                resources=[uploads_key_arns],
                conditions={
                    "StringEquals": {"kms:ViaService": f"s3.{where.primary_region}.amazonaws.com"}
                },
            ),
        ],
    }

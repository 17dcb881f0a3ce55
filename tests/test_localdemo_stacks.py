"""The local demo's table and buckets against the stacks' declarations, under the mock runtime.

The local environment repeats what the stacks declare (so that starting it never imports
Pulumi); these tests hold the copies equal: the table's keys, billing, stream and TTL, the upload
bucket's CORS rules, the names of the buckets the functions are given, and the static-fallback
objects' key, content type, Cache-Control and body.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from localdemo import aws as local
from localdemo.onetdata import careers
from tests.program import Deployment, run_stack


class Recorder:
    """A boto3 client stand-in that keeps the arguments of each call."""

    class exceptions:  # noqa: N801 - the name boto3 clients give it
        class BucketAlreadyOwnedByYou(Exception):
            pass

    def __init__(self) -> None:
        self.calls: dict[str, dict[str, Any]] = {}

    def __getattr__(self, name: str) -> Any:
        def call(**kwargs: Any) -> dict[str, Any]:
            self.calls[name] = kwargs
            return {}

        return call


@pytest.fixture(scope="module")
def prod() -> Deployment:
    return run_stack("prod")


def test_local_table_is_the_stacks_table(prod: Deployment) -> None:
    """Name, keys, attribute types, billing, stream and TTL as components/data.py declares."""
    table = prod.one("aws:dynamodb/table:Table")
    dynamodb = Recorder()
    local.create_table(dynamodb)
    created, ttl = dynamodb.calls["create_table"], dynamodb.calls["update_time_to_live"]

    keys = {k["KeyType"]: k["AttributeName"] for k in created["KeySchema"]}
    assert (created["TableName"], keys) == (
        table["name"],
        {"HASH": table["hashKey"], "RANGE": table["rangeKey"]},
    )
    attributes = [(a["AttributeName"], a["AttributeType"]) for a in created["AttributeDefinitions"]]
    assert sorted(attributes) == sorted((a["name"], a["type"]) for a in table["attributes"])
    assert created["BillingMode"] == table["billingMode"]
    assert created["StreamSpecification"] == {
        "StreamEnabled": table["streamEnabled"],
        "StreamViewType": table["streamViewType"],
    }
    assert ttl["TimeToLiveSpecification"] == {
        "Enabled": table["ttl"]["enabled"],
        "AttributeName": table["ttl"]["attributeName"],
    }
    # The replica's region is the backup region the local environment plays.
    assert [r["regionName"] for r in table["replicas"]] == [local.BACKUP_REGION]
    assert table.region == local.PRIMARY_REGION


def test_local_buckets_are_the_stacks_buckets(prod: Deployment) -> None:
    """The upload and O*NET cache buckets' names, and the upload bucket's CORS rules."""
    names = {b["bucket"] for b in prod.of_type("aws:s3/bucket:Bucket") if b.get("bucket")}
    assert {local.UPLOAD_BUCKET, local.CACHE_BUCKET} <= names

    cors = prod.one("aws:s3/bucketCorsConfiguration:BucketCorsConfiguration", "dd214")
    assert cors["bucket"] == local.UPLOAD_BUCKET
    origins = tuple(cors["corsRules"][0]["allowedOrigins"])
    declared = [
        {
            "AllowedOrigins": rule["allowedOrigins"],
            "AllowedMethods": rule["allowedMethods"],
            "AllowedHeaders": rule["allowedHeaders"],
            "ExposeHeaders": rule["exposeHeaders"],
            "MaxAgeSeconds": int(rule["maxAgeSeconds"]),
        }
        for rule in cors["corsRules"]
    ]
    assert local.upload_cors_rules(origins) == declared

    s3 = Recorder()
    local.LocalAws._buckets(None, s3, origins)  # type: ignore[arg-type]  # uses no state
    assert s3.calls["put_bucket_cors"] == {
        "Bucket": local.UPLOAD_BUCKET,
        "CORSConfiguration": {"CORSRules": declared},
    }


def test_local_static_objects_are_the_stacks_objects(prod: Deployment) -> None:
    """Every career at the same key, with the same content type, Cache-Control and body."""
    from components.edge import STATIC_CACHE_CONTROL

    assert local.STATIC_CACHE_CONTROL == STATIC_CACHE_CONTROL
    declared = {
        o["key"]: o
        for o in prod.of_type("aws:s3/bucketObjectv2:BucketObjectv2")
        if o["key"].startswith("career/")
    }
    bundled = careers()
    assert len(declared) == len(bundled) > 0
    for soc, body in bundled.items():
        put = local.static_object(soc, body)
        stacks = declared[put["Key"]]
        assert (put["ContentType"], put["CacheControl"]) == (
            stacks["contentType"],
            stacks["cacheControl"],
        )
        assert json.loads(put["Body"]) == json.loads(stacks["content"])

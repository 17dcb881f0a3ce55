"""The O*NET cache's batch read: what POST /recommend uses to read every career it ranks at once.

moto plays DynamoDB; a stub table client plays the answers moto cannot be made to give
(unprocessed keys, a failing table).
"""

from __future__ import annotations

import json
import time
from typing import Any

import boto3
from api_support import REGION, TABLE
from botocore.exceptions import ClientError
from vetroi_api.cache import BATCH_GET_MAX_KEYS, Cache


def store(dynamodb: Any, path: str, fresh: bool = True) -> None:
    now = int(time.time())
    dynamodb.put_item(
        TableName=TABLE,
        Item={
            "pk": {"S": f"onet#{path}"},
            "sk": {"S": "v1"},
            "body": {"S": json.dumps({"path": path})},
            "freshUntil": {"N": str(now + 3600 if fresh else now - 1)},
            "expiresAt": {"N": str(now + 7200)},
        },
    )


def cache_of(client: Any) -> Cache:
    return Cache(lambda: client, TABLE, ttl_seconds=3600)


class RecordingClient:
    """Answers BatchGetItem as told and records each request's keys."""

    def __init__(self, unprocessed: set[str] | None = None, fail: bool = False) -> None:
        self.unprocessed = unprocessed or set()
        self.fail = fail
        self.requests: list[list[str]] = []

    def batch_get_item(self, RequestItems: dict[str, Any]) -> dict[str, Any]:  # noqa: N803
        keys = [key["pk"]["S"] for key in RequestItems[TABLE]["Keys"]]
        self.requests.append(keys)
        if self.fail:
            error = {"Error": {"Code": "ProvisionedThroughputExceededException", "Message": "x"}}
            raise ClientError(error, "BatchGetItem")
        left = [{"pk": {"S": k}, "sk": {"S": "v1"}} for k in keys if k in self.unprocessed]
        return {"Responses": {TABLE: []}, "UnprocessedKeys": {TABLE: {"Keys": left}}}


def test_get_many_fresh_expired_and_missing(aws: Any) -> None:
    """One request answers each path: a fresh entry, an expired one, and None for no entry."""
    store(aws["dynamodb"], "a/", fresh=True)
    store(aws["dynamodb"], "b/", fresh=False)

    found = cache_of(boto3.client("dynamodb", region_name=REGION)).get_many(["a/", "b/", "c/"])

    assert set(found) == {"a/", "b/", "c/"}
    assert found["a/"] is not None and found["a/"].fresh and found["a/"].value == {"path": "a/"}
    assert found["b/"] is not None and not found["b/"].fresh
    assert found["c/"] is None


def test_get_many_repeated_paths_and_chunks() -> None:
    """A path asked twice is read once; more than DynamoDB's 100 keys go in several requests."""
    client = RecordingClient()
    paths = [f"p{i}/" for i in range(BATCH_GET_MAX_KEYS + 5)]

    found = cache_of(client).get_many(paths + paths[:3])

    assert [len(keys) for keys in client.requests] == [BATCH_GET_MAX_KEYS, 5]
    assert len(found) == len(paths)
    assert all(entry is None for entry in found.values())


def test_get_many_unprocessed_keys_left_out() -> None:
    """A key DynamoDB did not process is not reported as missing, so it is read again alone."""
    client = RecordingClient(unprocessed={"onet#b/"})

    found = cache_of(client).get_many(["a/", "b/"])

    assert found == {"a/": None}


def test_get_many_failing_table_is_a_miss() -> None:
    """A throttled or unreachable table reads as a miss for every path, never an error."""
    found = cache_of(RecordingClient(fail=True)).get_many(["a/", "b/"])

    assert found == {"a/": None, "b/": None}

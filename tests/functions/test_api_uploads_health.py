"""POST /uploads against a real S3 endpoint (moto's server), and GET /health."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from api_support import (
    BUCKET,
    ORIGIN,
    REGION,
    TABLE,
    OnetServer,
    call,
    free_port,
    make_event,
    silent_endpoint,
)
from moto.server import ThreadedMotoServer
from vetroi_api import handlers


@pytest.fixture
def s3_server(env: Any) -> Iterator[Any]:
    """moto's S3 as a real HTTP server; the function reaches it through AWS_ENDPOINT_URL."""
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    env(AWS_ENDPOINT_URL=endpoint)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=endpoint)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    yield s3
    # The server keeps moto's state in this process; leave no bucket for the next test.
    requests.post(f"{endpoint}/moto-api/reset", timeout=5)
    server.stop()


def presign(content_type: str = "application/pdf", **extra: Any) -> Any:
    body = {"contentType": content_type, **extra}
    return call(handlers.uploads_handler, make_event("v1", "POST", "/uploads", body=body))


def test_presigned_post_upload_lands(s3_server: Any) -> None:
    """The presigned POST is used for real by an HTTP client and the file lands in the bucket."""
    answer = presign("application/pdf", size=2048)
    assert answer.status == 201, answer
    assert answer.headers["Access-Control-Allow-Origin"] == ORIGIN

    pdf = b"%PDF-1.4 fake dd214 " + b"x" * 2000
    upload = requests.post(
        answer.body["url"],
        data=answer.body["fields"],
        files={"file": ("dd214.pdf", pdf, "application/pdf")},
        timeout=10,
    )
    assert upload.status_code in (200, 201, 204), upload.text

    stored = s3_server.get_object(Bucket=BUCKET, Key=answer.body["key"])
    assert stored["Body"].read() == pdf
    assert stored["ContentType"] == "application/pdf"


def test_presigned_post_policy(s3_server: Any) -> None:
    """moto does not enforce POST policies, so the signed policy is checked here."""
    answer = presign("image/png")
    fields = answer.body["fields"]
    policy = json.loads(base64.b64decode(fields["policy"]))
    conditions = policy["conditions"]

    key = answer.body["key"]
    assert key.startswith("uploads/") and key.endswith(".png")
    assert fields["key"] == key
    assert {"key": key} in conditions, "the key is fixed by the policy"
    assert {"bucket": BUCKET} in conditions
    assert {"Content-Type": "image/png"} in conditions
    assert ["content-length-range", 1, 1048576] in conditions
    assert fields["x-amz-algorithm"] == "AWS4-HMAC-SHA256"
    expires = time.mktime(time.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ"))
    assert 0 < expires - time.mktime(time.gmtime()) <= 301
    assert answer.body["expiresIn"] == 300
    assert answer.body["maxBytes"] == 1048576


def test_presigned_keys_are_random(s3_server: Any) -> None:
    """Each answer gets a fresh key; the client's file name plays no part."""
    keys = {presign(fileName="../../etc/passwd").body["key"] for _ in range(5)}

    assert len(keys) == 5
    assert all(".." not in key and "passwd" not in key for key in keys)


@pytest.mark.parametrize(
    "body,field",
    [
        ({"contentType": "text/html"}, "contentType"),
        ({"contentType": "application/x-msdownload"}, "contentType"),
        ({}, "contentType"),
        ({"contentType": "application/pdf", "size": 10**9}, "size"),
        ({"contentType": "application/pdf", "size": "big"}, "size"),
    ],
)
def test_upload_rejects(aws: Any, body: dict[str, Any], field: str) -> None:
    """Other types and oversized files are refused with a 400 naming the field."""
    response = call(handlers.uploads_handler, make_event("v2", "POST", "/uploads", body=body))

    assert response.status == 400, response
    assert field in response.body["error"]["fields"]
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_presigned_post_regional_endpoint(aws: Any) -> None:
    """On AWS the form posts to the bucket's regional endpoint, which answers without redirect."""
    response = presign()

    assert response.body["url"] == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/"


def test_presigned_post_from_the_backup_region_signs_for_the_buckets_region(
    aws: Any, env: Any
) -> None:
    """The backup region presigns into the primary's bucket: endpoint and scope are its own."""
    env(AWS_REGION="us-west-2", AWS_DEFAULT_REGION="us-west-2", VETROI_UPLOAD_REGION=REGION)
    response = presign()

    assert response.body["url"] == f"https://{BUCKET}.s3.{REGION}.amazonaws.com/"
    assert f"/{REGION}/s3/aws4_request" in response.body["fields"]["x-amz-credential"]


def test_upload_without_bucket(aws: Any, env: Any) -> None:
    """A region without an upload bucket says so with a 503."""
    env(VETROI_UPLOAD_BUCKET="")
    response = presign()

    assert response.status == 503, response
    assert response.body["error"]["code"] == "uploads_unavailable"


def health(kind: str = "v1") -> Any:
    return call(handlers.health_handler, make_event(kind, "GET", "/health"))


@pytest.mark.parametrize("kind", ["v1", "v2"])
def test_health_ok(aws: Any, kind: str) -> None:
    """The region's table answers: 200, with the region and its role, never cached by others."""
    response = health(kind)

    assert response.status == 200, response
    assert response.body == {
        "status": "ok",
        "region": REGION,
        "role": "primary",
        "checks": {"table": "ok"},
    }
    assert response.headers["Cache-Control"] == "no-store"


def test_health_table_missing(aws: Any, env: Any) -> None:
    """The table does not answer: 503 with an error body and CORS headers."""
    env(VETROI_TABLE="no-such-table")
    response = health()

    assert response.status == 503, response
    assert response.body["status"] == "unavailable"
    assert response.body["error"]["code"] == "table_unavailable"
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN


def test_health_result_reused(aws: Any, env: Any) -> None:
    """A result is reused for a few seconds, so frequent checks cost one read each interval."""
    env(VETROI_HEALTH_CACHE_SECONDS="0.3")
    assert health().status == 200
    aws["dynamodb"].delete_table(TableName=TABLE)

    assert health().status == 200, "still within the reuse window"
    time.sleep(0.35)
    assert health().status == 503


def test_health_slow_table(env: Any) -> None:
    """A table endpoint that accepts but never answers fails /health within its timeout."""
    with silent_endpoint() as url:
        env(
            AWS_ENDPOINT_URL=url,
            VETROI_HEALTH_TIMEOUT="0.3",
        )
        started = time.monotonic()
        response = health()
        elapsed = time.monotonic() - started

    assert response.status == 503, response
    assert elapsed < 1.5, elapsed


def test_health_ignores_onet(aws: Any, onet: OnetServer) -> None:
    """/health never calls O*NET: failing over cannot fix O*NET."""
    onet.mode = "hang"
    response = health()

    assert response.status == 200
    assert onet.calls == 0

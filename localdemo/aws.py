"""Local AWS: moto's server, the table and buckets as the stacks declare them, and the table fault.

One moto server plays both regions (moto keeps each region's resources apart, as AWS does):

- the table `vetroi-data` in each region (the global table and its replica): partition key
  `pk`, sort key `sk`, on-demand, the stream on with new and old images, TTL on `expiresAt`;
  both are filled with the O*NET cache made from the bundled data (onetdata.py);
- the DD-214 upload bucket and the O*NET cache bucket under the names the stacks derive from
  the account and the primary region, and the edge's static-fallback bucket holding each
  bundled career at `career/<socCode>`.

Each region reaches DynamoDB through its own relay (`AWS_ENDPOINT_URL_DYNAMODB`), a plain TCP
pipe to moto that the `table` fault closes: the port refuses connections and open ones are cut,
which is what a region whose replica is unreachable sees.

The two tables are kept in step as a global table's replicas are (`TableReplicator`): a write
in either shows up in the other within about a second, the later write winning.

Known limitations: replication compares whole-table scans, which suits the demo's table of a
few hundred items, not a large one; a conflicting write to the same item in both regions within
one replication round keeps the primary's. Bucket policies, encryption and public-access blocks
are not applied locally.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from .config import ROOT
from .onetdata import cache_items, careers
from .processes import ManagedProcess, wait_for_port

log = logging.getLogger(__name__)

ACCOUNT_ID = "123456789012"  # moto's default account
PRIMARY_REGION = "us-east-2"
BACKUP_REGION = "us-west-2"
TABLE_NAME = "vetroi-data"
UPLOAD_BUCKET = f"vetroi-dd214-{ACCOUNT_ID}-{PRIMARY_REGION}"
CACHE_BUCKET = f"vetroi-onet-cache-{ACCOUNT_ID}-{PRIMARY_REGION}"
STATIC_BUCKET = f"vetroi-static-fallback-{ACCOUNT_ID}"
CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
CACHE_FRESH_SECONDS = 7 * 24 * 3600  # the functions' default VETROI_CACHE_TTL_SECONDS
# As components/edge.py stores each career in the static-fallback bucket (a test holds them
# equal; repeated here so that starting the demo never imports Pulumi).
STATIC_CACHE_CONTROL = "public, max-age=60, stale-if-error=86400"


class LocalAws:
    def __init__(self, host: str, port: int, log_dir: Path) -> None:
        self.host = host
        self.port = port
        self.process = ManagedProcess(
            "moto",
            [sys.executable, "-m", "localdemo.motoserver", str(port), str(os.getpid())],
            {
                **plain_environment(),
                "PYTHONPATH": str(ROOT),
                "PYTHONDONTWRITEBYTECODE": "1",
            },
            log_dir / "moto.log",
            cwd=ROOT,
        )
        self._clients: dict[tuple[str, str], Any] = {}

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> None:
        self.process.start()

    def wait_ready(self, timeout: float = 30.0) -> None:
        wait_for_port(self.host, self.port, timeout, self.process)

    def stop(self) -> None:
        self.process.stop()

    def client(self, service: str, region: str = PRIMARY_REGION) -> Any:
        key = (service, region)
        if key not in self._clients:
            self._clients[key] = boto3.client(
                service,
                region_name=region,
                endpoint_url=self.endpoint,
                config=BotoConfig(
                    connect_timeout=1,
                    read_timeout=5,
                    retries={"mode": "standard", "total_max_attempts": 2},
                ),
                **CREDENTIALS,
            )
        return self._clients[key]

    def bootstrap(self, stale_cache: bool = False, origins: tuple[str, ...] = ("*",)) -> None:
        """Create the table in both regions, the three buckets, and fill them.

        `origins` may post DD-214s straight to the upload bucket from a browser.
        """
        items = list(cache_items(CACHE_FRESH_SECONDS, stale=stale_cache))
        # Clients are made here, one thread; moto answers the three jobs side by side.
        clients = [self.client("dynamodb", r) for r in (PRIMARY_REGION, BACKUP_REGION)]
        s3 = self.client("s3")
        # The static-fallback bucket is in the backup region, as the prod stack creates it.
        static_s3 = self.client("s3", BACKUP_REGION)
        with ThreadPoolExecutor(max_workers=8) as pool:
            jobs = [pool.submit(self._table, client, items) for client in clients]
            jobs.append(pool.submit(self._buckets, s3, origins))
            jobs.append(pool.submit(_create_bucket, static_s3, STATIC_BUCKET, BACKUP_REGION))
            for job in jobs:
                job.result()
            static = [
                pool.submit(static_s3.put_object, Bucket=STATIC_BUCKET, **static_object(soc, body))
                for soc, body in careers().items()
            ]
            for job in static:
                job.result()

    def _buckets(self, s3: Any, origins: tuple[str, ...]) -> None:
        for bucket in (UPLOAD_BUCKET, CACHE_BUCKET):
            _create_bucket(s3, bucket, PRIMARY_REGION)
        # Browsers post DD-214s straight to the upload bucket, so it must answer their CORS.
        s3.put_bucket_cors(
            Bucket=UPLOAD_BUCKET, CORSConfiguration={"CORSRules": upload_cors_rules(origins)}
        )

    def _table(self, dynamodb: Any, items: list[dict[str, Any]]) -> None:
        create_table(dynamodb)
        _write_items(dynamodb, items)

    def seed_cache(self, stale: bool) -> None:
        """Fill (or refill) both tables' O*NET cache from the bundled data."""
        items = list(cache_items(CACHE_FRESH_SECONDS, stale=stale))
        for region in (PRIMARY_REGION, BACKUP_REGION):
            _write_items(self.client("dynamodb", region), items)

    def static_object(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        """An object of the static-fallback bucket and the headers S3 serves it with (its
        Content-Type and Cache-Control), or None when the bucket holds no such key."""
        try:
            response = self.client("s3", BACKUP_REGION).get_object(Bucket=STATIC_BUCKET, Key=key)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("NoSuchKey", "404", "AccessDenied"):
                return None
            raise
        data: bytes = response["Body"].read()
        headers = {
            name: response[field]
            for name, field in (("Content-Type", "ContentType"), ("Cache-Control", "CacheControl"))
            if response.get(field)
        }
        return data, headers


Key = tuple[str, str]


def _create_bucket(s3: Any, bucket: str, region: str) -> None:
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})


def upload_cors_rules(origins: tuple[str, ...]) -> list[dict[str, Any]]:
    """The upload bucket's CORS rules as components/data.py declares them, for `origins`."""
    return [
        {
            "AllowedOrigins": list(origins),
            "AllowedMethods": ["POST"],
            "AllowedHeaders": ["*"],
            # Without them a browser's script cannot read where the upload landed.
            "ExposeHeaders": ["ETag", "Location"],
            "MaxAgeSeconds": 600,
        }
    ]


def static_object(soc: str, career: dict[str, Any]) -> dict[str, Any]:
    """`put_object` arguments for one career, as components/edge.py stores it."""
    return {
        "Key": f"career/{soc}",
        "Body": json.dumps(career).encode(),
        "ContentType": "application/json",
        "CacheControl": STATIC_CACHE_CONTROL,
    }


def create_table(dynamodb: Any, name: str = TABLE_NAME) -> None:
    """The table as the stacks declare it (components/data.py); nothing if it exists already."""
    try:
        dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
    except ClientError as error:
        if error.response["Error"]["Code"] != "ResourceInUseException":
            raise
    dynamodb.update_time_to_live(
        TableName=name,
        TimeToLiveSpecification={"Enabled": True, "AttributeName": "expiresAt"},
    )


def _write_items(dynamodb: Any, items: list[dict[str, Any]]) -> None:
    for start in range(0, len(items), 25):
        batch = [{"PutRequest": {"Item": item}} for item in items[start : start + 25]]
        dynamodb.batch_write_item(RequestItems={TABLE_NAME: batch})


class TableReplicator:
    """Copies each change made in one region's table to the other, as a global table does.

    Every `interval` seconds it scans both tables and compares each with what it saw last time:
    an item added or changed on one side is written to the other, an item gone from one side is
    deleted from the other. Its own writes are part of what it expects to see next time, so
    nothing bounces back. It talks to moto directly: a region losing its access to its table
    (the `table` fault) does not stop replication, as it would not in AWS.
    """

    def __init__(self, aws: LocalAws, interval: float = 0.5) -> None:
        self.clients = {r: aws.client("dynamodb", r) for r in (PRIMARY_REGION, BACKUP_REGION)}
        self.interval = interval
        self.seen: dict[str, dict[Key, dict[str, Any]]] = {r: {} for r in self.clients}
        self.copied = 0

    def scan(self, region: str) -> dict[Key, dict[str, Any]]:
        items: dict[Key, dict[str, Any]] = {}
        paginator = self.clients[region].get_paginator("scan")
        for page in paginator.paginate(TableName=TABLE_NAME, ConsistentRead=True):
            for item in page["Items"]:
                items[(item["pk"]["S"], item["sk"]["S"])] = item
        return items

    def prime(self) -> None:
        """Take the current content of both tables as already replicated."""
        for region in self.clients:
            self.seen[region] = self.scan(region)

    def replicate_once(self) -> int:
        """One round in both directions; returns how many items it wrote or deleted."""
        now = {region: self.scan(region) for region in self.clients}
        changes = 0
        source, target = PRIMARY_REGION, BACKUP_REGION
        for origin, other in ((source, target), (target, source)):
            before = self.seen[origin]
            for key, item in now[origin].items():
                if before.get(key) != item and now[other].get(key) != item:
                    self.clients[other].put_item(TableName=TABLE_NAME, Item=item)
                    now[other][key] = item
                    changes += 1
            for key in before.keys() - now[origin].keys():
                if key in now[other]:
                    self.clients[other].delete_item(
                        TableName=TABLE_NAME, Key={"pk": {"S": key[0]}, "sk": {"S": key[1]}}
                    )
                    del now[other][key]
                    changes += 1
        self.seen = now
        self.copied += changes
        return changes

    async def run(self) -> None:
        while True:
            try:
                await asyncio.to_thread(self.replicate_once)
            except Exception:  # moto restarting or busy: the next round catches up
                log.warning("table replication round failed", exc_info=True)
            await asyncio.sleep(self.interval)


class TcpRelay:
    """A TCP pipe to a target that can be cut: `down` closes the port and every open pipe."""

    def __init__(self, host: str, port: int, target_host: str, target_port: int) -> None:
        self.host = host
        self.port = port
        self.target = (target_host, target_port)
        self.down = False
        self._server: asyncio.Server | None = None
        self._pipes: set[asyncio.StreamWriter] = set()

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._pipe, self.host, self.port, reuse_address=True
        )
        self.down = False

    async def set_down(self, down: bool) -> None:
        if down and self._server is not None:
            server, self._server = self._server, None
            server.close()
            # Cut the open pipes before waiting: since Python 3.12.1 `wait_closed` waits for
            # every connection the server accepted to end, so it would never return first.
            for writer in list(self._pipes):
                writer.transport.abort()
            self._pipes.clear()
            await server.wait_closed()
        elif not down and self._server is None:
            await self.start()
        self.down = down

    async def close(self) -> None:
        await self.set_down(True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            target_reader, target_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._pipes.update((writer, target_writer))
        try:
            await asyncio.gather(
                _copy(reader, target_writer), _copy(target_reader, writer), return_exceptions=True
            )
        finally:
            for end in (writer, target_writer):
                self._pipes.discard(end)
                end.transport.abort()


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    finally:
        with contextlib.suppress(Exception):
            writer.write_eof()


def plain_environment() -> dict[str, str]:
    """The few variables a child needs; nothing of the developer's AWS setup leaks in."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "SYSTEMROOT")
    env = {name: os.environ[name] for name in keep if name in os.environ}
    env.update(
        {
            "AWS_ACCESS_KEY_ID": CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": CREDENTIALS["aws_secret_access_key"],
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        }
    )
    return env

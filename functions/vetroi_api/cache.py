"""Reads through the DynamoDB cache, with a fallback for every failure.

`lookup` answers from, in order: a fresh cache entry; O*NET (storing its answer); the cache
entry even if it is no longer fresh; the bundled static data. When none can answer it raises
`NotFound` if O*NET said so (or is not configured, so nothing could know more), else
`DataUnavailable` (a 503). Each answer says which source it came from.

Items: `pk = "onet#<path>"`, `sk = "v1"`, `body` (O*NET's JSON as a string, so DynamoDB's
number type never alters it), `freshUntil` (epoch seconds) and the table's TTL attribute
`expiresAt`. Freshness and deletion are separate on purpose: an entry stops being fresh after
`VETROI_CACHE_TTL_SECONDS` but stays in the table, ready to answer while O*NET is down, until
`expiresAt`, `STALE_KEEP_SECONDS` later, when DynamoDB's TTL removes it.

A table that fails (throttled, unreachable) is a cache miss, never an error: the cache must not
become what takes the API down. A table that does not answer at all (a timeout, no connection)
costs its client's timeouts and retries, seconds per call, and a request makes several calls
(`POST /recommend`: the crosswalk, its careers, and a write for each O*NET answer): after such
a failure the container leaves the table alone for `VETROI_CACHE_SKIP_SECONDS`, so a hung
replica costs a request one failed call, not one per call until the function times out.

`Cache.get_many` reads several entries in one BatchGetItem (POST /recommend reads every career
it ranks at once rather than one round trip each); `lookup` takes what it read.
"""

from __future__ import annotations

import enum
import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from . import tracing
from .errors import OnetNotFound, OnetUnavailable
from .logs import note, warn

log = logging.getLogger(__name__)

SORT_KEY = "v1"
BATCH_GET_MAX_KEYS = 100  # DynamoDB's limit for one BatchGetItem request
STALE_KEEP_SECONDS = 90 * 24 * 3600


class Source(enum.StrEnum):
    ONET = "onet"
    CACHE = "cache"
    STALE_CACHE = "stale-cache"
    STATIC = "static"


class DataUnavailable(Exception):
    """Neither O*NET, the cache nor the static data can answer."""


class NotFound(Exception):
    """O*NET answered that the thing does not exist, and no fallback knows it either."""


@dataclass
class Lookup:
    value: dict[str, Any]
    source: Source


@dataclass
class Entry:
    value: dict[str, Any]
    fresh: bool


class Cache:
    def __init__(
        self,
        table_client: Callable[[], Any],
        table: str,
        ttl_seconds: int,
        skip_seconds: float = 0.0,
    ) -> None:
        self.table_client = table_client
        self.table = table
        self.ttl_seconds = ttl_seconds
        self.skip_seconds = skip_seconds
        # time.monotonic() until which the table is not called, after it did not answer.
        self._skip_until = 0.0

    def _skipping(self) -> bool:
        if time.monotonic() < self._skip_until:
            note("cacheSkipped", True)
            return True
        return False

    def _failed(self, operation: str, exc: Exception) -> None:
        kind = type(exc).__name__
        warn(log, f"cache{operation.title()}Error", kind, f"cache {operation} failed: {kind}")
        # An error the table answered with (ClientError) came quickly; one it did not answer
        # (BotoCoreError: timeouts, refused or lost connections) may cost the next call as much.
        if isinstance(exc, BotoCoreError):
            self._skip_until = time.monotonic() + self.skip_seconds

    def get(self, path: str) -> Entry | None:
        if self._skipping():
            return None
        with tracing.subsegment("DynamoDB", "aws") as segment:
            segment.aws("GetItem", table_name=self.table)
            try:
                item = (
                    self.table_client()
                    .get_item(TableName=self.table, Key=_key(path), ConsistentRead=False)
                    .get("Item")
                )
            except (BotoCoreError, ClientError) as exc:
                self._failed("read", exc)
                return None
        return _entry(item)

    def get_many(self, paths: Sequence[str]) -> dict[str, Entry | None]:
        """The entries of `paths`, read in as few BatchGetItem requests as DynamoDB allows.

        Every path read has a value: its entry, or None when it has none. A path DynamoDB left
        unprocessed (it does so when throttled) is left out, so that `lookup` reads it alone;
        a failing table reads as a miss for every path, as `get` does.
        """
        wanted = list(dict.fromkeys(paths))  # DynamoDB refuses a request that repeats a key
        if self._skipping():
            return dict.fromkeys(wanted)
        found: dict[str, Entry | None] = {}
        for start in range(0, len(wanted), BATCH_GET_MAX_KEYS):
            chunk = wanted[start : start + BATCH_GET_MAX_KEYS]
            with tracing.subsegment("DynamoDB", "aws") as segment:
                segment.aws("BatchGetItem", table_name=self.table)
                try:
                    answer = self.table_client().batch_get_item(
                        RequestItems={
                            self.table: {
                                "Keys": [_key(p) for p in chunk],
                                # Names, not words: DynamoDB reserves hundreds of words.
                                "ProjectionExpression": "#k, #b, #f",
                                "ExpressionAttributeNames": {
                                    "#k": "pk",
                                    "#b": "body",
                                    "#f": "freshUntil",
                                },
                            }
                        }
                    )
                except (BotoCoreError, ClientError) as exc:
                    self._failed("read", exc)
                    found.update(dict.fromkeys(chunk))
                    continue
            items = {
                item["pk"]["S"]: item
                for item in answer.get("Responses", {}).get(self.table, [])
                if isinstance(item.get("pk"), dict)
            }
            unprocessed = answer.get("UnprocessedKeys", {}).get(self.table, {}).get("Keys", [])
            skipped = {key["pk"]["S"] for key in unprocessed}
            for path in chunk:
                pk = _key(path)["pk"]["S"]
                if pk not in skipped:
                    found[path] = _entry(items.get(pk))
        return found

    def put(self, path: str, value: dict[str, Any]) -> None:
        if self._skipping():
            return
        now = int(time.time())
        item = {
            **_key(path),
            "body": {"S": json.dumps(value, separators=(",", ":"))},
            "storedAt": {"N": str(now)},
            "freshUntil": {"N": str(now + self.ttl_seconds)},
            "expiresAt": {"N": str(now + self.ttl_seconds + STALE_KEEP_SECONDS)},
        }
        with tracing.subsegment("DynamoDB", "aws") as segment:
            segment.aws("PutItem", table_name=self.table)
            try:
                self.table_client().put_item(TableName=self.table, Item=item)
            except (BotoCoreError, ClientError) as exc:
                self._failed("write", exc)


def _entry(item: Mapping[str, Any] | None) -> Entry | None:
    if not item:
        return None
    try:
        value = json.loads(item["body"]["S"])
        fresh_until = int(item.get("freshUntil", {}).get("N", "0"))
    except (KeyError, TypeError, ValueError):
        warn(log, "cacheEntryUnreadable", True, "cache entry unreadable, ignored")
        return None
    if not isinstance(value, dict):
        return None
    return Entry(value, fresh=time.time() < fresh_until)


def _key(path: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": f"onet#{path}"}, "sk": {"S": SORT_KEY}}


def lookup(
    cache: Cache,
    path: str,
    fetch: Callable[[], dict[str, Any]] | None,
    static: Callable[[], dict[str, Any] | None],
    known: Mapping[str, Entry | None] | None = None,
) -> Lookup:
    """Answer for `path` from the best source that can; see the module docstring.

    `known` holds entries already read (`Cache.get_many`); a path not in it is read now.
    """
    entry = known[path] if known is not None and path in known else cache.get(path)
    if entry is not None and entry.fresh:
        return Lookup(entry.value, Source.CACHE)

    not_found = False
    if fetch is not None:
        try:
            value = fetch()
        except OnetNotFound:
            not_found = True
        except OnetUnavailable as exc:
            note("onetError", str(exc))
        else:
            cache.put(path, value)
            return Lookup(value, Source.ONET)

    if entry is not None and not not_found:
        return Lookup(entry.value, Source.STALE_CACHE)
    bundled = static()
    if bundled is not None:
        return Lookup(bundled, Source.STATIC)
    if not_found or fetch is None:
        # Without O*NET, the cache and the static data are all there is to know: a miss in
        # both means the thing is unknown, not that a source is down.
        raise NotFound(path)
    raise DataUnavailable(path)

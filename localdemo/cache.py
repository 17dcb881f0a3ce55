"""The edge's cache of `GET /career/*`: freshness and `stale-if-error` from `Cache-Control`.

It behaves as the stacks' CloudFront behaviour does with a cache policy that follows the
origin's headers: an answer is kept for its `s-maxage` (else `max-age`) seconds and served from
the cache while fresh; once stale, the edge asks the origins again, and only when every origin
fails (a 5xx or no answer at all) does it serve the stale copy, for as long as the answer's
`stale-if-error` allows. Answers marked `no-store`, `no-cache` or `private`, and any status
other than 200, are not kept.

The cache key is the path alone (the behaviour's cache policy forwards no query string).

Known limitations: it lives in the edge's memory (emptied at each start) and is bounded by
entry count, not bytes; CloudFront's minimum, default and maximum TTLs of a cache policy are
not modelled.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

# Headers that describe one connection or one answer's delivery, never kept with the body.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "content-encoding",
        "date",
        "age",
        "x-cache",
        "x-vetroi-source",
    }
)


@dataclass(frozen=True)
class CacheControl:
    max_age: int | None = None
    stale_if_error: int = 0
    cacheable: bool = True

    @classmethod
    def parse(cls, value: str | None) -> CacheControl:
        """Read the directives the edge acts on; unknown or malformed ones are ignored."""
        if not value:
            return cls(cacheable=False)
        directives: dict[str, str | None] = {}
        for part in value.split(","):
            name, _, argument = part.strip().partition("=")
            if name:
                directives[name.strip().lower()] = argument.strip().strip('"') or None
        if {"no-store", "no-cache", "private"} & directives.keys():
            return cls(cacheable=False)
        max_age = _seconds(directives.get("s-maxage")) or _seconds(directives.get("max-age"))
        return cls(
            max_age=max_age,
            stale_if_error=_seconds(directives.get("stale-if-error")) or 0,
            cacheable=bool(max_age),
        )


@dataclass
class Entry:
    status: int
    headers: list[tuple[str, str]]
    body: bytes
    stored_at: float
    control: CacheControl

    def age(self, now: float) -> float:
        return now - self.stored_at

    def fresh(self, now: float) -> bool:
        return self.age(now) < (self.control.max_age or 0)

    def usable_on_error(self, now: float) -> bool:
        return self.age(now) < (self.control.max_age or 0) + self.control.stale_if_error


class EdgeCache:
    def __init__(self, capacity: int = 2048, clock: Callable[[], float] = time.time) -> None:
        self.capacity = capacity
        self.clock = clock
        self._entries: OrderedDict[str, Entry] = OrderedDict()
        self.hits = 0
        self.misses = 0
        self.stale_served = 0

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> Entry | None:
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def store(self, key: str, status: int, headers: list[tuple[str, str]], body: bytes) -> bool:
        """Keep the answer if its status and Cache-Control allow; True when it was kept."""
        control = CacheControl.parse(_header(headers, "Cache-Control"))
        if status != 200 or not control.cacheable:
            return False
        kept = [(name, value) for name, value in headers if name.lower() not in HOP_BY_HOP]
        self._entries[key] = Entry(status, kept, body, self.clock(), control)
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)
        return True

    def clear(self) -> None:
        self._entries.clear()


def _seconds(value: str | None) -> int | None:
    if value is None or not value.isdigit():
        return None
    return int(value)


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    values = [value for key, value in headers if key.lower() == name.lower()]
    return ", ".join(values) if values else None

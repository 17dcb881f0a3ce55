"""Printing results: a checklist with a tick or a cross per line, and plain tables."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TextIO


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def marks(stream: TextIO) -> tuple[str, str]:
    # A terminal that cannot print the tick still gets a readable checklist.
    encoding = getattr(stream, "encoding", None) or "ascii"
    try:
        "✓✗".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "OK", "XX"
    return "✓", "✗"


def print_checklist(checks: Iterable[Check], stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    tick, cross = marks(out)
    items = list(checks)
    width = max((len(check.name) for check in items), default=0)
    for check in items:
        mark = tick if check.ok else cross
        print(f"{mark} {check.name.ljust(width)}  {check.detail}", file=out)


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)

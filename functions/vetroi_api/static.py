"""The bundled data: the last fallback of every read, and the edge's static origin.

`static/careers.json` maps each O*NET-SOC code to the exact body `GET /career/{socCode}` answers
with when nothing better is reachable (`"source": "static"`); the edge's fallback bucket serves
the same bodies at `career/<socCode>`. `static/military.json` maps each branch's common
occupation codes to the civilian careers they lead to.

Known limitations: the data set is small (the common codes of each branch, about forty
careers), written by hand from O*NET's occupation titles and descriptions. `brightOutlook` is
null in it: the flag changes with each O*NET release and only a live answer carries it.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

DIRECTORY = Path(__file__).resolve().parent / "static"


@cache
def careers() -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((DIRECTORY / "careers.json").read_text("utf-8"))
    return data


@cache
def military() -> dict[str, dict[str, dict[str, Any]]]:
    data: dict[str, dict[str, dict[str, Any]]] = json.loads(
        (DIRECTORY / "military.json").read_text("utf-8")
    )
    return data


def career(soc_code: str) -> dict[str, Any] | None:
    found = careers().get(soc_code)
    return dict(found) if found else None


def military_code(branch: str, code: str) -> dict[str, Any] | None:
    return military().get(branch, {}).get(code)

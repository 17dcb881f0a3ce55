"""O*NET's answers, made from the bundled data, for the offline cache and the O*NET stand-in.

The functions cache O*NET's own JSON under `onet#<path>` (see functions/vetroi_api/cache.py)
and shape it into their answers on the way out. To fill that cache offline, and to let the
stand-in answer as O*NET does, the bundled career and crosswalk data is written here back into
O*NET's shapes, for the two paths the functions call:

- `online/occupations/<socCode>/`: an occupation (title, description, sample job titles, tasks,
  job zone);
- `veterans/military?keyword=<code>`: O*NET's military crosswalk search, which matches the
  keyword in every branch, so a code two branches share lists both.

Known limitations: only the fields the functions read are filled in, and `bright_outlook` is
left out (the bundled data does not know it), so the answers read as O*NET's would for these
occupations but are not complete copies of O*NET's documents.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from .config import ROOT

STATIC_DIR = ROOT / "functions" / "vetroi_api" / "static"
CACHE_SORT_KEY = "v1"
# How long the functions keep a stale entry before DynamoDB's TTL removes it.
STALE_KEEP_SECONDS = 90 * 24 * 3600


def careers(static_dir: Path = STATIC_DIR) -> dict[str, dict[str, Any]]:
    data: dict[str, dict[str, Any]] = json.loads((static_dir / "careers.json").read_text())
    return data


def military(static_dir: Path = STATIC_DIR) -> dict[str, dict[str, dict[str, Any]]]:
    data: dict[str, dict[str, dict[str, Any]]] = json.loads(
        (static_dir / "military.json").read_text()
    )
    return data


def occupation_path(soc: str) -> str:
    return f"online/occupations/{soc}/"


def military_path(code: str) -> str:
    return f"veterans/military?keyword={quote(code)}"


def occupation(career: dict[str, Any]) -> dict[str, Any]:
    """O*NET's occupation document for one bundled career."""
    soc = career["socCode"]
    document: dict[str, Any] = {
        "code": soc,
        "title": career.get("title"),
        "description": career.get("description"),
        "tags": {},
        "sample_of_reported_job_titles": {"title": list(career.get("sampleTitles", []))},
        "tasks": {"task": [{"statement": task} for task in career.get("tasks", [])]},
    }
    if isinstance(career.get("jobZone"), int):
        document["job_zone"] = {"value": career["jobZone"]}
    return document


def crosswalk(
    code: str,
    crosswalks: dict[str, dict[str, dict[str, Any]]],
    titles: dict[str, dict[str, Any]],
) -> dict[str, Any]:
    """O*NET's military search for `code`: its match in every branch, and their careers."""
    matches = []
    listed: list[str] = []
    for branch, codes in crosswalks.items():
        if code not in codes:
            continue
        matches.append(
            {
                "branch": branch.replace("_", " ").title(),
                "code": code,
                "title": codes[code].get("title"),
            }
        )
        listed += [soc for soc in codes[code].get("careers", []) if soc not in listed]
    return {
        "keyword": code,
        "military_matches": {"match": matches},
        "career": [{"code": soc, "title": titles.get(soc, {}).get("title", soc)} for soc in listed],
    }


def documents(static_dir: Path = STATIC_DIR) -> dict[str, dict[str, Any]]:
    """Every O*NET path the functions may call, with O*NET's answer, from the bundled data."""
    titles = careers(static_dir)
    crosswalks = military(static_dir)
    found = {occupation_path(soc): occupation(career) for soc, career in titles.items()}
    codes = {code for codes in crosswalks.values() for code in codes}
    for code in sorted(codes):
        found[military_path(code)] = crosswalk(code, crosswalks, titles)
    return found


def cache_items(
    fresh_seconds: int, stale: bool = False, now: float | None = None
) -> Iterator[dict[str, Any]]:
    """The DynamoDB items that fill the functions' O*NET cache (the `Cache.put` format).

    With `stale`, every entry is already past its freshness, so each request goes to O*NET
    first and falls back to the entry only when O*NET fails.
    """
    now = int(now if now is not None else time.time())
    fresh_until = now - 1 if stale else now + fresh_seconds
    for path, document in documents().items():
        yield {
            "pk": {"S": f"onet#{path}"},
            "sk": {"S": CACHE_SORT_KEY},
            "body": {"S": json.dumps(document, separators=(",", ":"))},
            "storedAt": {"N": str(now)},
            "freshUntil": {"N": str(fresh_until)},
            "expiresAt": {"N": str(now + fresh_seconds + STALE_KEEP_SECONDS)},
        }

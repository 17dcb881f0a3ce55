"""Input checks: every bad field is named in one 400, never a 5xx for bad input."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .http import ApiError

# Patterns are matched whole (`fullmatch`: `$` alone would let a trailing newline through) and
# in ASCII (`\d` alone is any Unicode digit, which O*NET codes never hold).
SOC_CODE = re.compile(r"\d{2}-\d{4}\.\d{2}", re.ASCII)

# Occupation code formats of each branch. Army: MOS (11B), warrant officer MOS (255A) or officer
# area of concentration (11A), optionally a skill-level digit. Marine Corps: four-digit MOS.
# Navy and Coast Guard: rating abbreviations (HM, AMT) or a Navy NEC/designator. Air Force and
# Space Force: enlisted AFSC (3D0X2, optionally with a shred letter) or officer AFSC (10C0).
AFSC = re.compile(r"\d[A-Z]\d[X0-9]\d[A-Z]?|\d{2}[A-Z]\d?[A-Z]?", re.ASCII)
CODE_FORMATS: dict[str, tuple[re.Pattern[str], str]] = {
    "army": (
        re.compile(r"(\d{2}|\d{3})[A-Z]\d?", re.ASCII),
        "an Army MOS such as 11B, 68W or 255A",
    ),
    "marine_corps": (
        re.compile(r"\d{4}", re.ASCII),
        "a Marine Corps MOS of four digits, such as 0311",
    ),
    "navy": (
        re.compile(r"[A-Z]{2,4}|[A-Z]\d{2}[A-Z]|\d{4}", re.ASCII),
        "a Navy rating such as HM or IT, or an NEC",
    ),
    "coast_guard": (re.compile(r"[A-Z]{2,4}", re.ASCII), "a Coast Guard rating such as BM or MK"),
    "air_force": (AFSC, "an AFSC such as 3D0X2 or 10C0"),
    "space_force": (AFSC, "a Space Force specialty code such as 5C0X1 or 13S"),
}
BRANCHES = tuple(CODE_FORMATS)
BRANCH_ALIASES = {
    "usa": "army",
    "usn": "navy",
    "usaf": "air_force",
    "airforce": "air_force",
    "marines": "marine_corps",
    "usmc": "marine_corps",
    "uscg": "coast_guard",
    "coastguard": "coast_guard",
    "ussf": "space_force",
    "spaceforce": "space_force",
}
# Each education level with the highest O*NET job zone (preparation needed) it usually meets.
EDUCATION_LEVELS = {
    "high_school": 2,
    "some_college": 3,
    "associate": 3,
    "bachelor": 4,
    "master": 5,
    "doctorate": 5,
}
STATES = frozenset(
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI".split()
)
MAX_LIMIT = 10
UPLOAD_TYPES = {
    "application/pdf": ".pdf",
    "image/jpeg": ".jpg",
    "image/png": ".png",
    "image/tiff": ".tiff",
    "image/heic": ".heic",
}


@dataclass(frozen=True)
class RecommendInput:
    branch: str
    code: str
    education_level: str | None
    state: str | None
    limit: int


def soc_code(value: Any) -> str:
    if not isinstance(value, str) or not SOC_CODE.fullmatch(value):
        raise ApiError(
            400,
            "invalid_request",
            "The O*NET-SOC code is not valid.",
            {"socCode": "expected an O*NET-SOC code such as 11-1011.00 (NN-NNNN.NN)"},
        )
    return value


def recommend_input(body: Any) -> RecommendInput:
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The request body must be a JSON object.")
    problems: dict[str, str] = {}

    branch = _branch(body.get("branch"), problems)
    code = body.get("code")
    if not isinstance(code, str) or not code.strip():
        problems["code"] = "required: the military occupation code (MOS, rating or AFSC)"
        code = ""
    else:
        code = code.strip().upper()
        if branch is not None:
            pattern, expected = CODE_FORMATS[branch]
            if not pattern.fullmatch(code):
                problems["code"] = f"expected {expected}"
        elif len(code) > 8:
            problems["code"] = "expected a military occupation code of at most 8 characters"

    education = body.get("educationLevel")
    if education is not None and (
        not isinstance(education, str) or education not in EDUCATION_LEVELS
    ):
        problems["educationLevel"] = "expected one of " + ", ".join(EDUCATION_LEVELS)
        education = None

    state = body.get("state")
    if state is not None:
        if isinstance(state, str) and state.strip().upper() in STATES:
            state = state.strip().upper()
        else:
            problems["state"] = "expected a two-letter US state or territory code such as TX"
            state = None

    limit = body.get("limit", 5)
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        problems["limit"] = f"expected a whole number from 1 to {MAX_LIMIT}"
        limit = 5

    if problems:
        raise ApiError(400, "invalid_request", "Some fields are not valid.", problems)
    assert branch is not None
    return RecommendInput(branch, code, education, state, limit)


def _branch(value: Any, problems: dict[str, str]) -> str | None:
    expected = "expected one of " + ", ".join(BRANCHES)
    if not isinstance(value, str) or not value.strip():
        problems["branch"] = "required: " + expected
        return None
    name = re.sub(r"[\s-]+", "_", value.strip().lower())
    name = BRANCH_ALIASES.get(name.replace("_", ""), name)
    if name not in CODE_FORMATS:
        problems["branch"] = expected
        return None
    return name


def upload_input(body: Any, max_bytes: int) -> tuple[str, int | None]:
    """(content type, declared size) of an upload request."""
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_body", "The request body must be a JSON object.")
    problems: dict[str, str] = {}
    content_type = body.get("contentType")
    if not isinstance(content_type, str) or content_type.lower() not in UPLOAD_TYPES:
        problems["contentType"] = "expected one of " + ", ".join(UPLOAD_TYPES)
        content_type = ""
    size = body.get("size")
    if size is not None and (
        isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= max_bytes
    ):
        problems["size"] = f"expected the file size in bytes, from 1 to {max_bytes}"
    if problems:
        raise ApiError(400, "invalid_request", "Some fields are not valid.", problems)
    return content_type.lower(), size

"""What each route does, once the request is parsed and before the response is shaped."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from . import aws, static, tracing, validation
from .cache import Cache, DataUnavailable, Entry, Lookup, NotFound, Source, lookup
from .config import Config
from .http import ApiError, Request, Response
from .logs import warn

if TYPE_CHECKING:
    from .onet import OnetClient

log = logging.getLogger(__name__)


class App:
    """Everything a container keeps between requests: settings, clients, the O*NET breaker."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.cache = Cache(
            self.table, config.table, config.cache_ttl_seconds, config.cache_skip_seconds
        )
        self._onet: OnetClient | None = None
        self._health: tuple[float, bool, str] | None = None

    def table(self) -> Any:
        return aws.client(self.config, "dynamodb")

    def onet(self) -> OnetClient | None:
        """The O*NET client, or None when no credentials are configured (cache/static only)."""
        if not self.config.onet_configured:
            return None
        if self._onet is None:
            # Imported here so the health and upload functions never load requests, tenacity
            # or pybreaker: they do not call O*NET, and each import lengthens a cold start.
            from .onet import OnetClient, credentials_from

            secrets = lambda: aws.client(self.config, "secretsmanager")  # noqa: E731
            self._onet = OnetClient(self.config, credentials_from(self.config, secrets))
        return self._onet

    def warm(self, route: str | None) -> None:
        """Create now what the next real request of `route` (None: every route) will need."""
        needs = {
            "recommend": ("table", "onet"),
            "career": ("table", "onet"),
            "health": ("health",),
            "uploads": ("s3",),
        }
        wanted = set(needs.get(route, ())) if route else {n for v in needs.values() for n in v}
        if "table" in wanted:
            self.table()
        if "health" in wanted:
            aws.client(self.config, "dynamodb", "health")
        if "s3" in wanted:
            aws.client(self.config, "s3")
        if "onet" in wanted and self.onet() is not None and self.config.onet_secret:
            aws.client(self.config, "secretsmanager")


@dataclass
class Context:
    app: App
    request: Request
    deadline: float


# GET /career/{socCode}


def career(ctx: Context) -> Response:
    raw = ctx.request.path_params.get("socCode") or _last_segment(ctx.request.path)
    soc = validation.soc_code(raw)
    try:
        found = career_lookup(ctx, soc)
    except NotFound:
        raise ApiError(404, "not_found", f"O*NET has no occupation {soc}.") from None
    except DataUnavailable:
        raise ApiError(
            503,
            "data_unavailable",
            "Career data is unavailable right now; please try again shortly.",
            headers={"Retry-After": "30"},
        ) from None
    body = career_body(soc, found)
    config = ctx.app.config
    # Answers from a fallback are cached briefly, so fresh data returns once O*NET does.
    max_age = config.career_max_age if found.source in (Source.ONET, Source.CACHE) else 60
    cache_control = f"public, max-age={max_age}, stale-if-error={config.career_stale_if_error}"
    return Response(200, body, {"Cache-Control": cache_control, "X-Data-Source": body["source"]})


def career_path(soc: str) -> str:
    return f"online/occupations/{soc}/"


def career_lookup(
    ctx: Context, soc: str, known: Mapping[str, Entry | None] | None = None
) -> Lookup:
    onet = ctx.app.onet()
    path = career_path(soc)
    fetch = (lambda: onet.get_json(path, ctx.deadline)) if onet is not None else None
    return lookup(ctx.app.cache, path, fetch, lambda: static.career(soc), known)


def career_body(soc: str, found: Lookup) -> dict[str, Any]:
    """The /career body: the static body as is, or O*NET's answer in the same shape."""
    if found.source is Source.STATIC:
        return found.value
    raw = found.value
    bundled = static.career(soc) or {}
    tags: dict[str, Any] = raw["tags"] if isinstance(raw.get("tags"), dict) else {}
    titles = raw.get("sample_of_reported_job_titles")
    titles = titles.get("title") if isinstance(titles, dict) else titles
    tasks = raw.get("tasks")
    tasks = tasks.get("task") if isinstance(tasks, dict) else tasks
    # O*NET's answer (or a cached copy of it) is input too: anything but a list is no tasks.
    tasks = tasks if isinstance(tasks, list) else []
    task_texts = [t.get("statement") if isinstance(t, dict) else t for t in tasks]
    job_zone = raw.get("job_zone")
    if isinstance(job_zone, dict):
        job_zone = job_zone.get("value")
    return {
        "socCode": soc,
        "title": _str(raw.get("title")) or bundled.get("title") or soc,
        "description": _str(raw.get("description")) or bundled.get("description") or "",
        "jobZone": job_zone if _job_zone(job_zone) else bundled.get("jobZone"),
        "brightOutlook": tags.get("bright_outlook")
        if isinstance(tags.get("bright_outlook"), bool)
        else None,
        "sampleTitles": [t for t in titles if isinstance(t, str)][:5]
        if isinstance(titles, list)
        else bundled.get("sampleTitles", []),
        "tasks": [t for t in task_texts if isinstance(t, str)][:5] or bundled.get("tasks", []),
        "onetUrl": f"https://www.onetonline.org/link/summary/{soc}",
        "source": found.source.value,
    }


# POST /recommend


def recommend(ctx: Context) -> Response:
    """Careers for a military occupation, ranked.

    O*NET's crosswalk order is the relevance order; when an education level is given, careers
    whose O*NET job zone asks for more preparation than it usually gives move down, keeping
    their order otherwise. Only the first `limit` careers of the crosswalk are considered.

    Known limitations: `state` is checked and echoed but does not change the ranking yet: no
    per-state data (wages, openings) is loaded.
    """
    wanted = validation.recommend_input(ctx.request.json_body())
    crosswalk = _crosswalk(ctx, wanted.branch, wanted.code)
    military_title, candidates = _crosswalk_careers(crosswalk, wanted.branch, wanted.code)
    if not candidates:
        raise ApiError(
            404,
            "unknown_code",
            f"No civilian careers are known for {wanted.branch} code {wanted.code}.",
            {"code": "not a known occupation code of this branch"},
        )

    chosen = candidates[: wanted.limit]
    known = ctx.app.cache.get_many([career_path(soc) for soc, _ in chosen])
    careers = [_recommended_career(ctx, soc, title, known) for soc, title in chosen]
    ceiling = validation.EDUCATION_LEVELS.get(wanted.education_level or "")
    for item in careers:
        zone = item.get("jobZone")
        if ceiling is None or not isinstance(zone, int):
            item["educationFit"] = "unknown"
        else:
            item["educationFit"] = "meets" if zone <= ceiling else "needs_more"
    careers.sort(key=lambda item: item["educationFit"] == "needs_more")
    for rank, item in enumerate(careers, start=1):
        item["rank"] = rank

    body = {
        "branch": wanted.branch,
        "code": wanted.code,
        "militaryTitle": military_title,
        "educationLevel": wanted.education_level,
        "state": wanted.state,
        "careers": careers,
        "source": crosswalk.source.value,
    }
    return Response(200, body, {"X-Data-Source": crosswalk.source.value})


def _crosswalk(ctx: Context, branch: str, code: str) -> Lookup:
    onet = ctx.app.onet()
    path = f"veterans/military?keyword={quote(code)}"
    fetch = (lambda: onet.get_json(path, ctx.deadline)) if onet is not None else None
    try:
        return lookup(ctx.app.cache, path, fetch, lambda: static.military_code(branch, code))
    except NotFound:
        return Lookup({}, Source.ONET if onet is not None else Source.STATIC)
    except DataUnavailable:
        raise ApiError(
            503,
            "data_unavailable",
            "Career recommendations are unavailable right now; please try again shortly.",
            headers={"Retry-After": "30"},
        ) from None


def _crosswalk_careers(
    found: Lookup, branch: str, code: str
) -> tuple[str | None, list[tuple[str, str | None]]]:
    """(military title, [(SOC code, title)]) from O*NET's military search or the static data."""
    value = found.value
    if found.source is Source.STATIC:
        return value.get("title"), [(soc, None) for soc in value.get("careers", [])]

    title = None
    matches = value.get("military_matches")
    matches = matches.get("match") if isinstance(matches, dict) else matches
    if isinstance(matches, list) and matches:
        # O*NET searches every branch by keyword; keep the answer only if this branch has it.
        ours = [
            m
            for m in matches
            if isinstance(m, dict)
            and str(m.get("branch", "")).lower().replace(" ", "_") == branch
            and str(m.get("code", "")).upper() == code
        ]
        if not ours:
            return None, []
        title = _str(ours[0].get("title"))
    listed = value.get("career")
    listed = listed if isinstance(listed, list) else []
    careers = [
        (item["code"], _str(item.get("title")))
        for item in listed
        if isinstance(item, dict)
        and isinstance(item.get("code"), str)
        and validation.SOC_CODE.fullmatch(item["code"])
    ]
    return title, careers


def _recommended_career(
    ctx: Context, soc: str, title: str | None, known: Mapping[str, Entry | None]
) -> dict[str, Any]:
    try:
        body = career_body(soc, career_lookup(ctx, soc, known))
    except (NotFound, DataUnavailable):
        body = {"socCode": soc, "title": title or soc, "jobZone": None, "source": "none"}
    return body


# GET /health


def health(ctx: Context) -> Response:
    """Whether this region can serve: its table replica answers a read within a short timeout.

    The result is reused for `VETROI_HEALTH_CACHE_SECONDS`, so health checkers calling from
    many places several times a second cost one table read per container per interval. O*NET
    is deliberately not checked: failing over to the other region cannot fix O*NET.
    """
    app, config = ctx.app, ctx.app.config
    now = time.monotonic()
    cached = app._health
    if cached is None or now - cached[0] >= config.health_cache_seconds:
        ok, problem = _table_answers(app)
        cached = app._health = (now, ok, problem)
    _, ok, problem = cached
    body: dict[str, Any] = {
        "status": "ok" if ok else "unavailable",
        "region": config.region,
        "role": config.region_role,
        "checks": {"table": "ok" if ok else "failed"},
    }
    headers = {"Cache-Control": "no-store"}
    if ok:
        return Response(200, body, headers)
    body["error"] = {"code": "table_unavailable", "message": problem}
    return Response(503, body, headers)


def _table_answers(app: App) -> tuple[bool, str]:
    with tracing.subsegment("DynamoDB", "aws") as segment:
        segment.aws("GetItem", table_name=app.config.table)
        try:
            aws.client(app.config, "dynamodb", "health").get_item(
                TableName=app.config.table,
                Key={"pk": {"S": "health"}, "sk": {"S": "v1"}},
            )
        except (BotoCoreError, ClientError) as exc:
            kind = type(exc).__name__
            warn(log, "healthError", kind, f"health read failed: {kind}")
            return False, f"The table of this region did not answer ({kind})."
    return True, ""


# POST /uploads


def uploads(ctx: Context) -> Response:
    """A presigned S3 POST for one DD-214: PDF or image, size-limited, short-lived.

    The key is random and chosen here, never by the client; the policy binds the content type,
    the size range and the key, so S3 refuses any other upload with these fields.
    """
    config = ctx.app.config
    content_type, _ = validation.upload_input(ctx.request.json_body(), config.upload_max_bytes)
    if not config.upload_bucket:
        raise ApiError(503, "uploads_unavailable", "Uploads are not configured in this region.")

    key = f"uploads/{uuid.uuid4()}{validation.UPLOAD_TYPES[content_type]}"
    try:
        post = aws.client(config, "s3").generate_presigned_post(
            Bucket=config.upload_bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[
                {"Content-Type": content_type},
                ["content-length-range", 1, config.upload_max_bytes],
            ],
            ExpiresIn=config.upload_expiry_seconds,
        )
    except (BotoCoreError, ClientError) as exc:
        kind = type(exc).__name__
        warn(log, "presignError", kind, f"presigning failed: {kind}")
        raise ApiError(503, "uploads_unavailable", "Uploads are unavailable right now.") from None
    body = {
        "url": post["url"],
        "fields": post["fields"],
        "key": key,
        "contentType": content_type,
        "maxBytes": config.upload_max_bytes,
        "expiresIn": config.upload_expiry_seconds,
    }
    return Response(201, body, {"Cache-Control": "no-store"})


def _last_segment(path: str) -> str:
    from .http import path_segments

    segments = path_segments(path)
    return segments[-1] if segments else ""


def _job_zone(value: Any) -> bool:
    """Whether a value is an O*NET job zone: a whole number from 1 to 5 (and not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= 5


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None

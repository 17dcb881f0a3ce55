"""Settings of the function, read once per container from its environment.

The variables the infrastructure sets are `VETROI_TABLE`, `VETROI_UPLOAD_BUCKET`,
`VETROI_UPLOAD_REGION`, `VETROI_UPLOAD_MAX_BYTES`, `VETROI_CORS_ORIGINS`,
`VETROI_CORS_ALLOWED_HEADERS`, `VETROI_CORS_MAX_AGE`, `VETROI_ONET_BASE_URL`,
`VETROI_ONET_SECRET` and `VETROI_REGION_ROLE`. The rest are tuning knobs
with production defaults; tests and the benches lower the timeouts through them rather than
patching code.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# What the stacks' corsAllowedHeaders and corsMaxAgeSeconds default to.
DEFAULT_CORS_ALLOWED_HEADERS = (
    "Content-Type,Authorization,X-Api-Key,X-Amz-Date,X-Amz-Security-Token"
)
DEFAULT_CORS_MAX_AGE = 600


class ConfigError(ValueError):
    """An environment variable holds a value the function cannot use."""


@dataclass(frozen=True)
class Config:
    table: str
    upload_bucket: str
    # The bucket's own region: the backup region's functions presign into the primary's bucket.
    upload_region: str
    upload_max_bytes: int
    upload_expiry_seconds: int
    cors_origins: tuple[str, ...]
    allow_any_origin: bool
    # Access-Control-Allow-Headers (comma-separated) and Access-Control-Max-Age (seconds).
    cors_allowed_headers: str
    cors_max_age: int
    region: str
    region_role: str
    onet_base_url: str
    onet_secret: str | None
    onet_username: str | None
    onet_password: str | None
    # O*NET client: a slow O*NET must never hold a request for long.
    onet_connect_timeout: float
    onet_read_timeout: float
    onet_attempts: int
    onet_backoff_base: float
    onet_backoff_max: float
    onet_retry_after_max: float
    onet_budget_seconds: float
    breaker_enabled: bool
    breaker_fail_max: int
    breaker_reset_seconds: float
    # DynamoDB cache and AWS clients.
    cache_ttl_seconds: int
    # After the table did not answer, the cache leaves it alone this long.
    cache_skip_seconds: float
    aws_connect_timeout: float
    aws_read_timeout: float
    aws_max_attempts: int
    health_timeout: float
    health_cache_seconds: float
    # What the edge may do with a career answer.
    career_max_age: int
    career_stale_if_error: int

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        reader = _Reader(env)
        raw_origins = env.get("VETROI_CORS_ORIGINS", "").split(",")
        origins = tuple(o.strip() for o in raw_origins if o.strip())
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-2"
        return cls(
            table=env.get("VETROI_TABLE", "vetroi-data"),
            upload_bucket=env.get("VETROI_UPLOAD_BUCKET", ""),
            upload_region=env.get("VETROI_UPLOAD_REGION") or region,
            upload_max_bytes=reader.integer("VETROI_UPLOAD_MAX_BYTES", 10 * 1024 * 1024, 1),
            upload_expiry_seconds=reader.integer("VETROI_UPLOAD_EXPIRY_SECONDS", 300, 1),
            cors_origins=tuple(o for o in origins if o != "*"),
            allow_any_origin="*" in origins,
            cors_allowed_headers=_header_list(
                env.get("VETROI_CORS_ALLOWED_HEADERS") or DEFAULT_CORS_ALLOWED_HEADERS
            ),
            cors_max_age=reader.integer("VETROI_CORS_MAX_AGE", DEFAULT_CORS_MAX_AGE, 0),
            region=region,
            region_role=env.get("VETROI_REGION_ROLE", "primary"),
            onet_base_url=env.get(
                "VETROI_ONET_BASE_URL", "https://services.onetcenter.org/ws"
            ).rstrip("/"),
            onet_secret=env.get("VETROI_ONET_SECRET") or None,
            onet_username=env.get("ONET_USERNAME") or None,
            onet_password=env.get("ONET_PASSWORD") or None,
            onet_connect_timeout=reader.number("VETROI_ONET_CONNECT_TIMEOUT", 1.0),
            onet_read_timeout=reader.number("VETROI_ONET_READ_TIMEOUT", 2.0),
            onet_attempts=reader.integer("VETROI_ONET_ATTEMPTS", 3, 1),
            onet_backoff_base=reader.number("VETROI_ONET_BACKOFF_BASE", 0.2),
            onet_backoff_max=reader.number("VETROI_ONET_BACKOFF_MAX", 1.0),
            onet_retry_after_max=reader.number("VETROI_ONET_RETRY_AFTER_MAX", 2.0),
            onet_budget_seconds=reader.number("VETROI_ONET_BUDGET_SECONDS", 4.0),
            breaker_enabled=reader.boolean("VETROI_BREAKER_ENABLED", True),
            breaker_fail_max=reader.integer("VETROI_BREAKER_FAIL_MAX", 3, 1),
            breaker_reset_seconds=reader.number("VETROI_BREAKER_RESET_SECONDS", 30.0),
            cache_ttl_seconds=reader.integer("VETROI_CACHE_TTL_SECONDS", 7 * 24 * 3600, 1),
            cache_skip_seconds=reader.number("VETROI_CACHE_SKIP_SECONDS", 5.0),
            aws_connect_timeout=reader.number("VETROI_AWS_CONNECT_TIMEOUT", 1.0),
            aws_read_timeout=reader.number("VETROI_AWS_READ_TIMEOUT", 2.0),
            aws_max_attempts=reader.integer("VETROI_AWS_MAX_ATTEMPTS", 2, 1),
            health_timeout=reader.number("VETROI_HEALTH_TIMEOUT", 1.0),
            health_cache_seconds=reader.number("VETROI_HEALTH_CACHE_SECONDS", 5.0),
            career_max_age=reader.integer("VETROI_CAREER_MAX_AGE", 300, 0),
            career_stale_if_error=reader.integer("VETROI_CAREER_STALE_IF_ERROR", 86400, 0),
        )

    @property
    def onet_configured(self) -> bool:
        return bool(self.onet_secret or (self.onet_username and self.onet_password))


def _header_list(raw: str) -> str:
    """Header names, comma-separated, as Access-Control-Allow-Headers carries them."""
    names = [name.strip() for name in raw.split(",")]
    if not all(names):
        raise ConfigError(f"VETROI_CORS_ALLOWED_HEADERS={raw!r}: expected header names")
    return ",".join(names)


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env

    def integer(self, name: str, default: int, low: int) -> int:
        raw = self.env.get(name)
        if raw in (None, ""):
            return default
        try:
            value = int(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a whole number") from None
        if value < low:
            raise ConfigError(f"{name}={raw!r}: expected at least {low}")
        return value

    def number(self, name: str, default: float) -> float:
        raw = self.env.get(name)
        if raw in (None, ""):
            return default
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(f"{name}={raw!r}: expected a number of seconds") from None
        if value < 0:
            raise ConfigError(f"{name}={raw!r}: expected zero or more")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        raw = self.env.get(name)
        if raw in (None, ""):
            return default
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{name}={raw!r}: expected true or false")

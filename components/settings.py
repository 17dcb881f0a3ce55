"""The stack's settings: read once from Pulumi config, checked as a whole, typed.

Every key is declared in `Pulumi.yaml` with its type, default and description. The Pulumi CLI
fills in those defaults itself; this module reads them from the same file so that the program
behaves the same under the mock runtime, where there is no CLI. A stack with bad settings stops
with one `SettingsError` that names every bad key, its value and what is expected, rather than
failing on the first one.

The CLI refuses to run a stack that lacks a key declared without a default, and a key declared
`secret: true` cannot carry a default. So every optional key has a default (`""` for an unset
string, which this module reads as unset), and the keys read as secrets (`SECRET_KEYS`) are
declared plain with a `""` default: this module checks instead that a value given for one was
stored with `pulumi config set --secret`, which the engine tells the program through the secret
keys it passes with the config (`pulumi.runtime.is_config_secret`).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlparse

import boto3
import pulumi
import yaml

PROJECT = "vetroi"
PROJECT_FILE = Path(__file__).resolve().parent.parent / "Pulumi.yaml"

# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LOG_RETENTION_DAYS = frozenset(
    {1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557}
    | {2922, 3288, 3653}
)
LAMBDA_PYTHON_VERSIONS = ("3.12", "3.13", "3.14")
ARCHITECTURES = ("arm64", "x86_64")
ROLES = ("primary", "backup")
LAYOUTS = ("perRoute", "monolith")
# The functions each layout deploys (components.api builds them); pinnedVersion may name these.
LAYOUT_FUNCTIONS = {
    "perRoute": ("recommend", "career", "health", "uploads"),
    "monolith": ("monolith",),
}
VERSION = re.compile(r"^[1-9][0-9]*$")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
T = TypeVar("T")
STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
# A Route53 hosted zone id as the API returns it without /hostedzone/: at most 32 characters.
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z0-9]{1,31}$")
# An HTTP field name (RFC 9110 token) without the apostrophe, which API Gateway's gateway
# responses use to quote a fixed header value.
HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&*+.^_`|~-]+$")
# CloudFront documents no bound for Access-Control-Max-Age; browsers keep a preflight at most a
# day (Firefox; Chromium two hours), so a longer one would have no effect.
CORS_MAX_AGE_SECONDS = 86400
# A host name of an origin: DNS labels (localhost included); IP addresses are checked apart.
HOST = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$")
# Keys whose values the program reads as Pulumi secrets; each must be set with --secret.
SECRET_KEYS = ("onetUsername", "onetPassword", "alertHttpsEndpoints")


class SettingsError(pulumi.RunError):
    """The stack's settings are wrong; the message lists every bad key and how to fix it."""

    def __init__(self, stack: str, problems: list[Problem]) -> None:
        self.problems = problems
        lines = [f"stack {stack!r} has {len(problems)} bad setting(s):"]
        lines += [f"  - {p.key} = {p.value!r}: expected {p.expected}" for p in problems]
        lines.append(f"Fix each with `pulumi config set {PROJECT}:<key> <value> -s {stack}`.")
        # Keys of another namespace (aws:region) are set under their own name.
        for key in sorted({p.key for p in problems if ":" in p.key}):
            lines.append(f"Fix {key} with `pulumi config set {key} <value> -s {stack}`.")
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class Problem:
    key: str
    value: object
    expected: str


@dataclass(frozen=True)
class Settings:
    """Everything the program reads from the stack's config, typed and checked."""

    stack: str
    role: str
    region: str
    other_region: str
    table_name: str
    cors_origins: tuple[str, ...]
    allow_any_origin: bool
    cors_allowed_headers: tuple[str, ...]
    cors_max_age_seconds: int
    function_layout: str
    architecture: str
    python_version: str
    function_memory_mb: int
    function_timeout_seconds: int
    log_retention_days: int
    throttle_rate_limit: float
    throttle_burst_limit: int
    stage_name: str
    upload_bucket_name: str | None
    cache_bucket_name: str | None
    upload_max_bytes: int
    onet_base_url: str
    alert_emails: tuple[str, ...]
    # Edge and failover.
    domain: str | None
    hosted_zone_id: str | None
    health_check_interval: int
    health_check_failure_threshold: int
    failover_record_ttl: int
    origin_connection_timeout: int
    origin_connection_attempts: int
    waf_rate_limit: int
    failover_budget_limit: int
    force_failover: bool
    backup_stack: str | None
    # Operations.
    demo_time: datetime | None
    freeze_hours: int
    freeze_override_reason: str | None
    api_4xx_alarm_threshold: int
    warmup_interval_minutes: int
    provisioned_concurrency: int
    provisioned_concurrency_lead_minutes: int
    canary_weight: float
    # One version for every function, or function name -> version; None when nothing is pinned.
    pinned_version: str | dict[str, str] | None
    # Secrets stay Outputs so that Pulumi keeps them encrypted in state and outputs.
    onet_username: pulumi.Output[str] | None = field(default=None, repr=False)
    onet_password: pulumi.Output[str] | None = field(default=None, repr=False)
    alert_https_endpoints: pulumi.Output[list[str]] | None = field(default=None, repr=False)

    @property
    def is_primary(self) -> bool:
        return self.role == "primary"

    def pinned_version_of(self, function: str | None) -> str | None:
        """The version `function`'s live alias is pinned to, or None when it is not pinned."""
        if isinstance(self.pinned_version, dict):
            return self.pinned_version.get(function) if function else None
        return self.pinned_version

    @property
    def runtime(self) -> str:
        return f"python{self.python_version}"

    @property
    def package_platform(self) -> str:
        """The pip platform tag of the Lambda architecture the zips are built for."""
        return "manylinux2014_aarch64" if self.architecture == "arm64" else "manylinux2014_x86_64"

    @property
    def primary_region(self) -> str:
        return self.region if self.is_primary else self.other_region

    @property
    def backup_region(self) -> str:
        return self.other_region if self.is_primary else self.region


def declared_keys(project_file: Path = PROJECT_FILE) -> dict[str, dict[str, Any]]:
    """The config keys declared in Pulumi.yaml, without the project prefix."""
    declared = yaml.safe_load(project_file.read_text())["config"]
    return {key.removeprefix(f"{PROJECT}:"): spec for key, spec in declared.items()}


def known_regions() -> frozenset[str]:
    """The regions of the standard `aws` partition with Lambda.

    botocore ships the region list, so no call to AWS is needed. China, GovCloud and the isolated
    partitions are left out: the program writes `arn:aws:` ARNs, which are wrong there.
    """
    session = boto3.session.Session()
    return frozenset(session.get_available_regions("lambda", partition_name="aws"))


def load(config: pulumi.Config | None = None, stack: str | None = None) -> Settings:
    """Read and check the stack's settings; raise one SettingsError listing every problem."""
    config = config or pulumi.Config(PROJECT)
    stack = stack or pulumi.get_stack()
    reader = _Reader(config, declared_keys())
    reader.unknown_keys(_configured_keys())
    aws_region = pulumi.Config("aws").get("region")
    regions = known_regions()

    region = reader.check(
        "aws:region", aws_region, lambda v: v in regions, "an AWS region such as us-east-2"
    )
    other_region = reader.text("otherRegion")
    if other_region is None:
        reader.problem("otherRegion", other_region, "the other stack's AWS region, e.g. us-west-2")
    elif other_region not in regions:
        reader.problem("otherRegion", other_region, "an AWS region such as us-west-2")
    elif other_region == region:
        reader.problem("otherRegion", other_region, f"a region other than aws:region ({region})")

    origins = reader.string_list("corsOrigins")
    for origin in origins:
        if not _is_origin(origin):
            reader.problem("corsOrigins", origin, "an origin such as https://app.example.com")

    domain = reader.text("domain")
    if domain is not None and not DOMAIN.match(domain):
        reader.problem("domain", domain, "a lowercase DNS name such as vetroi.example.com")
    hosted_zone_id = reader.optional_pattern(
        "hostedZoneId",
        HOSTED_ZONE_ID,
        "a Route53 hosted zone id: Z and up to 31 uppercase letters or digits, "
        "without /hostedzone/",
    )
    if domain and not hosted_zone_id and reader.text("hostedZoneId") is None:
        reader.problem("hostedZoneId", hosted_zone_id, "the Route53 zone id of `domain`")
    if hosted_zone_id and not domain:
        reader.problem("domain", domain, "the domain of the zone given as hostedZoneId")

    credentials = {key: reader.secret_text(key) for key in ("onetUsername", "onetPassword")}
    # One credential without the other would leave O*NET off with only a warning.
    for given, missing in (("onetUsername", "onetPassword"), ("onetPassword", "onetUsername")):
        if credentials[given] is not None and credentials[missing] is None:
            reader.problem(missing, "", f"set too, with --secret, since {given} is set")

    settings = Settings(
        stack=stack,
        role=reader.choice("role", ROLES),
        region=region or "",
        other_region=other_region or "",
        table_name=reader.pattern("tableName", TABLE, "3-255 letters, digits, _ . -"),
        cors_origins=tuple(origins),
        allow_any_origin=reader.boolean("allowAnyOrigin"),
        cors_allowed_headers=_header_names(reader, "corsAllowedHeaders"),
        cors_max_age_seconds=reader.integer("corsMaxAgeSeconds", 0, CORS_MAX_AGE_SECONDS),
        function_layout=reader.choice("functionLayout", LAYOUTS),
        architecture=reader.choice("architecture", ARCHITECTURES),
        python_version=reader.choice("pythonVersion", LAMBDA_PYTHON_VERSIONS),
        function_memory_mb=reader.integer("functionMemoryMb", 128, 10240),
        function_timeout_seconds=reader.integer("functionTimeoutSeconds", 1, 29),
        log_retention_days=reader.member(
            "logRetentionDays",
            LOG_RETENTION_DAYS,
            "one of CloudWatch's retention periods: "
            + ", ".join(map(str, sorted(LOG_RETENTION_DAYS))),
        ),
        throttle_rate_limit=reader.number("throttleRateLimit", 1, 10000),
        throttle_burst_limit=reader.integer("throttleBurstLimit", 1, 5000),
        stage_name=reader.pattern(
            "stageName", re.compile(r"^[A-Za-z0-9_]{1,128}$"), "letters, digits, _"
        ),
        upload_bucket_name=reader.optional_pattern("uploadBucketName", BUCKET, "an S3 bucket name"),
        cache_bucket_name=reader.optional_pattern("cacheBucketName", BUCKET, "an S3 bucket name"),
        upload_max_bytes=reader.integer("uploadMaxBytes", 1024, 50 * 1024 * 1024),
        onet_base_url=reader.check(
            "onetBaseUrl", reader.text("onetBaseUrl"), _is_https_url, "an https:// URL"
        )
        or "",
        alert_emails=tuple(reader.emails("alertEmails")),
        domain=domain,
        hosted_zone_id=hosted_zone_id,
        health_check_interval=reader.member(
            "healthCheckInterval",
            frozenset({10, 30}),
            "10 or 30 (Route53 supports no other interval)",
        ),
        health_check_failure_threshold=reader.integer("healthCheckFailureThreshold", 1, 10),
        failover_record_ttl=reader.integer("failoverRecordTtl", 1, 86400),
        origin_connection_timeout=reader.integer("originConnectionTimeout", 1, 10),
        origin_connection_attempts=reader.integer("originConnectionAttempts", 1, 3),
        waf_rate_limit=reader.integer("wafRateLimit", 10, 2_000_000_000),
        failover_budget_limit=reader.integer("failoverBudgetLimit", 1, 3600),
        force_failover=reader.boolean("forceFailover"),
        backup_stack=reader.optional_pattern(
            "backupStack", STACK_NAME, "a stack name or org/project/stack"
        ),
        demo_time=reader.timestamp("demoTime"),
        freeze_hours=reader.integer("freezeHours", 0, 24 * 30),
        freeze_override_reason=reader.text("freezeOverrideReason"),
        api_4xx_alarm_threshold=reader.integer("api4xxAlarmThreshold", 1, 1_000_000),
        warmup_interval_minutes=reader.integer("warmupIntervalMinutes", 1, 60),
        provisioned_concurrency=reader.integer("provisionedConcurrency", 0, 1000),
        provisioned_concurrency_lead_minutes=reader.integer(
            "provisionedConcurrencyLeadMinutes", 5, 24 * 60
        ),
        canary_weight=reader.number("canaryWeight", 0, 1),
        pinned_version=reader.pinned_versions("pinnedVersion"),
        onet_username=credentials["onetUsername"],
        onet_password=credentials["onetPassword"],
        alert_https_endpoints=reader.secret_urls("alertHttpsEndpoints"),
    )
    _check_edge(settings, reader)
    _check_pinned(settings, reader)
    if reader.problems:
        raise SettingsError(stack, reader.problems)
    return settings


def _check_edge(settings: Settings, reader: _Reader) -> None:
    """Edge and failover settings that are only wrong in combination."""
    if settings.force_failover and not settings.is_primary:
        reader.problem(
            "forceFailover", True, "false on the backup stack (set it on the prod stack)"
        )
    elif settings.force_failover and not settings.domain and not settings.backup_stack:
        reader.problem(
            "forceFailover", True, "false without a domain, unless backupStack names the backup"
        )
    # A malformed list is reported already; an empty one leaves the edge with no CORS policy.
    malformed = any(p.key == "corsOrigins" for p in reader.problems)
    no_origin = not settings.cors_origins and not settings.allow_any_origin
    if settings.is_primary and no_origin and not malformed:
        reader.problem(
            "corsOrigins", [], "at least one origin for the edge's CORS policy, or allowAnyOrigin"
        )


def _header_names(reader: _Reader, key: str) -> tuple[str, ...]:
    """HTTP header names, each once whatever its case."""
    reported = len(reader.problems)
    names = reader.string_list(key)
    if len(reader.problems) > reported:
        return ()
    for name in names:
        if not HEADER_NAME.match(name):
            reader.problem(key, name, "an HTTP header name: letters, digits and !#$%&*+-.^_`|~")
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered):
        reader.problem(key, names, "each header name once (names are case-insensitive)")
    if "content-type" not in lowered and "*" not in lowered:
        # A JSON body is not one of the types a browser sends without asking first.
        reader.problem(key, names, "a list including Content-Type: the API's POSTs send JSON")
    return tuple(names)


def _check_pinned(settings: Settings, reader: _Reader) -> None:
    """A per-function pin must name a function the stack's layout deploys."""
    if not isinstance(settings.pinned_version, dict):
        return
    functions = LAYOUT_FUNCTIONS.get(settings.function_layout, ())
    for name in sorted(set(settings.pinned_version) - set(functions)):
        reader.problem(
            "pinnedVersion",
            name,
            f"a function of the {settings.function_layout} layout: " + ", ".join(functions),
        )


def _configured_keys() -> set[str]:
    """Every key set for this stack, from wherever the language host passed them."""
    from pulumi.runtime import config as runtime_config

    return set(runtime_config.CONFIG.get()) | set(runtime_config.get_config_env())


def _is_origin(value: str) -> bool:
    """`scheme://host[:port]` exactly as a browser sends it in `Origin` (no path, no wildcard)."""
    parsed = urlparse(value)
    try:
        port = parsed.port  # raises ValueError outside 0-65535 or when not a number
    except ValueError:
        return False
    host = parsed.hostname or ""
    if host.startswith("[") or ":" in host:
        host_ok = _is_ip(host.strip("[]"))
    else:
        host_ok = bool(HOST.match(host)) or _is_ip(host)
    return (
        parsed.scheme in ("http", "https")
        and host_ok
        and port != 0
        and parsed.username is None
        and parsed.password is None
        # A browser sends the host in lower case; an origin in capitals would never match.
        and parsed.netloc == parsed.netloc.lower()
        and parsed.path == ""
        and not parsed.params
        and not parsed.query
        and not parsed.fragment
    )


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _is_https_url(value: str | None) -> bool:
    parsed = urlparse(value or "")
    return parsed.scheme == "https" and bool(parsed.hostname)


class _Reader:
    """Reads raw config values with the declared defaults and collects every problem."""

    def __init__(self, config: pulumi.Config, declared: dict[str, dict[str, Any]]) -> None:
        self.config = config
        self.declared = declared
        self.problems: list[Problem] = []

    def problem(self, key: str, value: object, expected: str) -> None:
        self.problems.append(Problem(key, value, expected))

    def unknown_keys(self, keys: set[str]) -> None:
        """A misspelt key would otherwise be ignored and its default used without a word."""
        for key in sorted(keys):
            name = key.removeprefix(f"{PROJECT}:")
            if key.startswith(f"{PROJECT}:") and name not in self.declared:
                close = difflib.get_close_matches(name, self.declared, n=1)
                hint = f" (did you mean {close[0]}?)" if close else ""
                self.problem(name, "", f"a key declared in Pulumi.yaml{hint}")

    def raw(self, key: str) -> object:
        if key not in self.declared:
            raise KeyError(f"{key} is read by the program but not declared in Pulumi.yaml")
        value = self.config.get(key)
        return self.declared[key].get("default") if value is None else value

    def check(self, key: str, value: T | None, ok: Callable[[T], bool], expected: str) -> T | None:
        if value is None or not ok(value):
            if value is not None or key == "aws:region":
                self.problem(key, value, expected)
            return None
        return value

    def text(self, key: str) -> str | None:
        value = self.raw(key)
        return None if value in (None, "") else str(value)

    def choice(self, key: str, choices: tuple[str, ...]) -> str:
        value = self.text(key)
        if value not in choices:
            self.problem(key, value, "one of " + ", ".join(choices))
            return choices[0]
        return value

    def pattern(self, key: str, regex: re.Pattern[str], expected: str) -> str:
        value = self.text(key)
        if value is None or not regex.match(value):
            self.problem(key, value, expected)
            return ""
        return value

    def optional_pattern(self, key: str, regex: re.Pattern[str], expected: str) -> str | None:
        value = self.text(key)
        if value is not None and not regex.match(value):
            self.problem(key, value, expected)
            return None
        return value

    def boolean(self, key: str) -> bool:
        value = self.raw(key)
        if isinstance(value, bool):
            return value
        if str(value).lower() in ("true", "false"):
            return str(value).lower() == "true"
        self.problem(key, value, "true or false")
        return False

    def member(self, key: str, allowed: frozenset[int], expected: str) -> int:
        """A whole number that must be one of `allowed`; one problem however it is wrong."""
        value = self.raw(key)
        try:
            number = int(str(value))
        except ValueError:
            number = None
        if number is None or number not in allowed:
            self.problem(key, value, expected)
            return min(allowed)
        return number

    def integer(self, key: str, low: int, high: int) -> int:
        value = self.raw(key)
        try:
            number = int(str(value))
        except ValueError:
            self.problem(key, value, f"a whole number from {low} to {high}")
            return low
        if not low <= number <= high:
            self.problem(key, value, f"a whole number from {low} to {high}")
        return number

    def number(self, key: str, low: float, high: float) -> float:
        value = self.raw(key)
        try:
            number = float(str(value))
        except ValueError:
            self.problem(key, value, f"a number from {low:g} to {high:g}")
            return low
        if not low <= number <= high:
            self.problem(key, value, f"a number from {low:g} to {high:g}")
        return number

    def string_list(self, key: str) -> list[str]:
        value = self.raw(key)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                self.problem(key, value, 'a JSON list of strings, such as ["a", "b"]')
                return []
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problem(key, value, 'a list of strings, such as ["a", "b"]')
            return []
        return value

    def emails(self, key: str) -> list[str]:
        emails = self.string_list(key)
        for email in emails:
            if not EMAIL.match(email):
                self.problem(key, email, "an e-mail address")
        return emails

    def timestamp(self, key: str) -> datetime | None:
        value = self.text(key)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.problem(key, value, "an ISO 8601 time with its offset, e.g. 2026-12-10T15:00:00Z")
            return None
        if moment.tzinfo is None:
            self.problem(key, value, "a time with its offset (Z or +hh:mm), not a local time")
            return None
        return moment.astimezone(UTC)

    def secret_raw(self, key: str) -> str | None:
        """A key read as a secret: None when unset (""), a problem when stored in plain text."""
        raw = self.config.get(key)
        if raw in (None, ""):
            return None
        if not pulumi.runtime.is_config_secret(self.config.full_key(key)):
            self.problem(
                key,
                "[not shown]",
                f"a secret: store it with `pulumi config set --secret {self.config.full_key(key)}"
                " <value>`, not in plain text",
            )
        return raw

    def secret_text(self, key: str) -> pulumi.Output[str] | None:
        raw = self.secret_raw(key)
        return None if raw is None else pulumi.Output.secret(raw)

    def pinned_versions(self, key: str) -> str | dict[str, str] | None:
        """One version number, or a JSON object of function name -> version number."""
        value = self.text(key)
        if value is None or not value.lstrip().startswith("{"):
            return self.optional_pattern(key, VERSION, "a published version number")
        try:
            pins = json.loads(value)
        except json.JSONDecodeError:
            pins = None
        if not isinstance(pins, dict):
            self.problem(key, value, 'a version number or a JSON object such as {"career": "7"}')
            return None
        versions: dict[str, str] = {}
        for name, version in pins.items():
            # JSON numbers are accepted as well as strings; true and 7.5 are not versions.
            text = str(version) if isinstance(version, str | int) else ""
            if isinstance(version, bool) or not VERSION.match(text):
                self.problem(key, {name: version}, "a published version number per function")
            else:
                versions[name] = text
        return versions

    def secret_urls(self, key: str) -> pulumi.Output[list[str]] | None:
        """HTTPS endpoints (PagerDuty, Opsgenie) that embed a token; checked and kept secret."""
        raw = self.secret_raw(key)
        if raw is None:
            return None
        # Values of secret keys reach the program in clear; the check below never prints one.
        try:
            urls = json.loads(raw)
        except json.JSONDecodeError:
            urls = None
        if not isinstance(urls, list) or not all(_is_https_url(u) for u in urls):
            self.problem(key, "[secret]", "a JSON list of https:// URLs, set with --secret")
            return None
        return pulumi.Output.secret(urls)

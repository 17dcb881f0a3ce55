"""The local environment's settings: environment variables first, command-line flags over them.

The defaults mirror the stacks' settings in `Pulumi.yaml` where the local environment plays the
same part (function timeout, failure threshold, origin connection attempts), and shorten only
what makes a drill slow: health checks run every second instead of every 10 seconds, the origin
connection timeout is 1 second instead of 3 (a local port accepts or refuses at once, so only a
region whose listen queue is full waits for it), and there is no DNS record TTL or CloudFront
DNS cache to wait out.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ORIGINS = ("http://localhost:3000", "http://localhost:5173")
ONET_BASE_URL = "https://services.onetcenter.org/ws"
LAYOUTS = ("perRoute", "monolith")
ONET_MODES = ("auto", "real", "replay", "off")


class ConfigError(ValueError):
    """A setting of the local environment is wrong; the message names it and what it expects."""


@dataclass(frozen=True)
class DemoConfig:
    port: int = 8000
    host: str = "127.0.0.1"
    origins: tuple[str, ...] = DEFAULT_ORIGINS
    # Route53's semantics at a local pace: a region changes state after `threshold` checks in a
    # row agree, and each check must answer within `health_timeout`.
    health_interval: float = 1.0
    health_threshold: int = 2
    health_timeout: float = 0.8
    # CloudFront's origin settings: connection attempts as the stacks set them, the connection
    # timeout shorter (1 s, the stacks' is 3 s; see above), and the origin response (read)
    # timeout, which must outlast the function's own timeout so that a slow function's 502
    # reaches the browser rather than the edge's 504.
    origin_connect_timeout: float = 1.0
    origin_attempts: int = 1
    origin_read_timeout: float = 12.0
    function_timeout: float = 10.0
    layout: str = "perRoute"
    stage: str = "prod"
    # O*NET: "real" proxies to the real service (needs ONET_USERNAME/ONET_PASSWORD); "replay"
    # has the local stand-in answer as O*NET from the bundled data; "off" gives the regions no
    # credentials, so they never call O*NET; "auto" is real with credentials, off without.
    onet_mode: str = "auto"
    onet_base_url: str = ONET_BASE_URL
    onet_username: str | None = field(default=None, repr=False)
    onet_password: str | None = field(default=None, repr=False)
    onet_slow_seconds: float = 5.0
    # Seed the O*NET cache as already expired, so that every request goes through O*NET and
    # its fallbacks (the drill's O*NET faults need that to mean anything). The real O*NET mode
    # always seeds it so (see cache_seeded_expired): credentials are given to be used.
    stale_cache: bool = False
    work_dir: Path = ROOT / ".build" / "localdemo"
    quiet: bool = False

    @property
    def onet_effective_mode(self) -> str:
        if self.onet_mode != "auto":
            return self.onet_mode
        return "real" if self.onet_username and self.onet_password else "off"

    @property
    def cache_seeded_expired(self) -> bool:
        """Whether the bundled O*NET cache is seeded as expired: asked for, or real O*NET."""
        return self.stale_cache or self.onet_effective_mode == "real"

    @property
    def failover_budget(self) -> float:
        """Worst-case seconds from a region failing to all traffic moving: the checks it takes."""
        return self.health_threshold * self.health_interval + self.health_timeout

    @property
    def allow_any_origin(self) -> bool:
        return "*" in self.origins

    def check(self) -> DemoConfig:
        problems = []
        if not 0 < self.port < 65536:
            problems.append(f"port {self.port}: expected 1-65535")
        for origin in self.origins:
            parsed = urlparse(origin)
            if origin != "*" and (parsed.scheme not in ("http", "https") or not parsed.netloc):
                problems.append(f"origin {origin!r}: expected e.g. http://localhost:3000 or *")
        if self.health_interval <= 0 or not 0 < self.health_timeout <= self.health_interval * 4:
            problems.append("health interval and timeout: expected positive seconds")
        if not 1 <= self.health_threshold <= 10:
            problems.append(f"health threshold {self.health_threshold}: expected 1-10")
        if not 1 <= self.origin_attempts <= 3:
            problems.append(f"origin attempts {self.origin_attempts}: expected 1-3")
        if self.layout not in LAYOUTS:
            problems.append(f"layout {self.layout!r}: expected one of {', '.join(LAYOUTS)}")
        if self.onet_mode not in ONET_MODES:
            problems.append(f"O*NET mode {self.onet_mode!r}: expected {', '.join(ONET_MODES)}")
        if self.onet_mode == "real" and not (self.onet_username and self.onet_password):
            problems.append("O*NET mode real: set ONET_USERNAME and ONET_PASSWORD")
        if problems:
            raise ConfigError("; ".join(problems))
        return self


def from_environment(
    argv: Sequence[str] | None = None, env: Mapping[str, str] | None = None
) -> DemoConfig:
    """Settings from `env` (os.environ by default) and then the command line."""
    env = os.environ if env is None else env
    parser = argparse.ArgumentParser(
        prog="python -m localdemo",
        description="Run VetROI's two regions, local AWS, O*NET stand-in and edge until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=_number(env, "VETROI_PORT", 8000, int))
    parser.add_argument(
        "--origins",
        default=env.get("VETROI_ORIGINS", ",".join(DEFAULT_ORIGINS)),
        help="comma-separated browser origins allowed by the edge's CORS policy, or *",
    )
    parser.add_argument(
        "--health-interval",
        type=float,
        default=_number(env, "VETROI_HEALTH_INTERVAL", 1.0, float),
        help="seconds between health checks of each region (default 1)",
    )
    parser.add_argument(
        "--health-threshold",
        type=int,
        default=_number(env, "VETROI_HEALTH_THRESHOLD", 2, int),
        help="checks in a row that change a region's health (default 2, as the stacks)",
    )
    parser.add_argument(
        "--origin-read-timeout",
        type=float,
        default=_number(env, "VETROI_ORIGIN_READ_TIMEOUT", 12.0, float),
    )
    parser.add_argument(
        "--function-timeout",
        type=float,
        default=_number(env, "VETROI_FUNCTION_TIMEOUT", 10.0, float),
    )
    parser.add_argument("--layout", default=env.get("VETROI_LAYOUT", "perRoute"), choices=LAYOUTS)
    parser.add_argument(
        "--onet", default=env.get("VETROI_ONET_MODE", "auto"), choices=ONET_MODES, dest="onet"
    )
    parser.add_argument(
        "--stale-cache",
        action="store_true",
        default=env.get("VETROI_STALE_CACHE", "") in ("1", "true"),
        help="seed the O*NET cache as expired, so requests go through O*NET and its fallbacks",
    )
    parser.add_argument("--work-dir", type=Path, default=Path(env.get("VETROI_DEMO_DIR", "")))
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)

    interval = args.health_interval
    return DemoConfig(
        port=args.port,
        origins=tuple(o.strip() for o in args.origins.split(",") if o.strip()),
        health_interval=interval,
        health_threshold=args.health_threshold,
        health_timeout=min(0.8 * interval, 2.0) if interval < 2.5 else 2.0,
        origin_read_timeout=args.origin_read_timeout,
        function_timeout=args.function_timeout,
        layout=args.layout,
        onet_mode=args.onet,
        onet_base_url=env.get("VETROI_ONET_UPSTREAM", ONET_BASE_URL),
        onet_username=env.get("ONET_USERNAME") or None,
        onet_password=env.get("ONET_PASSWORD") or None,
        stale_cache=args.stale_cache,
        work_dir=args.work_dir if str(args.work_dir) not in ("", ".") else DemoConfig.work_dir,
        quiet=args.quiet,
    ).check()


def _number(env: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return kind(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r}: expected a {kind.__name__}") from None

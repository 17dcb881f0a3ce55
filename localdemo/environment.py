"""The whole local platform, started and stopped as one: local AWS, O*NET, two regions, the edge.

`Environment.start()` brings everything up in dependency order and returns once the edge
answers and both regions pass their health check; `stop()` takes it down in reverse order and
waits for every child process to be gone. `run()` is `python -m localdemo`: start, print where
everything is, wait for Ctrl-C (or SIGTERM, SIGHUP), stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import shutil
import signal
import sys
import time
from typing import Any

import aiohttp
from aiohttp import web

from components.packaging import PackageError

from .aws import (
    BACKUP_REGION,
    PRIMARY_REGION,
    TABLE_NAME,
    UPLOAD_BUCKET,
    LocalAws,
    TableReplicator,
    TcpRelay,
    plain_environment,
)
from .config import DemoConfig
from .edge import Edge, FaultError
from .health import BACKUP, PRIMARY
from .onet import FAULTS as ONET_FAULTS
from .onet import OnetStandIn
from .processes import PortInUseError, check_port_free, free_port
from .regions import FAULTS as REGION_FAULTS
from .regions import Region, unpacked_package

log = logging.getLogger(__name__)

FAULTS: dict[str, tuple[str, ...]] = {
    PRIMARY: REGION_FAULTS,
    BACKUP: REGION_FAULTS,
    "onet": ONET_FAULTS,
    "table": ("up", "down"),
}
AWS_REGIONS = {PRIMARY: PRIMARY_REGION, BACKUP: BACKUP_REGION}
REPLAY_CREDENTIALS = ("local-demo", "local-demo")


class Environment:
    def __init__(self, config: DemoConfig) -> None:
        self.config = config
        self.log_dir = config.work_dir / "logs"
        host = config.host
        self.aws = LocalAws(host, free_port(host), self.log_dir)
        self.relays = {
            role: TcpRelay(host, free_port(host), host, self.aws.port) for role in AWS_REGIONS
        }
        self.onet = OnetStandIn(
            host,
            free_port(host),
            config.onet_effective_mode,
            config.onet_base_url,
            config.onet_slow_seconds,
        )
        self.replicator = TableReplicator(self.aws)
        self.regions: dict[str, Region] = {}
        self.edge = Edge(config, self)
        self.table_fault = "up"
        self.package_sha = ""
        self.started_in: float | None = None
        self._runner: web.AppRunner | None = None
        self._watcher: asyncio.Task[None] | None = None
        self._replication: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.config.host}:{self.config.port}"

    # Start and stop

    async def start(self) -> None:
        started = time.perf_counter()
        check_port_free(self.config.host, self.config.port)
        shutil.rmtree(self.log_dir, ignore_errors=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        try:
            await self._start_children()
            await self._start_edge()
            await self._wait_healthy()
        except BaseException:
            await self.stop()
            raise
        self.edge.start_checks()
        self._watcher = asyncio.create_task(self._watch_regions())
        self._replication = asyncio.create_task(self.replicator.run())
        self.started_in = time.perf_counter() - started

    async def _start_children(self) -> None:
        # Every child starts as early as it can: moto and both regions import their code at
        # the same time, and the regions' health checks wait for the table, not the other way.
        self.aws.start()
        code_dir, self.package_sha = await asyncio.to_thread(unpacked_package)
        for relay in self.relays.values():
            await relay.start()
        await self.onet.start()
        for role, aws_region in AWS_REGIONS.items():
            region = Region(
                role,
                aws_region,
                free_port(self.config.host),
                free_port(self.config.host),
                code_dir,
                self.config,
                self._region_env(role, aws_region),
                self.log_dir,
            )
            self.regions[role] = region
            region.start()
        await asyncio.to_thread(self.aws.wait_ready)
        await asyncio.to_thread(
            self.aws.bootstrap, self.config.cache_seeded_expired, self.config.origins
        )
        await asyncio.to_thread(self.replicator.prime)

    async def _start_edge(self) -> None:
        self._runner = web.AppRunner(self.edge.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        try:
            await site.start()
        except OSError as error:
            if error.errno in (errno.EADDRINUSE, errno.EACCES):
                raise PortInUseError(self.config.host, self.config.port, error.errno) from error
            raise

    async def _wait_healthy(self, timeout: float = 60.0) -> None:
        """Until each region answers its /health with 200 (imports and first table read done)."""
        deadline = time.monotonic() + timeout
        async with aiohttp.ClientSession() as session:
            for role, region in self.regions.items():
                while True:
                    if not region.process.running:
                        raise RuntimeError(
                            f"the {role} region exited during start; see {region.process.log_path}"
                        )
                    with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                        async with session.get(
                            region.url + "/health", timeout=aiohttp.ClientTimeout(total=5)
                        ) as response:
                            if response.status == 200:
                                break
                    if time.monotonic() > deadline:
                        raise TimeoutError(
                            f"the {role} region was not healthy within {timeout} s; "
                            f"see {region.process.log_path}"
                        )
                    await asyncio.sleep(0.05)

    async def reseed_cache(self) -> None:
        """Put the O*NET cache back as it was at the start (fresh, or expired with
        --stale-cache or real O*NET), forgetting what the regions cached since."""
        await asyncio.to_thread(self.aws.seed_cache, self.config.cache_seeded_expired)
        await asyncio.to_thread(self.replicator.prime)

    async def region_state(self, role: str) -> dict[str, Any]:
        """The region's control state now (breaker, cold starts); empty if it cannot answer."""
        region = self.regions[role]
        timeout = aiohttp.ClientTimeout(total=1.0)
        try:
            async with aiohttp.ClientSession(timeout=timeout) as session:
                async with session.get(region.control_url) as response:
                    region.state = await response.json()
        except (aiohttp.ClientError, TimeoutError, ValueError):
            region.state = {}
        return region.state

    async def _watch_regions(self) -> None:
        """Read each region's control state (breaker, cold starts) once per health interval."""
        timeout = aiohttp.ClientTimeout(total=min(0.5, self.config.health_interval))
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                for region in self.regions.values():
                    try:
                        async with session.get(region.control_url) as response:
                            region.state = await response.json()
                    except (aiohttp.ClientError, TimeoutError, ValueError):
                        region.state = {}  # down or hung: nothing known
                await asyncio.sleep(self.config.health_interval)

    async def stop(self) -> None:
        """Stop everything that was started, in reverse order; safe to call more than once."""
        for task in (self._watcher, self._replication):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._watcher = self._replication = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        else:
            await self.edge.close()
        for region in self.regions.values():
            await asyncio.to_thread(region.stop)
        await self.onet.close()
        for relay in self.relays.values():
            await relay.close()
        await asyncio.to_thread(self.aws.stop)

    def _region_env(self, role: str, aws_region: str) -> dict[str, str]:
        env = plain_environment()
        env.pop("HOME", None)
        env.update(
            {
                "AWS_REGION": aws_region,
                "AWS_DEFAULT_REGION": aws_region,
                "AWS_ENDPOINT_URL": self.aws.endpoint,
                "AWS_ENDPOINT_URL_DYNAMODB": self.relays[role].endpoint,
                "AWS_LAMBDA_FUNCTION_NAME": f"vetroi-local-{role}",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
                "TZ": "UTC",
                "VETROI_TABLE": TABLE_NAME,
                "VETROI_UPLOAD_BUCKET": UPLOAD_BUCKET,
                # As the stacks set it: the upload bucket lives in the primary region.
                "VETROI_UPLOAD_REGION": PRIMARY_REGION,
                "VETROI_UPLOAD_MAX_BYTES": str(10 * 1024 * 1024),
                "VETROI_CORS_ORIGINS": ",".join(self.config.origins),
                "VETROI_ONET_BASE_URL": self.onet.base_url,
                "VETROI_REGION_ROLE": role,
                # Shorter than the checks' interval, so a dead table fails the very next check,
                # as the function's 5 s default does against Route53's 10 s interval.
                "VETROI_HEALTH_CACHE_SECONDS": str(min(5.0, self.config.health_interval / 2)),
            }
        )
        mode = self.config.onet_effective_mode
        if mode == "real":
            assert self.config.onet_username and self.config.onet_password
            env["ONET_USERNAME"] = self.config.onet_username
            env["ONET_PASSWORD"] = self.config.onet_password
        elif mode == "replay":
            env["ONET_USERNAME"], env["ONET_PASSWORD"] = REPLAY_CREDENTIALS
        return env

    # What the edge asks of the environment

    def region_url(self, role: str) -> str:
        return self.regions[role].url

    async def static_object(self, key: str) -> tuple[bytes, dict[str, str]] | None:
        return await asyncio.to_thread(self.aws.static_object, key)

    def check_faults(self, faults: dict[str, Any]) -> None:
        """FaultError naming every fault of `faults` that is unknown or has a bad value."""
        problems = {}
        for name, value in faults.items():
            if name not in FAULTS:
                problems[name] = "unknown fault; expected one of " + ", ".join(
                    [*FAULTS, "forceFailover"]
                )
            elif value not in FAULTS[name]:
                problems[name] = f"expected one of {', '.join(FAULTS[name])}, not {value!r}"
        if problems:
            raise FaultError(problems)

    async def set_faults(self, faults: dict[str, Any]) -> None:
        self.check_faults(faults)
        for name, value in faults.items():
            if name in self.regions:
                await self._region_fault(self.regions[name], value)
            elif name == "onet":
                await self.onet.set_fault(value)
            elif name == "table":
                await self.relays[PRIMARY].set_down(value == "down")
                self.table_fault = value
            self.edge.note(f"fault {name}: {value}")

    async def _region_fault(self, region: Region, fault: str) -> None:
        process = region.process
        if fault == "down":
            await asyncio.to_thread(process.kill)
        elif fault == "hung":
            if not process.running:
                process.start()
                await self._wait_listening(region)
            process.pause()
        elif process.paused:
            process.resume()
        elif not process.running:
            # Started from this (the main) thread: the child's death signal follows the thread
            # that started it.
            process.start()
        region.fault = fault

    async def _wait_listening(self, region: Region, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(self.config.host, region.port)
                writer.close()
                return
            await asyncio.sleep(0.05)

    def snapshot(self) -> dict[str, Any]:
        return {
            "regions": {role: region.snapshot() for role, region in self.regions.items()},
            "onet": self.onet.snapshot(),
            "table": {
                "fault": self.table_fault,
                "appliesTo": PRIMARY,
                "replicatedWrites": self.replicator.copied,
            },
            "aws": {"endpoint": self.aws.endpoint},
            "package": {"sha256": self.package_sha},
            "logs": str(self.log_dir),
        }


def banner(env: Environment) -> str:
    config = env.config
    mode = config.onet_effective_mode
    onet = {
        "real": "the real O*NET web services, through the stand-in (faults apply); the "
        "cache is seeded as expired, so each career is asked of O*NET first",
        "replay": "the local stand-in answering from the bundled data",
        "off": "not called (no ONET_USERNAME/ONET_PASSWORD): the cache and static data answer",
    }[mode]
    regions = ", ".join(
        f"{role} {region.url} ({region.aws_region})" for role, region in env.regions.items()
    )
    return "\n".join(
        [
            f"VetROI local demo is up ({env.started_in or 0:.1f} s).",
            f"  API (edge):   {env.url}   CORS for: {', '.join(config.origins)}",
            f"  status page:  {env.url}/",
            f"  regions:      {regions}",
            f"  local AWS:    {env.aws.endpoint} (moto)",
            f"  O*NET:        {onet}",
            f"  failover:     health checks every {config.health_interval:g} s, "
            f"{config.health_threshold} in a row; worst case {config.failover_budget:.1f} s",
            f"  logs:         {env.log_dir}",
            "Press Ctrl-C to stop.",
        ]
    )


async def run(config: DemoConfig) -> int:
    """Start, serve until a stop signal, stop. Returns the process exit code."""
    env = Environment(config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    # Ctrl-C during the start stops it there: whatever had started is stopped again.
    starting = asyncio.create_task(env.start())
    interrupted = asyncio.create_task(stop.wait())
    await asyncio.wait({starting, interrupted}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        print("Interrupted while starting; stopped.", flush=True)
        return 130
    interrupted.cancel()
    try:
        starting.result()
    except PortInUseError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (PackageError, OSError, RuntimeError, TimeoutError, ValueError) as error:
        # A package that does not build, a region that dies at start: say so, no traceback.
        print(f"error: the local demo could not start: {error}", file=sys.stderr)
        return 1
    print(banner(env), flush=True)
    try:
        await stop.wait()
    finally:
        print("Stopping...", flush=True)
        await env.stop()
        print("Stopped; no process or port is left behind.", flush=True)
    return 0

"""What the local demo costs and delivers, measured through its edge.

Run from the repository root: `.venv/bin/python bench/demo.py [--seconds N] [--concurrency C]`.

It starts `make demo` exactly as a presenter would (on a free port, so nothing else is
disturbed), with a warm install: the virtualenv is up to date and the function package is taken
from the build cache (built once first if the code changed). Then it prints:

- start: seconds from `make demo` to the edge answering `GET /health` with 200 through a region;
- recovery: seconds from killing the primary region to the first `POST /recommend` answered by
  the backup, against the failover budget the demo's settings imply (computed from the same
  settings the demo reads, by default health checks every second, two in a row);
- throughput through the edge, `--concurrency` clients for `--seconds` each, counting only 2xx
  answers with CORS headers as successes: cached `GET /career/...` (the edge's cache), uncached
  `GET /career/...` (the cache switched off, so every request reaches a region, its function and
  the table), and `POST /recommend`; any error is printed, the targets being zero errors at
  500/s cached and 100/s uncached on this 2-core machine;
- memory: the peak, over the whole run, of the summed resident memory (RSS) of every process of
  the environment (make, the supervisor with its edge, moto, both regions), target 500 MB.

Each figure is printed beside its target and whether it met it; none is asserted: they depend
on the machine and its load. The load generator runs on the same two cores as the environment,
so throughput figures are a floor. The demo is started without the caller's `VETROI_*`
variables, so its settings are the defaults the targets are stated for.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localdemo.config import from_environment  # noqa: E402
from localdemo.onetdata import careers, military  # noqa: E402
from localdemo.processes import free_port  # noqa: E402
from localdemo.regions import unpacked_package  # noqa: E402

ORIGIN = "http://localhost:5173"
START_TARGET_SECONDS = 10.0
MEMORY_TARGET_MB = 500
RATE_TARGETS = {"cached GET": 500, "uncached GET": 100}  # requests per second, zero errors


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


class MemoryWatch:
    """Samples the summed RSS of a process tree every 100 ms; keeps the peak."""

    def __init__(self, root: int) -> None:
        self.root = psutil.Process(root)
        self.peak = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._stop.wait(0.1):
            try:
                processes = [self.root, *self.root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            total = 0
            for process in processes:
                try:
                    total += process.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            if total > self.peak:
                self.peak, self.peak_processes = total, len(processes)


async def wait_answering(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"make demo exited with {process.returncode}")
            try:
                async with session.get(f"{url}/health") as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.02)
    raise TimeoutError(f"the edge did not answer within {timeout} s")


async def recovery(url: str) -> tuple[float, str]:
    """Kill the primary; seconds until a POST is answered (by the backup)."""
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        async with session.post(f"{url}/_demo/faults", json={"primary": "down"}) as response:
            assert response.status == 200, await response.text()
        killed = time.monotonic()
        while time.monotonic() - killed < 30:
            async with session.post(
                f"{url}/recommend", json={"branch": "army", "code": "11B"}
            ) as response:
                await response.read()
                if response.status == 200:
                    return time.monotonic() - killed, response.headers["X-Vetroi-Source"]
            await asyncio.sleep(0.02)
    raise TimeoutError("POST did not recover within 30 s")


async def load(
    url: str, kind: str, seconds: float, concurrency: int
) -> tuple[int, dict[str, int], float]:
    """(successes, errors by kind, requests per second) for one kind of request."""
    socs = itertools.cycle(sorted(careers()))
    codes = itertools.cycle(
        [(branch, code) for branch, codes in sorted(military().items()) for code in codes]
    )
    ok = 0
    errors: dict[str, int] = {}
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        connector=connector, timeout=aiohttp.ClientTimeout(total=15)
    ) as session:
        deadline = time.monotonic() + seconds

        async def client() -> None:
            nonlocal ok
            while time.monotonic() < deadline:
                if kind == "POST":
                    branch, code = next(codes)
                    call = session.post(
                        f"{url}/recommend",
                        json={"branch": branch, "code": code},
                        headers={"Origin": ORIGIN},
                    )
                else:
                    soc = "11-1011.00" if kind == "cached GET" else next(socs)
                    call = session.get(f"{url}/career/{soc}", headers={"Origin": ORIGIN})
                try:
                    async with call as response:
                        await response.read()
                        cors = response.headers.get("Access-Control-Allow-Origin") == ORIGIN
                        if 200 <= response.status < 300 and cors:
                            ok += 1
                        else:
                            what = f"{response.status}{'' if cors else ' without CORS'}"
                            errors[what] = errors.get(what, 0) + 1
                except (aiohttp.ClientError, TimeoutError) as exc:
                    errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1

        started = time.monotonic()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.monotonic() - started
    return ok, errors, (ok + sum(errors.values())) / elapsed


async def set_cache(url: str, **settings: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{url}/_demo/cache", json=settings) as response:
            assert response.status == 200, await response.text()


async def measure(
    url: str, process: subprocess.Popen[bytes], args: argparse.Namespace, budget: float
) -> None:
    started = time.monotonic()
    await wait_answering(url, process, 120)
    took = time.monotonic() - started
    print(
        f"start      make demo to the edge answering: {took:.2f} s "
        f"(target under {START_TARGET_SECONDS:g} s: {verdict(took < START_TARGET_SECONDS)})"
    )

    # Warm both paths once, so that cold starts are not counted as throughput.
    await load(url, "POST", 1, 2)
    await load(url, "uncached GET", 1, 2)
    for kind in ("cached GET", "uncached GET", "POST"):
        await set_cache(url, enabled=kind != "uncached GET", clear=True)
        ok, errors, rate = await load(url, kind, args.seconds, args.concurrency)
        shown = ", ".join(f"{n}x {what}" for what, n in sorted(errors.items())) or "none"
        target = RATE_TARGETS.get(kind)
        met = not errors and (target is None or rate >= target)
        wanted = f"{target}/s " if target else ""
        print(
            f"throughput {kind:<13} {rate:7.0f} req/s  ({ok} ok, errors: {shown}; "
            f"target {wanted}with zero errors: {verdict(met)})"
        )
    await set_cache(url, enabled=True)

    took, region = await recovery(url)
    print(
        f"recovery   primary killed to a POST answered by the {region}: {took:.2f} s "
        f"(target within the budget of {budget:.1f} s: "
        f"{verdict(took <= budget and region == 'backup')})"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()

    # A warm install: the virtualenv up to date and the package in the build cache, so that
    # the start below measures the demo, not pip.
    subprocess.run(["make", "--no-print-directory", "venv"], cwd=ROOT, check=True)
    package, _ = unpacked_package()
    print(f"package    {package.name} (from the build cache)")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # The demo's defaults, whatever the caller's shell sets: only the port is the bench's own.
    env = {name: value for name, value in os.environ.items() if not name.startswith("VETROI_")}
    env.update({"VETROI_PORT": str(port), "ONET_USERNAME": "", "ONET_PASSWORD": ""})
    # The budget the demo's settings imply, read from the environment the demo gets.
    budget = from_environment([], env).failover_budget
    process = subprocess.Popen(
        ["make", "--no-print-directory", "demo"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    watch = MemoryWatch(process.pid)
    watch.start()
    try:
        asyncio.run(measure(url, process, args, budget))
    finally:
        watch.stop()
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does
        process.wait(timeout=30)
    peak_mb = watch.peak / 2**20
    print(
        f"memory     peak RSS of the environment: {peak_mb:.0f} MB ({watch.peak_processes} "
        f"processes; target under {MEMORY_TARGET_MB} MB: {verdict(peak_mb < MEMORY_TARGET_MB)})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""`python -m localdemo.drill` (`make drill`): the fault matrix against a fresh environment.

For each fault the drill starts from a healthy environment (both regions up and healthy,
traffic on the primary, the edge cache empty), injects the fault, and for `--window` seconds
sends a `GET /career/<code>` and a `POST /recommend` every `--every` seconds through the edge,
each from an allowed browser origin, rotating through the bundled codes. Then it waits for the
answers, clears the fault and waits for the environment to be healthy again.

For each fault it prints the share of GET and POST requests answered correctly (200 with the
career or recommendations asked for), with CORS headers (the origin echoed back), and both (what
a browser could use), the 95th
percentile latency, and the time until traffic recovered: from the fault until the first
request after which every request was answered correctly; "never" when that did not happen
within the window (both regions down is expected to fail every POST: nothing can answer it).
Last it prints where the environment's logs were left.

The environment runs with the O*NET stand-in in replay mode and the O*NET cache seeded as
expired, so every request goes through O*NET and its fallbacks, and O*NET's faults show.

Known limitations: a region serves concurrent requests on threads of one process (gateway.py),
where Lambda gives each its own sandbox. While O*NET is slow, the requests of one region share
one O*NET client, whose circuit breaker holds a lock for the length of each call, so they wait
for each other, each within its own O*NET budget; calls that spend it waiting count as failures,
so the "O*NET slow" row shows the breaker opening sooner than each sandbox's would in AWS.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from .config import DemoConfig
from .environment import Environment
from .onetdata import careers, military
from .processes import free_port

ORIGIN = "http://localhost:5173"
SCENARIOS: tuple[tuple[str, dict[str, Any]], ...] = (
    ("primary down", {"primary": "down"}),
    ("primary hung", {"primary": "hung"}),
    ("O*NET down", {"onet": "down"}),
    ("O*NET slow", {"onet": "slow"}),
    ("table down", {"table": "down"}),
    ("both regions down", {"primary": "down", "backup": "down"}),
)
CLEAR = {"primary": "up", "backup": "up", "onet": "up", "table": "up", "forceFailover": False}


@dataclass
class Outcome:
    sent_at: float  # seconds after the fault
    correct: bool
    cors: bool
    latency: float
    status: str  # the HTTP status, or the client error's name

    @property
    def usable(self) -> bool:
        """Correct and readable by the browser that asked."""
        return self.correct and self.cors


@dataclass
class Result:
    name: str
    get: list[Outcome] = field(default_factory=list)
    post: list[Outcome] = field(default_factory=list)

    @staticmethod
    def share(outcomes: list[Outcome], attribute: str) -> float:
        if not outcomes:
            return 0.0
        return 100.0 * sum(getattr(o, attribute) for o in outcomes) / len(outcomes)

    def recovered_after(self) -> float | None:
        """Seconds from the fault to the first request after which all were correct."""
        outcomes = sorted(self.get + self.post, key=lambda o: o.sent_at)
        if not outcomes or not outcomes[-1].correct:
            return None
        last_bad = max((o.sent_at for o in outcomes if not o.correct), default=None)
        if last_bad is None:
            return 0.0
        later = [o.sent_at for o in outcomes if o.sent_at > last_bad]
        return later[0] if later else None

    def p95_ms(self) -> float:
        latencies = sorted(o.latency for o in self.get + self.post)
        if not latencies:
            return 0.0
        return 1000 * latencies[min(len(latencies) - 1, int(0.95 * len(latencies)))]

    def row(self) -> dict[str, Any]:
        recovered = self.recovered_after()
        return {
            "fault": self.name,
            "getCorrect": round(self.share(self.get, "correct"), 1),
            "getCors": round(self.share(self.get, "cors"), 1),
            "getUsable": round(self.share(self.get, "usable"), 1),
            "postCorrect": round(self.share(self.post, "correct"), 1),
            "postCors": round(self.share(self.post, "cors"), 1),
            "postUsable": round(self.share(self.post, "usable"), 1),
            "requests": len(self.get) + len(self.post),
            "p95Ms": round(self.p95_ms()),
            "recoveredAfter": None if recovered is None else round(recovered, 2),
            "failures": dict(
                Counter(f"{kind} {o.status}" for kind, o in self._all() if not o.correct)
            ),
        }

    def _all(self) -> list[tuple[str, Outcome]]:
        return [("GET", o) for o in self.get] + [("POST", o) for o in self.post]


class Drill:
    def __init__(self, env: Environment, window: float, every: float) -> None:
        self.env = env
        self.window = window
        self.every = every
        self.socs = itertools.cycle(sorted(careers()))
        self.codes = itertools.cycle(
            [(branch, code) for branch, codes in sorted(military().items()) for code in codes]
        )

    async def run(self, scenarios: tuple[tuple[str, dict[str, Any]], ...]) -> list[Result]:
        timeout = aiohttp.ClientTimeout(total=self.env.config.origin_read_timeout + 5)
        results = []
        async with aiohttp.ClientSession(timeout=timeout) as session:
            for name, faults in scenarios:
                await self.settle()
                results.append(await self.scenario(session, name, faults))
                await self.env.set_faults(_without_force(CLEAR))
        await self.settle()
        return results

    async def settle(self, timeout: float = 60.0) -> None:
        """Start the next fault from a clean state: faults cleared, O*NET breakers closed,
        both regions healthy, traffic on the primary, the O*NET cache expired again, the edge
        cache empty."""
        asked = time.time()
        await self.env.set_faults(_without_force(CLEAR))
        self.env.edge.state.force_failover = False
        for role in self.env.regions:
            # A breaker opened by the last fault would stay open for its whole cool-down and
            # hide the next fault; a restarted region starts with a closed one, as a new
            # container does.
            state = await self.env.region_state(role)
            if state.get("probes", {}).get("breaker") not in (None, "closed"):
                await self.env.set_faults({role: "down"})
                await self.env.set_faults({role: "up"})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            health = self.env.edge.health
            # A check that passed since the faults were cleared, not a verdict from before.
            if all(
                h.healthy and h.last_status == 200 and (h.last_checked or 0) > asked
                for h in health.values()
            ):
                if self.env.edge.serving == "primary":
                    break
            await asyncio.sleep(0.1)
        else:
            raise TimeoutError("the environment did not become healthy again")
        # O*NET's answers cached during the last fault would keep the next one from reaching
        # O*NET at all; each fault starts from the expired cache again.
        await self.env.reseed_cache()
        self.env.edge.cache.clear()

    async def scenario(
        self, session: aiohttp.ClientSession, name: str, faults: dict[str, Any]
    ) -> Result:
        result = Result(name)
        await self.env.set_faults(faults)
        started = time.monotonic()
        pending = []
        while (now := time.monotonic()) - started < self.window:
            offset = now - started
            soc = next(self.socs)
            branch, code = next(self.codes)
            pending.append(asyncio.create_task(self.get(session, soc, offset, result)))
            pending.append(asyncio.create_task(self.post(session, branch, code, offset, result)))
            await asyncio.sleep(self.every)
        await asyncio.gather(*pending)
        return result

    async def get(
        self, session: aiohttp.ClientSession, soc: str, offset: float, result: Result
    ) -> None:
        started = time.perf_counter()
        correct = cors = False
        status = "no answer"
        try:
            async with session.get(
                f"{self.env.url}/career/{soc}", headers={"Origin": ORIGIN}
            ) as response:
                status = str(response.status)
                body = await response.json(content_type=None)
                cors = response.headers.get("Access-Control-Allow-Origin") == ORIGIN
                correct = response.status == 200 and body.get("socCode") == soc
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            status = type(exc).__name__ if status == "no answer" else status
        result.get.append(Outcome(offset, correct, cors, time.perf_counter() - started, status))

    async def post(
        self,
        session: aiohttp.ClientSession,
        branch: str,
        code: str,
        offset: float,
        result: Result,
    ) -> None:
        started = time.perf_counter()
        correct = cors = False
        status = "no answer"
        try:
            async with session.post(
                f"{self.env.url}/recommend",
                json={"branch": branch, "code": code},
                headers={"Origin": ORIGIN},
            ) as response:
                status = str(response.status)
                body = await response.json(content_type=None)
                cors = response.headers.get("Access-Control-Allow-Origin") == ORIGIN
                correct = response.status == 200 and bool(body.get("careers"))
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            status = type(exc).__name__ if status == "no answer" else status
        result.post.append(Outcome(offset, correct, cors, time.perf_counter() - started, status))


def _without_force(faults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in faults.items() if k != "forceFailover"}


def table(rows: list[dict[str, Any]], budget: float) -> str:
    header = (
        f"{'fault':<20}{'GET ok':>8}{'CORS':>7}{'both':>7}{'POST ok':>9}{'CORS':>7}{'both':>7}"
        f"{'p95 ms':>8}  recovered after  failed answers"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        recovered = row["recoveredAfter"]
        failures = ", ".join(f"{n}x {what}" for what, n in sorted(row["failures"].items()))
        recovery = "never" if recovered is None else f"{recovered:.1f} s"
        lines.append(
            f"{row['fault']:<20}{row['getCorrect']:>7.1f}%{row['getCors']:>6.1f}%"
            f"{row['getUsable']:>6.1f}%{row['postCorrect']:>8.1f}%{row['postCors']:>6.1f}%"
            f"{row['postUsable']:>6.1f}%{row['p95Ms']:>8}  "
            f"{recovery:<17}{failures}".rstrip()
        )
    lines.append("(ok: the answer asked for; CORS: the origin echoed; both: usable by a browser)")
    lines.append(f"(failover budget with these settings: {budget:.1f} s)")
    return "\n".join(lines)


async def drill(
    config: DemoConfig, window: float, every: float, names: list[str] | None = None
) -> list[dict[str, Any]]:
    env = Environment(config)
    await env.start()
    try:
        chosen = tuple(s for s in SCENARIOS if not names or s[0] in names)
        results = await Drill(env, window, every).run(chosen)
    finally:
        await env.stop()
    return [r.row() for r in results]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localdemo.drill", description=__doc__)
    parser.add_argument("--window", type=float, default=6.0, help="seconds of traffic per fault")
    parser.add_argument("--every", type=float, default=0.1, help="seconds between requests")
    parser.add_argument("--only", action="append", help="run only this fault (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="vetroi-drill-"))
    config = DemoConfig(
        port=free_port(),
        origins=(ORIGIN,),
        onet_mode="replay",
        stale_cache=True,
        work_dir=work,
        quiet=True,
    ).check()
    print(f"Drill: {args.window:g} s of traffic per fault against a fresh environment...")
    rows = asyncio.run(drill(config, args.window, args.every, args.only))
    print(json.dumps(rows, indent=2) if args.json else table(rows, config.failover_budget))
    print(f"Logs of every process of the environment: {work / 'logs'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

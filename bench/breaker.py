"""Latency of GET /career while O*NET hangs: with the circuit breaker open, and without one.

Run from the repository root: `.venv/bin/python bench/breaker.py [--with-breaker N]
[--without-breaker N]`.

O*NET is played by a local server that accepts every connection and never answers, the worst
kind of outage: each call costs its full read timeout. DynamoDB is moto, in process. The
function code is the real handler with its production timeouts and retries (the defaults of
`vetroi_api.config`); only the breaker differs between the two runs:

- with the breaker (`VETROI_BREAKER_ENABLED=true`): the breaker is first opened by the failures
  it counts (not timed), then N requests are timed while it is open; each answers from the
  bundled data without calling O*NET;
- without it (`VETROI_BREAKER_ENABLED=false`): every request waits for O*NET until its budget is
  spent, then answers from the same fallback. Fewer requests are timed, as each takes seconds.

Requests cycle through career codes that are bundled but not cached, so every one takes the
whole fallback path: a cache read, O*NET (or the open breaker), the static data. It prints the
median and p99 of each run and the ratio of the p99s. The target: p99 under 50 ms with the
breaker, at least 50 times better than without.

Figures are printed, not asserted: they depend on the machine and its load. moto's in-process
DynamoDB is slower than a real table's client round trip in-region would be fast, but both runs
pay it alike.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import statistics
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "functions"))
sys.path.insert(0, str(ROOT))

REGION = "us-east-2"
TABLE = "vetroi-bench"


class HangingServer:
    """Accepts connections and holds them open without ever answering."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.held: list[socket.socket] = []
        self.accepted = 0
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/ws"

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self.held.append(connection)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def run(handlers: Any, codes: list[str], count: int) -> list[float]:
    from api_events import career_event

    timings = []
    for index in range(count):
        code = codes[index % len(codes)]
        started = time.perf_counter()
        answer = handlers.career_handler(career_event(code), None)
        timings.append(time.perf_counter() - started)
        assert answer["statusCode"] == 200, answer
        assert '"source":"static"' in answer["body"], answer["body"][:200]
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--with-breaker", type=int, default=300, metavar="N")
    parser.add_argument("--without-breaker", type=int, default=12, metavar="N")
    args = parser.parse_args()

    onet = HangingServer()
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            "VETROI_TABLE": TABLE,
            "VETROI_CORS_ORIGINS": "https://vetroi.example.com",
            "VETROI_ONET_BASE_URL": onet.url,
            "ONET_USERNAME": "bench",
            "ONET_PASSWORD": "bench",
        }
    )

    import boto3
    from moto import mock_aws

    from localdemo.aws import create_table

    with mock_aws():
        create_table(boto3.client("dynamodb", region_name=REGION), TABLE)
        from vetroi_api import handlers, static
        from vetroi_api.config import Config

        # One JSON line per request would bury the figures; the handler's tests check them.
        logging.getLogger("vetroi_api").setLevel(logging.WARNING)

        codes = sorted(static.careers())
        config = Config.from_env()
        print(
            f"O*NET hangs; timeouts connect {config.onet_connect_timeout}s / read "
            f"{config.onet_read_timeout}s, {config.onet_attempts} attempts, budget "
            f"{config.onet_budget_seconds}s; breaker opens after {config.breaker_fail_max} "
            f"failures, cool-down {config.breaker_reset_seconds}s"
        )

        os.environ["VETROI_BREAKER_ENABLED"] = "true"
        handlers.reset()
        handlers.career_handler({"warmup": True}, None)
        opening = run(handlers, codes, config.breaker_fail_max)
        onet_app = handlers.app().onet()
        assert onet_app is not None and onet_app.breaker_state == "open", "breaker did not open"
        calls_before = onet.accepted
        with_breaker = run(handlers, codes, args.with_breaker)
        assert onet.accepted == calls_before, "the open breaker let a call through"

        os.environ["VETROI_BREAKER_ENABLED"] = "false"
        handlers.reset()
        handlers.career_handler({"warmup": True}, None)
        without_breaker = run(handlers, codes, args.without_breaker)

    print(f"opening the breaker took {sum(opening):.1f}s over {len(opening)} requests\n")
    print(f"{'':28} {'requests':>8} {'median':>10} {'p99':>10}")
    for label, values in (
        ("breaker open", with_breaker),
        ("no breaker", without_breaker),
    ):
        median, p99 = statistics.median(values), percentile(values, 0.99)
        print(f"{label:28} {len(values):8} {median * 1000:8.1f}ms {p99 * 1000:8.1f}ms")
    ratio = percentile(without_breaker, 0.99) / percentile(with_breaker, 0.99)
    print(f"\np99 without / p99 with the breaker: {ratio:.0f}x (target: p99 < 50 ms, >= 50x)")


if __name__ == "__main__":
    main()

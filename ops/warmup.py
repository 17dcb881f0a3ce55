"""`warmup`: invoke every function's `live` alias with the warm-up event, all at once."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from ops.aws import Aws, arn_region, credential_problem, describe
from ops.errors import OpsError
from ops.report import table

WARMUP_PAYLOAD = json.dumps({"warmup": True}).encode()


@dataclass(frozen=True)
class Warmed:
    name: str
    arn: str
    ok: bool
    seconds: float
    detail: str


def invoke_all(aws: Aws, aliases: dict[str, str]) -> list[Warmed]:
    """Invoke each alias ARN (keyed by a display name) in parallel; keep the given order."""
    if not aliases:
        return []
    # Clients are created here, one per region, since boto3 sessions are not thread-safe.
    for arn in aliases.values():
        aws.client("lambda", arn_region(arn))

    def one(item: tuple[str, str]) -> Warmed:
        name, arn = item
        started = time.perf_counter()
        try:
            response = aws.client("lambda", arn_region(arn)).invoke(
                FunctionName=arn, InvocationType="RequestResponse", Payload=WARMUP_PAYLOAD
            )
            payload = response["Payload"].read()
        except Exception as error:  # every failure becomes a line of the table
            problem = credential_problem(error)
            if problem:
                raise OpsError(problem) from error
            return Warmed(name, arn, False, time.perf_counter() - started, describe(error))
        seconds = time.perf_counter() - started
        if response.get("FunctionError"):
            return Warmed(name, arn, False, seconds, f"function error: {payload[:200]!r}")
        try:
            answer = json.loads(payload)
        except ValueError:
            answer = None
        if answer != {"warm": True}:
            return Warmed(name, arn, False, seconds, f"unexpected answer {payload[:200]!r}")
        return Warmed(name, arn, True, seconds, "warm")

    with ThreadPoolExecutor(max_workers=min(len(aliases), 16)) as pool:
        return list(pool.map(one, aliases.items()))


def format_results(results: list[Warmed]) -> str:
    rows = [("function", "result", "ms", "detail")]
    rows += [
        (r.name, "ok" if r.ok else "FAIL", f"{r.seconds * 1000:.0f}", r.detail) for r in results
    ]
    return table(rows)


def run(aws: Aws, aliases: dict[str, str]) -> int:
    if not aliases:
        raise OpsError("no functions to warm: the stack exports no aliasArns; give --function")
    aws.require_credentials()
    results = invoke_all(aws, aliases)
    print(format_results(results))
    return 0 if all(result.ok for result in results) else 1

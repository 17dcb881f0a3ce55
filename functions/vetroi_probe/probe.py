"""Probe one or more VetROI endpoints the way a browser uses them.

For each base URL (an API stage URL such as https://abc.execute-api.us-east-2.amazonaws.com/prod,
or the public domain) four checks run in order, each timed:

1. `OPTIONS /recommend` preflight for the given origin answers 2xx, allows that origin (or `*`)
   and allows POST;
2. `POST /recommend` answers 200 with a non-empty `careers` list, readable by that origin;
3. `GET /career/11-1011.00` answers 200 with that career, readable by that origin;
4. `GET /health` answers 200.

A check never raises: connection errors and timeouts become failed results that say why.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import requests

# The career the operations plan probes: chief executives.
CAREER_CODE = "11-1011.00"
# A request every deployment must answer: an Army infantryman.
DEFAULT_RECOMMEND_BODY: Mapping[str, Any] = {"branch": "army", "code": "11B"}
DEFAULT_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class CheckResult:
    """One check against one endpoint: passed or not, HTTP status, time taken and why."""

    name: str
    ok: bool
    status: int | None
    seconds: float
    detail: str


@dataclass(frozen=True)
class EndpointReport:
    """Every check run against one base URL."""

    url: str
    checks: list[CheckResult] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(check.ok for check in self.checks)

    @property
    def seconds(self) -> float:
        return sum(check.seconds for check in self.checks)

    @property
    def failures(self) -> list[CheckResult]:
        return [check for check in self.checks if not check.ok]

    def as_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "ok": self.ok,
            "seconds": round(self.seconds, 3),
            "checks": [
                {
                    "name": c.name,
                    "ok": c.ok,
                    "status": c.status,
                    "seconds": round(c.seconds, 3),
                    "detail": c.detail,
                }
                for c in self.checks
            ],
        }


class _Failed(Exception):
    """A check's verdict, raised from inside the check to stop it with a reason."""

    def __init__(self, reason: str, status: int | None = None) -> None:
        super().__init__(reason)
        self.status = status


def probe_endpoint(
    base_url: str,
    origin: str,
    *,
    session: requests.Session | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    recommend_body: Mapping[str, Any] | None = None,
) -> EndpointReport:
    """Run the four checks against `base_url` for a browser at `origin`."""
    base = base_url.rstrip("/")
    http = session or requests.Session()
    body = dict(recommend_body or DEFAULT_RECOMMEND_BODY)
    report = EndpointReport(url=base)

    def preflight() -> tuple[int, str]:
        response = http.options(
            f"{base}/recommend",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=timeout,
        )
        if not 200 <= response.status_code < 300:
            raise _Failed(
                f"preflight answered {response.status_code}, expected 2xx", response.status_code
            )
        _require_cors(response, origin)
        methods = response.headers.get("Access-Control-Allow-Methods", "")
        if "POST" not in {m.strip().upper() for m in methods.split(",")}:
            raise _Failed(
                f"Access-Control-Allow-Methods {methods!r} does not allow POST",
                response.status_code,
            )
        return response.status_code, "CORS allows " + origin

    def recommend() -> tuple[int, str]:
        response = http.post(
            f"{base}/recommend", json=body, headers={"Origin": origin}, timeout=timeout
        )
        data = _json_answer(response)
        _require_cors(response, origin)
        careers = data.get("careers") if isinstance(data, dict) else None
        if not isinstance(careers, list) or not careers:
            raise _Failed("answer has no careers", response.status_code)
        return response.status_code, f"{len(careers)} careers"

    def career() -> tuple[int, str]:
        response = http.get(
            f"{base}/career/{CAREER_CODE}", headers={"Origin": origin}, timeout=timeout
        )
        data = _json_answer(response)
        _require_cors(response, origin)
        if not isinstance(data, dict) or CAREER_CODE not in json.dumps(data):
            raise _Failed(f"answer does not describe career {CAREER_CODE}", response.status_code)
        return response.status_code, f"career {CAREER_CODE}"

    def health() -> tuple[int, str]:
        response = http.get(f"{base}/health", headers={"Origin": origin}, timeout=timeout)
        if response.status_code != 200:
            raise _Failed(
                f"health answered {response.status_code}, expected 200", response.status_code
            )
        return response.status_code, "healthy"

    checks: list[tuple[str, Callable[[], tuple[int, str]]]] = [
        ("preflight", preflight),
        ("recommend", recommend),
        ("career", career),
        ("health", health),
    ]
    for name, check in checks:
        report.checks.append(_run(name, check, timeout))
    return report


def probe_endpoints(
    urls: Sequence[str],
    origin: str,
    *,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    recommend_body: Mapping[str, Any] | None = None,
) -> list[EndpointReport]:
    """Probe every URL at once (one thread and one connection pool each); keep their order."""
    if not urls:
        return []

    def one(url: str) -> EndpointReport:
        with requests.Session() as session:
            return probe_endpoint(
                url, origin, session=session, timeout=timeout, recommend_body=recommend_body
            )

    with ThreadPoolExecutor(max_workers=min(len(urls), 8)) as pool:
        return list(pool.map(one, urls))


def format_table(reports: Iterable[EndpointReport]) -> str:
    """A plain-text table: one line per check, with its status code and time."""
    rows = [("endpoint", "check", "result", "status", "ms", "detail")]
    for report in reports:
        for check in report.checks:
            rows.append(
                (
                    report.url,
                    check.name,
                    "ok" if check.ok else "FAIL",
                    "-" if check.status is None else str(check.status),
                    f"{check.seconds * 1000:.0f}",
                    check.detail,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    lines = []
    for row in rows:
        cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines)


def _run(name: str, check: Callable[[], tuple[int, str]], timeout: float) -> CheckResult:
    started = time.perf_counter()
    status: int | None = None
    try:
        status, detail = check()
        ok = True
    except _Failed as failed:
        ok, detail, status = False, str(failed), failed.status
    except requests.Timeout:
        ok, detail = False, f"no answer within {timeout:g} s"
    except requests.ConnectionError as error:
        ok, detail = False, f"connection failed: {_reason(error)}"
    except requests.RequestException as error:
        ok, detail = False, f"request failed: {_reason(error)}"
    return CheckResult(name, ok, status, time.perf_counter() - started, detail)


def _json_answer(response: requests.Response) -> Any:
    if response.status_code != 200:
        raise _Failed(
            f"answered {response.status_code}, expected 200{_error_text(response)}",
            response.status_code,
        )
    try:
        return response.json()
    except ValueError as error:
        raise _Failed("answer is not JSON", response.status_code) from error


def _require_cors(response: requests.Response, origin: str) -> None:
    allowed = response.headers.get("Access-Control-Allow-Origin")
    if allowed is None:
        raise _Failed(f"no Access-Control-Allow-Origin header for {origin}", response.status_code)
    if allowed not in (origin, "*"):
        raise _Failed(
            f"Access-Control-Allow-Origin is {allowed!r}, not {origin}", response.status_code
        )


def _error_text(response: requests.Response) -> str:
    # The API's errors are JSON with a message; show it, briefly, when there is one.
    try:
        data = response.json()
    except ValueError:
        return ""
    message = data.get("message") if isinstance(data, dict) else None
    if not message and isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
    return f" ({str(message)[:80]})" if message else ""


def _reason(error: Exception) -> str:
    # requests nests the socket error several levels down; the innermost text is the useful one.
    inner: BaseException = error
    while inner.__context__ is not None or inner.__cause__ is not None:
        nested = inner.__cause__ or inner.__context__
        assert nested is not None
        inner = nested
    text = str(inner) or type(inner).__name__
    return text.split("] ")[-1][:120]

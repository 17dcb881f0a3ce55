"""The O*NET web services client: short timeouts, bounded retries, a circuit breaker.

One `requests.Session` per container keeps the TLS connection to O*NET open between requests.
Each call:

- gets a connect timeout and a read timeout of a second or two (`VETROI_ONET_*_TIMEOUT`);
- is retried (tenacity) on connection errors, timeouts, 429 and 5xx only, at most
  `VETROI_ONET_ATTEMPTS` times, waiting a full-jitter exponential backoff (a random time between
  zero and `base * 2**n`, capped), or what the server's `Retry-After` asks for when it asks for
  no more than `VETROI_ONET_RETRY_AFTER_MAX` seconds; a longer `Retry-After` ends the call at
  once, as nobody waits that long for a page;
- never runs past its budget: `VETROI_ONET_BUDGET_SECONDS`, or the caller's deadline if sooner,
  bounds attempts and waits together;
- goes through a circuit breaker (pybreaker): after `VETROI_BREAKER_FAIL_MAX` failed calls in a
  row it stops calling O*NET for `VETROI_BREAKER_RESET_SECONDS`, so every request during an
  outage answers from the cache or the static data in milliseconds instead of waiting for
  timeouts; then one trial call decides whether it closes again.

A 404 is an answer (no such occupation), not a failure, and does not count against O*NET.
The breaker lives in the container's memory: each container learns of an outage on its own,
after `VETROI_BREAKER_FAIL_MAX` slow calls.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

import pybreaker
import requests
import tenacity
import urllib3

from . import tracing
from .config import Config
from .errors import OnetNotFound, OnetUnavailable
from .logs import warn

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
READ_CHUNK_BYTES = 16 * 1024


class _Retryable(OnetUnavailable):
    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class CredentialsUnavailable(OnetUnavailable):
    """No O*NET credentials could be read."""


Credentials = Callable[[], tuple[str, str]]


class _StopOnLongRetryAfter(tenacity.stop.stop_base):
    """Give up at once when the server asks us to come back later than we can wait."""

    def __init__(self, longest: float) -> None:
        self.longest = longest

    def __call__(self, state: tenacity.RetryCallState) -> bool:
        error = state.outcome.exception() if state.outcome else None
        return (
            isinstance(error, _Retryable)
            and error.retry_after is not None
            and error.retry_after > self.longest
        )


class OnetClient:
    def __init__(
        self,
        config: Config,
        credentials: Credentials,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.config = config
        self.credentials = credentials
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", "User-Agent": "vetroi-api"})
        self.sleep = sleep
        self.calls = 0
        self.breaker = pybreaker.CircuitBreaker(
            fail_max=config.breaker_fail_max,
            reset_timeout=config.breaker_reset_seconds,
            exclude=[OnetNotFound],
            name="onet",
        )
        self._jitter = tenacity.wait_random_exponential(
            multiplier=config.onet_backoff_base, max=config.onet_backoff_max
        )

    @property
    def breaker_state(self) -> str:
        return str(self.breaker.current_state)

    def get_json(self, path: str, deadline: float | None = None) -> dict[str, Any]:
        """GET `<base>/<path>` as JSON; raises OnetUnavailable or OnetNotFound.

        `deadline` is a `time.monotonic()` instant the call must not run past.
        """
        budget = self.config.onet_budget_seconds
        if deadline is not None:
            budget = min(budget, deadline - time.monotonic())
        if budget <= 0:
            raise OnetUnavailable("no time left in this request to call O*NET")
        # The end is fixed here, before the breaker: pybreaker holds its lock for the whole
        # call, so where one container serves several requests at once (the local demo's
        # threads; never Lambda) a call may first wait for another, and that wait is spent
        # from this call's budget, not added to it.
        ends = time.monotonic() + budget
        if not self.config.breaker_enabled:
            return self._with_retries(path, ends)
        try:
            return self.breaker.call(self._with_retries, path, ends)
        except pybreaker.CircuitBreakerError as exc:
            raise OnetUnavailable(f"O*NET circuit breaker is open: {exc}") from None

    def _with_retries(self, path: str, ends: float) -> dict[str, Any]:
        started = time.monotonic()
        budget = ends - started
        if budget <= 0:
            # A failure the breaker counts: O*NET did not answer within what this request had.
            raise OnetUnavailable("O*NET budget spent waiting for another call to O*NET")
        retrying = tenacity.Retrying(
            stop=tenacity.stop_any(
                tenacity.stop_after_attempt(self.config.onet_attempts),
                tenacity.stop_before_delay(budget),
                _StopOnLongRetryAfter(self.config.onet_retry_after_max),
            ),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Retryable),
            sleep=self.sleep,
            reraise=True,
        )
        return retrying(lambda: self._get_once(path, ends))

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome else None
        if isinstance(error, _Retryable) and error.retry_after is not None:
            return error.retry_after
        return float(self._jitter(state))

    def _get_once(self, path: str, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise OnetUnavailable("O*NET budget spent")
        url = f"{self.config.onet_base_url}/{path.lstrip('/')}"
        timeout = (
            min(self.config.onet_connect_timeout, remaining),
            min(self.config.onet_read_timeout, remaining),
        )
        self.calls += 1
        with tracing.subsegment("O*NET") as segment:
            try:
                # Streamed: the timeouts bound each wait for a byte, not the whole answer, so
                # an answer that trickles in is read here against the call's deadline.
                response = self.session.get(
                    url, auth=self.credentials(), timeout=timeout, stream=True
                )
            except requests.RequestException as exc:
                segment.http("GET", url)
                log.debug("O*NET call failed: %s", type(exc).__name__)
                raise _Retryable(f"O*NET unreachable: {type(exc).__name__}") from None
            segment.http("GET", url, response.status_code)
            with response:
                content = _read_within(response, deadline)
        return _decode(response, content)


def _read_within(response: requests.Response, deadline: float) -> bytes:
    """The body of `response`, or OnetUnavailable once `deadline` has passed.

    The deadline is checked after each read, and a read returns what has arrived: an answer
    still arriving at the deadline ends the call then, or at most one read timeout later.
    """
    chunks: list[bytes] = []
    while True:
        try:
            chunk = response.raw.read1(READ_CHUNK_BYTES, decode_content=True)
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            log.debug("O*NET answer cut off: %s", type(exc).__name__)
            raise _Retryable(f"O*NET answer cut off: {type(exc).__name__}") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise OnetUnavailable("O*NET answer still arriving when the budget ran out")


def _decode(response: requests.Response, content: bytes) -> dict[str, Any]:
    status = response.status_code
    if status in RETRY_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        raise _Retryable(f"O*NET answered {status}", retry_after)
    if status == 404:
        raise OnetNotFound("O*NET has no such resource")
    if status in (401, 403):
        invalidate_credentials()
        raise OnetUnavailable(f"O*NET refused our credentials ({status})")
    if status != 200:
        raise OnetUnavailable(f"O*NET answered {status}")
    try:
        data = json.loads(content)
    except (ValueError, RecursionError):
        raise OnetUnavailable("O*NET answered with something other than JSON") from None
    if not isinstance(data, dict):
        raise OnetUnavailable("O*NET answered with JSON that is not an object")
    return data


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - time.time())


# Credentials: read once per container, again after O*NET refuses them (rotation).
_credentials: tuple[str, str] | None = None
_credentials_lock = threading.Lock()


def invalidate_credentials() -> None:
    global _credentials
    _credentials = None


def credentials_from(config: Config, secrets_client: Callable[[], Any]) -> Credentials:
    """A callable returning (username, password) from Secrets Manager or the environment."""

    def read() -> tuple[str, str]:
        global _credentials
        if _credentials is not None:
            return _credentials
        with _credentials_lock:
            if _credentials is None:
                _credentials = _read_credentials(config, secrets_client)
            return _credentials

    return read


def _read_credentials(config: Config, secrets_client: Callable[[], Any]) -> tuple[str, str]:
    if config.onet_secret:
        with tracing.subsegment("SecretsManager", "aws") as segment:
            segment.aws("GetSecretValue")
            try:
                secret = secrets_client().get_secret_value(SecretId=config.onet_secret)
                value = json.loads(secret["SecretString"])
                return str(value["username"]), str(value["password"])
            except Exception as exc:
                # Log the kind of failure only: the message could quote the secret.
                kind = type(exc).__name__
                warn(log, "onetSecretError", kind, f"O*NET secret unreadable: {kind}")
                raise CredentialsUnavailable("O*NET credentials unreadable") from None
    if config.onet_username and config.onet_password:
        return config.onet_username, config.onet_password
    raise CredentialsUnavailable("no O*NET credentials configured")

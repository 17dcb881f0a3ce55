"""Health of each region as the edge sees it, and the failover decision, with Route53's rules.

- Each region's `/health` is checked every `interval` seconds; a check passes when the region
  answers 2xx or 3xx within `timeout`.
- A healthy region becomes unhealthy after `threshold` failed checks in a row, and an unhealthy
  one healthy again after `threshold` passed checks in a row.
- The failover record answers with the primary while it is healthy, else with the backup while
  the backup is healthy; when both are unhealthy Route53 answers with the primary, and so does
  this. A forced failover (the stacks' `forceFailover` switch) makes the primary's record
  unhealthy whatever its checks say, so it answers with the backup while the backup is
  healthy, and with the primary when the backup is unhealthy too, as Route53 does.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

PRIMARY = "primary"
BACKUP = "backup"


@dataclass
class RegionHealth:
    threshold: int
    healthy: bool = True
    failures: int = 0
    successes: int = 0
    checks: int = 0
    last_status: int | None = None
    last_error: str | None = None
    last_latency_ms: float | None = None
    last_checked: float | None = None
    changed_at: float = field(default_factory=time.time)
    history: deque[bool] = field(default_factory=lambda: deque(maxlen=20))

    def record(
        self,
        passed: bool,
        status: int | None = None,
        error: str | None = None,
        latency_ms: float | None = None,
        now: float | None = None,
    ) -> bool:
        """Count one check; True when it changed the region's health."""
        self.checks += 1
        self.last_status, self.last_error, self.last_latency_ms = status, error, latency_ms
        self.last_checked = now if now is not None else time.time()
        self.history.append(passed)
        if passed:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.failures, self.successes = self.failures + 1, 0

        if self.healthy and self.failures >= self.threshold:
            self.healthy = False
        elif not self.healthy and self.successes >= self.threshold:
            self.healthy = True
        else:
            return False
        self.changed_at = self.last_checked
        return True

    def snapshot(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "consecutiveFailures": self.failures,
            "consecutiveSuccesses": self.successes,
            "checks": self.checks,
            "lastStatus": self.last_status,
            "lastError": self.last_error,
            "lastLatencyMs": self.last_latency_ms,
            "lastChecked": self.last_checked,
            "changedAt": self.changed_at,
            "recent": list(self.history),
        }


def serving_region(primary: RegionHealth, backup: RegionHealth, force_failover: bool) -> str:
    """Which region the failover record sends traffic to."""
    if primary.healthy and not force_failover:
        return PRIMARY
    if backup.healthy:
        return BACKUP
    return PRIMARY

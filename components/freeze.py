"""The change freeze before a demo: no `pulumi up` inside the window without a stated reason.

The window opens `freezeHours` before `demoTime` and closes when the demo is expected to be over,
`DEMO_LENGTH` after it starts, since a deploy in the middle of the demo is the worst time of all.
`pulumi preview` always runs, so a change can still be reviewed during the freeze. An override
needs `freezeOverrideReason`; the reason is logged as a warning on the stack, so it stays in the
update's history.

`enforce` must run before any resource is declared: stopping half-way through a program would let
the engine delete what the program had not declared yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pulumi

from components.settings import PROJECT, Settings

# How long a demo is expected to last; the freeze covers it as well as the hours before it.
DEMO_LENGTH = timedelta(hours=2)


class ChangeFreezeError(pulumi.RunError):
    """An update was attempted inside the change freeze without an override reason."""


@dataclass(frozen=True)
class Window:
    """The change freeze around one demo."""

    starts: datetime
    demo: datetime
    ends: datetime

    def contains(self, moment: datetime) -> bool:
        return self.starts <= moment < self.ends

    def as_output(self) -> dict[str, str]:
        return {
            "starts": _iso(self.starts),
            "demoTime": _iso(self.demo),
            "ends": _iso(self.ends),
        }


def window(settings: Settings) -> Window | None:
    """The freeze window the settings describe, or None when no demo is planned."""
    if settings.demo_time is None:
        return None
    return window_of(settings.demo_time, settings.freeze_hours)


def window_of(demo: datetime, freeze_hours: int) -> Window | None:
    """The freeze before a demo at `demo`; None when the freeze is turned off (0 hours)."""
    if freeze_hours == 0:
        return None
    return Window(demo - timedelta(hours=freeze_hours), demo, demo + DEMO_LENGTH)


def enforce(settings: Settings, now: datetime | None = None) -> Window | None:
    """Stop an update inside the freeze unless overridden with a reason; return the window."""
    now = now or datetime.now(UTC)
    frozen = window(settings)
    reason = (settings.freeze_override_reason or "").strip()

    if frozen is None or not frozen.contains(now):
        if reason:
            # A reason left behind would silently override the next freeze.
            pulumi.log.warn(
                f"freezeOverrideReason is set but no change freeze is in force; remove it with "
                f"`pulumi config rm {PROJECT}:freezeOverrideReason -s {settings.stack}`."
            )
        return frozen

    ends = _iso(frozen.ends)
    if reason:
        # Logged by the preview as well, so whoever approves the update reads the reason.
        pulumi.log.warn(f"change freeze until {ends} overridden: {reason}")
        return frozen
    if pulumi.runtime.is_dry_run():
        pulumi.log.warn(
            f"change freeze in force until {ends}: this preview cannot be deployed without "
            f"{PROJECT}:freezeOverrideReason."
        )
        return frozen
    if settings.freeze_override_reason is not None:
        raise ChangeFreezeError(
            f"change freeze in force until {ends}, and freezeOverrideReason is blank: an "
            "override needs a reason."
        )
    raise ChangeFreezeError(
        f"change freeze in force for the demo at {_iso(frozen.demo)}: no update until {ends}. "
        f"`pulumi preview` still works. To deploy anyway, give the reason: "
        f"`pulumi config set {PROJECT}:freezeOverrideReason '<why>' -s {settings.stack}`, and "
        "remove it after the update."
    )


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

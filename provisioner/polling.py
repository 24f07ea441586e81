"""When a phone checks for new files on its own: daily at a quiet hour by default.

Every phone's config asks it to check periodically, so a change reaches it even
when no NOTIFY does (a phone behind NAT, a resync that timed out). So that a
customer's hundreds of phones do not all ask at the same minute, each one's time
is shifted by a jitter derived from its MAC (stable: the same phone always gets
the same minute, its files do not change from one render to the next).

Device settings ``check_hour`` (0-23, default 3) and ``check_interval_hours``
(1-168, default 24) change it; under 24 hours the phone checks every N hours
from its boot instead of at a time of day. A customer's ``check_hour`` /
``check_interval_hours`` are the defaults of its phones (rendering layers them under
the device's settings).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import RenderError

HOUR = 3
INTERVAL_HOURS = 24
WINDOW_MINUTES = 30  # vendors that take a window pick a random moment in it
VARIABLES = ("check_hour", "check_interval_hours")


@dataclass(frozen=True, slots=True)
class Check:
    hour: int
    minute: int  # the MAC's jitter, 0-59
    interval_hours: int

    @property
    def daily(self) -> bool:
        return self.interval_hours >= 24

    @property
    def begin(self) -> str:
        return f"{self.hour:02d}:{self.minute:02d}"

    @property
    def end(self) -> str:
        total = (self.hour * 60 + self.minute + WINDOW_MINUTES) % (24 * 60)
        return f"{total // 60:02d}:{total % 60:02d}"

    @property
    def interval_minutes(self) -> int:
        return self.interval_hours * 60

    @property
    def interval_seconds(self) -> int:
        return self.interval_hours * 3600

    @property
    def jitter_seconds(self) -> int:
        return self.minute * 60


def jitter_minute(mac: str) -> int:
    return hashlib.sha256(mac.upper().encode()).digest()[0] * 60 // 256


def schedule(mac: str, settings: Mapping[str, str]) -> Check:
    """The check of the phone with ``mac``; a bad setting raises RenderError naming it."""
    return Check(
        hour=_setting(settings, "check_hour", HOUR, 0, 23),
        minute=jitter_minute(mac),
        interval_hours=_setting(settings, "check_interval_hours", INTERVAL_HOURS, 1, 168),
    )


def _setting(settings: Mapping[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = str(settings.get(key) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise RenderError(f"device setting {key}={raw!r} must be a whole number from {low} to {high}")
    return int(raw)

"""Time-zone facts the phones' formats need, read from the IANA database.

Phones want a zone spelled their own way: a fixed offset, a POSIX TZ rule, a
vendor's own name. The POSIX rule is the footer of the zone's TZif file, so it
is always right for the tzdata in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class UnknownTimeZone(ValueError):
    pass


@dataclass(frozen=True)
class TimeZone:
    name: str  # IANA name, "Europe/Rome"
    std_offset: int  # seconds east of UTC outside daylight saving time (3600)
    has_dst: bool
    posix: str  # "CET-1CEST,M3.5.0,M10.5.0/3"

    @property
    def std_offset_hours(self) -> str:
        """ "+1", "-5", "+5.5" style offset as Yealink and friends write it."""
        hours = self.std_offset / 3600
        text = f"{hours:+.2f}".rstrip("0").rstrip(".")
        return text


def _tzif_bytes(name: str) -> bytes:
    parts = name.split("/")
    try:
        return resources.files("tzdata.zoneinfo").joinpath(*parts).read_bytes()
    except (FileNotFoundError, ModuleNotFoundError, IsADirectoryError):
        with open(f"/usr/share/zoneinfo/{name}", "rb") as fh:
            return fh.read()


@cache
def lookup(name: str) -> TimeZone:
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UnknownTimeZone(f"unknown time zone {name!r} (use an IANA name like Europe/Rome)") from None
    january = datetime(2025, 1, 15, 12, tzinfo=zone)
    july = datetime(2025, 7, 15, 12, tzinfo=zone)
    offsets = [january.utcoffset() or timedelta(), july.utcoffset() or timedelta()]
    dsts = [january.dst() or timedelta(), july.dst() or timedelta()]
    std = offsets[0] - dsts[0] if dsts[0] else offsets[1] - dsts[1] if dsts[1] else offsets[0]
    try:
        footer = _tzif_bytes(name).rstrip(b"\n").rsplit(b"\n", 1)[-1].decode("ascii")
    except OSError:
        footer = ""
    return TimeZone(
        name=name,
        std_offset=int(std.total_seconds()),
        has_dst=any(dsts),
        posix=footer,
    )

"""What the phone-facing side records: last seen, downloads, unknown devices."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from .rows import Queries
from .schema import (
    _as_utc,
    devices,
    downloads,
    unknown_devices,
)


def sqlite_stamp(at: float | datetime, prefixes: dict[int, str]) -> str:
    """SQLAlchemy's SQLite DATETIME text (``2026-01-31 12:00:00.250000``, UTC) of a ``time.time()``
    float, the same as ``datetime.fromtimestamp(at, UTC).strftime(...)`` (same microsecond rounding)
    but with the date and time formatted once per second (``prefixes``), not per row."""
    if isinstance(at, datetime):
        return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if at.tzinfo else at.strftime("%Y-%m-%d %H:%M:%S.%f")
    sec = int(at)
    micro = round((at - sec) * 1e6)
    if micro >= 1_000_000:
        sec += 1
        micro -= 1_000_000
    prefix = prefixes.get(sec)
    if prefix is None:
        prefix = prefixes[sec] = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(sec))
    return f"{prefix}.{micro:06d}"


# SQLite's limit of bound parameters per statement is 32,766 (since 3.32).
_SQLITE_MAX_PARAMS = 32_000


def _chunks(rows: list[tuple], width: int) -> Iterable[list[tuple]]:
    step = _SQLITE_MAX_PARAMS // width
    for start in range(0, len(rows), step):
        yield rows[start : start + step]


def _stamped(rows: Sequence[tuple], sqlite: bool, prefixes: dict[int, str], *at: int) -> list[tuple]:
    """Rows with their time fields (positions ``at``, default the first; a ``time.time()`` float,
    a datetime or None) as the driver takes them."""
    where = at or (0,)
    if sqlite:

        def put(v: Any) -> Any:
            return None if v is None else sqlite_stamp(v, prefixes)

    else:

        def put(v: Any) -> Any:
            return v if v is None or isinstance(v, datetime) else datetime.fromtimestamp(v, UTC)

    if where == (0,):
        return [(put(r[0]), *r[1:]) for r in rows]
    out = []
    for r in rows:
        row = list(r)
        for i in where:
            row[i] = put(row[i])
        out.append(tuple(row))
    return out


class ActivityQueries(Queries):
    # --- what the phone-facing side records ---------------------------------------

    def record_seen(self, seen: Iterable[Mapping[str, Any]]) -> None:
        rows = list(seen)
        if rows:
            self.conn.execute(
                devices.update()
                .where(devices.c.mac == sa.bindparam("b_mac"))
                .values(
                    last_seen_at=sa.bindparam("b_at"),
                    last_seen_ip=sa.bindparam("b_ip"),
                    last_seen_user_agent=sa.func.coalesce(sa.bindparam("b_ua"), devices.c.last_seen_user_agent),
                    firmware=sa.func.coalesce(sa.bindparam("b_fw"), devices.c.firmware),
                ),
                [
                    {
                        "b_mac": r["mac"],
                        "b_at": r["at"],
                        "b_ip": r["ip"],
                        "b_ua": r["user_agent"],
                        "b_fw": r["firmware"],
                    }
                    for r in rows
                ],
            )

    def record_downloads(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(downloads.insert(), list(rows))

    def record_activity(self, seen: Sequence[tuple], downloads: Sequence[tuple], repeats: Sequence[tuple] = ()) -> None:
        """The phone-facing flush in the driver's own ``executemany``: ``seen`` rows are
        (at, ip, user_agent, firmware, mac), ``downloads`` rows (at, mac, file, ip, user_agent,
        transport, count, last_at) new rows, ``repeats`` rows (count, last_at, mac, at, file, ip,
        transport, user_agent) rows written before whose count grew; ``at`` and ``last_at`` ``time.time()``
        floats (or datetimes; ``last_at`` None: the same as ``at``). A repeat finds its row by
        its whole key (device_mac, at, file, ip, transport, user_agent: two rows of one device that
        differ only in User-Agent may have the same ``at`` on a coarse clock) through
        ix_downloads_device_mac_at, without a SELECT.
        SQLAlchemy's per-row binding held the GIL for the serving loop's thread; so did a datetime
        and a strftime per row (half of the flush's CPU at 5,000 rows): the time is formatted once
        per second now."""
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        sqlite = self.conn.dialect.name == "sqlite"
        prefixes: dict[int, str] = {}
        seen = _stamped(seen, sqlite, prefixes)
        downloads = _stamped(downloads, sqlite, prefixes, 0, 7)
        repeats = _stamped(repeats, sqlite, prefixes, 1, 3)
        if sqlite:
            self._record_activity_sqlite(seen, downloads, repeats)
            return
        if seen:
            self.conn.exec_driver_sql(
                f"UPDATE devices SET last_seen_at = {mark}, last_seen_ip = {mark}, "
                f"last_seen_user_agent = COALESCE({mark}, last_seen_user_agent), "
                f"firmware = COALESCE({mark}, firmware) WHERE mac = {mark}",
                list(seen),
            )
        if downloads:
            self.conn.exec_driver_sql(
                "INSERT INTO downloads (at, device_mac, file, ip, user_agent, transport, count, last_at) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark}, {mark})",
                list(downloads),
            )
        if repeats:
            self.conn.exec_driver_sql(
                f"UPDATE downloads SET count = {mark}, last_at = {mark} WHERE device_mac = {mark} AND at = {mark} "
                f"AND file = {mark} AND ip = {mark} AND transport = {mark} AND user_agent IS NOT DISTINCT FROM {mark}",
                list(repeats),
            )

    def _record_activity_sqlite(self, seen: list[tuple], downloads: list[tuple], repeats: list[tuple]) -> None:
        """SQLite: thousands of rows per statement (multi-row VALUES, UPDATE ... FROM), not one
        ``executemany`` step per row: each step releases and takes back the GIL, and under load
        every take-back waits for the serving loop's switch interval (its p99)."""
        for chunk in _chunks(seen, 5):  # one row per device: the flush keeps the last per MAC
            self.conn.exec_driver_sql(
                "UPDATE devices SET last_seen_at = v.column1, last_seen_ip = v.column2, "
                "last_seen_user_agent = COALESCE(v.column3, devices.last_seen_user_agent), "
                "firmware = COALESCE(v.column4, devices.firmware) "
                f"FROM (VALUES {', '.join(['(?, ?, ?, ?, ?)'] * len(chunk))}) AS v WHERE devices.mac = v.column5",
                tuple(itertools.chain.from_iterable(chunk)),
            )
        for chunk in _chunks(downloads, 8):
            self.conn.exec_driver_sql(
                "INSERT INTO downloads (at, device_mac, file, ip, user_agent, transport, count, last_at) "
                f"VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?, ?)'] * len(chunk))}",
                tuple(itertools.chain.from_iterable(chunk)),
            )
        for chunk in _chunks(repeats, 8):
            self.conn.exec_driver_sql(
                "UPDATE downloads SET count = v.column1, last_at = v.column2 "
                f"FROM (VALUES {', '.join(['(?, ?, ?, ?, ?, ?, ?, ?)'] * len(chunk))}) AS v "
                "WHERE downloads.device_mac = v.column3 AND downloads.at = v.column4 AND downloads.file = v.column5 "
                "AND downloads.ip = v.column6 AND downloads.transport = v.column7 "
                "AND downloads.user_agent IS v.column8",
                tuple(itertools.chain.from_iterable(chunk)),
            )

    def record_unknown(self, seen: Iterable[Mapping[str, Any]]) -> None:
        for r in seen:
            existing = self.conn.execute(
                sa.select(unknown_devices.c.requests).where(unknown_devices.c.mac == r["mac"])
            ).first()
            values = {k: r[k] for k in ("vendor", "model", "ip", "user_agent", "last_file")}
            if existing is None:
                self.conn.execute(
                    unknown_devices.insert().values(
                        mac=r["mac"], first_seen_at=r["first_at"], last_seen_at=r["at"], requests=r["count"], **values
                    )
                )
            else:
                self.conn.execute(
                    unknown_devices.update()
                    .where(unknown_devices.c.mac == r["mac"])
                    .values(
                        last_seen_at=r["at"],
                        requests=unknown_devices.c.requests + r["count"],
                        **{k: v for k, v in values.items() if v is not None},
                    )
                )

    def list_unknown(self, *, since: datetime | None = None, known_excluded: bool = True) -> list[dict[str, Any]]:
        q = sa.select(unknown_devices).order_by(unknown_devices.c.last_seen_at.desc())
        if since is not None:
            q = q.where(unknown_devices.c.last_seen_at >= since)
        if known_excluded:
            q = q.where(~sa.exists().where(devices.c.mac == unknown_devices.c.mac))
        out = []
        for r in self.conn.execute(q):
            row = dict(r._mapping)
            row["first_seen_at"] = _as_utc(row["first_seen_at"])
            row["last_seen_at"] = _as_utc(row["last_seen_at"])
            out.append(row)
        return out

    def downloads_of_device(self, mac: str) -> list[dict[str, Any]]:
        q = sa.select(downloads).where(downloads.c.device_mac == mac).order_by(downloads.c.id)
        return [dict(r._mapping) | {"at": _as_utc(r.at), "last_at": _as_utc(r.last_at)} for r in self.conn.execute(q)]

"""Scan-defence bans every server process and node shares (``serve --workers``, PostgreSQL nodes).

A worker's :class:`~provisioner.access.ScanGuard` bans an address in memory at once; the ban is then
written here, and every other process reads the bans newer than the last one it saw
(:mod:`provisioner.shared_sync`). Expired rows are deleted by whoever writes next.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .rows import Queries
from .schema import _as_utc, metadata, utcnow

bans = sa.Table(
    "bans",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("ip", sa.String(64), nullable=False),  # an IPv4 address or an IPv6 /64 (ScanGuard's bucket)
    sa.Column("until", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.String(60), nullable=False, server_default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)


class BanQueries(Queries):
    def add_bans(self, new: Iterable[tuple[str, datetime, str]]) -> list[int]:
        """Record bans ``(ip, until, reason)``; drop the expired ones. Returns the new rows' ids."""
        now = utcnow()
        self.conn.execute(bans.delete().where(bans.c.until < now))
        ids = []
        for ip, until, reason in new:
            result = self.conn.execute(bans.insert().values(ip=ip, until=until, reason=reason[:60], at=now))
            ids.append(self._inserted_id(result))
        return ids

    def last_ban_id(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(bans.c.id), 0))).scalar_one())

    def bans_since(self, after_id: int, *, since: datetime | None = None) -> list[dict[str, Any]]:
        """Bans with id > after_id (plus, ``since``, every ban newer than that time: on PostgreSQL a
        transaction begun earlier may commit a lower id) that have not expired, oldest first."""
        cond = bans.c.id > after_id
        if since is not None:
            cond = sa.or_(cond, bans.c.at >= since)
        q = sa.select(bans.c.id, bans.c.ip, bans.c.until).where(cond, bans.c.until > utcnow())
        return [{**row, "until": _as_utc(row["until"])} for row in self._dicts(q.order_by(bans.c.id))]

"""The audit events."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .rows import Queries
from .schema import (
    _as_utc,
    events,
    utcnow,
)


class EventQueries(Queries):
    # --- events ------------------------------------------------------------------

    def add_event(
        self,
        *,
        actor: str,
        action: str,
        summary: str,
        device_mac: str | None = None,
        customer_id: int | None = None,
        before: Any = None,
        after: Any = None,
    ) -> int:
        result = self.conn.execute(
            events.insert().values(
                at=utcnow(),
                actor=actor,
                action=action,
                summary=summary[:500],
                device_mac=device_mac,
                customer_id=customer_id,
                before=before,
                after=after,
            )
        )
        return self._inserted_id(result)

    def events_of_device(self, mac: str) -> list[dict[str, Any]]:
        q = sa.select(events).where(events.c.device_mac == mac).order_by(events.c.id)
        return [dict(r._mapping) | {"at": _as_utc(r.at)} for r in self.conn.execute(q)]

    def last_event_id(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))).scalar_one())

    def events_since(self, after_id: int, *, since: datetime | None = None) -> list[dict[str, Any]]:
        """Events with id > after_id, plus (``since``) every event newer than that time."""
        cond = events.c.id > after_id
        if since is not None:
            cond = sa.or_(cond, events.c.at >= since)
        q = sa.select(events.c.id, events.c.device_mac, events.c.customer_id, events.c.action).where(cond)
        return self._dicts(q.order_by(events.c.id))  # a large import's 91,000: 0.25 s, not 1 s row by row

    def events_page(
        self,
        *,
        device_mac: str | None = None,
        customer_id: int | None = None,
        actor: str | None = None,
        action: str | None = None,
        before_id: int | None = None,
        limit: int = 50,
        since: Any = None,
        until: Any = None,
    ) -> list[dict[str, Any]]:
        """Events newest first, ``limit`` of them, older than ``before_id`` (keyset paging), at or
        after ``since`` and before ``until`` (aware datetimes) when given."""
        conds = []
        if since is not None:
            conds.append(events.c.at >= since)
        if until is not None:
            conds.append(events.c.at < until)
        if device_mac is not None:
            conds.append(events.c.device_mac == device_mac)
        if customer_id is not None:
            conds.append(events.c.customer_id == customer_id)
        if actor is not None:
            conds.append(events.c.actor == actor)
        if action is not None:
            conds.append(sa.or_(events.c.action == action, events.c.action.startswith(action + ".", autoescape=True)))
        if before_id is not None:
            conds.append(events.c.id < before_id)
        q = sa.select(events).where(sa.and_(sa.true(), *conds)).order_by(events.c.id.desc()).limit(limit)
        return [row | {"at": _as_utc(row["at"])} for row in self._dicts(q)]

"""Phone-facing security: per-customer rules, server secrets, first-contact windows, re-sealing."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .rows import Queries, _row
from .schema import (
    SEALED_COLUMNS,
    _as_utc,
    customer_security,
    devices,
    server_secrets,
    utcnow,
)


class SecurityQueries(Queries):
    # --- phone-facing security (provisioner.access) ----------------------------------

    def customer_security(self, customer_id: int) -> dict[str, Any] | None:
        q = sa.select(customer_security).where(customer_security.c.customer_id == customer_id)
        return _row(self.conn.execute(q).first())

    def save_customer_security(self, customer_id: int, values: Mapping[str, Any]) -> None:
        if self.customer_security(customer_id) is None:
            self.conn.execute(customer_security.insert().values(customer_id=customer_id, **values, updated_at=utcnow()))
        else:
            self.conn.execute(
                customer_security.update()
                .where(customer_security.c.customer_id == customer_id)
                .values(**values, updated_at=utcnow())
            )

    def server_secret(self, name: str) -> str | None:
        row = self.conn.execute(sa.select(server_secrets.c.value).where(server_secrets.c.name == name)).first()
        return row.value if row else None

    def close_windows(self, closed: Mapping[str, datetime]) -> list[dict[str, Any]]:
        """Close the first-contact window of each MAC (at its time) still open; the devices closed."""
        done = []
        for mac_, at in closed.items():
            row = self.conn.execute(
                sa.select(
                    devices.c.mac, devices.c.customer_id, devices.c.assigned_at, devices.c.window_closed_at
                ).where(devices.c.mac == mac_)
            ).first()
            if row is None:
                continue
            assigned, was = _as_utc(row.assigned_at), _as_utc(row.window_closed_at)
            if was is not None and (assigned is None or was >= assigned):
                continue
            self.conn.execute(devices.update().where(devices.c.mac == mac_).values(window_closed_at=at))
            done.append({"mac": mac_, "customer_id": row.customer_id, "at": at})
        return done

    def open_windows(self, *, customer_id: int | None = None, device_id: int | None = None) -> int:
        """Start a new first-contact window (and so a new token) for a customer's devices or one
        device; how many devices."""
        q = devices.update().values(assigned_at=utcnow(), window_closed_at=None)
        if device_id is not None:
            q = q.where(devices.c.id == device_id)
        else:
            q = q.where(devices.c.customer_id == customer_id)
        return int(self.conn.execute(q).rowcount or 0)

    def reseal_all(self, reseal: Any) -> int:
        """Pass every sealed value, as stored, through ``reseal`` (raw text -> raw text); how many."""
        count = 0
        for table, key_names, names in SEALED_COLUMNS:
            keys = [table.c[k] for k in key_names]
            raw = [sa.cast(table.c[n], sa.Text).label(n) for n in names]  # as stored: not opened
            for row in self.conn.execute(sa.select(*keys, *raw)).fetchall():
                values = {n: reseal(getattr(row, n)) for n in names if getattr(row, n) is not None}
                if not values:
                    continue
                where = [table.c[k] == getattr(row, k) for k in key_names]
                self.conn.execute(
                    table.update().where(*where).values(**{n: sa.literal(v, sa.Text) for n, v in values.items()})
                )
                count += len(values)
        return count

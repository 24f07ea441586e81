"""Lines (a customer's SIP accounts)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .rows import Queries, _row
from .schema import (
    device_lines,
    devices,
    lines,
    utcnow,
)


class LineQueries(Queries):
    # --- lines -------------------------------------------------------------------

    def line(self, customer_id: int, extension: str) -> dict[str, Any] | None:
        q = sa.select(lines).where(lines.c.customer_id == customer_id, lines.c.extension == extension)
        return _row(self.conn.execute(q).first())

    def lines_of_customer(self, customer_id: int) -> list[dict[str, Any]]:
        q = sa.select(lines).where(lines.c.customer_id == customer_id).order_by(lines.c.extension)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def insert_line(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        result = self.conn.execute(lines.insert().values(**values, created_at=now, updated_at=now))
        return self._inserted_id(result)

    def update_line(self, line_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(lines.update().where(lines.c.id == line_id).values(**values, updated_at=utcnow()))

    def device_of_line(self, line_id: int) -> dict[str, Any] | None:
        q = (
            sa.select(devices.c.mac, device_lines.c.position)
            .join(device_lines, device_lines.c.device_id == devices.c.id)
            .where(device_lines.c.line_id == line_id)
        )
        return _row(self.conn.execute(q).first())

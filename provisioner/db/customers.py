"""Customers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .rows import Queries, _row
from .schema import (
    customers,
    utcnow,
)


class CustomerQueries(Queries):
    # --- customers ---------------------------------------------------------------

    def customer_by_code(self, code: str) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(customers).where(customers.c.code == code)).first())

    def customer_by_id(self, customer_id: int) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(customers).where(customers.c.id == customer_id)).first())

    def list_customers(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(sa.select(customers).order_by(customers.c.code))]

    def customers_page(self, *, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
        total = int(self.conn.execute(sa.select(sa.func.count()).select_from(customers)).scalar_one())
        q = sa.select(customers).order_by(customers.c.code).limit(limit).offset(offset)
        return [dict(r._mapping) for r in self.conn.execute(q)], total

    def insert_customer(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        result = self.conn.execute(customers.insert().values(**values, created_at=now, updated_at=now))
        return self._inserted_id(result)

    def update_customer(self, customer_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(customers.update().where(customers.c.id == customer_id).values(**values, updated_at=utcnow()))

"""Rentals: the return policy, replacement costs, rented devices."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from .rows import Queries, _row
from .schema import (
    customers,
    devices,
    rental_defaults,
    replacement_costs,
    utcnow,
)


class RentalQueries(Queries):
    # --- rentals (provisioner.rental_services) -------------------------------------

    def device_for_update(self, mac: str) -> dict[str, Any] | None:
        """The device row, locked until the transaction ends (PostgreSQL; SQLite writers are serial)."""
        return _row(self.conn.execute(sa.select(devices).where(devices.c.mac == mac).with_for_update()).first())

    def rental_defaults(self) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(rental_defaults).where(rental_defaults.c.id == 1)).first())

    def save_rental_defaults(self, values: Mapping[str, Any]) -> None:
        if self.rental_defaults() is None:
            self.conn.execute(rental_defaults.insert().values(id=1, **values, updated_at=utcnow()))
        else:
            self.conn.execute(
                rental_defaults.update().where(rental_defaults.c.id == 1).values(**values, updated_at=utcnow())
            )

    def replacement_costs(self) -> list[dict[str, Any]]:
        q = sa.select(replacement_costs).order_by(replacement_costs.c.vendor, replacement_costs.c.model)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_replacement_cost(self, vendor: str, model: str, cents: int) -> None:
        where = (replacement_costs.c.vendor == vendor, replacement_costs.c.model == model)
        if self.conn.execute(sa.select(replacement_costs.c.model).where(*where)).first() is None:
            self.conn.execute(
                replacement_costs.insert().values(vendor=vendor, model=model, cost_cents=cents, updated_at=utcnow())
            )
        else:
            self.conn.execute(replacement_costs.update().where(*where).values(cost_cents=cents, updated_at=utcnow()))

    def rented_out(self, customer_id: int | None = None) -> list[dict[str, Any]]:
        """Rented devices a customer holds (deployed, return_due, charged), each with its customer's
        ``customer_code``, ``customer_name``, ``contract_end`` and policy terms."""
        q = (
            sa.select(
                devices,
                customers.c.code.label("customer_code"),
                customers.c.name.label("customer_name"),
                customers.c.contract_end,
                customers.c.return_window_days,
                customers.c.late_charge,
                customers.c.penalty_per_day_cents,
            )
            .join(customers, customers.c.id == devices.c.customer_id)
            .where(devices.c.ownership == "rental", devices.c.state.in_(("deployed", "return_due", "charged")))
            .order_by(customers.c.code, devices.c.mac)
        )
        if customer_id is not None:
            q = q.where(devices.c.customer_id == customer_id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

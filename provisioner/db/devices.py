"""Devices, their line slots, what a render needs, and finding them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from .rows import Queries, _row, among
from .schema import (
    RenderRows,
    _as_utc,
    customer_security,
    customers,
    device_lines,
    devices,
    lines,
    utcnow,
)


def _effective_state(holder: Any, today: Any) -> Any:
    """A device's state as of ``today`` in SQL (:func:`provisioner.rentals.effective_state`): a deployed
    rental whose ``holder`` customer's contract ended by then is ``return_due``."""
    ended = sa.and_(
        devices.c.state == "deployed",
        devices.c.ownership == "rental",
        holder.c.contract_end.is_not(None),
        holder.c.contract_end <= today,
    )
    return sa.case((ended, sa.literal("return_due")), else_=devices.c.state)


class DeviceQueries(Queries):
    # --- devices -----------------------------------------------------------------

    def device(self, mac: str) -> dict[str, Any] | None:
        row = _row(self.conn.execute(sa.select(devices).where(devices.c.mac == mac)).first())
        if row:
            row["last_seen_at"] = _as_utc(row["last_seen_at"])
        return row

    def insert_device(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        assigned = now if values.get("customer_id") is not None else None
        result = self.conn.execute(
            devices.insert().values(**values, created_at=now, updated_at=now, assigned_at=assigned)
        )
        return self._inserted_id(result)

    def update_device(self, device_id: int, values: Mapping[str, Any]) -> None:
        now = utcnow()
        extra: dict[str, Any] = {}
        if "customer_id" in values:
            # A device given to another customer starts a new first-contact window; the same one does not.
            new = values["customer_id"]
            extra["assigned_at"] = (
                None
                if new is None
                else sa.case((devices.c.customer_id.is_distinct_from(new), now), else_=devices.c.assigned_at)
            )
        self.conn.execute(devices.update().where(devices.c.id == device_id).values(**values, **extra, updated_at=now))

    def device_lines(self, device_id: int) -> list[dict[str, Any]]:
        """The device's lines in slot order, each with its position."""
        q = (
            sa.select(lines, device_lines.c.position)
            .join(device_lines, device_lines.c.line_id == lines.c.id)
            .where(device_lines.c.device_id == device_id)
            .order_by(device_lines.c.position)
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_device_lines(self, device_id: int, line_ids: Sequence[int]) -> None:
        self.conn.execute(device_lines.delete().where(device_lines.c.device_id == device_id))
        if line_ids:
            self.conn.execute(
                device_lines.insert(),
                [{"device_id": device_id, "position": i, "line_id": lid} for i, lid in enumerate(line_ids, 1)],
            )

    def devices_of_customer(self, customer_id: int) -> list[dict[str, Any]]:
        q = sa.select(devices).where(devices.c.customer_id == customer_id).order_by(devices.c.mac)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def count_devices(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(devices)).scalar_one())

    def assigned_macs(self, after: str = "", limit: int = 1000) -> list[str]:
        """MACs of the devices given to a customer, in order, the first ``limit`` after ``after``
        (keyset pages: the config cache's pre-warm walks them all)."""
        q = (
            sa.select(devices.c.mac)
            .where(devices.c.customer_id.is_not(None), devices.c.mac > after)
            .order_by(devices.c.mac)
            .limit(limit)
        )
        return list(self.conn.execute(q).scalars())

    def render_rows(self, macs: Sequence[str]) -> dict[str, RenderRows]:
        """Device, customer and lines (in slot order) of each known MAC: what a render needs.

        Four queries for up to 500 MACs: a boot storm's cache misses load together. Of a device
        and a line only the columns a render reads (each date column left out is a parse per row
        spared). The statements are built once (:data:`_RENDER_DEVICES`...): building an ``IN``
        of 64 MACs and its cache key cost more than running it.
        """
        found: dict[str, RenderRows] = {}
        for start in range(0, len(macs), 500):
            chunk = list(macs[start : start + 500])
            rows = self._dicts(_RENDER_DEVICES, {"ids": chunk})
            if not rows:
                continue
            customer_ids = list({r["customer_id"] for r in rows if r["customer_id"] is not None})
            by_customer = (
                {r["id"]: r for r in self._dicts(_RENDER_CUSTOMERS, {"ids": customer_ids})} if customer_ids else {}
            )
            # Each customer's phone-facing security rules travel with it, under "security".
            if by_customer:
                for r in self._dicts(_RENDER_SECURITY, {"ids": customer_ids}):
                    by_customer[r["customer_id"]]["security"] = r
            by_device: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
            # Plain dicts zipped from one key list (a RowMapping per row built its key view each time).
            for line in self._dicts(_RENDER_LINES, {"ids": list(by_device)}):
                by_device[line["device_id"]].append(line)
            for r in rows:
                found[r["mac"]] = (r, by_customer.get(r["customer_id"]), by_device[r["id"]])
        return found

    # --- finding (provisioner.queries) ---------------------------------------------

    def search_devices(
        self,
        *,
        text: str | None = None,
        mac_part: str | None = None,
        customer_id: int | None = None,
        states: Sequence[str] = (),
        today: Any = None,
        limit: int = 50,
        offset: int = 0,
        macs: Sequence[str] | None = None,
        vendor: str | None = None,
        model: str | None = None,
        firmware: str | None = None,
        seen_before: Any = None,
        sort: str = "updated",
        descending: bool = True,
    ) -> tuple[list[dict[str, Any]], int]:
        """Devices matching every filter given, newest change first, and how many match in all.

        ``text`` matches an extension exactly, or a display name, label, serial, customer code
        or name in part (case-insensitive); ``mac_part`` is hex digits found anywhere in the MAC.
        ``states`` are effective states: a deployed rental of a customer whose contract ended by
        ``today`` counts as ``return_due``. ``macs`` (canonical) keeps only those devices;
        ``vendor``/``model`` match exactly (case-insensitive), ``firmware`` in part; ``seen_before``
        keeps devices last seen before that time or never. ``sort`` is a key of :data:`SORTS`.
        """
        holder = customers.alias("holder")
        effective = _effective_state(holder, today)
        conds = []
        if customer_id is not None:
            conds.append(devices.c.customer_id == customer_id)
        if states:
            conds.append(effective.in_(list(states)))
        if macs is not None:
            conds.append(devices.c.mac.in_(list(macs)))
        if vendor:
            conds.append(sa.func.lower(devices.c.vendor) == vendor.casefold())
        if model:
            conds.append(sa.func.lower(devices.c.model) == model.casefold())
        if firmware:
            conds.append(sa.func.lower(sa.func.coalesce(devices.c.firmware, "")).like(f"%{firmware.casefold()}%"))
        if seen_before is not None:
            conds.append(sa.or_(devices.c.last_seen_at.is_(None), devices.c.last_seen_at < seen_before))
        matches = []
        if mac_part:
            matches.append(devices.c.mac.contains(mac_part.upper(), autoescape=True))
        if text:
            like = f"%{text.casefold()}%"
            in_line = (
                sa.select(device_lines.c.device_id)
                .join(lines, lines.c.id == device_lines.c.line_id)
                .where(
                    sa.or_(
                        lines.c.extension == text,
                        sa.func.lower(lines.c.display_name).like(like),
                        sa.func.lower(sa.func.coalesce(lines.c.label, "")).like(like),
                    )
                )
            )
            matches += [
                devices.c.id.in_(in_line),
                sa.func.lower(sa.func.coalesce(devices.c.serial, "")).like(like),
                sa.func.lower(holder.c.code).like(like),
                sa.func.lower(holder.c.name).like(like),
            ]
        if matches:
            conds.append(sa.or_(*matches))
        source = devices.outerjoin(holder, holder.c.id == devices.c.customer_id)
        where = sa.and_(sa.true(), *conds)
        total = int(self.conn.execute(sa.select(sa.func.count()).select_from(source).where(where)).scalar_one())
        key = {
            "updated": devices.c.updated_at,
            "mac": devices.c.mac,
            "model": devices.c.model,
            "state": effective,
            "customer": holder.c.code,
            "serial": devices.c.serial,
            "firmware": devices.c.firmware,
            "last_seen": devices.c.last_seen_at,
        }[sort]
        # never-seen / no-customer rows last either way; the id keeps pages stable among equal keys
        order = [
            key.is_(None),
            key.desc() if descending else key.asc(),
            devices.c.id.desc() if descending else devices.c.id.asc(),
        ]
        q = (
            sa.select(
                devices.c.id,
                devices.c.mac,
                devices.c.vendor,
                devices.c.model,
                devices.c.serial,
                devices.c.ownership,
                effective.label("state"),
                devices.c.last_seen_at,
                devices.c.last_seen_ip,
                devices.c.firmware,
                devices.c.updated_at,
                holder.c.code.label("customer"),
                holder.c.name.label("customer_name"),
            )
            .select_from(source)
            .where(where)
            .order_by(*order)
            .limit(limit)
            .offset(offset)
        )
        rows = self._dicts(q)
        ids = [r["id"] for r in rows]
        extensions: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            q = (
                sa.select(device_lines.c.device_id, lines.c.extension)
                .join(lines, lines.c.id == device_lines.c.line_id)
                .where(device_lines.c.device_id.in_(ids))
                .order_by(device_lines.c.device_id, device_lines.c.position)
            )
            for slot in self.conn.execute(q):
                extensions[slot.device_id].append(slot.extension)
        for row in rows:
            row["extensions"] = extensions[row.pop("id")]
            row["last_seen_at"] = _as_utc(row["last_seen_at"])
            row["updated_at"] = _as_utc(row["updated_at"])
        return rows, total

    def count_devices_by_state(self, today: Any) -> dict[str, int]:
        holder = customers.alias("holder")
        effective = _effective_state(holder, today).label("state")
        q = (
            sa.select(effective, sa.func.count())
            .select_from(devices.outerjoin(holder, holder.c.id == devices.c.customer_id))
            .group_by(effective)
        )
        return {state: int(n) for state, n in self.conn.execute(q)}


# The columns of a device and of a line that render_data reads (provisioner.render_data).
_RENDER_DEVICE = tuple(
    devices.c[name]
    for name in ("id", "mac", "vendor", "model", "state", "customer_id", "settings", "assigned_at", "window_closed_at")
)
_RENDER_LINE = tuple(
    lines.c[name]
    for name in (
        "extension",
        "display_name",
        "label",
        "sip_username",
        "auth_id",
        "password",
        "sip_server",
        "sip_port",
        "sip_transport",
        "voicemail",
    )
)


# What DeviceQueries.render_rows runs, built once.
_RENDER_DEVICES = sa.select(*_RENDER_DEVICE).where(among(devices.c.mac))
_RENDER_CUSTOMERS = sa.select(customers).where(among(customers.c.id))
_RENDER_SECURITY = sa.select(customer_security).where(among(customer_security.c.customer_id))
_RENDER_LINES = (
    sa.select(*_RENDER_LINE, device_lines.c.device_id)
    .join(device_lines, device_lines.c.line_id == lines.c.id)
    .where(among(device_lines.c.device_id))
    .order_by(device_lines.c.device_id, device_lines.c.position)
)

"""Phonebooks (a customer's contacts, and its extensions as its phones list them) and firmware
images, targets and what the phones report."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from .rows import Queries
from .schema import (
    devices,
    firmware_images,
    firmware_targets,
    lines,
    phonebook_entries,
    utcnow,
)


class PhonebookQueries(Queries):
    def phonebook_contacts(self, customer_id: int) -> list[dict[str, Any]]:
        """The contacts added to a customer's phonebook (not its extensions), by group and name."""
        q = (
            sa.select(phonebook_entries)
            .where(phonebook_entries.c.customer_id == customer_id)
            .order_by(phonebook_entries.c.group_name, phonebook_entries.c.name, phonebook_entries.c.number)
        )
        return sorted((dict(r._mapping) for r in self.conn.execute(q)), key=_order)

    def phonebooks(self, customer_ids: Iterable[int]) -> dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
        """Per customer: (its extensions as {name, number}, its contacts). Two queries for any number."""
        ids = sorted(set(customer_ids))
        found: dict[int, tuple[list[dict[str, Any]], list[dict[str, Any]]]] = {i: ([], []) for i in ids}
        if not ids:
            return found
        q = (
            sa.select(lines.c.customer_id, lines.c.display_name, lines.c.extension)
            .where(lines.c.customer_id.in_(ids))
            .order_by(lines.c.customer_id, lines.c.extension)
        )
        # Unpacked, not r.customer_id: a Row's attribute raises (and formats) an AttributeError inside
        # before it finds the column; a 40,000-line customer's first cache load paid that 120,000 times.
        for customer_id, name, number in self.conn.execute(q):
            found[customer_id][0].append({"name": name, "number": number})
        q = (
            sa.select(phonebook_entries)
            .where(phonebook_entries.c.customer_id.in_(ids))
            .order_by(
                phonebook_entries.c.customer_id,
                phonebook_entries.c.group_name,
                phonebook_entries.c.name,
                phonebook_entries.c.number,
            )
        )
        for r in self._dicts(q):
            found[r["customer_id"]][1].append(r)
        for _extensions, contacts in found.values():
            contacts.sort(key=_order)
        return found

    def insert_contacts(self, customer_id: int, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            now = utcnow()
            self.conn.execute(
                phonebook_entries.insert(), [{**r, "customer_id": customer_id, "created_at": now} for r in rows]
            )

    def delete_contacts(self, customer_id: int, *, name: str | None = None, number: str | None = None) -> int:
        """Delete a customer's contacts matching name and/or number (both None: all); how many."""
        q = phonebook_entries.delete().where(phonebook_entries.c.customer_id == customer_id)
        if name is not None:
            q = q.where(phonebook_entries.c.name == name)
        if number is not None:
            q = q.where(phonebook_entries.c.number == number)
        return int(self.conn.execute(q).rowcount or 0)


def _order(contact: dict[str, Any]) -> tuple:
    """Ungrouped first, then by group, name, number: the same on SQLite and PostgreSQL (NULLs)."""
    return (contact["group_name"] is not None, contact["group_name"] or "", contact["name"], contact["number"])


class FirmwareQueries(Queries):
    def insert_firmware(self, values: dict[str, Any]) -> int:
        result = self.conn.execute(firmware_images.insert().values(**values, created_at=utcnow()))
        key = result.inserted_primary_key
        assert key is not None, "not the result of an INSERT"
        return int(key[0])

    def firmware_images(self, vendor: str | None = None) -> list[dict[str, Any]]:
        q = sa.select(firmware_images).order_by(
            firmware_images.c.vendor, firmware_images.c.version, firmware_images.c.file_name
        )
        if vendor is not None:
            q = q.where(firmware_images.c.vendor == vendor)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_firmware_target(self, vendor: str, model: str, version: str, customer_id: int | None) -> dict | None:
        """Set the target; returns the one it replaces (or None)."""
        where = [
            firmware_targets.c.model == model,
            firmware_targets.c.vendor == vendor,
            firmware_targets.c.customer_id.is_(None)
            if customer_id is None
            else firmware_targets.c.customer_id == customer_id,
        ]
        before = self.conn.execute(sa.select(firmware_targets).where(*where)).first()
        self.conn.execute(firmware_targets.delete().where(*where))
        self.conn.execute(
            firmware_targets.insert().values(
                vendor=vendor, model=model, version=version, customer_id=customer_id, updated_at=utcnow()
            )
        )
        return dict(before._mapping) if before else None

    def firmware_targets(self) -> list[dict[str, Any]]:
        q = sa.select(firmware_targets).order_by(
            firmware_targets.c.vendor, firmware_targets.c.model, firmware_targets.c.customer_id
        )
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def firmware_report(self, customer_id: int | None = None) -> list[dict[str, Any]]:
        """(vendor, model, reported version, count) of the devices; version None: never seen."""
        q = sa.select(devices.c.vendor, devices.c.model, devices.c.firmware, sa.func.count().label("count")).group_by(
            devices.c.vendor, devices.c.model, devices.c.firmware
        )
        if customer_id is not None:
            q = q.where(devices.c.customer_id == customer_id)
        rows = [dict(r._mapping) for r in self.conn.execute(q)]
        return sorted(rows, key=lambda r: (r["vendor"], r["model"], r["firmware"] is None, r["firmware"] or ""))

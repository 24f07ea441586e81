"""Programmable keys: a device's own and its customer's profile (provisioner.function_keys)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa

from .rows import Queries, among
from .schema import function_keys, lines


class KeyQueries(Queries):
    def keys_of(self, *, device_id: int | None = None, customer_id: int | None = None) -> list[dict[str, Any]]:
        column = function_keys.c.device_id if device_id is not None else function_keys.c.customer_id
        owner = device_id if device_id is not None else customer_id
        return self._dicts(
            sa.select(function_keys).where(column == owner).order_by(function_keys.c.module, function_keys.c.position)
        )

    def keys_for_render(
        self, device_ids: Iterable[int], customer_ids: Iterable[int]
    ) -> tuple[dict[int, list[dict[str, Any]]], dict[int, list[dict[str, Any]]]]:
        """Keys by device id and profile keys by customer id: two queries per 500 of each."""
        by_device: dict[int, list[dict[str, Any]]] = {}
        by_customer: dict[int, list[dict[str, Any]]] = {}
        for chunk in self._chunks(set(device_ids)):
            for r in self._dicts(_DEVICE_KEYS, {"ids": chunk}):
                by_device.setdefault(r["device_id"], []).append(r)
        for chunk in self._chunks(set(customer_ids)):
            for r in self._dicts(_PROFILE_KEYS, {"ids": chunk}):
                by_customer.setdefault(r["customer_id"], []).append(r)
        return by_device, by_customer

    def put_key(self, values: Mapping[str, Any]) -> None:
        """Set the key at (owner, module, position), replacing the one there."""
        self.delete_key(
            device_id=values.get("device_id"),
            customer_id=values.get("customer_id"),
            module=values["module"],
            position=values["position"],
        )
        self.conn.execute(function_keys.insert().values(**values))

    def delete_key(self, *, device_id: int | None, customer_id: int | None, module: int, position: int) -> int:
        column = function_keys.c.device_id if device_id is not None else function_keys.c.customer_id
        owner = device_id if device_id is not None else customer_id
        return self.conn.execute(
            function_keys.delete().where(
                column == owner, function_keys.c.module == module, function_keys.c.position == position
            )
        ).rowcount

    def line_names(self, customer_ids: Iterable[int]) -> dict[tuple[int, str], str]:
        """(customer id, extension) -> the name its phones show (label, else display name): BLF labels."""
        names: dict[tuple[int, str], str] = {}
        for chunk in self._chunks(set(customer_ids)):
            q = sa.select(lines.c.customer_id, lines.c.extension, lines.c.label, lines.c.display_name).where(
                lines.c.customer_id.in_(chunk)
            )
            for customer_id, extension, label, display_name in self.conn.execute(q):  # unpacked: see phonebooks()
                names[(customer_id, extension)] = label or display_name or extension
        return names


# What KeyQueries.keys_for_render runs at every cache load, built once (the owners given at each execution).
_DEVICE_KEYS = (
    sa.select(function_keys)
    .where(among(function_keys.c.device_id))
    .order_by(function_keys.c.module, function_keys.c.position)
)
_PROFILE_KEYS = (
    sa.select(function_keys)
    .where(among(function_keys.c.customer_id))
    .order_by(function_keys.c.module, function_keys.c.position)
)

"""Programmable keys: a device's own, and its customer's key profile that every phone inherits.

A key sits at (module, position): module 0 is the phone, 1.. its expansion modules; positions count
from 1 on each. What a phone gets (:func:`effective`) is its customer's profile with the device's own
keys laid over it (a device key at the same place wins), cut to what the model holds, without a BLF
on one of the phone's own extensions, and with each BLF key labelled by the watched line's current
name unless it has its own label. Writes validate first, run in one transaction and append an event
naming the device (or the customer): the config cache reloads the phones it concerns.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import fields, vendors
from .changes import find_customer, find_device
from .db import Store, Tx
from .errors import Invalid, NotFound
from .key_layout import KEY_FIELDS, check_fits, effective


def _where(module: int, position: int) -> str:
    return f"key {position}" if module == 0 else f"key {position} of expansion module {module}"


# --- use cases ------------------------------------------------------------------------------------


def set_device_key(store: Store, actor: str, mac: str, position: Any, **data: Any) -> dict[str, Any]:
    """Put a key on device ``mac`` (``type``, ``value``, ``label``, ``line``, ``module``)."""
    key = fields.function_key({**data, "position": position})
    with store.transaction() as tx:
        device = find_device(tx, mac)
        check_fits(vendors.get(device["vendor"]), device["model"], key)
        if key["type"] == "blf":
            own = {row["extension"] for row in tx.device_lines(device["id"])}
            if key["value"] in own:
                raise Invalid(
                    f"{_where(key['module'], key['position'])}: a BLF key on the phone's own extension "
                    f"{key['value']} would watch itself",
                    field="value",
                )
        before = _key_at(tx.keys_of(device_id=device["id"]), key)
        tx.put_key({**key, "device_id": device["id"]})
        tx.add_event(
            actor=actor,
            action="device.key",
            device_mac=device["mac"],
            summary=f"{_where(key['module'], key['position'])} of {device['mac']} set to {key['type']}",
            before=before,
            after=key,
        )
        return key


def set_customer_key(store: Store, actor: str, code: str, position: Any, **data: Any) -> dict[str, Any]:
    """Put a key in customer ``code``'s profile: every phone of the customer gets it where its model
    has room and the vendor writes its type, unless the device has its own key there."""
    key = fields.function_key({**data, "position": position})
    if not any(key["type"] in v.key_types for v in vendors.all_vendors()):
        raise Invalid(f"no vendor's phones take {key['type']!r} keys yet", field="type")
    with store.transaction() as tx:
        customer = find_customer(tx, code)
        before = _key_at(tx.keys_of(customer_id=customer["id"]), key)
        tx.put_key({**key, "customer_id": customer["id"]})
        tx.add_event(
            actor=actor,
            action="customer.key",
            customer_id=customer["id"],
            summary=f"profile {_where(key['module'], key['position'])} of {customer['code']} set to {key['type']}",
            before=before,
            after=key,
        )
        return key


def remove_device_key(store: Store, actor: str, mac: str, position: Any, module: Any = 0) -> None:
    key = fields.function_key({"type": "none", "position": position, "module": module})
    with store.transaction() as tx:
        device = find_device(tx, mac)
        before = _key_at(tx.keys_of(device_id=device["id"]), key)
        if before is None:
            raise NotFound(
                f"device {device['mac']} has no own {_where(key['module'], key['position'])}", field="position"
            )
        tx.delete_key(device_id=device["id"], customer_id=None, module=key["module"], position=key["position"])
        tx.add_event(
            actor=actor,
            action="device.key",
            device_mac=device["mac"],
            before=before,
            summary=f"{_where(key['module'], key['position'])} of {device['mac']} removed",
        )


def remove_customer_key(store: Store, actor: str, code: str, position: Any, module: Any = 0) -> None:
    key = fields.function_key({"type": "none", "position": position, "module": module})
    with store.transaction() as tx:
        customer = find_customer(tx, code)
        before = _key_at(tx.keys_of(customer_id=customer["id"]), key)
        if before is None:
            raise NotFound(
                f"customer {customer['code']} has no profile {_where(key['module'], key['position'])}", field="position"
            )
        tx.delete_key(device_id=None, customer_id=customer["id"], module=key["module"], position=key["position"])
        tx.add_event(
            actor=actor,
            action="customer.key",
            customer_id=customer["id"],
            before=before,
            summary=f"profile {_where(key['module'], key['position'])} of {customer['code']} removed",
        )


def device_keys(store: Store, mac: str) -> list[dict[str, Any]]:
    """The keys device ``mac`` gets (its own over its customer's profile), each with its ``source``."""
    with store.reading() as tx:
        device = find_device(tx, mac, lock=False)
        return _effective_of(tx, device)


def customer_keys(store: Store, code: str) -> list[dict[str, Any]]:
    with store.reading() as tx:
        customer = find_customer(tx, code)
        return [{k: row[k] for k in KEY_FIELDS} for row in tx.keys_of(customer_id=customer["id"])]


def _effective_of(tx: Tx, device: Mapping[str, Any]) -> list[dict[str, Any]]:
    cid = device["customer_id"]
    by_device, by_customer = tx.keys_for_render([device["id"]], [cid] if cid is not None else [])
    names = {ext: name for (c, ext), name in tx.line_names([cid]).items()} if cid is not None else {}
    own = [row["extension"] for row in tx.device_lines(device["id"])]
    return effective(
        vendors.get(device["vendor"]),
        device["model"],
        by_device.get(device["id"], []),
        by_customer.get(cid, []) if cid is not None else [],
        own,
        names,
    )


def _key_at(rows: Sequence[Mapping[str, Any]], key: Mapping[str, Any]) -> dict[str, Any] | None:
    for row in rows:
        if row["module"] == key["module"] and row["position"] == key["position"]:
            return {k: row[k] for k in KEY_FIELDS}
    return None

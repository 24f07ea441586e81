"""The rented-device lifecycle on the store: terminate, swap, assign, return, charge, reports.

The rules (states, dates, money) are :mod:`provisioner.rentals`; this module
applies them in one transaction per operation, validating the state *inside*
applies them in one transaction per operation, validating the state *inside*
the transaction (writers are serial on SQLite, rows are locked on PostgreSQL),
so two concurrent swaps of one device cannot both succeed. Every change appends
audit events with ``device_mac`` and ``customer_id`` set: they are the device's
history and what tells every config cache to drop the device's files.

This module holds deploying (assign, unassign, swap) and the one-step move, and
is the one name callers use: contract end is :mod:`provisioner.rental_contracts`,
returns and charges :mod:`provisioner.rental_returns`, history and reports
:mod:`provisioner.rental_history`; where a device stands is
:mod:`provisioner.rental_standing`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, cast

from . import fields, rentals, services, vendors
from .changes import DeviceChange, find_customer, find_device
from .db import Store, Tx
from .errors import Conflict, Invalid
from .redirect import outbox as redirect_outbox
from .rental_contracts import cancel_termination, terminate
from .rental_history import REPORT_COLUMNS, REPORTS, history, report
from .rental_returns import charge, return_device
from .rental_standing import _holder, _iso, _load, _past_date, _state_on, _today
from .rental_terms import policy_of

__all__ = [
    "REPORTS",
    "REPORT_COLUMNS",
    "assign",
    "cancel_termination",
    "charge",
    "history",
    "move",
    "report",
    "return_device",
    "swap",
    "terminate",
    "unassign",
]


# --- assign, unassign, swap ------------------------------------------------------------


def _check_accounts(device: Mapping[str, Any], count: int) -> None:
    caps = vendors.get(device["vendor"]).caps(device["model"])
    if count > caps.accounts:
        raise Invalid(f"{device['model']} has {caps.accounts} SIP accounts; {count} lines given", field="line")


def assign(store: Store, actor: str, mac: Any, customer: Any, lines: Sequence[str] = ()) -> dict[str, Any]:
    """Deploy MAC to CUSTOMER with ``lines`` in this order (replacing its lines if already there)."""
    if not customer:
        raise Invalid("a customer is required (--customer)", field="customer")
    today = _today()
    with store.transaction() as tx:
        change, device, holder, state = _load(tx, mac, today)
        target = find_customer(tx, customer)
        if rentals.contract_ended(target["contract_end"], today):
            raise Conflict(
                f"the contract of {target['code']} ended on {target['contract_end'].isoformat()}: "
                f"it cannot take devices",
                field="customer",
            )
        if holder is not None and holder["id"] != target["id"]:
            if device["ownership"] == rentals.OWNED:
                raise Conflict(f"device {device['mac']} is owned by customer {holder['code']}", field="mac")
            raise Conflict(
                f"device {device['mac']} is {device['state']} with customer {holder['code']}: "
                f"record its return before assigning it elsewhere",
                field="mac",
            )
        new_state = rentals.transition(state, "assign", device["mac"])
        _check_accounts(device, len(lines))
        line_ids = services.resolve_lines(tx, target, list(lines), device["id"])
        tx.update_device(
            device["id"], {"customer_id": target["id"], "state": new_state, "due_from": None, "due_reason": None}
        )
        tx.set_device_lines(device["id"], line_ids)
        redirect_outbox.devices_changed(tx, [device["mac"]])
        after = change.after()
        return change.emit(
            actor,
            "device.assigned",
            f"device {device['mac']} assigned to {target['code']}, lines {', '.join(after['lines']) or 'none'}",
            customer_id=target["id"],
            after=after,
        )


def unassign(store: Store, actor: str, mac: Any, on: Any = None) -> dict[str, Any]:
    """Take MAC's lines off. A rented device becomes return_due (from ``on``, default today);
    a customer-owned one stays with its owner, without lines."""
    day = _past_date(on)
    today = _today()
    with store.transaction() as tx:
        change, device, holder, state = _load(tx, mac, today)
        if holder is None:
            raise Conflict(f"device {device['mac']} is {state}: it is not assigned to anyone", field="mac")
        values: dict[str, Any] = {}
        if device["ownership"] == rentals.RENTAL:
            values = {
                "state": rentals.transition(state, "unassign", device["mac"]),
                "due_from": day,
                "due_reason": rentals.UNASSIGN,
            }
        tx.set_device_lines(device["id"], [])
        if values:
            tx.update_device(device["id"], values)
            redirect_outbox.devices_changed(tx, [device["mac"]])
        result = change.after()
        deadline = None
        if device["ownership"] == rentals.RENTAL:
            deadline = rentals.deadline(day, policy_of(tx, holder).window_days)
            what = f"return due by {deadline.isoformat()}"
        else:
            what = "customer-owned, stays with its owner"
        change.emit(
            actor,
            "device.unassigned",
            f"device {device['mac']} unassigned from {holder['code']}: {what}",
            customer_id=holder["id"],
            after=result,
            extra={"return_deadline": _iso(deadline)},
        )
        return {**result, "return_deadline": deadline}


def swap(
    store: Store, actor: str, old_mac: Any, new_mac: Any, *, model: Any = None, serial: Any = None, on: Any = None
) -> dict[str, Any]:
    """Move every line of OLD to NEW, in the same order, in one transaction. NEW comes from stock, or is
    created (with OLD's model unless ``model``). A rented OLD becomes return_due (RMA) from ``on``."""
    old_canonical = fields.mac(old_mac, "old_mac")
    new_canonical = fields.mac(new_mac, "new_mac")
    if old_canonical == new_canonical:
        raise Invalid("the old and the new device are the same MAC", field="new_mac")
    day = _past_date(on)
    today = _today()
    serial_ = fields.text(serial, "serial", required=False, max_len=64)
    wanted = fields.model(model) if model else None
    with store.transaction() as tx:
        old_change, old, holder, old_state = _load(tx, old_canonical, today, "old_mac")
        if old["ownership"] == rentals.RENTAL:
            rentals.transition(old_state, "swap_out", old["mac"])
        if holder is None:
            raise Conflict(f"cannot swap {old['mac']}: it is not assigned to a customer", field="old_mac")
        if rentals.contract_ended(holder["contract_end"], today):
            raise Conflict(
                f"cannot swap {old['mac']}: the contract of {holder['code']} ended on "
                f"{holder['contract_end'].isoformat()}",
                field="old_mac",
            )
        if old_state != rentals.DEPLOYED:
            raise Conflict(f"cannot swap {old['mac']}: it is {old_state}, not deployed", field="old_mac")
        new = tx.device_for_update(new_canonical)
        created = new is None
        if new is None:
            vendor_name, model_key = wanted or (old["vendor"], old["model"])
            tx.insert_device(
                {
                    "mac": new_canonical,
                    "vendor": vendor_name,
                    "model": model_key,
                    "serial": serial_,
                    "ownership": rentals.RENTAL,
                    "state": rentals.IN_STOCK,
                    "settings": {},
                }
            )
            new_change = DeviceChange(tx, None, mac=new_canonical, rental=True)
            new = new_change.reload()
        else:
            if wanted and wanted != (new["vendor"], new["model"]):
                raise Invalid(
                    f"device {new['mac']} is a {new['vendor']} {new['model']}, not {wanted[1]}", field="model"
                )
            rentals.transition(new["state"], "swap_in", new["mac"])
            if new["ownership"] != rentals.RENTAL:
                raise Conflict(
                    f"device {new['mac']} is customer-owned: a replacement must come from the provider's stock",
                    field="new_mac",
                )
            new_change = DeviceChange(tx, new, rental=True)
        line_rows = tx.device_lines(old["id"])
        _check_accounts(new, len(line_rows))
        tx.set_device_lines(old["id"], [])
        tx.set_device_lines(new["id"], [row["id"] for row in line_rows])
        new_values: dict[str, Any] = {
            "customer_id": holder["id"],
            "state": rentals.DEPLOYED,
            "due_from": None,
            "due_reason": None,
        }
        if serial_ and not created:
            new_values["serial"] = serial_
        if new["vendor"] == old["vendor"] and not new["settings"] and old["settings"]:
            new_values["settings"] = dict(old["settings"])  # same vendor: its per-phone overrides follow
        tx.update_device(new["id"], new_values)
        deadline = None
        if old["ownership"] == rentals.RENTAL:
            tx.update_device(old["id"], {"state": rentals.RETURN_DUE, "due_from": day, "due_reason": rentals.SWAP})
            deadline = rentals.deadline(day, policy_of(tx, holder).window_days)
        redirect_outbox.devices_changed(tx, [old["mac"], new["mac"]])  # the old one first: per-MAC order anyway
        old_after = old_change.after()
        new_after = new_change.after()
        extensions = ", ".join(row["extension"] for row in line_rows) or "none"
        old_change.emit(
            actor,
            "device.swapped",
            f"device {old['mac']} swapped for {new['mac']} at {holder['code']} (lines {extensions})"
            + (f": return due by {deadline.isoformat()}" if deadline else ""),
            customer_id=holder["id"],
            after=old_after,
            extra={"replaced_by": new["mac"], "return_deadline": _iso(deadline)},
        )
        new_change.emit(
            actor,
            "device.swapped_in",
            f"device {new['mac']} ({new['model']}{', new' if created else ', from stock'}) "
            f"replaces {old['mac']} at {holder['code']} (lines {extensions})",
            customer_id=holder["id"],
            after=new_after,
            extra={"replaces": old["mac"]},
        )
        return {"old": old_after, "new": new_after, "created": created, "return_deadline": deadline}


# --- the one-step move ----------------------------------------------------------------------


class _Joined:
    """A store whose transaction is one already open: each service called with it writes into that
    transaction, so several services compose into one change that lands whole or not at all."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx

    @contextmanager
    def transaction(self, **_: Any) -> Iterator[Tx]:
        yield self._tx


def move(
    store: Store, actor: str, mac: Any, customer: Any, lines: Sequence[str] = (), *, condition: Any = "ok"
) -> dict[str, Any]:
    """A rented phone at one customer goes to another in one transaction: its lines taken off (when
    deployed), its return recorded (``condition`` ok or faulty) and its assignment to ``customer``
    with ``lines``. If any step is refused (the target's contract ended, a line that is not free,
    a faulty phone that cannot be assigned), nothing is changed: the phone is as it was.

    ``{"returned": <return_device's result>, "assigned": <assign's result>}``; each step is in the
    device's history as on its own.
    """
    if not customer:
        raise Invalid("choose the customer the phone goes to", field="customer")
    today = _today()
    with store.transaction() as tx:
        joined = cast(Store, _Joined(tx))
        device = find_device(tx, mac)
        if _state_on(device, _holder(tx, device), today) == rentals.DEPLOYED:
            unassign(joined, actor, device["mac"])
        returned = return_device(joined, actor, device["mac"], condition=condition)
        assigned = assign(joined, actor, device["mac"], customer, lines)
    return {"returned": returned, "assigned": assigned}

"""Contract end: terminating a customer's contract, and cancelling a termination before its date.

A termination stores only the customer's ``contract_end``. A ``deployed`` rented device of that
customer *is* ``return_due`` from that date on (derived in :func:`rentals.standing`), and the
phone-facing side stops serving its lines from the start of that date in Europe/Rome
(:func:`render_data.device_data`), so a termination dated in the future needs no job to take
effect. Its devices keep their lines until their return is recorded, so ``--cancel`` before the
date restores everything as it was.
"""

from __future__ import annotations

from typing import Any

from . import rentals
from .changes import DeviceChange, find_customer
from .db import Store
from .errors import Conflict
from .redirect import outbox as redirect_outbox
from .rental_standing import _iso, _today
from .rental_terms import policy_of


def terminate(store: Store, actor: str, code: str, on: Any) -> dict[str, Any]:
    """End CUSTOMER's contract on ``on``: from that day its phones get no credentials and its rented
    devices are return_due, each with its deadline. A date not yet reached can be moved or cancelled."""
    end = rentals.parse_date(on, "on")
    today = _today()
    with store.transaction() as tx:
        customer = find_customer(tx, code)
        previous = customer["contract_end"]
        if rentals.contract_ended(previous, today):
            raise Conflict(
                f"the contract of {customer['code']} already ended on {previous.isoformat()}", field="customer"
            )
        tx.update_customer(customer["id"], {"contract_end": end})
        policy = policy_of(tx, customer)
        affected = []
        for device in tx.devices_of_customer(customer["id"]):
            if device["state"] != rentals.DEPLOYED:
                continue  # already awaiting return (swapped out, unassigned) or charged: its own deadline holds
            entry: dict[str, Any] = {
                "mac": device["mac"],
                "model": device["model"],
                "ownership": device["ownership"],
                "deadline": None,
            }
            if device["ownership"] == rentals.RENTAL:
                rentals.transition(rentals.DEPLOYED, "contract_end", device["mac"])
                entry["deadline"] = rentals.deadline(end, policy.window_days)
                what = f"return due by {entry['deadline'].isoformat()}"
            else:
                what = "customer-owned, no return"
            affected.append(entry)
            change = DeviceChange(tx, device, rental=True)  # its lines stay: after is before, plus the dates
            change.emit(
                actor,
                "device.contract_ended",
                f"contract of {customer['code']} ends {end.isoformat()}: lines stop, {what}",
                customer_id=customer["id"],
                after=change.before,
                extra={"contract_end": end.isoformat(), "return_deadline": _iso(entry["deadline"])},
            )
        redirect_outbox.devices_changed(tx, [e["mac"] for e in affected])  # deregistered once the date has come
        tx.add_event(
            actor=actor,
            action="customer.terminated",
            customer_id=customer["id"],
            summary=f"contract of {customer['code']} ends {end.isoformat()} "
            f"({len(affected)} devices stop; {policy.describe()})",
            before={"contract_end": _iso(previous)},
            after={
                "contract_end": end.isoformat(),
                "policy": policy.as_dict(),
                "devices": [{**e, "deadline": _iso(e["deadline"])} for e in affected],
            },
        )
        return {
            "customer": customer["code"],
            "contract_end": end,
            "effective": end <= today,
            "policy": policy.as_dict(),
            "devices": affected,
        }


def cancel_termination(store: Store, actor: str, code: str) -> dict[str, Any]:
    """Undo a termination whose date has not come yet."""
    today = _today()
    with store.transaction() as tx:
        customer = find_customer(tx, code)
        end = customer["contract_end"]
        if end is None:
            raise Conflict(f"customer {customer['code']} has no termination to cancel", field="customer")
        if rentals.contract_ended(end, today):
            raise Conflict(
                f"the contract of {customer['code']} ended on {end.isoformat()}: a termination can "
                f"only be cancelled before its date",
                field="customer",
            )
        tx.update_customer(customer["id"], {"contract_end": None})
        macs = []
        for device in tx.devices_of_customer(customer["id"]):
            if device["state"] == rentals.DEPLOYED:
                macs.append(device["mac"])
                tx.add_event(
                    actor=actor,
                    action="device.contract_end_cancelled",
                    device_mac=device["mac"],
                    customer_id=customer["id"],
                    summary=f"termination of {customer['code']} on {end.isoformat()} cancelled: lines stay",
                    before={"contract_end": end.isoformat()},
                    after={"contract_end": None},
                )
        redirect_outbox.devices_changed(tx, macs)
        tx.add_event(
            actor=actor,
            action="customer.termination_cancelled",
            customer_id=customer["id"],
            summary=f"termination of {customer['code']} on {end.isoformat()} cancelled",
            before={"contract_end": end.isoformat()},
            after={"contract_end": None, "devices": macs},
        )
        return {"customer": customer["code"], "cancelled": end, "devices": macs}

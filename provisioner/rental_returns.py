"""Returns and charges: a rented device coming back (in stock or retired), and billing its customer
for one that did not come back in time."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import fields, rentals
from .db import Store
from .errors import Invalid
from .redirect import outbox as redirect_outbox
from .rental_standing import _iso, _load, _past_date, _rental_only, _standing, _today
from .rental_terms import default_policy, policy_of


def return_device(store: Store, actor: str, mac: Any, *, on: Any = None, condition: Any = "ok") -> dict[str, Any]:
    """Record that MAC came back on ``on``: ``ok`` puts it in stock, ``faulty`` retires it."""
    day = _past_date(on)
    cond = fields.choice(condition or "ok", rentals.CONDITIONS, "condition")
    today = _today()
    with store.transaction() as tx:
        change, device, holder, state = _load(tx, mac, today)
        _rental_only(device, "returned")
        returned = rentals.transition(state, "return", device["mac"])
        final = rentals.transition(returned, "restock" if cond == "ok" else "retire", device["mac"])
        policy = policy_of(tx, holder) if holder else default_policy(tx)
        standing = _standing(tx, device, holder, max(day, today), policy)
        late = rentals.days_late(standing.deadline, day) if standing.deadline else 0
        penalty = policy.owed(late, None, returned=True) if late else Decimal("0.00")
        tx.set_device_lines(device["id"], [])
        tx.update_device(
            device["id"],
            {
                "state": final,
                "customer_id": None,
                "due_from": None,
                "due_reason": None,
                "charged_cents": None,
                "charged_on": None,
            },
        )
        redirect_outbox.devices_changed(tx, [device["mac"]])
        after = change.after()
        outcome = {
            "returned_on": day.isoformat(),
            "condition": cond,
            "from_customer": holder["code"] if holder else None,
            "deadline": _iso(standing.deadline),
            "days_late": late,
            "late_penalty": str(penalty),
            "charged_before": str(standing.charged),
        }
        change.emit(
            actor,
            "device.returned",
            f"device {device['mac']} returned {day.isoformat()} by "
            f"{holder['code'] if holder else '-'} ({cond}): {final}" + (f", {late} days late" if late else ""),
            customer_id=holder["id"] if holder else None,
            after=after,
            extra=outcome,
        )
        return {
            **after,
            **outcome,
            "deadline": standing.deadline,
            "late_penalty": penalty,
            "charged_before": standing.charged,
        }


def charge(store: Store, actor: str, mac: Any, *, amount: Any = None, on: Any = None) -> dict[str, Any]:
    """Record that MAC's customer was billed ``amount`` (default: what the policy says is owed on ``on``
    and not billed yet)."""
    day = _past_date(on)
    given = rentals.parse_amount(amount, "amount") if amount not in (None, "") else None
    if given is not None and given <= 0:
        raise Invalid("amount must be more than 0.00 EUR", field="amount")
    today = _today()
    with store.transaction() as tx:
        change, device, holder, state = _load(tx, mac, today)
        _rental_only(device, "charged")
        new_state = rentals.transition(state, "charge", device["mac"])
        assert holder is not None  # return_due and charged devices keep their customer
        standing = _standing(tx, device, holder, day)
        if given is None:
            if standing.owed is None:
                raise Invalid(
                    f"no replacement cost is known for {device['vendor']} {device['model']}: set one "
                    f"with `provisioner rentals set-cost {device['model']} EUR` or give --amount",
                    field="amount",
                )
            given = standing.owed - standing.charged
            if given <= 0:
                raise Invalid(
                    f"nothing is owed for {device['mac']} as of {day.isoformat()} (deadline "
                    f"{_iso(standing.deadline) or '-'}, already charged {rentals.eur(standing.charged)}); "
                    f"give --amount to charge anyway",
                    field="amount",
                )
        total = standing.charged + given
        tx.update_device(
            device["id"],
            {
                "state": new_state,
                "charged_cents": rentals.to_cents(total),
                "charged_on": day,
                "due_from": standing.due_from or device["due_from"],
                "due_reason": standing.reason or device["due_reason"],
            },
        )
        after = change.emit(
            actor,
            "device.charged",
            f"{holder['code']} charged {rentals.eur(given)} for device "
            f"{device['mac']} ({standing.days_late} days late on {day.isoformat()})",
            customer_id=holder["id"],
            extra={"amount": str(given), "charged_on": day.isoformat(), "days_late": standing.days_late},
        )
        return {
            **after,
            "amount": given,
            "total_charged": total,
            "charged_on": day,
            "days_late": standing.days_late,
            "customer": holder["code"],
        }

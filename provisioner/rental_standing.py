"""Where a rented device stands, for the rental operations (:mod:`provisioner.rental_services`,
:mod:`provisioner.rental_contracts`, :mod:`provisioner.rental_returns`): today's date, a date an
event happened on, the device's holder and state on a day, what it owes, and :func:`_load`, the
one way an operation takes the device it changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from . import rentals
from .changes import DeviceChange
from .db import Tx
from .errors import Conflict, Invalid
from .rental_terms import cost_of, cost_table, default_policy, policy_of
from .rentals import Policy


def _today() -> date:
    return rentals.today()


def _past_date(value: Any, field: str = "on") -> date:
    """A date an event happened on: given or today, never in the future."""
    if value in (None, ""):
        return _today()
    day = rentals.parse_date(value, field)
    if day > _today():
        raise Invalid(f"{field} {day.isoformat()} is in the future: record it on the day it happens", field=field)
    return day


def _holder(tx: Tx, device: Mapping[str, Any]) -> dict[str, Any] | None:
    return tx.customer_by_id(device["customer_id"]) if device["customer_id"] is not None else None


def _state_on(device: Mapping[str, Any], holder: Mapping[str, Any] | None, day: date) -> str:
    """The device's state on ``day``: a terminated contract's rented phones are due back from its end."""
    return rentals.effective_state(
        device["state"], device["ownership"], holder["contract_end"] if holder else None, day
    )


def _standing(
    tx: Tx, device: Mapping[str, Any], customer: Mapping[str, Any] | None, as_of: date, policy: Policy | None = None
) -> rentals.Standing:
    return rentals.standing(
        state=device["state"],
        ownership=device["ownership"],
        contract_end=customer["contract_end"] if customer else None,
        due_from=device["due_from"],
        due_reason=device["due_reason"],
        charged=rentals.from_cents(device["charged_cents"]),
        policy=policy or (policy_of(tx, customer) if customer else default_policy(tx)),
        replacement_cost=cost_of(cost_table(tx), device["vendor"], device["model"]),
        as_of=as_of,
    )


def _rental_only(device: Mapping[str, Any], what: str) -> None:
    if device["ownership"] != rentals.RENTAL:
        raise Conflict(
            f"device {device['mac']} is customer-owned: it takes no part in returns, so it cannot be {what}",
            field="mac",
        )


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


def _load(
    tx: Tx, mac: Any, today: date, field: str = "mac"
) -> tuple[DeviceChange, Mapping[str, Any], dict[str, Any] | None, str]:
    """The device an operation changes: its :class:`DeviceChange` (locked, snapshot taken;
    :class:`NotFound` if unknown), its row, its holder and its state ``today``."""
    change = DeviceChange.of(tx, mac, field, rental=True)
    device = change.device
    assert device is not None
    holder = _holder(tx, device)
    return change, device, holder, _state_on(device, holder, today)

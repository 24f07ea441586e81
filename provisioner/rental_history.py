"""Reading the rentals: a device's history, and the due / overdue / charged reports with what is
owed as of a date (rendered as files by :mod:`provisioner.rental_reports`)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from . import fields, rentals
from .changes import find_customer, find_device, public
from .db import Store
from .rental_standing import _today
from .rental_terms import cost_of, cost_table, default_policy, policy_of
from .rentals import Policy

REPORTS = ("due", "overdue", "charged")


def history(store: Store, mac: Any) -> list[dict[str, Any]]:
    """Every event of the device, oldest first (no secrets: snapshots never hold passwords)."""
    canonical = fields.mac(mac)
    with store.reading() as tx:
        events = tx.events_of_device(canonical)
        if not events:
            find_device(tx, canonical, lock=False)  # NotFound unless the device exists
    return [public(e, "at", "actor", "action", "summary", "before", "after") for e in events]  # type: ignore[misc]


REPORT_COLUMNS = (
    "mac",
    "customer",
    "customer_name",
    "vendor",
    "model",
    "serial",
    "status",
    "reason",
    "contract_end",
    "due_from",
    "deadline",
    "days_late",
    "owed",
    "charged",
    "outstanding",
)


def report(store: Store, kind: str, *, as_of: Any = None, customer: Any = None) -> list[dict[str, Any]]:
    """Rented devices awaiting return (``due``: within the window; ``overdue``: past the deadline,
    not charged) or ``charged``, as of a date (default today), with what is owed to that date."""
    kind = fields.choice(kind, REPORTS, "report")
    day = rentals.parse_date(as_of, "as_of") if as_of not in (None, "") else _today()
    wanted = {"due": rentals.RETURN_DUE, "overdue": rentals.OVERDUE, "charged": rentals.CHARGED}[kind]
    with store.reading() as tx:
        customer_id = find_customer(tx, customer)["id"] if customer else None
        default = default_policy(tx)
        table = cost_table(tx)
        policies: dict[int, Policy] = {}
        rows = []
        for device in tx.rented_out(customer_id):
            policy = policies.get(device["customer_id"])
            if policy is None:
                policy = policies[device["customer_id"]] = policy_of(tx, device, default)
            at = rentals.standing(
                state=device["state"],
                ownership=device["ownership"],
                contract_end=device["contract_end"],
                due_from=device["due_from"],
                due_reason=device["due_reason"],
                charged=rentals.from_cents(device["charged_cents"]),
                policy=policy,
                replacement_cost=cost_of(table, device["vendor"], device["model"]),
                as_of=day,
            )
            if at.status != wanted:
                continue
            outstanding = None if at.owed is None else max(at.owed - at.charged, Decimal("0.00"))
            rows.append(
                {
                    "mac": device["mac"],
                    "customer": device["customer_code"],
                    "customer_name": device["customer_name"],
                    "vendor": device["vendor"],
                    "model": device["model"],
                    "serial": device["serial"],
                    "status": at.status,
                    "reason": at.reason,
                    "contract_end": device["contract_end"],
                    "due_from": at.due_from,
                    "deadline": at.deadline,
                    "days_late": at.days_late,
                    "owed": at.owed,
                    "charged": at.charged,
                    "outstanding": outstanding,
                }
            )
    rows.sort(key=lambda r: (r["customer"], r["deadline"], r["mac"]))
    return rows

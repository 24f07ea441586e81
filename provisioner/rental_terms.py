"""The rented devices' terms: the return policy (provider default, each customer's own) and the
replacement cost of each model. :mod:`provisioner.rental_services` reads them to set deadlines and
charges; the rules themselves (dates, money) are :mod:`provisioner.rentals`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from typing import Any

from . import fields, rentals
from .changes import find_customer
from .db import Store, Tx
from .errors import Invalid
from .rentals import Policy

DEFAULT_COST = ("*", "*")


def default_policy(tx: Tx) -> Policy:
    row = tx.rental_defaults()
    if row is None:
        return Policy()
    return Policy(row["window_days"], row["late_charge"], rentals.from_cents(row["penalty_per_day_cents"]))


def policy_of(tx: Tx, customer: Mapping[str, Any], default: Policy | None = None) -> Policy:
    return rentals.merge_policy(
        default or default_policy(tx),
        customer["return_window_days"],
        customer["late_charge"],
        rentals.from_cents(customer["penalty_per_day_cents"]),
    )


def cost_table(tx: Tx) -> dict[tuple[str, str], Decimal]:
    return {(r["vendor"], r["model"]): rentals.from_cents(r["cost_cents"]) for r in tx.replacement_costs()}  # type: ignore[misc]


def cost_of(costs: Mapping[tuple[str, str], Decimal], vendor: str, model: str) -> Decimal | None:
    return costs.get((vendor, model), costs.get(DEFAULT_COST))


# --- policy and costs ----------------------------------------------------------------


def _terms(window_days: Any, charge: Any, penalty_per_day: Any) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if window_days is not None:
        values["window_days"] = rentals.window_days(window_days)
    if charge is not None:
        values["charge"] = fields.choice(charge, rentals.CHARGE_MODES, "charge")
    if penalty_per_day is not None:
        values["penalty_per_day"] = rentals.parse_amount(penalty_per_day, "penalty_per_day")
    return values


def set_default_policy(
    store: Store, actor: str, *, window_days: Any = None, charge: Any = None, penalty_per_day: Any = None
) -> Policy:
    """Change the provider's default return policy (what customers without terms of their own follow)."""
    terms = _terms(window_days, charge, penalty_per_day)
    with store.transaction() as tx:
        before = default_policy(tx)
        after = Policy(**{**before.as_dict(), "penalty_per_day": before.penalty_per_day, **terms})
        for customer in tx.list_customers():
            try:
                policy_of(tx, customer, after)
            except Invalid as exc:
                raise Invalid(
                    f"customer {customer['code']} would be left with no valid policy: {exc.message}", field=exc.field
                ) from None
        tx.save_rental_defaults(
            {
                "window_days": after.window_days,
                "late_charge": after.charge,
                "penalty_per_day_cents": _cents_or_none(after.penalty_per_day),
            }
        )
        tx.add_event(
            actor=actor,
            action="rentals.policy",
            summary=f"default return policy: {after.describe()}",
            before=before.as_dict(),
            after=after.as_dict(),
        )
        return after


def _cents_or_none(amount: Decimal | None) -> int | None:
    return None if amount is None else rentals.to_cents(amount)


def customer_policy(store: Store, code: str) -> dict[str, Any]:
    with store.reading() as tx:
        return _policy_view(tx, find_customer(tx, code))


def _policy_view(tx: Tx, customer: Mapping[str, Any]) -> dict[str, Any]:
    policy = policy_of(tx, customer)
    own = {
        "window_days": customer["return_window_days"],
        "charge": customer["late_charge"],
        "penalty_per_day": (
            str(rentals.from_cents(customer["penalty_per_day_cents"]))
            if customer["penalty_per_day_cents"] is not None
            else None
        ),
    }
    return {
        "customer": customer["code"],
        **policy.as_dict(),
        "description": policy.describe(),
        "own_terms": {k: v for k, v in own.items() if v is not None},
        "contract_end": customer["contract_end"],
    }


def set_customer_policy(
    store: Store,
    actor: str,
    code: str,
    *,
    window_days: Any = None,
    charge: Any = None,
    penalty_per_day: Any = None,
    reset: bool = False,
) -> dict[str, Any]:
    """Set a customer's own return terms (each one given), or ``reset`` them to the provider default."""
    terms = _terms(window_days, charge, penalty_per_day)
    if reset and terms:
        raise Invalid("give either new terms or --default, not both", field="default")
    if not reset and not terms:
        raise Invalid(
            "nothing to change: give --window-days, --charge or --penalty-per-day (or --default)", field="policy"
        )
    with store.transaction() as tx:
        customer = find_customer(tx, code)
        before = _policy_view(tx, customer)
        if reset:
            values: dict[str, Any] = {"return_window_days": None, "late_charge": None, "penalty_per_day_cents": None}
        else:
            values = {}
            if "window_days" in terms:
                values["return_window_days"] = terms["window_days"]
            if "charge" in terms:
                values["late_charge"] = terms["charge"]
            if "penalty_per_day" in terms:
                values["penalty_per_day_cents"] = rentals.to_cents(terms["penalty_per_day"])
        policy_of(tx, {**customer, **values})  # refuses a policy that does not hold together
        tx.update_customer(customer["id"], values)
        after = _policy_view(tx, tx.customer_by_id(customer["id"]))  # type: ignore[arg-type]
        tx.add_event(
            actor=actor,
            action="customer.policy",
            customer_id=customer["id"],
            summary=f"return policy of {customer['code']}: {after['description']}",
            before=_jsonable(before),
            after=_jsonable(after),
        )
        return after


def _jsonable(view: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (v.isoformat() if isinstance(v, date) else v) for k, v in view.items()}


def _cost_key(model: Any, vendor: Any = None) -> tuple[str, str]:
    name = fields.text(model, "model", max_len=64)
    if name is not None and name.lower() in ("default", "*"):
        return DEFAULT_COST
    return fields.model(name, str(vendor).lower() if vendor else None)


def set_cost(store: Store, actor: str, model: Any, amount: Any, *, vendor: Any = None) -> dict[str, Any]:
    """The replacement cost of a model (``default``: of every model without its own)."""
    key = _cost_key(model, vendor)
    cost = rentals.parse_amount(amount, "cost")
    with store.transaction() as tx:
        before = cost_table(tx).get(key)
        tx.set_replacement_cost(*key, rentals.to_cents(cost))
        label = "default" if key == DEFAULT_COST else f"{key[0]} {key[1]}"
        tx.add_event(
            actor=actor,
            action="rentals.cost",
            summary=f"replacement cost of {label}: {rentals.eur(cost)}",
            before={"cost": str(before)} if before is not None else None,
            after={"cost": str(cost)},
        )
    return {"vendor": key[0], "model": key[1], "cost": cost}


def costs(store: Store) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return [{"vendor": v, "model": m, "cost": c} for (v, m), c in sorted(cost_table(tx).items())]

"""The rented-device lifecycle: states, transitions, dates and money. No I/O.

A provider-owned (``ownership=rental``) phone moves through these stored states::

    in_stock --assign/swap in--> deployed --unassign/swap out--> return_due --return--> returned
        ^                           |                                |                     |
        |                           '--(contract end passes)-->------'                     |
        '------------------------------- ok <-----------------------------------------------'
                                                         faulty --> retired
    return_due --charge--> charged --return--> returned ...

``returned`` is the moment of taking the phone back: the same command puts it
``in_stock`` (condition ok) or ``retired`` (faulty), both transitions recorded.

Two states are derived, never stored, so they cannot go stale:

- a ``deployed`` device of a customer whose contract has ended (its
  ``contract_end`` is today or earlier, in the provider's time zone) *is*
  ``return_due``, due from the contract end. So a termination dated in the future
  takes effect by itself when the day comes.
- a ``return_due`` device past its deadline is ``overdue``.

Dates people reason about are calendar dates in the provider's time zone
(Europe/Rome). The deadline is the date the return became due plus the return
window in calendar days; the deadline itself is the last day to return, overdue
starts the day after. Money is :class:`~decimal.Decimal` euros with two places;
the store keeps integer cents.

Customer-owned devices (``ownership=owned``) take no part in returns: they are
provisioned, their lines move, and the contract end stops their lines too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from .errors import Conflict, Invalid

PROVIDER_TZ = "Europe/Rome"
PROVIDER_ZONE = ZoneInfo(PROVIDER_TZ)

IN_STOCK = "in_stock"
DEPLOYED = "deployed"
RETURN_DUE = "return_due"
RETURNED = "returned"
RETIRED = "retired"
CHARGED = "charged"
OVERDUE = "overdue"  # derived only

STATES = (IN_STOCK, DEPLOYED, RETURN_DUE, RETURNED, RETIRED, CHARGED)
RENTAL = "rental"
OWNED = "owned"

REPLACEMENT = "replacement"
PENALTY = "penalty"
BOTH = "both"
CHARGE_MODES = (REPLACEMENT, PENALTY, BOTH)
CONDITIONS = ("ok", "faulty")

# Why a device must come back: the date it became due is that of the reason.
CONTRACT_END = "contract_end"
SWAP = "swap"
UNASSIGN = "unassign"

DEFAULT_WINDOW_DAYS = 60
MAX_WINDOW_DAYS = 3650
MAX_AMOUNT = Decimal("100000.00")
CENT = Decimal("0.01")

# action -> {from state: to state}
TRANSITIONS: dict[str, dict[str, str]] = {
    "assign": {IN_STOCK: DEPLOYED, DEPLOYED: DEPLOYED, RETURN_DUE: DEPLOYED},
    "unassign": {DEPLOYED: RETURN_DUE},
    "swap_out": {DEPLOYED: RETURN_DUE},
    "swap_in": {IN_STOCK: DEPLOYED},
    "contract_end": {DEPLOYED: RETURN_DUE},
    "return": {RETURN_DUE: RETURNED, CHARGED: RETURNED},
    "restock": {RETURNED: IN_STOCK},
    "retire": {RETURNED: RETIRED},
    "charge": {RETURN_DUE: CHARGED, CHARGED: CHARGED},
}

_HINTS: dict[tuple[str, str], str] = {
    ("return", IN_STOCK): "it was never deployed: there is nothing to return",
    ("return", DEPLOYED): "it is still deployed: unassign it or terminate the contract first",
    ("return", RETIRED): "it is retired",
    ("charge", IN_STOCK): "it is in stock: nobody owes it",
    ("charge", DEPLOYED): "it is still deployed: nothing is owed until its return is due",
    ("charge", RETIRED): "it is retired",
    ("swap_out", RETURN_DUE): "it is already swapped out or its contract ended",
    ("swap_out", IN_STOCK): "it is in stock: assign it instead",
    ("swap_in", DEPLOYED): "it is already deployed; a replacement must come from stock",
    ("swap_in", RETURN_DUE): "it is awaiting return; a replacement must come from stock",
    ("swap_in", RETIRED): "it is retired",
    ("unassign", RETURN_DUE): "it is already awaiting return",
    ("unassign", IN_STOCK): "it is in stock",
    ("assign", RETIRED): "it is retired",
    ("assign", CHARGED): "it was charged to its customer; record its return first",
}


def transition(state: str, action: str, what: str) -> str:
    """The state after ``action`` from ``state``, or :class:`Conflict` naming why not."""
    allowed = TRANSITIONS[action]
    if state not in allowed:
        hint = _HINTS.get((action, state))
        verb = action.replace("_", " ")
        raise Conflict(
            f"cannot {verb} {what}: it is {state}"
            + (f" ({hint})" if hint else "")
            + f"; {verb} needs a device that is {' or '.join(sorted(allowed))}",
            field="state",
        )
    return allowed[state]


# --- dates ---------------------------------------------------------------------------


def now() -> datetime:
    """The current instant (UTC). The one clock the lifecycle reads; tests replace it."""
    return datetime.now(UTC)


def today(at: datetime | None = None, zone: ZoneInfo = PROVIDER_ZONE) -> date:
    """The calendar date in the provider's time zone at ``at`` (default: now)."""
    return (at or now()).astimezone(zone).date()


def start_of_day(day: date, zone: ZoneInfo = PROVIDER_ZONE) -> datetime:
    """The UTC instant at which ``day`` begins in ``zone`` (midnight exists in Europe/Rome)."""
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def parse_date(value: Any, field: str = "on") -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value or "").strip()
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise Invalid(f"{field} {value!r} is not a date (use YYYY-MM-DD, e.g. 2026-01-31)", field=field) from None


def deadline(due_from: date, window_days: int) -> date:
    """The last day to return: the day the return became due plus the window, in calendar days."""
    return due_from + timedelta(days=window_days)


def days_late(deadline_: date, as_of: date) -> int:
    return max(0, (as_of - deadline_).days)


def is_overdue(deadline_: date, as_of: date) -> bool:
    return as_of > deadline_


def overdue_from(deadline_: date, zone: ZoneInfo = PROVIDER_ZONE) -> datetime:
    """The instant a device becomes overdue: the start of the day after its deadline."""
    return start_of_day(deadline_ + timedelta(days=1), zone)


def contract_ended(contract_end: date | None, on: date) -> bool:
    """A contract ending on D stops its lines from D on."""
    return contract_end is not None and contract_end <= on


def service_ends_at(contract_end: date | None, zone: ZoneInfo = PROVIDER_ZONE) -> datetime | None:
    """The instant a customer's phones stop getting credentials: the start of the end date."""
    return start_of_day(contract_end, zone) if contract_end is not None else None


# --- money ---------------------------------------------------------------------------


def parse_amount(value: Any, field: str = "amount") -> Decimal:
    """Euros from ``10``, ``"10.5"``, ``"10,50"``: two places at most, not negative."""
    if isinstance(value, bool) or value is None or (isinstance(value, str) and not value.strip()):
        raise Invalid(f"{field} is required (euros, e.g. 89.90)", field=field)
    text = str(value).strip().removesuffix("EUR").removesuffix("€").strip()
    if re.fullmatch(r"\d+,\d{1,2}", text):
        text = text.replace(",", ".")
    try:
        if not re.fullmatch(r"\d+(\.\d+)?", text):
            raise InvalidOperation
        amount = Decimal(text)
    except InvalidOperation:
        raise Invalid(f"{field} {value!r} is not an amount in euros (e.g. 89.90)", field=field) from None
    if amount != amount.quantize(CENT):
        raise Invalid(f"{field} {value!r} has more than two decimal places", field=field)
    if amount > MAX_AMOUNT:
        raise Invalid(f"{field} {value!r} is more than {MAX_AMOUNT} EUR", field=field)
    return amount.quantize(CENT)


def to_cents(amount: Decimal) -> int:
    return int((amount.quantize(CENT, ROUND_HALF_UP) * 100).to_integral_value())


def from_cents(cents: int | None) -> Decimal | None:
    return None if cents is None else (Decimal(cents) / 100).quantize(CENT)


def eur(amount: Decimal | None) -> str:
    return "unknown" if amount is None else f"{amount.quantize(CENT)} EUR"


# --- policy --------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """What a contract says about returns: the window and what a late return costs."""

    window_days: int = DEFAULT_WINDOW_DAYS
    charge: str = REPLACEMENT  # replacement | penalty | both
    penalty_per_day: Decimal | None = None

    def __post_init__(self) -> None:
        check_policy(self.window_days, self.charge, self.penalty_per_day)

    def owed(self, days_late_: int, replacement_cost: Decimal | None, *, returned: bool = False) -> Decimal | None:
        """What is owed after ``days_late_`` days past the deadline; None when a needed cost is unknown.

        The replacement cost is owed by a device not returned in time; the penalty accrues per day
        of delay, also for a device returned late.
        """
        if days_late_ <= 0:
            return Decimal("0.00")
        total = Decimal("0.00")
        if self.charge in (PENALTY, BOTH):
            assert self.penalty_per_day is not None
            total += self.penalty_per_day * days_late_
        if self.charge in (REPLACEMENT, BOTH) and not returned:
            if replacement_cost is None:
                return None
            total += replacement_cost
        return total.quantize(CENT)

    def describe(self) -> str:
        late = {
            REPLACEMENT: "the replacement cost",
            PENALTY: f"{eur(self.penalty_per_day)} per day late",
            BOTH: f"the replacement cost plus {eur(self.penalty_per_day)} per day late",
        }[self.charge]
        return f"return within {self.window_days} days, then {late}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "charge": self.charge,
            "penalty_per_day": None if self.penalty_per_day is None else str(self.penalty_per_day),
        }


def check_policy(window_days: Any, charge: Any, penalty_per_day: Decimal | None) -> None:
    if isinstance(window_days, bool) or not isinstance(window_days, int) or not 0 <= window_days <= MAX_WINDOW_DAYS:
        raise Invalid(
            f"window_days {window_days!r} must be a whole number of days from 0 to {MAX_WINDOW_DAYS}",
            field="window_days",
        )
    if charge not in CHARGE_MODES:
        raise Invalid(f"charge {charge!r} must be one of: {', '.join(CHARGE_MODES)}", field="charge")
    if charge in (PENALTY, BOTH) and not penalty_per_day:
        raise Invalid(f"charge {charge!r} needs a penalty per day (e.g. --penalty-per-day 10)", field="penalty_per_day")


def window_days(value: Any, field: str = "window_days") -> int:
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise Invalid(f"{field} {value!r} is not a whole number of days", field=field) from None
    if not 0 <= number <= MAX_WINDOW_DAYS:
        raise Invalid(f"{field} {number} must be from 0 to {MAX_WINDOW_DAYS}", field=field)
    return number


def merge_policy(
    default: Policy, window_days_: int | None, charge: str | None, penalty_per_day: Decimal | None
) -> Policy:
    """A customer's policy: each of its own terms, else the provider default's."""
    return Policy(
        window_days=default.window_days if window_days_ is None else window_days_,
        charge=charge or default.charge,
        penalty_per_day=default.penalty_per_day if penalty_per_day is None else penalty_per_day,
    )


# --- one device, as of a date ----------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """Where a rented device stands on ``as_of``: what the reports list."""

    state: str  # effective stored-kind state (a deployed device past its contract end is return_due)
    status: str  # state, or "overdue"
    due_from: date | None  # the day its return became due
    reason: str | None  # contract_end | swap | unassign
    deadline: date | None
    days_late: int
    owed: Decimal | None  # under the policy, to date; None when the replacement cost is unknown
    charged: Decimal  # already billed


def effective_state(state: str, ownership: str, contract_end: date | None, as_of: date) -> str:
    if ownership == RENTAL and state == DEPLOYED and contract_ended(contract_end, as_of):
        return RETURN_DUE
    return state


def standing(
    *,
    state: str,
    ownership: str,
    contract_end: date | None,
    due_from: date | None,
    due_reason: str | None,
    charged: Decimal | None,
    policy: Policy,
    replacement_cost: Decimal | None,
    as_of: date,
) -> Standing:
    """The effective state, deadline, days late and amount owed of one device on ``as_of``."""
    current = effective_state(state, ownership, contract_end, as_of)
    charged = charged or Decimal("0.00")
    if ownership != RENTAL or current not in (RETURN_DUE, CHARGED):
        return Standing(current, current, None, None, None, 0, Decimal("0.00"), charged)
    if state == DEPLOYED:  # derived from the contract end
        due_from, due_reason = contract_end, CONTRACT_END
    if due_from is None or due_from > as_of:
        # Not due yet on that date (a report as of a day before the return became due).
        return Standing(DEPLOYED, DEPLOYED, None, None, None, 0, Decimal("0.00"), charged)
    last_day = deadline(due_from, policy.window_days)
    late = days_late(last_day, as_of)
    status = OVERDUE if current == RETURN_DUE and late > 0 else current
    return Standing(current, status, due_from, due_reason, last_day, late, policy.owed(late, replacement_cost), charged)

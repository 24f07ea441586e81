"""The rental rules on their own: dates in Europe/Rome, deadlines, money, the state machine."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from provisioner import rentals
from provisioner.errors import Conflict, Invalid
from provisioner.rentals import Policy


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@pytest.mark.parametrize(
    "ended,window,expected",
    [
        (date(2026, 1, 31), 60, date(2026, 4, 1)),  # February 2026 has 28 days
        (date(2028, 1, 31), 60, date(2028, 3, 31)),  # leap year: 29 February counts
        (date(2026, 3, 29), 60, date(2026, 5, 28)),  # across the daylight-saving change: still calendar days
        (date(2026, 10, 25), 60, date(2026, 12, 24)),  # and across its end
        (date(2026, 12, 15), 30, date(2027, 1, 14)),
        (date(2026, 1, 31), 0, date(2026, 1, 31)),
    ],
)
def test_deadline_is_the_end_date_plus_the_window_in_calendar_days(ended, window, expected):
    assert rentals.deadline(ended, window) == expected


def test_last_day_is_not_overdue_the_next_day_is():
    last = rentals.deadline(date(2026, 1, 31), 60)
    assert last == date(2026, 4, 1)
    assert not rentals.is_overdue(last, date(2026, 4, 1)) and rentals.days_late(last, date(2026, 4, 1)) == 0
    assert rentals.is_overdue(last, date(2026, 4, 2)) and rentals.days_late(last, date(2026, 4, 2)) == 1
    assert rentals.days_late(last, date(2026, 3, 1)) == 0


def test_daylight_saving_change_moves_the_instants_not_the_dates():
    # Europe/Rome goes from CET (+1) to CEST (+2) at 02:00 on 29 March 2026.
    end = date(2026, 3, 29)
    assert rentals.service_ends_at(end) == utc(2026, 3, 28, 23, 0)  # midnight CET
    last = rentals.deadline(end, 60)
    assert last == date(2026, 5, 28)
    assert rentals.overdue_from(last) == utc(2026, 5, 28, 22, 0)  # midnight CEST of 29 May
    assert rentals.today(utc(2026, 5, 28, 21, 59, 59)) == last  # still the last day in Rome
    assert rentals.today(utc(2026, 5, 28, 22, 0)) == date(2026, 5, 29)  # already overdue in Rome
    assert rentals.today(utc(2026, 3, 28, 23, 30)) == end  # the contract has ended in Rome, not in UTC
    assert rentals.contract_ended(end, rentals.today(utc(2026, 3, 28, 23, 30)))
    assert not rentals.contract_ended(end, rentals.today(utc(2026, 3, 28, 22, 59)))


def test_contract_end_stops_lines_from_that_day():
    assert rentals.contract_ended(date(2026, 1, 31), date(2026, 1, 31))
    assert not rentals.contract_ended(date(2026, 1, 31), date(2026, 1, 30))
    assert not rentals.contract_ended(None, date(2026, 1, 31))
    assert rentals.service_ends_at(None) is None
    assert rentals.service_ends_at(date(2026, 7, 1)) == utc(2026, 6, 30, 22, 0)  # summer: +2


def test_thirty_days_then_ten_euros_per_day_is_100_at_ten_days_late():
    policy = Policy(window_days=30, charge="penalty", penalty_per_day=Decimal("10"))
    at = rentals.standing(
        state="deployed",
        ownership="rental",
        contract_end=date(2026, 1, 31),
        due_from=None,
        due_reason=None,
        charged=None,
        policy=policy,
        replacement_cost=Decimal("120.00"),
        as_of=date(2026, 3, 12),
    )
    assert (at.state, at.status, at.reason) == ("return_due", "overdue", "contract_end")
    assert at.deadline == date(2026, 3, 2)
    assert at.days_late == 10
    assert at.owed == Decimal("100.00") and str(at.owed) == "100.00"


@pytest.mark.parametrize(
    "charge,late,cost,expected",
    [
        ("replacement", 0, Decimal("89.90"), Decimal("0.00")),
        ("replacement", 1, Decimal("89.90"), Decimal("89.90")),
        ("replacement", 40, Decimal("89.90"), Decimal("89.90")),
        ("replacement", 3, None, None),  # the cost is unknown: the report says so instead of 0
        ("penalty", 3, None, Decimal("22.50")),
        ("both", 2, Decimal("89.90"), Decimal("104.90")),
    ],
)
def test_amount_owed_under_each_charge_mode(charge, late, cost, expected):
    policy = Policy(30, charge, Decimal("7.50") if charge != "replacement" else None)
    assert policy.owed(late, cost) == expected


def test_a_returned_device_owes_only_the_penalty():
    assert Policy(30, "both", Decimal("10")).owed(4, Decimal("90"), returned=True) == Decimal("40.00")
    assert Policy().owed(4, Decimal("90"), returned=True) == Decimal("0.00")


def test_policy_defaults_and_validation():
    assert Policy() == Policy(60, "replacement", None)
    assert Policy().describe() == "return within 60 days, then the replacement cost"
    with pytest.raises(Invalid, match="needs a penalty per day"):
        Policy(30, "penalty")
    with pytest.raises(Invalid, match="must be one of"):
        Policy(30, "fine", Decimal("1"))
    with pytest.raises(Invalid, match="whole number of days"):
        Policy(-1)
    merged = rentals.merge_policy(Policy(60, "replacement", Decimal("5")), 30, "penalty", None)
    assert merged == Policy(30, "penalty", Decimal("5"))


@pytest.mark.parametrize(
    "text,expected",
    [
        ("10", Decimal("10.00")),
        ("89.9", Decimal("89.90")),
        ("89,90", Decimal("89.90")),
        ("12.50 EUR", Decimal("12.50")),
        (7, Decimal("7.00")),
        ("0", Decimal("0.00")),
    ],
)
def test_amounts_in_euros(text, expected):
    assert rentals.parse_amount(text) == expected


@pytest.mark.parametrize(
    "text,message",
    [
        ("-5", "not an amount"),
        ("ten", "not an amount"),
        ("1.234", "more than two decimal places"),
        ("NaN", "not an amount"),
        ("1e3", "not an amount"),
        ("", "required"),
        ("999999", "more than"),
    ],
)
def test_bad_amounts_are_named(text, message):
    with pytest.raises(Invalid, match=message):
        rentals.parse_amount(text, "amount")


def test_cents_round_trip():
    assert rentals.to_cents(Decimal("89.90")) == 8990
    assert rentals.from_cents(8990) == Decimal("89.90")
    assert rentals.from_cents(None) is None


def test_dates_must_be_iso():
    assert rentals.parse_date("2026-01-31") == date(2026, 1, 31)
    for bad in ("31/01/2026", "2026-02-30", "tomorrow", "", None):
        with pytest.raises(Invalid, match="is not a date"):
            rentals.parse_date(bad)


@pytest.mark.parametrize(
    "state,action,expected",
    [
        ("in_stock", "assign", "deployed"),
        ("deployed", "unassign", "return_due"),
        ("deployed", "swap_out", "return_due"),
        ("in_stock", "swap_in", "deployed"),
        ("deployed", "contract_end", "return_due"),
        ("return_due", "return", "returned"),
        ("charged", "return", "returned"),
        ("returned", "restock", "in_stock"),
        ("returned", "retire", "retired"),
        ("return_due", "charge", "charged"),
    ],
)
def test_valid_transitions(state, action, expected):
    assert rentals.transition(state, action, "001565000001") == expected


@pytest.mark.parametrize(
    "state,action,message",
    [
        ("in_stock", "return", "never deployed"),
        ("deployed", "return", "still deployed"),
        ("retired", "return", "retired"),
        ("deployed", "charge", "nothing is owed"),
        ("in_stock", "charge", "nobody owes it"),
        ("deployed", "swap_in", "must come from stock"),
        ("return_due", "swap_out", "already swapped out"),
        ("retired", "assign", "retired"),
        ("in_stock", "unassign", "in stock"),
    ],
)
def test_invalid_transitions_say_why(state, action, message):
    with pytest.raises(Conflict, match=message) as err:
        rentals.transition(state, action, "001565000001")
    assert "001565000001" in err.value.message and err.value.field == "state"


def test_effective_state_is_derived_from_the_contract_end():
    end = date(2026, 1, 31)
    assert rentals.effective_state("deployed", "rental", end, date(2026, 1, 30)) == "deployed"
    assert rentals.effective_state("deployed", "rental", end, date(2026, 1, 31)) == "return_due"
    assert rentals.effective_state("deployed", "owned", end, date(2026, 2, 15)) == "deployed"
    assert rentals.effective_state("in_stock", "rental", end, date(2026, 2, 15)) == "in_stock"


def test_standing_before_the_return_is_due_is_deployed():
    common = dict(ownership="rental", charged=None, policy=Policy(), replacement_cost=Decimal("50"))
    swapped = rentals.standing(
        state="return_due",
        contract_end=None,
        due_from=date(2026, 2, 10),
        due_reason="swap",
        as_of=date(2026, 2, 1),
        **common,
    )
    assert swapped.status == "deployed" and swapped.deadline is None
    due = rentals.standing(
        state="return_due",
        contract_end=None,
        due_from=date(2026, 2, 10),
        due_reason="swap",
        as_of=date(2026, 4, 11),
        **common,
    )
    assert (due.status, due.deadline, due.days_late, due.owed) == ("return_due", date(2026, 4, 11), 0, Decimal("0.00"))
    late = rentals.standing(
        state="return_due",
        contract_end=None,
        due_from=date(2026, 2, 10),
        due_reason="swap",
        as_of=date(2026, 4, 12),
        **common,
    )
    assert (late.status, late.days_late, late.owed) == ("overdue", 1, Decimal("50.00"))
    charged = rentals.standing(
        state="charged",
        contract_end=None,
        due_from=date(2026, 2, 10),
        due_reason="swap",
        as_of=date(2026, 5, 1),
        **{**common, "charged": Decimal("50.00")},
    )
    assert (charged.status, charged.charged) == ("charged", Decimal("50.00"))
    owned = rentals.standing(
        state="deployed",
        contract_end=date(2026, 1, 1),
        due_from=None,
        due_reason=None,
        as_of=date(2026, 5, 1),
        **{**common, "ownership": "owned"},
    )
    assert owned.status == "deployed" and owned.owed == Decimal("0.00")

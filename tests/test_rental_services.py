"""The rental lifecycle on a real store: each operation validated, atomic, audited; bad ones change nothing."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from provisioner import render_data, rentals, services
from provisioner import rental_services as rs
from provisioner import rental_terms as rt
from provisioner.db import Store
from provisioner.errors import Conflict, Invalid, NotFound

from .conftest import ACTOR, add_customer, add_line

OLD = "001565AA0001"
NEW = "001565AA0002"
SPARE = "001565AA0003"
PASSWORD = "Secr3t-Line&201"


class Clock:
    """What rentals.now() answers; tests move it."""

    def __init__(self, at: datetime):
        self.at = at

    def set(self, *args: int) -> None:
        self.at = datetime(*args, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(datetime(2026, 6, 15, 8, 0, tzinfo=UTC))
    monkeypatch.setattr(rentals, "now", c)
    return c


def rossi(
    store: Store,
    code: str = "ROSSI",
    exts: tuple[str, ...] = ("201", "202"),
    mac: str | None = OLD,
    model: str = "T46U",
    **device: Any,
) -> None:
    add_customer(store, code)
    for i, ext in enumerate(exts):
        add_line(store, code, ext, f"Desk {ext}", PASSWORD if i == 0 else f"pw-{code}-{ext}")
    if mac:
        services.add_device(store, ACTOR, mac, model=model, customer=code, lines=list(exts), **device)


def dump(store: Store) -> dict[str, list]:
    """Every row of every table: to show a refused operation changed nothing."""
    with store.reading() as tx:
        return {
            table: tx.conn.exec_driver_sql(f"SELECT * FROM {table} ORDER BY 1").fetchall()
            for table in (
                "customers",
                "lines",
                "devices",
                "device_lines",
                "events",
                "rental_defaults",
                "replacement_costs",
            )
        }


def device(store: Store, mac: str) -> dict[str, Any]:
    with store.reading() as tx:
        row = tx.device(mac)
        assert row is not None
        return {**row, "lines": [r["extension"] for r in tx.device_lines(row["id"])]}


def data(store: Store, mac: str):
    with store.reading() as tx:
        return render_data.device_data(tx, mac, ntp_server="pool.ntp.org")


def events(store: Store, mac: str) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return tx.events_of_device(mac)


# --- contract end ---------------------------------------------------------------------


def test_terminate_today_stops_the_lines_and_makes_rented_devices_due(store, clock):
    rossi(store)
    services.add_device(store, ACTOR, "001565BB0001", model="T46U", customer="ROSSI", ownership="owned")
    assert data(store, OLD).accounts and not data(store, OLD).deprovisioned

    result = rs.terminate(store, ACTOR, "ROSSI", "2026-06-15")
    assert result["effective"] is True
    assert {(d["mac"], d["deadline"]) for d in result["devices"]} == {(OLD, date(2026, 8, 14)), ("001565BB0001", None)}
    for mac in (OLD, "001565BB0001"):
        rendered = data(store, mac)
        assert rendered.deprovisioned and rendered.accounts == () and rendered.valid_until is None
    # The stored state is untouched; the effective one is derived, and reports see it.
    assert device(store, OLD)["state"] == "deployed" and device(store, OLD)["lines"] == ["201", "202"]
    due = rs.report(store, "due")
    assert [(r["mac"], r["reason"], r["due_from"], r["deadline"]) for r in due] == [
        (OLD, "contract_end", date(2026, 6, 15), date(2026, 8, 14))
    ]
    # Each device's history says so, and the customer event carries the deadlines; no password anywhere.
    (ended,) = [e for e in events(store, OLD) if e["action"] == "device.contract_ended"]
    assert ended["customer_id"] is not None and "return due by 2026-08-14" in ended["summary"]
    assert PASSWORD not in str(dump(store)["events"])


def test_a_future_termination_takes_effect_by_itself_and_can_be_cancelled_before(store, clock):
    rossi(store)
    rs.terminate(store, ACTOR, "ROSSI", "2026-07-01")
    before = data(store, OLD)
    assert not before.deprovisioned and before.accounts
    assert before.valid_until == datetime(2026, 6, 30, 22, 0, tzinfo=UTC)  # midnight in Rome, summer time
    assert rs.report(store, "due") == []
    assert [r["mac"] for r in rs.report(store, "due", as_of="2026-07-01")] == [OLD]

    clock.set(2026, 6, 30, 21, 59)
    assert not data(store, OLD).deprovisioned
    clock.set(2026, 6, 30, 22, 0)
    assert data(store, OLD).deprovisioned

    clock.set(2026, 6, 20, 12, 0)
    rs.terminate(store, ACTOR, "ROSSI", "2026-07-31")  # moved while not reached yet
    cancelled = rs.cancel_termination(store, ACTOR, "ROSSI")
    assert cancelled["cancelled"] == date(2026, 7, 31) and cancelled["devices"] == [OLD]
    clock.set(2026, 8, 1, 12, 0)
    assert not data(store, OLD).deprovisioned and data(store, OLD).valid_until is None
    assert [e["action"] for e in events(store, OLD)][-3:] == [
        "device.contract_ended",
        "device.contract_ended",
        "device.contract_end_cancelled",
    ]


def test_an_ended_contract_cannot_be_cancelled_or_moved(store, clock):
    rossi(store)
    with pytest.raises(Conflict, match="no termination to cancel"):
        rs.cancel_termination(store, ACTOR, "ROSSI")
    rs.terminate(store, ACTOR, "ROSSI", "2026-06-01")
    snapshot = dump(store)
    with pytest.raises(Conflict, match="ended on 2026-06-01: a termination can only be cancelled before"):
        rs.cancel_termination(store, ACTOR, "ROSSI")
    with pytest.raises(Conflict, match="already ended on 2026-06-01"):
        rs.terminate(store, ACTOR, "ROSSI", "2026-09-01")
    with pytest.raises(NotFound, match="no customer 'NOBODY'"):
        rs.terminate(store, ACTOR, "NOBODY", "2026-09-01")
    with pytest.raises(Invalid, match="is not a date"):
        rs.terminate(store, ACTOR, "ROSSI", "01/09/2026")
    with pytest.raises(Conflict, match="ended on 2026-06-01: it cannot take devices") as caught:
        services.add_device(store, ACTOR, "001565FFEE01", model="T46U", customer="ROSSI", lines=["201"])
    assert caught.value.field == "customer"
    assert dump(store) == snapshot


# --- swap --------------------------------------------------------------------------------


def test_swap_moves_every_line_in_order_to_a_new_device(store, clock):
    rossi(store, exts=("203", "201", "202"))
    services.set_device_settings(store, ACTOR, OLD, {"features.dnd.enable": "1"})
    result = rs.swap(store, ACTOR, "00:15:65:aa:00:01", "00-15-65-AA-00-02", serial="SN-NEW")
    assert result["created"] and result["return_deadline"] == date(2026, 8, 14)
    new, old = device(store, NEW), device(store, OLD)
    assert (new["state"], new["model"], new["serial"], new["lines"]) == (
        "deployed",
        "T46U",
        "SN-NEW",
        ["203", "201", "202"],
    )
    assert new["customer_id"] == old["customer_id"] and new["settings"] == {"features.dnd.enable": "1"}
    assert (old["state"], old["lines"], old["due_from"], old["due_reason"]) == (
        "return_due",
        [],
        date(2026, 6, 15),
        "swap",
    )
    assert [a.extension for a in data(store, NEW).accounts] == ["203", "201", "202"]
    assert data(store, OLD).deprovisioned
    swapped = events(store, OLD)[-1]
    assert swapped["action"] == "device.swapped" and swapped["customer_id"] == new["customer_id"]
    assert swapped["before"]["lines"] == ["203", "201", "202"] and swapped["after"]["replaced_by"] == NEW
    assert events(store, NEW)[-1]["action"] == "device.swapped_in"
    assert PASSWORD not in str(dump(store)["events"])


def test_swap_to_a_stock_device_of_another_vendor(store, clock):
    rossi(store)
    services.add_device(store, ACTOR, "000413AA0002", model="D785", serial="SNOM-1")
    result = rs.swap(store, ACTOR, OLD, "000413AA0002", on="2026-06-01")
    assert not result["created"] and result["return_deadline"] == date(2026, 7, 31)
    assert device(store, "000413AA0002")["lines"] == ["201", "202"]
    assert data(store, "000413AA0002").vendor == "snom"


@pytest.mark.parametrize(
    "setup,args,error,message",
    [
        (None, (OLD, OLD), Invalid, "the same MAC"),
        (None, ("001565FFFFFF", NEW), NotFound, "no device with MAC 001565FFFFFF"),
        (None, ("not-a-mac", NEW), Invalid, "not a MAC address"),
        ("deployed_new", (OLD, NEW), Conflict, "must come from stock"),
        ("swapped", (OLD, SPARE), Conflict, "already swapped out"),
        ("small_new", (OLD, NEW), Invalid, "T31P has 2 SIP accounts; 3 lines given"),
        ("stock_old", (SPARE, NEW), Conflict, "in stock"),
        ("ended", (OLD, NEW), Conflict, "contract ended"),
    ],
)
def test_bad_swaps_say_why_and_change_nothing(store, clock, setup, args, error, message):
    rossi(store)
    if setup == "deployed_new":
        add_line(store, "ROSSI", "299", "Other", "pw")
        services.add_device(store, ACTOR, NEW, model="T46U", customer="ROSSI", lines=["299"])
    elif setup == "swapped":
        rs.swap(store, ACTOR, OLD, NEW)
    elif setup == "small_new":
        add_line(store, "ROSSI", "203", "Third", "pw")
        rs.assign(store, ACTOR, OLD, "ROSSI", ["201", "202", "203"])
        services.add_device(store, ACTOR, NEW, model="T31P")  # two accounts
    elif setup == "stock_old":
        services.add_device(store, ACTOR, SPARE, model="T46U")
    elif setup == "ended":
        rs.terminate(store, ACTOR, "ROSSI", "2026-06-01")
    snapshot = dump(store)
    with pytest.raises(error, match=message):
        rs.swap(store, ACTOR, *args)
    assert dump(store) == snapshot


def test_concurrent_swaps_of_one_device_cannot_both_succeed(store, data_dir, clock):
    rossi(store)
    services.add_device(store, ACTOR, SPARE, model="T46U")
    stores = [Store.open(data_dir), Store.open(data_dir)]  # two "processes": no shared lock between them
    barrier = threading.Barrier(2)
    outcomes: list[Any] = [None, None]

    def run(i: int, new_mac: str) -> None:
        barrier.wait()
        try:
            outcomes[i] = rs.swap(stores[i], f"support-{i}", OLD, new_mac)
        except Conflict as exc:
            outcomes[i] = exc

    threads = [threading.Thread(target=run, args=(0, NEW)), threading.Thread(target=run, args=(1, SPARE))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    for s in stores:
        s.close()
    won = [o for o in outcomes if isinstance(o, dict)]
    lost = [o for o in outcomes if isinstance(o, Conflict)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert "already swapped out" in lost[0].message
    winner = won[0]["new"]["mac"]
    loser = SPARE if winner == NEW else NEW
    assert device(store, winner)["lines"] == ["201", "202"] and device(store, OLD)["lines"] == []
    with store.reading() as tx:
        loser_row = tx.device(loser)
    assert loser_row is None or (loser_row["state"], loser_row["customer_id"]) == ("in_stock", None)
    assert [e["action"] for e in events(store, OLD)].count("device.swapped") == 1


# --- assign, unassign ----------------------------------------------------------------------


def test_assign_reassign_and_unassign(store, clock):
    rossi(store, mac=None, exts=("201", "202", "203"))
    services.add_device(store, ACTOR, NEW, model="T46U")
    assert rs.assign(store, ACTOR, NEW, "ROSSI", ["202", "201"])["lines"] == ["202", "201"]
    assert rs.assign(store, ACTOR, NEW, "ROSSI", ["203"])["lines"] == ["203"]  # lines replaced in place
    assert [a.extension for a in data(store, NEW).accounts] == ["203"]
    result = rs.unassign(store, ACTOR, NEW, on="2026-06-10")
    assert (result["state"], result["lines"], result["return_deadline"]) == ("return_due", [], date(2026, 8, 9))
    assert data(store, NEW).deprovisioned
    # Back to the same customer before it came back: allowed; to another: not before its return.
    add_customer(store, "BIANCHI")
    snapshot = dump(store)
    with pytest.raises(Conflict, match="with customer ROSSI: record its return"):
        rs.assign(store, ACTOR, NEW, "BIANCHI")
    assert dump(store) == snapshot
    assert rs.assign(store, ACTOR, NEW, "ROSSI", ["201"])["state"] == "deployed"
    assert [e["action"] for e in events(store, NEW)] == [
        "device.created",
        "device.assigned",
        "device.assigned",
        "device.unassigned",
        "device.assigned",
    ]


def test_bad_assignments_change_nothing(store, clock):
    rossi(store)
    services.add_device(store, ACTOR, NEW, model="T46U")
    add_customer(store, "ENDED")
    rs.terminate(store, ACTOR, "ENDED", "2026-06-01")
    snapshot = dump(store)
    with pytest.raises(Conflict, match="already on device 001565AA0001"):
        rs.assign(store, ACTOR, NEW, "ROSSI", ["201"])
    with pytest.raises(NotFound, match="has no extension '299'"):
        rs.assign(store, ACTOR, NEW, "ROSSI", ["299"])
    with pytest.raises(Conflict, match="contract of ENDED ended on 2026-06-01"):
        rs.assign(store, ACTOR, NEW, "ENDED")
    with pytest.raises(NotFound, match="no customer"):
        rs.assign(store, ACTOR, NEW, "NOBODY")
    with pytest.raises(NotFound, match="no device"):
        rs.assign(store, ACTOR, "001565FFFFFF", "ROSSI")
    with pytest.raises(Conflict, match="not assigned to anyone"):
        rs.unassign(store, ACTOR, NEW)
    with pytest.raises(Invalid, match="in the future"):
        rs.unassign(store, ACTOR, OLD, on="2026-06-16")
    assert dump(store) == snapshot


# --- returns and charges ---------------------------------------------------------------------


def test_invalid_returns_say_why_and_change_nothing(store, clock):
    rossi(store)
    services.add_device(store, ACTOR, NEW, model="T46U")
    services.add_device(store, ACTOR, "001565BB0001", model="T46U", ownership="owned", customer="ROSSI")
    snapshot = dump(store)
    with pytest.raises(Conflict, match="never deployed"):
        rs.return_device(store, ACTOR, NEW)
    with pytest.raises(Conflict, match="still deployed"):
        rs.return_device(store, ACTOR, OLD)
    with pytest.raises(Conflict, match="customer-owned"):
        rs.return_device(store, ACTOR, "001565BB0001")
    with pytest.raises(NotFound, match="no device with MAC 001565FFFFFF"):
        rs.return_device(store, ACTOR, "00:15:65:ff:ff:ff")
    with pytest.raises(Invalid, match="condition 'broken' must be one of: ok, faulty"):
        rs.return_device(store, ACTOR, OLD, condition="broken")
    with pytest.raises(Conflict, match="nothing is owed until its return is due"):
        rs.charge(store, ACTOR, OLD, amount="10")
    assert dump(store) == snapshot


def test_return_ok_restocks_and_faulty_retires(store, clock):
    rossi(store)
    rs.terminate(store, ACTOR, "ROSSI", "2026-04-01")  # deadline 2026-05-31
    rt.set_customer_policy(store, ACTOR, "ROSSI", charge="both", penalty_per_day="2.50")
    result = rs.return_device(store, ACTOR, OLD, on="2026-06-04")
    assert (result["state"], result["customer"], result["lines"], result["days_late"]) == ("in_stock", None, [], 4)
    assert result["late_penalty"] == Decimal("10.00")
    assert events(store, OLD)[-1]["after"]["from_customer"] == "ROSSI"
    # Back in stock: it can go to someone else, and a second return is refused.
    with pytest.raises(Conflict, match="never deployed"):
        rs.return_device(store, ACTOR, OLD)
    add_customer(store, "BIANCHI")
    add_line(store, "BIANCHI", "301", "Front", "pw")
    rs.assign(store, ACTOR, OLD, "BIANCHI", ["301"])
    rs.unassign(store, ACTOR, OLD)
    assert rs.return_device(store, ACTOR, OLD, condition="faulty")["state"] == "retired"
    with pytest.raises(Conflict, match="retired"):
        rs.assign(store, ACTOR, OLD, "BIANCHI")


def test_charge_what_the_policy_says_or_a_given_amount(store, clock):
    rossi(store)
    rs.swap(store, ACTOR, OLD, NEW, on="2026-03-01")  # deadline 2026-04-30: 46 days late on 2026-06-15
    with pytest.raises(Invalid, match="no replacement cost is known for yealink T46U"):
        rs.charge(store, ACTOR, OLD)
    rt.set_cost(store, ACTOR, "t46u", "89,90")
    with pytest.raises(Invalid, match=r"nothing is owed .* as of 2026-04-30"):
        rs.charge(store, ACTOR, OLD, on="2026-04-30")
    charged = rs.charge(store, ACTOR, OLD)
    assert (charged["amount"], charged["state"], charged["days_late"]) == (Decimal("89.90"), "charged", 46)
    with pytest.raises(Invalid, match=r"already charged 89\.90 EUR"):
        rs.charge(store, ACTOR, OLD)
    again = rs.charge(store, ACTOR, OLD, amount="15")
    assert again["total_charged"] == Decimal("104.90")
    (row,) = rs.report(store, "charged")
    assert (row["mac"], row["charged"], row["owed"], row["outstanding"]) == (
        OLD,
        Decimal("104.90"),
        Decimal("89.90"),
        Decimal("0.00"),
    )
    assert rs.report(store, "overdue") == []
    # A charged device can still come back.
    assert rs.return_device(store, ACTOR, OLD)["state"] == "in_stock"
    assert [e["action"] for e in events(store, OLD)][-3:] == ["device.charged", "device.charged", "device.returned"]


# --- policy, costs, reports --------------------------------------------------------------------


def test_customer_policy_overrides_the_provider_default(store, clock):
    rossi(store)
    assert rt.customer_policy(store, "ROSSI")["description"] == "return within 60 days, then the replacement cost"
    view = rt.set_customer_policy(store, ACTOR, "ROSSI", window_days=30, penalty_per_day="10", charge="penalty")
    assert (view["window_days"], view["charge"], view["penalty_per_day"]) == (30, "penalty", "10.00")
    rt.set_default_policy(store, ACTOR, window_days=45)
    assert rt.customer_policy(store, "ROSSI")["window_days"] == 30
    assert rt.set_customer_policy(store, ACTOR, "ROSSI", reset=True)["window_days"] == 45
    snapshot = dump(store)
    with pytest.raises(Invalid, match="needs a penalty per day"):
        rt.set_customer_policy(store, ACTOR, "ROSSI", charge="both")
    with pytest.raises(Invalid, match="window_days 'soon' is not a whole number"):
        rt.set_customer_policy(store, ACTOR, "ROSSI", window_days="soon")
    with pytest.raises(Invalid, match="nothing to change"):
        rt.set_customer_policy(store, ACTOR, "ROSSI")
    with pytest.raises(Invalid, match="unknown phone model 'X999'"):
        rt.set_cost(store, ACTOR, "X999", "10")
    assert dump(store) == snapshot
    rt.set_customer_policy(store, ACTOR, "ROSSI", charge="penalty", penalty_per_day="1")
    rt.set_customer_policy(store, ACTOR, "ROSSI", penalty_per_day=None, window_days=10)
    rt.set_default_policy(store, ACTOR, penalty_per_day="3")
    with store.transaction() as tx:  # a customer relying on the default penalty is protected
        tx.update_customer(tx.customer_by_code("ROSSI")["id"], {"penalty_per_day_cents": None})
    with pytest.raises(Invalid, match="customer ROSSI would be left with no valid policy"):
        rt.set_default_policy(store, ACTOR, charge="replacement", penalty_per_day="0")


def test_costs_per_model_and_default(store, clock):
    rt.set_cost(store, ACTOR, "default", "70")
    rt.set_cost(store, ACTOR, "D785", "149.00")
    rt.set_cost(store, ACTOR, "D785", "139.00")
    assert rt.costs(store) == [
        {"vendor": "*", "model": "*", "cost": Decimal("70.00")},
        {"vendor": "snom", "model": "D785", "cost": Decimal("139.00")},
    ]


def test_history_lists_every_event_of_the_device(store, clock):
    rossi(store)
    rs.swap(store, ACTOR, OLD, NEW)
    rs.return_device(store, ACTOR, OLD)
    history = rs.history(store, "0015.65aa.0001")
    assert [e["action"] for e in history] == ["device.created", "device.swapped", "device.returned"]
    assert all(e["actor"] == ACTOR and e["at"] for e in history)
    with pytest.raises(NotFound):
        rs.history(store, "001565FFFFFF")


def test_customer_owned_devices_move_lines_but_take_no_part_in_returns(store, clock):
    rossi(store, ownership="owned")
    result = rs.swap(store, ACTOR, OLD, NEW)
    assert result["return_deadline"] is None
    old = device(store, OLD)
    assert (old["state"], old["lines"], old["due_from"]) == ("deployed", [], None)
    assert device(store, NEW)["lines"] == ["201", "202"] and device(store, NEW)["ownership"] == "rental"
    add_customer(store, "BIANCHI")
    with pytest.raises(Conflict, match="owned by customer ROSSI"):
        rs.assign(store, ACTOR, OLD, "BIANCHI")
    assert rs.assign(store, ACTOR, OLD, "ROSSI", [])["state"] == "deployed"
    assert rs.unassign(store, ACTOR, OLD)["return_deadline"] is None
    with pytest.raises(Conflict, match="customer-owned: it takes no part in returns"):
        rs.charge(store, ACTOR, OLD, amount="10")
    rs.terminate(store, ACTOR, "ROSSI", "2026-06-01")
    assert [r["mac"] for r in rs.report(store, "due")] == [NEW]  # the owned one is not due back
    with pytest.raises(NotFound, match="no customer 'NOBODY'"):
        rs.report(store, "due", customer="NOBODY")
    with pytest.raises(Invalid, match="report 'late' must be one of: due, overdue, charged"):
        rs.report(store, "late")


# --- the one-step move --------------------------------------------------------------------------


def test_move_returns_and_assigns_in_one_transaction(store, clock):
    rossi(store)
    rossi(store, "VERDI", ("100",), mac=None)
    result = rs.move(store, ACTOR, "00-15-65-aa-00-01", "VERDI", ["100"], condition="ok")
    assert (result["returned"]["from_customer"], result["assigned"]["customer"]) == ("ROSSI", "VERDI")
    moved = device(store, OLD)
    assert (moved["state"], moved["lines"]) == ("deployed", ["100"])
    assert [e["action"] for e in events(store, OLD)][-3:] == ["device.unassigned", "device.returned", "device.assigned"]


@pytest.mark.parametrize(
    ("target", "lines", "condition", "error"),
    [
        ("VERDI", ["999"], "ok", NotFound),  # a line the target does not have: the assignment fails last
        ("VERDI", ["100"], "faulty", Conflict),  # a faulty phone is retired, and a retired one is not assigned
        ("NOBODY", [], "ok", NotFound),
    ],
)
def test_a_failing_step_of_the_move_leaves_the_phone_as_it_was(store, clock, target, lines, condition, error):
    rossi(store)
    rossi(store, "VERDI", ("100",), mac=None)
    before = dump(store)
    with pytest.raises(error):
        rs.move(store, ACTOR, OLD, target, lines, condition=condition)
    assert dump(store) == before  # no return recorded, no line taken off, no event
    assert device(store, OLD)["lines"] == ["201", "202"]

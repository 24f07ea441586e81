"""The rented-device lifecycle on the store: terminate, swap, assign, return, charge, reports.

The rules (states, dates, money) are :mod:`provisioner.rentals`; this module
applies them in one transaction per operation, validating the state *inside*
the transaction (writers are serial on SQLite, rows are locked on PostgreSQL),
so two concurrent swaps of one device cannot both succeed. Every change appends
audit events with ``device_mac`` and ``customer_id`` set: they are the device's
history and what tells every config cache to drop the device's files.

Effective state. A termination stores only the customer's ``contract_end``. A
``deployed`` rented device of that customer *is* ``return_due`` from that date
on (derived in :func:`rentals.standing`), and the phone-facing side stops
serving its lines from the start of that date in Europe/Rome
(:func:`render_data.device_data`), so a termination dated in the future needs no
job to take effect. Its devices keep their lines until their return is
recorded, so ``--cancel`` before the date restores everything as it was.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date
from decimal import Decimal
from typing import Any, cast

from . import fields, rentals, services, vendors
from .changes import DeviceChange, find_customer, find_device, public
from .db import Store, Tx
from .errors import Conflict, Invalid
from .redirect import outbox as redirect_outbox
from .rental_terms import cost_of, cost_table, default_policy, policy_of
from .rentals import Policy

REPORTS = ("due", "overdue", "charged")


# --- reading helpers -----------------------------------------------------------------


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


# --- contract end --------------------------------------------------------------------


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


def _iso(day: date | None) -> str | None:
    return day.isoformat() if day else None


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
        change = DeviceChange.of(tx, mac, rental=True)
        device = change.device
        assert device is not None
        target = find_customer(tx, customer)
        holder = _holder(tx, device)
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
        state = _state_on(device, holder, today)
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
        change = DeviceChange.of(tx, mac, rental=True)
        device = change.device
        assert device is not None
        holder = _holder(tx, device)
        state = _state_on(device, holder, today)
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
        old_change = DeviceChange.of(tx, old_canonical, "old_mac", rental=True)
        old = old_change.device
        assert old is not None
        holder = _holder(tx, old)
        old_state = _state_on(old, holder, today)
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


# --- returns and charges -----------------------------------------------------------------


def return_device(store: Store, actor: str, mac: Any, *, on: Any = None, condition: Any = "ok") -> dict[str, Any]:
    """Record that MAC came back on ``on``: ``ok`` puts it in stock, ``faulty`` retires it."""
    day = _past_date(on)
    cond = fields.choice(condition or "ok", rentals.CONDITIONS, "condition")
    today = _today()
    with store.transaction() as tx:
        change = DeviceChange.of(tx, mac, rental=True)
        device = change.device
        assert device is not None
        _rental_only(device, "returned")
        holder = _holder(tx, device)
        state = _state_on(device, holder, today)
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
        change = DeviceChange.of(tx, mac, rental=True)
        device = change.device
        assert device is not None
        _rental_only(device, "charged")
        holder = _holder(tx, device)
        state = _state_on(device, holder, today)
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


# --- history and reports ---------------------------------------------------------------


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

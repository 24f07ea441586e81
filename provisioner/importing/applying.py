"""The database side of an import: what a plan is made against, and writing it.

:func:`snapshot` reads what the file's customers, lines and devices are now;
:func:`apply` writes a plan, with one audit event per customer and device it
creates or changes and per existing line it changes (a line created for a phone
is recorded in that phone's event), all inside the caller's transaction (many
rows per statement: 100,000 phones are a few statements, not 100,000 transactions;
in a large SQLite transaction the new rows are copied in the background while the
next table's are built: :meth:`~provisioner.db.Tx.loading`).

Line and device events name their phone (``device_mac``), which is what the config
cache invalidates exactly and what a device's history is read by; only customer
events carry ``customer_id``. (The cache drops every cached phone of a customer
for an event with a ``customer_id``: a 100,000-phone import would empty it. The
customer is in each device event's snapshot.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from .. import access, changes, services
from ..db import Tx
from ..redirect import outbox as redirect_outbox
from . import keys
from .planning import Change, CustomerRef, Plan, Snapshot, normalize_name
from .validation import Checked


def snapshot(tx: Tx, checked: Checked) -> Snapshot:
    customers = tx.list_customers()
    named = {e.customer for e in checked.entries if e.customer is not None}
    codes = {text.casefold() for text in named}
    names = {normalize_name(text) for text in named}
    involved = sorted(c["id"] for c in customers if c["code"].casefold() in codes or normalize_name(c["name"]) in names)
    devices = tx.devices_by_mac(sorted({e.mac for e in checked.entries}))
    current = sorted({lid for device in devices.values() for lid in device["line_ids"]})
    rows = tx.lines_with_holders(customer_ids=involved, line_ids=current)
    device_keys: dict[str, list[dict[str, Any]]] = {}
    if checked.keys:
        macs = {e.mac for e in checked.entries if e.row in checked.keys}
        ids = {device["id"]: mac for mac, device in devices.items() if mac in macs}
        by_device, _ = tx.keys_for_render(ids, [])
        device_keys = {ids[i]: rows for i, rows in by_device.items()}
    return Snapshot(
        customers=customers,
        lines={(r["customer_id"], r["extension"]): r for r in rows},
        devices=devices,
        line_names={r["id"]: (r["customer_id"], r["extension"]) for r in rows},
        device_keys=device_keys,
    )


def _rows(change: Change) -> str:
    rows = change.rows
    if len(rows) == 1:
        return " (row %d)" % rows[0]
    if not rows:
        return ""
    return f" (row{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:10]))}{', ...' if len(rows) > 10 else ''})"


def apply(tx: Tx, plan: Plan, *, actor: str, source: str, progress: Callable[[int], None] | None = None) -> None:
    """Write ``plan`` in ``tx``: customers, then lines, then devices and their slots, then the events.

    One event per customer and per device created or changed, and one per existing line changed.
    A line created for a phone is in that phone's event (``after["new_lines"]``: its values, never
    its password, and only those set: an unset label or SIP server is left out): it is only ever
    created as part of a phone this plan creates or changes.
    """
    tick = progress or (lambda n: None)
    events = _Events()
    by_kind: dict[tuple[str, str], list[Change]] = {}
    for change in plan.changes:
        kind = (change.kind, change.action)
        group = by_kind.get(kind)
        if group is None:
            by_kind[kind] = [change]
        else:
            group.append(change)
    via = f" by import of {source}"

    ids: dict[CustomerRef | None, int | None] = {None: None}  # customer reference -> id
    for change in by_kind.get(("customer", "create"), []):
        new_id = tx.insert_customer({**change.values, "admin_password": services.new_admin_password()})
        ids[change.customer] = new_id
        row = tx.customer_by_id(new_id)
        # As from the CLI and the API: a new customer's phones fetch under a secret path key
        # (read it with `provisioner customer security CODE --reveal`).
        tx.save_customer_security(new_id, {"path_key": access.new_secret()})
        events.add(
            "customer.created",
            f"customer {change.key} created{via}{_rows(change)}",
            None,
            new_id,
            None,
            {**(changes.public(row, *changes.CUSTOMER_FIELDS) or {}), "path_key_set": True},
        )
        tick(1)

    def customer_id(ref: CustomerRef | None) -> int | None:
        return _customer_ids(ids, [ref])[0]

    with tx.loading("lines", "devices", "device_lines", "events"):
        created = by_kind.get(("line", "create"), [])
        line_customers = [c.customer for c in created]
        extensions = [c.values["extension"] for c in created]
        inserted = tx.insert_lines([c.values for c in created], customer_ids=_customer_ids(ids, line_customers))
        # (customer reference, extension) of a new line -> its id (inserted: the ids in row order)
        line_ids: dict[tuple[CustomerRef | None, str], int] = dict(
            zip(zip(line_customers, extensions, strict=True), inserted, strict=True)
        )
        del inserted, line_customers, extensions
        tick(len(created))
        for change in by_kind.get(("line", "update"), []):
            assert change.ref is not None
            tx.update_line(change.ref, change.values)
            events.add(
                "line.updated",
                f"line {change.key} updated{via}{_rows(change)}",
                change.device,
                None,
                change.before,
                change.after,
            )
            tick(1)

        # A device's event records the lines created for it (their values, never their passwords).
        created = by_kind.get(("device", "create"), [])
        created_macs = [c.key for c in created]
        device_ids = tx.insert_devices(
            [c.values for c in created],
            columns={
                "mac": created_macs,
                "customer_id": _customer_ids(ids, [c.customer for c in created]),
                "settings": [{}] * len(created),
            },
        )
        get_line = line_ids.get
        assignments: dict[int, list[int]] = {
            device_id: list(map(get_line, c.lines, c.lines))  # type: ignore[arg-type]
            for c, device_id in zip(created, device_ids, strict=True)
            if c.lines
        }  # device_ids: in row order
        events.after += [_device_after(c) for c in created]
        events.summary += [
            (
                f"device {c.key} ({c.values['model']}) created{via} (row {c.rows[0]})"
                if len(c.rows) == 1
                else f"device {c.key} ({c.values['model']}) created{via}{_rows(c)}"
            )[:500]
            for c in created
        ]
        events.action += ["device.created"] * len(created)
        events.device_mac += created_macs
        events.customer_id += [None] * len(created)
        events.before += [None] * len(created)
        del created_macs
        tick(len(created))
        for change in by_kind.get(("device", "update"), []):
            assert change.ref is not None
            mac = change.key
            tx.update_device(change.ref, {**change.values, "customer_id": customer_id(change.customer)})
            assignments[change.ref] = list(map(get_line, change.lines, change.lines))  # type: ignore[arg-type]
            moved = any((change.before or {}).get(k) != change.after.get(k) for k in ("customer", "lines"))
            events.add(
                "device.updated",
                f"device {mac} {'moved' if moved else 'updated'}{via}{_rows(change)}",
                mac,
                None,
                change.before,
                _device_after(change),
            )
            tick(1)
        tx.replace_device_lines(assignments, new=device_ids)
        del assignments, device_ids
        tx.add_events([{}] * len(events.action), actor=actor, columns=vars(events))
    keys.apply_keys(
        tx,
        by_kind.get(("key", "create"), []) + by_kind.get(("key", "update"), []) + by_kind.get(("key", "delete"), []),
        actor=actor,
        via=via,
    )
    redirect_outbox.devices_changed(
        tx, [c.key for kind in (("device", "create"), ("device", "update")) for c in by_kind.get(kind, [])]
    )


def _device_after(change: Change) -> dict[str, Any]:
    """What a device's event records after the change: the device, and the lines created for it."""
    return change.after if change.new_lines is None else {**change.after, "new_lines": change.new_lines}


def _customer_ids(ids: dict[CustomerRef | None, int | None], refs: list[CustomerRef | None]) -> list[int | None]:
    """The customer id of each reference: an id is itself, a new customer's reference the id it was created with."""
    found = list(map(ids.get, refs, refs))
    if str in set(map(type, found)):  # a new customer this apply did not create: a bug in the plan
        raise KeyError(next(ref for ref in found if ref.__class__ is str))
    return cast("list[int | None]", found)  # no str left: checked just above


class _Events:
    """The audit events of an apply, a list per column (what the bulk insert takes)."""

    def __init__(self) -> None:
        self.action: list[str] = []
        self.summary: list[str] = []
        self.device_mac: list[str | None] = []
        self.customer_id: list[int | None] = []
        self.before: list[Any] = []
        self.after: list[Any] = []

    def add(self, action: str, summary: str, mac: str | None, customer_id: int | None, before: Any, after: Any) -> None:
        self.action.append(action)
        self.summary.append(summary[:500])
        self.device_mac.append(mac)
        self.customer_id.append(customer_id)
        self.before.append(before)
        self.after.append(after)

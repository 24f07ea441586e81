"""The devices and lines of an import planned against the database: what each phone and line of the
file becomes, created or updated, and the conflicts with what the database holds. Pure; a part of
:class:`.planning._Planner`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .. import changes, vendors
from .columns import ALIASES
from .entries import Checked, Entry
from .keys import plan_keys
from .plans import Change, CustomerRef, LineRef, Snapshot
from .problems import Problem

ALLOWED_STATES = ("in_stock", "deployed")
LINE_KEYS = (
    "extension",
    "display_name",
    "sip_username",
    "auth_id",
    "password",
    "label",
    "sip_server",
    "sip_port",
    "sip_transport",
)
DEVICE_KEYS = ("vendor", "model", "serial", "ownership", "state", "customer_id")
_STATE_HINTS = {
    "return_due": "it is due back from its customer: record its return (provisioner device return MAC) first",
    "returned": "record where it went (provisioner device return MAC) first",
    "charged": "its customer was charged for it: record its return first",
    "retired": "it was retired as faulty: import another phone",
}


class DevicePlanning:
    """The part of a planning pass that meets the database's devices and lines."""

    checked: Checked
    snap: Snapshot
    given: frozenset[str]
    problems: list[Problem]
    changes: list[Change]
    unchanged: Counter[str]
    customers: dict[str, CustomerRef]
    customer_rows: dict[CustomerRef, dict[str, Any]]
    accounts: dict[tuple[str, str], int]
    new_used: dict[str, None]

    def fail(self, entry: Entry, field_: str, message: str, fix: str | None = None) -> None:
        raise NotImplementedError

    def _device(self, mac: str, entries: list[Entry], in_file: set[str]) -> None:
        first = entries[0]
        existing = self.snap.devices.get(mac)
        model: str | None
        vendor: str | None
        if first.model is not None:
            model, vendor = first.model, first.vendor
        else:
            model = vendor = None
            for e in entries:
                if e.model is not None:
                    model, vendor = e.model, e.vendor
                    break
            if model is None:
                if existing is None:
                    self.fail(
                        first,
                        "model",
                        "model missing: a new phone needs its model"
                        if "model" in self.given
                        else "model missing: add a Model column (a new phone needs its model)",
                    )
                    return
                vendor, model = existing["vendor"], existing["model"]
        accounts = self.accounts.get((vendor, model))  # type: ignore[arg-type]
        if accounts is None:
            caps = vendors.get(vendor).caps(model)  # type: ignore[arg-type]
            accounts = self.accounts[(vendor, model)] = caps.accounts  # type: ignore[index]
        if len(entries) > accounts:
            self.fail(
                entries[accounts],
                "line",
                f"{model} has {accounts} SIP account{'s' * (accounts > 1)}; {len(entries)} lines given",
                "give this phone fewer lines, or use a model with more accounts",
            )
            return
        customer_ref = None
        if first.customer is not None:
            customer_ref = self.customers.get(first.customer)
            if customer_ref is None:
                return  # the customer has a problem, reported on these rows
        if first.line is None and existing is not None and existing["state"] == "deployed":
            owner = self.customer_rows.get(existing["customer_id"], {}).get("code", "a customer")
            self.fail(
                first,
                "customer",
                f"device {mac} is deployed to {owner}; this row gives it no customer and no line",
                f"fill in its customer and extension, or take it back first (provisioner device unassign {mac})",
            )
            return

        line_refs: list[LineRef] = []
        line_changes: list[Change] = []
        new_lines: list[dict[str, Any]] = []  # the afters of the lines created for it: in its event
        for e in entries:
            if e.line is None:
                continue
            ref, change = self._line(mac, e, customer_ref, in_file)  # type: ignore[arg-type]
            if ref is None:
                return
            line_refs.append(ref)
            if change is not None:
                line_changes.append(change)
                if change.action == "create":
                    new_lines.append(change.after)

        values = {
            "vendor": vendor,
            "model": model,
            "serial": first.serial if "serial" in self.given else existing["serial"] if existing else None,
            "ownership": first.ownership
            or (existing["ownership"] if existing and "ownership" not in self.given else "rental"),
            "state": "deployed" if customer_ref is not None else "in_stock",
            "customer_id": customer_ref,
        }
        rows = (first.row,) if len(entries) == 1 else tuple(e.row for e in entries)
        if customer_ref.__class__ is str:
            self.new_used[customer_ref] = None  # type: ignore[index]
        if existing is None:
            after = self._device_view(mac, values, line_refs, {})
            self.changes.append(
                Change(
                    "device",
                    "create",
                    mac,
                    rows,
                    None,
                    after,
                    values=values,
                    customer=customer_ref,
                    lines=tuple(line_refs),
                    new_lines=new_lines or None,
                )
            )
        else:
            old = {k: existing[k] for k in DEVICE_KEYS}
            if old == values and existing["line_ids"] == line_refs:
                self.unchanged["device"] += 1
            elif existing["state"] not in ALLOWED_STATES:
                self.fail(
                    first,
                    "mac",
                    f"device {mac} is {existing['state']}: an import cannot change it",
                    _STATE_HINTS.get(existing["state"], "change it with the device commands"),
                )
                return
            else:
                settings = json.loads(existing["settings_json"] or "{}")
                before = self._device_view(mac, old, existing["line_ids"], settings)
                after = self._device_view(mac, values, line_refs, settings)
                self.changes.append(
                    Change(
                        "device",
                        "update",
                        mac,
                        rows,
                        before,
                        after,
                        ref=existing["id"],
                        values=values,
                        customer=customer_ref,
                        lines=tuple(line_refs),
                        new_lines=new_lines or None,
                    )
                )
        self.changes.extend(line_changes)
        if self.checked.keys:
            key_changes = plan_keys(
                self.checked, mac, entries, vendor, model, self.snap.device_keys.get(mac, ()), self.fail
            )
            if key_changes is not None:
                self.changes.extend(key_changes)

    def _line(
        self, mac: str, e: Entry, customer_ref: CustomerRef, in_file: set[str]
    ) -> tuple[LineRef | None, Change | None]:
        assert e.line is not None
        wanted = e.line
        ext = wanted["extension"]
        customer = self.customer_rows[customer_ref]
        default = customer["sip_server"]
        existing = self.snap.lines.get((customer_ref, ext)) if isinstance(customer_ref, int) else None
        key = f"{customer['code']} {ext}"
        if existing is None:
            for name in e.missing:
                self.fail(
                    e, name, f"{name} missing" + ("" if name in self.given else f": add a '{ALIASES[name][0]}' column")
                )
            if e.missing:
                return None, None
            values = wanted  # the row's own dict (no copy per line: 100,000 of them) unless changed
            server = values["sip_server"]
            if server and default and (server == default or server.lower() == default.lower()):
                values = {**wanted, "sip_server": None}
            if not values["sip_server"] and not default and isinstance(customer_ref, int):
                self.fail(
                    e,
                    "sip_server",
                    f"customer {customer['code']} has no SIP server and this row gives none",
                    "fill in the SIP server, or set the customer's (provisioner customer update)",
                )
                return None, None
            # What the new line has (changes.LINE_FIELDS, in their order): the values set, never the password.
            after = {k: v for k, v in values.items() if v is not None and k != "password"}
            change = Change(
                "line", "create", key, (e.row,), None, after, values=values, customer=customer_ref, device=mac
            )
            return (customer_ref, ext), change
        holder = existing.get("holder")
        if holder is not None and holder != mac and holder not in in_file:
            self.fail(
                e,
                "extension",
                f"extension {ext} of {customer['code']} is on device {holder}, which this file does not list",
                f"take it off that phone first (provisioner device unassign {holder}), "
                "or list that phone in the file too",
            )
            return None, None
        values = {k: existing[k] for k in LINE_KEYS}
        for k in ("display_name", "sip_username", "auth_id", "label"):
            if k in self.given:
                values[k] = wanted[k]
        if (
            "sip_username" in self.given
            and "auth_id" not in self.given
            and existing["auth_id"] == existing["sip_username"]
        ):
            values["auth_id"] = wanted["auth_id"]  # it followed the SIP user, and still does
        if "display_name" in e.missing:
            values["display_name"] = existing["display_name"]
        if "sip_password" in self.given and "sip_password" not in e.missing:
            values["password"] = wanted["password"]
        if "sip_server" in self.given:
            server = wanted["sip_server"]
            current = existing["sip_server"] or default
            if server and current and server.lower() == current.lower():
                server = existing["sip_server"]
            elif server and default and server.lower() == default.lower():
                server = None
            values["sip_server"] = server
        old = {k: existing[k] for k in LINE_KEYS}
        if values == old:
            self.unchanged["line"] += 1
            return existing["id"], None
        before = {k: old[k] for k in changes.LINE_FIELDS}
        after = {k: values[k] for k in changes.LINE_FIELDS}
        if values["password"] != old["password"]:
            after["password_changed"] = True
        change = Change(
            "line",
            "update",
            key,
            (e.row,),
            before,
            after,
            ref=existing["id"],
            values=values,
            customer=customer_ref,
            device=mac,
        )
        return existing["id"], change

    def _device_view(
        self, mac: str, values: dict[str, Any], line_refs: Sequence[LineRef], settings: dict[str, Any]
    ) -> dict[str, Any]:
        """What an audit event records of a device (:func:`changes.device_view`, from the plan's rows)."""
        ref = values.get("customer_id")
        names = self.snap.line_names
        return changes.device_view(
            values,
            self.customer_rows[ref]["code"] if ref is not None and ref in self.customer_rows else None,
            [r[1] if r.__class__ is tuple else names[r][1] for r in line_refs],  # type: ignore[index]
            mac=mac,
            settings=settings,
        )

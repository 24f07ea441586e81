"""Checked rows + what the database holds -> a plan of creates, updates and problems. Pure.

The rules, in the order they are checked:

- **One phone, several rows.** Rows with the same MAC are one phone; each row is one of its
  lines, at the slot given by ``line`` (1 when empty). The rows of a MAC list all its lines,
  from line 1 without gaps, and agree on the phone's own fields (model, customer, serial,
  ownership). The same MAC and line twice with different data is an error on both rows;
  twice with the same data is read once.
- **A line is on at most one phone.** The same customer and extension on two MACs is an error
  on both rows; a line that the database has on a phone this file does not list is a conflict
  (unassign it first, or list that phone too).
- **Customers** are found by code, else by name (ignoring case and extra spaces). A customer the
  database does not have is created, named as written, with the SIP server of its rows (they
  must agree). A line whose SIP server is its customer's keeps the customer's default.
- **A column the file does not have changes nothing**; a column it has says what is wanted, an
  empty cell meaning the default. Two exceptions: an empty name or password keeps what an
  existing line has (and is an error for a new line).
- **Devices** that are ``in_stock`` or ``deployed`` may be created, changed and moved to other
  extensions or customers; one that is due back, charged or retired is a conflict. Devices and
  lines the file does not mention are left as they are.

The plan object is :mod:`.plans`'s; the devices and lines against the database are
:mod:`.device_planning`'s.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter, defaultdict
from collections.abc import Iterable
from typing import Any

from .. import fields
from .device_planning import ALLOWED_STATES, DEVICE_KEYS, LINE_KEYS, DevicePlanning
from .entries import Checked, Entry
from .plans import Change, CustomerRef, LineRef, Plan, Snapshot
from .problems import Problem

__all__ = [
    "ALLOWED_STATES",
    "DEVICE_KEYS",
    "LINE_KEYS",
    "Change",
    "CustomerRef",
    "LineRef",
    "Plan",
    "Snapshot",
    "customer_code",
    "normalize_name",
    "plan",
]


def plan(checked: Checked, snapshot: Snapshot, *, skip_invalid: bool = False) -> Plan:
    """The plan for ``checked`` against ``snapshot``.

    Without ``skip_invalid`` every problem is reported and the plan is :attr:`~Plan.rejected`
    when there is any. With it, the rows of every MAC that has a problem are left out (and the
    plan recomputed, since leaving a phone out may leave a line where it was) until the rest
    is clean.
    """
    problems = list(checked.problems)
    excluded: set[str] = set()
    if skip_invalid:
        excluded = {mac for mac in checked.bad_rows.values() if mac}
    while True:
        attempt = _Planner(checked, snapshot, excluded).run()
        problems.extend(attempt.problems)
        row_macs = attempt.row_macs if attempt.problems else {}
        new = {row_macs[p.row] for p in attempt.problems if p.row in row_macs}
        if not skip_invalid or not attempt.problems or new <= excluded:
            break
        excluded |= new
    problems = _unique(problems)
    skipped: set[int] = set(checked.bad_rows)
    if skip_invalid:
        bad = {p.row for p in problems}
        for entry in checked.entries:
            if entry.mac in excluded:
                skipped.add(entry.row)
                if entry.row not in bad:
                    problems.append(
                        checked.problem(
                            entry.row,
                            "mac",
                            checked.cell(entry.row, "mac"),
                            "skipped: another row of the same MAC has a problem",
                            "fix the other rows of this MAC",
                        )
                    )
        problems = _unique(problems)
    return Plan(
        changes=attempt.changes,
        unchanged=attempt.unchanged,
        problems=sorted(problems, key=lambda p: (p.row, p.letter or "")),
        skipped_rows=sorted(skipped),
        rows=len(checked.entries) + len(checked.bad_rows),
        skip_invalid=skip_invalid,
        notes=list(checked.notes) + attempt.notes,
    )


def _unique(problems: Iterable[Problem]) -> list[Problem]:
    seen = set()
    out = []
    for p in problems:
        key = (p.row, p.field, p.message)
        if key not in seen:
            seen.add(key)
            out.append(p)
    return out


def normalize_name(name: str) -> str:
    return " ".join(name.split()).casefold()


def customer_code(name: str, taken: set[str]) -> str:
    """A code for a new customer from its name: ``ACME S.p.A.`` -> ``ACME-S-P-A``."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^A-Za-z0-9]+", "-", ascii_name).strip("-").upper()[:60] or "CUSTOMER"
    code, n = base, 1
    while code.casefold() in taken:
        n += 1
        code = f"{base}-{n}"
    taken.add(code.casefold())
    return fields.code(code, "customer")


class _Planner(DevicePlanning):
    """One pass over the rows not excluded."""

    def __init__(self, checked: Checked, snapshot: Snapshot, excluded: set[str]):
        self.checked = checked
        self.snap = snapshot
        self.entries = [e for e in checked.entries if e.mac not in excluded] if excluded else checked.entries
        self.given = checked.given
        self.problems: list[Problem] = []
        self.changes: list[Change] = []
        self.unchanged: Counter[str] = Counter()
        self.notes: list[str] = []
        self.bad_macs: set[str] = set()
        self.customers: dict[str, CustomerRef] = {}  # cell text -> reference
        self.customer_rows: dict[CustomerRef, dict[str, Any]] = {}  # reference -> row (new ones too)
        self.customer_entries: dict[str, tuple[int, ...]] = {}  # new customer -> its rows
        self.accounts: dict[tuple[str, str], int] = {}
        self.new_used: dict[str, None] = {}  # new customers planned changes refer to, in order

    @property
    def row_macs(self) -> dict[int, str]:
        return {e.row: e.mac for e in self.checked.entries}

    def fail(self, entry: Entry, field_: str, message: str, fix: str | None = None) -> None:
        self.problems.append(
            self.checked.problem(entry.row, field_, self.checked.cell(entry.row, field_), message, fix)
        )
        self.bad_macs.add(entry.mac)

    # --- the pass ---------------------------------------------------------------------

    def run(self) -> _Planner:
        groups: dict[str, list[Entry]] = {}
        for entry in self.entries:
            group = groups.get(entry.mac)
            if group is None:
                groups[entry.mac] = [entry]
            else:
                group.append(entry)
        self._resolve_customers()
        for mac, entries in groups.items():
            if len(entries) > 1 or entries[0].position != 1:
                groups[mac] = self._one_phone(entries)
        self._lines_on_one_phone(groups)
        in_file = set(groups)
        for mac, entries in groups.items():
            if entries and mac not in self.bad_macs:
                self._device(mac, entries, in_file)
        if self.problems:
            # Nothing of a phone with a problem is planned: drop what was planned for it.
            self.changes = [c for c in self.changes if not self._touches_bad(c)]
        created = []
        used = (
            dict.fromkeys(c.customer for c in self.changes if isinstance(c.customer, str))
            if self.problems
            else self.new_used
        )
        for ref in used:
            row = self.customer_rows[ref]
            values = {"code": row["code"], "name": row["name"], "sip_server": row["sip_server"]}
            created.append(
                Change(
                    "customer",
                    "create",
                    row["code"],
                    self.customer_entries[ref],
                    None,
                    dict(values),
                    values=values,
                    customer=ref,
                )
            )
        self.changes[:0] = created
        return self

    def _touches_bad(self, change: Change) -> bool:
        if change.kind == "device":
            return change.key in self.bad_macs
        if change.kind in ("line", "key"):
            return change.device in self.bad_macs
        return False

    # --- customers ----------------------------------------------------------------------

    def _resolve_customers(self) -> None:
        by_code = {c["code"].casefold(): c for c in self.snap.customers}
        by_name: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for c in self.snap.customers:
            by_name[normalize_name(c["name"])].append(c)
        for c in self.snap.customers:
            self.customer_rows[c["id"]] = c
        taken = set(by_code)
        new: dict[str, str] = {}  # normalized name -> reference
        rows_of: dict[str, list[Entry]] = defaultdict(list)
        for entry in self.entries:
            if entry.customer is not None:
                rows_of[entry.customer].append(entry)
        for text, entries in rows_of.items():
            found = by_code.get(text.casefold())
            if found is None:
                named = by_name.get(normalize_name(text), [])
                if len(named) > 1:
                    codes = ", ".join(c["code"] for c in named)
                    for e in entries:
                        self.fail(
                            e,
                            "customer",
                            f"customers {codes} are all named {text!r}",
                            "write the customer's code instead of its name",
                        )
                    continue
                found = named[0] if named else None
            if found is not None:
                self.customers[text] = found["id"]
                continue
            key = normalize_name(text)
            if key not in new:
                ref = "new:" + customer_code(text, taken)
                new[key] = ref
                self.customer_rows[ref] = {
                    "id": None,
                    "code": ref[4:],
                    "name": " ".join(text.split()),
                    "sip_server": None,
                    "rows": [],
                }
            ref = new[key]
            self.customers[text] = ref
            self.customer_rows[ref]["rows"].extend(entries)
        for ref in new.values():
            self._new_customer(ref)

    def _new_customer(self, ref: str) -> None:
        row = self.customer_rows[ref]
        entries: list[Entry] = row.pop("rows")
        self.customer_entries[ref] = tuple(e.row for e in entries)
        servers = sorted({server.lower() for server in {e.server for e in entries} if server})
        name = row["name"]
        if not servers:
            where = "fill in its SIP server column" if "sip_server" in self.given else "add a 'SIP server' column"
            for e in entries:
                self.fail(
                    e,
                    "sip_server",
                    f"customer {name!r} is new and no SIP server is given for it",
                    f"{where}, or create the customer first (provisioner customer add CODE --name ... "
                    f"--sip-server ...)",
                )
        elif len(servers) > 1:
            for e in entries:
                self.fail(
                    e,
                    "sip_server",
                    f"customer {name!r} is new and its rows name {len(servers)} SIP servers ({', '.join(servers)})",
                    "give every row of a new customer the same SIP server, or create the customer first",
                )
        else:
            row["sip_server"] = servers[0]
        self.notes.append(f"customer {name!r} is new: it will be created as {row['code']}")

    # --- the rows of one phone ----------------------------------------------------------------

    def _one_phone(self, entries: list[Entry]) -> list[Entry]:
        """The rows of one MAC, one per line, checked against each other."""
        first = entries[0]
        if len(entries) == 1:
            if first.position != 1:
                self.fail(
                    first,
                    "line",
                    f"line {first.position} but no line 1 for this MAC",
                    "number the lines of a phone 1, 2, 3, ... without gaps",
                )
                return []
            return entries
        kept: dict[int, Entry] = {}
        clashing: set[int] = set()
        fix = "keep one row per line of a phone (the line column numbers a phone's accounts)"
        for e in entries:
            seen = kept.get(e.position)
            if seen is None:
                kept[e.position] = e
            elif self._same(seen, e):
                self.notes.append(f"row {e.row} repeats row {seen.row}: read once")
            else:
                what = self._difference(seen, e)
                self.fail(seen, "mac", f"same MAC as row {e.row} with another {what} on line {e.position}", fix)
                self.fail(e, "mac", f"same MAC as row {seen.row} with another {what} on line {e.position}", fix)
                clashing |= {seen.row, e.row}
        lines = [e for e in kept.values() if e.row not in clashing]
        if len(lines) > 1:
            for label, get in (
                ("model", lambda e: e.model),
                ("customer", lambda e: self.customers.get(e.customer)),
                ("serial", lambda e: e.serial),
                ("ownership", lambda e: e.ownership),
            ):
                values = {get(e) for e in lines if get(e) is not None}
                if len(values) > 1:
                    for e in lines:
                        others = ", ".join(str(o.row) for o in lines if o is not e)
                        self.fail(
                            e,
                            label,
                            f"same MAC as row {others} with another {label}",
                            f"give every row of this MAC the same {label}, or correct the MAC",
                        )
            for e in lines:
                if e.line is None:
                    self.fail(e, "extension", "extension missing: other rows of this MAC have lines")
        ordered = [kept[p] for p in sorted(kept)]
        for slot, e in enumerate(ordered, 1):
            if e.position != slot:
                self.fail(
                    e,
                    "line",
                    f"line {e.position} but no line {slot} for this MAC",
                    "number the lines of a phone 1, 2, 3, ... without gaps",
                )
                break
        return ordered if first.mac not in self.bad_macs else []

    def _same(self, a: Entry, b: Entry) -> bool:
        return (
            a.line == b.line
            and a.missing == b.missing
            and self.customers.get(a.customer or "") == self.customers.get(b.customer or "")
            and (a.model, a.serial, a.ownership) == (b.model, b.serial, b.ownership)
        )

    def _difference(self, a: Entry, b: Entry) -> str:
        if (a.line or {}).get("extension") != (b.line or {}).get("extension"):
            return "extension"
        if self.customers.get(a.customer or "") != self.customers.get(b.customer or ""):
            return "customer"
        for key in ("display_name", "password", "sip_username", "auth_id", "label", "sip_server"):
            if (a.line or {}).get(key) != (b.line or {}).get(key):
                return "SIP password" if key == "password" else key.replace("_", " ")
        for key in ("model", "serial", "ownership"):
            if getattr(a, key) != getattr(b, key):
                return key
        return "data"

    def _lines_on_one_phone(self, groups: dict[str, list[Entry]]) -> None:
        first_on: dict[tuple[CustomerRef, str], Entry] = {}
        shared: set[tuple[CustomerRef, str]] = set()
        customers = self.customers
        for entries in groups.values():
            for e in entries:
                if e.line is not None and e.customer in customers:
                    key = (customers[e.customer], e.line["extension"])
                    if key in first_on:
                        shared.add(key)
                    else:
                        first_on[key] = e
        if not shared:
            return
        holders: dict[tuple[CustomerRef, str], list[Entry]] = defaultdict(list)
        for entries in groups.values():
            for e in entries:
                if e.line is not None and e.customer in customers:
                    key = (customers[e.customer], e.line["extension"])
                    if key in shared:
                        holders[key].append(e)
        for (ref, ext), entries in holders.items():
            code = self._code(ref)
            for e in entries:
                others = "; ".join(f"row {o.row} (MAC {o.mac})" for o in entries if o is not e)
                self.fail(
                    e,
                    "extension",
                    f"extension {ext} of {code} is also on {others}",
                    "a line is on one phone only: correct the extension or remove the other row",
                )

    def _code(self, ref: CustomerRef) -> str:
        return self.customer_rows[ref]["code"]

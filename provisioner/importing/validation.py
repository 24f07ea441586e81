"""Each row on its own: cells -> validated values, or problems naming row and column. Pure.

The values go through the same checks as every other interface
(:func:`provisioner.services.line_values`, :func:`~provisioner.services.mac`,
:func:`~provisioner.services.model`, ...); this module only undoes what
spreadsheets do to cells (:mod:`.cells`) and collects *every* problem of a row
instead of stopping at the first. Checks that need other rows or the database
are :mod:`.planning`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import services, vendors
from ..errors import Invalid
from . import cells
from .columns import Header, letter
from .problems import FIXES, HIDDEN, Problem
from .reading import Table

# Line fields a row may leave empty for a line that exists (its value is kept); a new line needs them.
KEPT_WHEN_EMPTY = ("display_name", "sip_password")
_PLACEHOLDER = {"display_name": "-", "password": "-"}
_SERVICE_FIELD = {"password": "sip_password"}  # services' name -> ours


@dataclass(slots=True)
class Entry:
    """One valid row. ``None`` in a device field means "not given": keep what the device has."""

    row: int
    mac: str
    vendor: str | None
    model: str | None
    serial: str | None
    ownership: str | None
    customer: str | None  # the cell as written: a customer's code or name
    position: int
    line: dict[str, Any] | None  # services.line_values(...); None for a phone in stock (no line)
    missing: tuple[str, ...] = ()  # KEPT_WHEN_EMPTY fields the row left empty
    server: str | None = None  # the row's SIP server as given
    restored_mac: bool = False


@dataclass
class Checked:
    """A table after every row was checked on its own."""

    table: Table
    entries: list[Entry]
    problems: list[Problem]
    bad_rows: dict[int, str | None]  # row -> its MAC when readable: rows with problems
    given: frozenset[str]  # fields the file has a column for
    notes: list[str] = field(default_factory=list)

    @property
    def header(self) -> Header:
        return self.table.header

    def cell(self, row: int, field_: str) -> Any:
        """The cell of ``field_`` on ``row`` as the file has it."""
        index = self.header.fields.get(field_)
        cells_ = self.table.rows[row - 1] if 0 < row <= len(self.table.rows) else []
        return cells_[index] if index is not None and index < len(cells_) else None

    def problem(self, row: int, field_: str, value: Any, message: str, fix: str | None = None) -> Problem:
        index = self.header.fields.get(field_)
        return Problem(
            row=row, field=field_,
            column=self.header.titles[index] if index is not None else None,
            letter=letter(index) if index is not None else None,
            value=HIDDEN if field_ == "sip_password" and value not in (None, "") else _shown(value),
            message=message, fix=fix or FIXES.get(field_, "correct the cell"),
        )


def _shown(value: Any) -> str | None:
    text = cells.as_text(value) if not isinstance(value, str) else value
    if text is None or not text.strip():
        return None
    return text if len(text) <= 200 else text[:197] + "..."


def check(table: Table, *, progress: Callable[[int], None] | None = None) -> Checked:
    """Check every row of ``table``; returns the valid rows and the problems of the others."""
    header = table.header
    cols = header.fields
    given = frozenset(cols)
    checked = Checked(table, [], [], {}, given)
    for col in header.unknown:
        checked.notes.append(f"column {header.titles[col]!r} ({letter(col)}) is not one we know: ignored")
    for field_, where in header.duplicates:
        names = " and ".join(f"{header.titles[c]!r} ({letter(c)})" for c in where)
        checked.notes.append(f"columns {names} all mean {field_}: only the first is read")

    models: dict[tuple[str, str | None], tuple[str, str] | Invalid] = {}
    vendor_names = {v.name for v in vendors.all_vendors()}
    fast = _FastPath(checked, models, vendor_names)
    unescape = table.csv
    index = {f: cols.get(f, -1) for f in ("mac", "vendor", "model", "line", "extension", "display_name",
                                             "sip_username", "auth_id", "sip_password", "sip_server", "label",
                                             "serial", "ownership", "customer")}
    positions = tuple(index.values())
    names = tuple(index)
    done = 0
    for row_number, row in table.body():
        width = len(row)
        values = [row[i] if 0 <= i < width else None for i in positions]
        if unescape and "'" in "".join(v[:1] for v in values if v.__class__ is str):
            values = [cells.unescape_csv(v) if v.__class__ is str and v[:1] == "'" else v for v in values]
        entry = fast.entry(row_number, values)
        if entry is None:
            entry = _check_row(checked, row_number, dict(zip(names, values)), models, vendor_names)
        if entry is not None:
            checked.entries.append(entry)
        done += 1
        if progress is not None and done % 1000 == 0:
            progress(1000)
    if progress is not None:
        progress(done % 1000)
    for entry in checked.entries:
        if entry.restored_mac:
            checked.notes.append(f"row {entry.row}: the MAC cell {_shown(checked.cell(entry.row, 'mac'))} is a number "
                                 f"(Excel dropped its leading zeros): read as {entry.mac}")
    return checked


def _text(value: Any) -> str | None:
    if value.__class__ is str:
        return value.strip() or None
    return cells.as_text(value)  # None, numbers, dates


class _FastPath:
    """Rows with nothing wrong, checked with as few calls as possible: the same checks as
    :func:`_check_row`, a value that repeats down a column (customer, model, server, line)
    checked once. Returns None for anything else, and :func:`_check_row` looks closer."""

    def __init__(self, checked: Checked, models: dict, vendor_names: set[str]):
        self.models = models
        self.vendor_names = vendor_names
        self.serial = "serial" in checked.given
        self.ownership = "ownership" in checked.given
        self.customers: set[str] = set()
        self.servers: set[str] = set()
        self.accounts: dict[tuple[str, str], int] = {}
        self.positions: dict[tuple[Any, int], int] = {}
        self.ownerships: dict[Any, str] = {}

    def entry(self, row: int, v: list[Any]) -> Entry | None:
        (mac_cell, vendor_cell, model_cell, line_cell, ext_cell, name_cell, user_cell, auth_cell, password_cell,
         server_cell, label_cell, serial_cell, ownership_cell, customer_cell) = v
        hint = None
        if vendor_cell is not None:
            hint = vendor_cell.strip().lower() if vendor_cell.__class__ is str else _text(vendor_cell)
            if not hint:
                hint = None
            elif hint not in self.vendor_names:
                return None
        model_text = model_cell.strip() if model_cell.__class__ is str else _text(model_cell)
        found = self.models.get((model_text, hint)) if model_text else None
        if found is None or found.__class__ is not tuple:
            return None
        vendor, model = found
        customer = customer_cell.strip() if customer_cell.__class__ is str else _text(customer_cell)
        name = name_cell.strip() if name_cell.__class__ is str else _text(name_cell)
        password = password_cell.strip() if password_cell.__class__ is str else _text(password_cell)
        if not customer or not name or not password:
            return None
        server = server_cell.strip() if server_cell.__class__ is str else _text(server_cell)
        try:
            mac, restored = cells.mac(mac_cell, vendor)
            ext = cells.number_text(ext_cell)
            if ext is None:
                return None
            if customer not in self.customers:
                services.text(customer, "customer")
                self.customers.add(customer)
            ext = services.extension(ext, "extension")
            accounts = self.accounts.get(found)
            if accounts is None:
                accounts = self.accounts[found] = vendors.get(vendor).caps(model).accounts
            position = self.positions.get((line_cell, accounts))
            if position is None:
                position = self.positions[(line_cell, accounts)] = cells.line_number(line_cell, accounts)
            if server and server not in self.servers:
                services.host(server, "sip_server")
                self.servers.add(server)
            line = services.line_values({
                "display_name": name,
                "sip_username": cells.number_text(user_cell) if user_cell is not None else None,
                "auth_id": cells.number_text(auth_cell) if auth_cell is not None else None,
                "password": password,
                "label": _text(label_cell) if label_cell is not None else None,
            }, ext)
            line["sip_server"] = server or None
            serial = None
            if self.serial:
                serial = services.text(_text(serial_cell) if serial_cell is not None else None, "serial",
                                       required=False, max_len=64)
            ownership = None
            if self.ownership:
                ownership = self.ownerships.get(ownership_cell)
                if ownership is None:
                    ownership = self.ownerships[ownership_cell] = cells.ownership(ownership_cell)
        except (Invalid, cells.CellError, TypeError):
            return None
        return Entry(row, mac, vendor, model, serial, ownership, customer, position, line, (), server or None,
                     restored)


def _check_row(checked: Checked, row: int, raw: dict[str, Any], models: dict, vendor_names: set[str]) -> Entry | None:
    problems: list[Problem] = []

    def fail(field_: str, message: str, fix: str | None = None) -> None:
        problems.append(checked.problem(row, field_, raw.get(field_), message, fix))

    # Vendor and model first: a MAC that Excel made a number is restored only for its vendor's prefix.
    vendor = cells.as_text(raw["vendor"])
    if vendor is not None:
        vendor = vendor.lower()
        if vendor not in vendor_names:
            fail("vendor", f"unknown vendor {vendor!r} (known: {', '.join(sorted(vendor_names))})")
            vendor = None
    model = None
    model_text = cells.as_text(raw["model"])
    if model_text is not None:
        key = (model_text, vendor)
        found = models.get(key)
        if found is None:
            try:
                found = services.model(model_text, vendor)
            except Invalid as exc:
                found = exc
            models[key] = found
        if isinstance(found, Invalid):
            fail("model", found.message)
            found = None
        else:
            vendor, model = found

    mac = None
    restored = False
    try:
        mac, restored = cells.mac(raw["mac"], vendor)
    except cells.CellError as exc:
        fail("mac", exc.message, exc.fix)

    customer = cells.as_text(raw["customer"])
    if customer is not None:
        try:
            services.text(customer, "customer")
        except Invalid as exc:
            fail("customer", exc.message)
    extension = cells.number_text(raw["extension"])
    line_cells = ("display_name", "sip_username", "auth_id", "sip_password", "sip_server", "label")
    has_line = extension is not None or customer is not None or any(
        cells.as_text(raw[f]) is not None for f in line_cells)

    accounts = vendors.get(vendor).caps(model).accounts if model is not None and vendor is not None else None
    position = 1
    try:
        position = cells.line_number(raw["line"], accounts)
    except cells.CellError as exc:
        fail("line", exc.message, exc.fix)

    line = None
    missing: list[str] = []
    server = None
    if has_line:
        if extension is None:
            fail("extension", "extension missing" + (" (a line needs one)" if "extension" in checked.given else
                                                     ": add an Extension column"))
        else:
            try:
                extension = services.extension(extension, "extension")
            except Invalid as exc:
                fail("extension", exc.message)
                extension = None
        if customer is None:
            fail("customer", "customer missing: a line belongs to a customer" if "customer" in checked.given
                 else "customer missing: add a Customer column with the customer's code or name")
        data = {
            "display_name": cells.as_text(raw["display_name"]),
            "sip_username": cells.number_text(raw["sip_username"]),
            "auth_id": cells.number_text(raw["auth_id"]),
            "password": cells.as_text(raw["sip_password"]),
            "label": cells.as_text(raw["label"]),
            "sip_server": cells.as_text(raw["sip_server"]),
        }
        server = data["sip_server"]
        for key in ("display_name", "password"):
            if data[key] is None:
                missing.append(_SERVICE_FIELD.get(key, key))
                data[key] = _PLACEHOLDER[key]
        for _attempt in range(len(data) + 1):
            try:
                line = services.line_values(data, extension or "0")
                break
            except Invalid as exc:
                name = exc.field or "display_name"
                fail(_SERVICE_FIELD.get(name, name), exc.message)
                data[name] = _PLACEHOLDER.get(name)
                if name == "sip_server":
                    server = None

    serial = None
    if "serial" in checked.given:
        try:
            serial = services.text(cells.as_text(raw["serial"]), "serial", required=False, max_len=64)
        except Invalid as exc:
            fail("serial", exc.message)
    ownership = None
    if "ownership" in checked.given:
        try:
            ownership = cells.ownership(raw["ownership"])
        except cells.CellError as exc:
            fail("ownership", exc.message, exc.fix)

    if problems:
        checked.problems.extend(problems)
        checked.bad_rows[row] = mac
        return None
    assert mac is not None
    return Entry(row=row, mac=mac, vendor=vendor, model=model, serial=serial, ownership=ownership,
                 customer=customer, position=position, line=line, missing=tuple(missing), server=server,
                 restored_mac=restored)

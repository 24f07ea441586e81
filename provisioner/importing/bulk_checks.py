"""Rows checked a column at a time (:class:`Columns`), and rows with nothing wrong checked with as
few calls as possible (:class:`FastPath`); anything else is left to :func:`.row_checks.check_row`,
so problems are reported exactly as by the row-by-row checks. Pure."""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter
from typing import Any

from .. import fields, vendors
from ..errors import Invalid
from . import cells
from .entries import Checked, Entry


def _text(value: Any) -> str | None:
    if value.__class__ is str:
        return value.strip() or None
    return cells.as_text(value)  # None, numbers, dates


_BAD = object()  # a cell that the bulk checks leave to the row's own checks


def _texts(values: list[Any]) -> list[Any]:
    """Cells as trimmed text, None when empty (as :func:`_text`), a column at a time."""
    if set(map(type, values)) == {str}:
        out = list(map(str.strip, values))
        return [v or None for v in out] if "" in out else out
    return [v.strip() or None if v.__class__ is str else _text(v) for v in values]


def _passing(values: list[Any], all_pass: Callable[[list[str]], bool], passes: Callable[[str], bool]) -> list[Any]:
    """``values``, with _BAD for each that fails its check (one bulk check when all pass)."""
    if all_pass(list(filter(None, values))):  # values are None or non-empty text
        return values
    return [v if v is None or passes(v) else _BAD for v in values]


def _valid(check: Callable[[str], Any]) -> Callable[[str], bool]:
    def passes(value: str) -> bool:
        try:
            check(value)
        except (Invalid, cells.CellError):
            return False
        return True

    return passes


class Columns:
    """Every row checked column by column: the checks of :class:`FastPath`, each run once over a
    whole column (one regex pass over a column of names, extensions or MACs), and a value that
    repeats down a column (customer, model, server, line) checked once. A row with anything
    else (an empty required cell, a MAC Excel made a number, a bad cell) is checked on its own,
    as before, so problems are reported exactly as by the row-by-row checks."""

    def __init__(
        self,
        checked: Checked,
        body: list[tuple[int, list[Any]]],
        index: dict[str, int],
        models: dict,
        vendor_names: set[str],
    ):
        self.checked = checked
        self.body = body
        self.index = index
        self.models = models
        self.vendor_names = vendor_names
        self.rows = [row for _, row in body]
        self.width = min(map(len, self.rows))
        self.count = len(self.rows)
        # Every column at once (one pass) when the rows are all as wide: a sheet's always are.
        self.columns = list(zip(*self.rows, strict=True)) if self.width == max(map(len, self.rows)) else None

    def column(self, field_: str) -> list[Any] | None:
        """The cells of ``field_``, row by row (None when the file has no such column)."""
        i = self.index[field_]
        if i < 0:
            return None
        if self.columns is not None:
            values = list(self.columns[i])
        elif i < self.width:
            values = list(map(itemgetter(i), self.rows))
        else:
            values = [r[i] if i < len(r) else None for r in self.rows]
        if self.checked.table.csv:
            values = [cells.unescape_csv(v) if v.__class__ is str and v[:1] == "'" else v for v in values]
        return values

    def texts(self, field_: str, max_len: int | None = None) -> list[Any]:
        values = self.column(field_)
        if values is None:
            return [None] * self.count
        texts = _texts(values)
        if max_len is None:
            return texts
        return _passing(
            texts, lambda vs: fields.texts_pass(vs, max_len=max_len), lambda v: fields.texts_pass([v], max_len=max_len)
        )

    def extensions(self) -> list[Any]:
        values = self.column("extension")
        if values is None:
            return [None] * self.count
        kinds = set(map(type, values))
        if kinds == {float} and all(map(float.is_integer, values)):
            texts: list[Any] = list(map(str, map(int, values)))
        elif kinds == {int}:
            texts = list(map(str, values))
        else:
            texts = _texts(values) if kinds == {str} else [None]
            if kinds != {str} or any("." in t for t in texts if t is not None):
                texts = [cells.number_text(v) for v in values]
        return _passing(texts, fields.extensions_pass, _valid(fields.extension))

    def tokens(self, field_: str) -> list[Any]:
        values = self.column(field_)
        if values is None:
            return [None] * self.count
        return [_BAD if v is _BAD else v for v in (self._token(v, field_) for v in values)]

    @staticmethod
    def _token(value: Any, field_: str) -> Any:
        if value is None:
            return None
        try:
            return fields.token(cells.number_text(value), field_, required=False)
        except Invalid:
            return _BAD

    def entries(
        self, one: Callable[[int, list[Any]], Entry | None], progress: Callable[[int], None] | None
    ) -> list[Entry]:
        given = self.checked.given
        macs = cells.common_macs(self.column("mac") or [None] * self.count)
        hints = [v if v is None else v.lower() for v in self.texts("vendor")]
        hints = [v if v is None or v in self.vendor_names else _BAD for v in hints]
        model_texts = self.texts("model")
        customers = self.texts("customer", 200)
        names = self.texts("display_name", 200)
        passwords = self.texts("sip_password", 255)
        labels = self.texts("label", 100)
        serials = self.texts("serial", 64) if "serial" in given else [None] * self.count
        servers = self.texts("sip_server")
        good_servers = {v for v in set(servers) if v is not None and _valid(fields.host)(v)}
        servers = [v if v is None or v in good_servers else _BAD for v in servers]
        extensions = self.extensions()
        users, auths = self.tokens("sip_username"), self.tokens("auth_id")
        line_cells = self.column("line") or [None] * self.count
        ownership_cells = self.column("ownership") if "ownership" in given else None

        # Rows with a cell the checks above refused are checked on their own.
        bad = {
            k
            for values in (hints, customers, names, passwords, labels, serials, servers, extensions, users, auths)
            if _BAD in values
            for k, v in enumerate(values)
            if v is _BAD
        }
        models = self.models
        accounts_of: dict[Any, Any] = {}
        positions: dict[Any, Any] = {}
        ownerships: dict[Any, Any] = {}
        out: list[Entry] = []
        append = out.append
        done = 0
        for (
            row_number,
            row,
        ), mac, hint, model_text, customer, name, password, label, serial, server, ext, user, auth, line_cell, k in zip(
            self.body,
            macs,
            hints,
            model_texts,
            customers,
            names,
            passwords,
            labels,
            serials,
            servers,
            extensions,
            users,
            auths,
            line_cells,
            range(self.count),
            strict=True,
        ):
            entry = None
            found = models.get((model_text, hint)) if model_text is not None else None
            if (
                found.__class__ is tuple
                and mac is not None
                and customer
                and name
                and password
                and ext
                and not (bad and k in bad)
            ):
                vendor, model = found
                accounts = accounts_of.get(found)
                if accounts is None:
                    accounts = accounts_of[found] = vendors.get(vendor).caps(model).accounts
                position = positions.get((line_cell, accounts))
                if position is None:
                    try:
                        position = positions[(line_cell, accounts)] = cells.line_number(line_cell, accounts)
                    except (cells.CellError, TypeError):
                        position = None
                ownership = None
                if ownership_cells is not None:
                    cell = ownership_cells[k]
                    ownership = ownerships.get(cell)
                    if ownership is None:
                        try:
                            ownership = ownerships[cell] = cells.ownership(cell)
                        except (cells.CellError, TypeError):
                            position = None
                if position is not None:
                    user = user or ext
                    entry = Entry(
                        row_number,
                        mac,
                        vendor,
                        model,
                        serial,
                        ownership,
                        customer,
                        position,
                        {
                            "extension": ext,
                            "display_name": name,
                            "sip_username": user,
                            "auth_id": auth or user,
                            "password": password,
                            "label": label,
                            "sip_server": server,
                            "sip_port": None,
                            "sip_transport": None,
                        },
                        (),
                        server,
                        False,
                    )
            if entry is None:
                entry = one(row_number, row)
            if entry is not None:
                append(entry)
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(1000)
        if progress is not None:
            progress(done % 1000)
        return out


class FastPath:
    """Rows with nothing wrong, checked with as few calls as possible: the same checks as
    :func:`check_row`, a value that repeats down a column (customer, model, server, line)
    checked once. Returns None for anything else, and :func:`check_row` looks closer."""

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
        (
            mac_cell,
            vendor_cell,
            model_cell,
            line_cell,
            ext_cell,
            name_cell,
            user_cell,
            auth_cell,
            password_cell,
            server_cell,
            label_cell,
            serial_cell,
            ownership_cell,
            customer_cell,
        ) = v
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
                fields.text(customer, "customer")
                self.customers.add(customer)
            ext = fields.extension(ext, "extension")
            accounts = self.accounts.get(found)
            if accounts is None:
                accounts = self.accounts[found] = vendors.get(vendor).caps(model).accounts
            position = self.positions.get((line_cell, accounts))
            if position is None:
                position = self.positions[(line_cell, accounts)] = cells.line_number(line_cell, accounts)
            if server and server not in self.servers:
                fields.host(server, "sip_server")
                self.servers.add(server)
            line = fields.line_values(
                {
                    "display_name": name,
                    "sip_username": cells.number_text(user_cell) if user_cell is not None else None,
                    "auth_id": cells.number_text(auth_cell) if auth_cell is not None else None,
                    "password": password,
                    "label": _text(label_cell) if label_cell is not None else None,
                },
                ext,
            )
            line["sip_server"] = server or None
            serial = None
            if self.serial:
                serial = fields.text(
                    _text(serial_cell) if serial_cell is not None else None, "serial", required=False, max_len=64
                )
            ownership = None
            if self.ownership:
                ownership = self.ownerships.get(ownership_cell)
                if ownership is None:
                    ownership = self.ownerships[ownership_cell] = cells.ownership(ownership_cell)
        except (Invalid, cells.CellError, TypeError):
            return None
        return Entry(row, mac, vendor, model, serial, ownership, customer, position, line, (), server or None, restored)

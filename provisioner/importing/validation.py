"""Each row on its own: cells -> validated values, or problems naming row and column. Pure.

The values go through the same checks as every other interface
(:func:`provisioner.fields.line_values`, :func:`~provisioner.fields.mac`,
:func:`~provisioner.fields.model`, ...); this module only undoes what
spreadsheets do to cells (:mod:`.cells`) and collects *every* problem of a row
instead of stopping at the first. Checks that need other rows or the database
are :mod:`.planning`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import vendors
from ..errors import Invalid
from . import cells
from .bulk_checks import Columns, FastPath
from .columns import letter
from .entries import KEPT_WHEN_EMPTY, Checked, Entry, shown
from .keys import read_keys
from .reading import Table
from .row_checks import check_row

__all__ = ["KEPT_WHEN_EMPTY", "Checked", "Entry", "check"]


def check(table: Table, *, progress: Callable[[int], None] | None = None, bulk: bool = True) -> Checked:
    """Check every row of ``table``; returns the valid rows and the problems of the others.

    ``bulk``: check a column's cells together (:class:`Columns`) and look at a row on its own only
    when something in it needs a closer look; ``False`` checks each row on its own (the same result,
    slower: the tests compare the two)."""
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
    fast = FastPath(checked, models, vendor_names)
    unescape = table.csv
    index = {
        f: cols.get(f, -1)
        for f in (
            "mac",
            "vendor",
            "model",
            "line",
            "extension",
            "display_name",
            "sip_username",
            "auth_id",
            "sip_password",
            "sip_server",
            "label",
            "serial",
            "ownership",
            "customer",
        )
    }
    positions = tuple(index.values())
    keys = tuple(index)

    def one(row_number: int, row: list[Any]) -> Entry | None:
        width = len(row)
        values = [row[i] if 0 <= i < width else None for i in positions]
        if unescape and "'" in "".join(v[:1] for v in values if v.__class__ is str):
            values = [cells.unescape_csv(v) if v.__class__ is str and v[:1] == "'" else v for v in values]
        entry = fast.entry(row_number, values)
        if entry is None:
            entry = check_row(checked, row_number, dict(zip(keys, values, strict=True)), models, vendor_names)
        return entry

    body = list(table.body())
    if bulk and body:
        checked.entries = Columns(checked, body, index, models, vendor_names).entries(one, progress)
    else:
        done = 0
        for row_number, row in body:
            entry = one(row_number, row)
            if entry is not None:
                checked.entries.append(entry)
            done += 1
            if progress is not None and done % 1000 == 0:
                progress(1000)
        if progress is not None:
            progress(done % 1000)
    for entry in checked.entries:
        if entry.restored_mac:
            checked.notes.append(
                f"row {entry.row}: the MAC cell {shown(checked.cell(entry.row, 'mac'))} is a number "
                f"(Excel dropped its leading zeros): read as {entry.mac}"
            )
    read_keys(checked)
    return checked

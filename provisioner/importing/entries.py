"""What checking rows makes: each valid row as an :class:`Entry`, all of them with the problems of
the others as :class:`Checked`. Pure."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import msgspec

from . import cells
from .columns import Header, letter
from .problems import FIXES, HIDDEN, Problem
from .tables import Table

# Line fields a row may leave empty for a line that exists (its value is kept); a new line needs them.
KEPT_WHEN_EMPTY = ("display_name", "sip_password")


class Entry(msgspec.Struct, gc=False):
    """One valid row. ``None`` in a device field means "not given": keep what the device has.

    A msgspec Struct rather than a dataclass: built in C, about twice as fast for the 100,000 of a
    large file (``gc=False``: it holds no cycles, so the collector need not track it)."""

    row: int
    mac: str
    vendor: str | None
    model: str | None
    serial: str | None
    ownership: str | None
    customer: str | None  # the cell as written: a customer's code or name
    position: int
    line: dict[str, Any] | None  # fields.line_values(...); None for a phone in stock (no line)
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
    keys: dict[int, dict[int, dict[str, Any] | None]] = field(default_factory=dict)  # row -> position -> key cell

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
            row=row,
            field=field_,
            column=self.header.titles[index] if index is not None else None,
            letter=letter(index) if index is not None else None,
            value=HIDDEN if field_ == "sip_password" and value not in (None, "") else shown(value),
            message=message,
            fix=fix or FIXES.get(field_, "correct the cell"),
        )


def shown(value: Any) -> str | None:
    text = cells.as_text(value) if not isinstance(value, str) else value
    if text is None or not text.strip():
        return None
    return text if len(text) <= 200 else text[:197] + "..."

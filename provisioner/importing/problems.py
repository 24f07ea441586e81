"""What can be wrong with a spreadsheet: the whole file, or one cell of one row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import Invalid


class SheetError(Invalid):
    """The whole file is unusable (unreadable, encrypted, too large, no header row)."""

    key = "bad_spreadsheet"


class FileTooLarge(SheetError):
    status = 413
    key = "too_large"


# What to do about a bad value, per field.
FIXES = {
    "customer": "write the customer's code or name (a new one is created with the SIP server of its rows)",
    "mac": "type the 12 hexadecimal digits printed on the phone's label, e.g. 00:15:65:AB:CD:EF",
    "vendor": "write yealink, snom, polycom or grandstream, or leave it empty",
    "model": "write a model the server knows (imports/README.md lists them), e.g. T54W, D785, VVX450, GRP2614",
    "line": "write 1 for the phone's first account, 2 for the second, ...",
    "extension": "fill in the extension, e.g. 201 (letters, digits and * # + . _ - only)",
    "display_name": "fill in the name the phone shows, on one line",
    "sip_username": "leave it empty to use the extension, or write the SIP user without spaces or quotes",
    "auth_id": "leave it empty to use the SIP user, or write it without spaces or quotes",
    "sip_password": "fill in the line's SIP password, on one line",
    "sip_server": "write a host name or IP address, e.g. pbx.example.com, or leave it empty for the customer's server",
    "label": "write a short label on one line, or leave it empty",
    "serial": "write the serial number on one line, or leave it empty",
    "ownership": "write rental (the provider's phone) or owned (the customer's)",
}

HIDDEN = "(hidden)"


@dataclass(frozen=True)
class Problem:
    """One bad cell (or row): where, what, why and how to fix it. Never holds a password."""

    row: int  # as the spreadsheet shows it
    field: str  # canonical field name (mac, extension, ...)
    column: str | None  # header as written in the file; None when the column is missing
    letter: str | None  # column letter, None when the column is missing
    value: str | None  # the cell as text; HIDDEN for passwords
    message: str
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "field": self.field,
            "column": self.column,
            "letter": self.letter,
            "value": self.value,
            "message": self.message,
            "fix": self.fix,
        }

    def __str__(self) -> str:
        where = f"column {self.column!r} ({self.letter})" if self.column else f"{self.field} (no such column)"
        value = f" {self.value!r}" if self.value not in (None, HIDDEN) else ""
        return f"row {self.row}, {where}{':' if value else ''}{value}: {self.message}. Fix: {self.fix}"

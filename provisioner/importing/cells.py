"""One cell at a time: what a spreadsheet holds -> the text a field wants. Pure: no I/O.

Spreadsheets change what people type: Excel turns ``001565...`` MACs into
numbers (dropping the leading zeros), extensions into ``3001.0`` and keeps a
cell starting with ``=`` as text only when told. These functions undo that, and
:func:`escape_csv`/:func:`unescape_csv` keep formula-looking text as text in
the CSV files we write and read back.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from typing import Any

from .. import vendors
from ..macs import InvalidMAC, parse_mac

FORMULA_START = ("=", "+", "-", "@")
_INTEGRAL = re.compile(r"[0-9]+\.0*")
_DIGITS = re.compile(r"[0-9]+")
_MAC_SEPARATORS = re.compile(r"[\s:.\-]")
# The spellings nearly every sheet uses; parse_mac gives the same result for them, and handles the rest.
_COMMON_MAC = re.compile(
    r"[0-9A-Fa-f]{12}|[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}|[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}"
)
_DROP_SEPARATORS = str.maketrans("", "", ":-.")
_HEX = re.compile(r"[0-9A-Fa-f]*")


class CellError(ValueError):
    """A cell we cannot use: ``message`` says why, ``fix`` what to type instead."""

    def __init__(self, message: str, fix: str):
        super().__init__(message)
        self.message = message
        self.fix = fix


def as_text(value: Any) -> str | None:
    """A cell as trimmed text; None when empty. Whole numbers lose a spurious ``.0``."""
    if value is None:
        return None
    if isinstance(value, str):
        return value.strip() or None
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (datetime, date, time)):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    return str(value).strip() or None


def number_text(value: Any) -> str | None:
    """An extension typed as a number (``3001``, ``3001.0``, ``"3001.0"``) -> ``"3001"``."""
    text = as_text(value)
    if text is not None and _INTEGRAL.fullmatch(text):
        return text.split(".", 1)[0]
    return text


def line_number(value: Any, accounts: int | None = None) -> int:
    """The account slot of a row: 1 when empty."""
    text = number_text(value)
    if text is None:
        return 1
    if not _DIGITS.fullmatch(text) or not 1 <= int(text) <= 99:
        raise CellError(
            f"line {text!r} is not a whole number from 1",
            "write 1 for the phone's first account, 2 for the second, ...",
        )
    number = int(text)
    if accounts is not None and number > accounts:
        raise CellError(
            f"line {number}: this model has {accounts} SIP account{'s' if accounts > 1 else ''}",
            f"use a line from 1 to {accounts}, or a model with more accounts",
        )
    return number


_MAC_FIX = "type the 12 hexadecimal digits printed on the phone's label, e.g. 00:15:65:AB:CD:EF"


def mac(value: Any, vendor: str | None = None) -> tuple[str, bool]:
    """(canonical MAC, restored): ``restored`` when Excel had turned it into a number.

    A number that lost its leading zeros is padded to 12 digits only when the
    result is a MAC prefix of a known vendor (the model's, when known).
    """
    if value.__class__ is str:
        text = value.strip()
        if _COMMON_MAC.fullmatch(text):
            return text.translate(_DROP_SEPARATORS).upper(), False
    if value is None or (isinstance(value, str) and not value.strip()):
        raise CellError("MAC missing", _MAC_FIX)
    if isinstance(value, float) and not value.is_integer():
        raise CellError(f"{value!r} is a number, not a MAC", "format the column as Text and type the MAC again")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return _restored(str(int(value)), vendor), True
    text = as_text(value) or ""
    if _DIGITS.fullmatch(text) and len(text) < 12:
        return _restored(text, vendor), True
    try:
        return parse_mac(text), False
    except InvalidMAC:
        raise CellError(_mac_problem(text), _MAC_FIX) from None


_COMMON_MACS = re.compile(rf"(?:{_COMMON_MAC.pattern})(?:\n(?:{_COMMON_MAC.pattern}))*")


def common_macs(values: list[Any]) -> list[str | None]:
    """The canonical MAC of each value written in a common spelling (as :func:`mac` gives it), None
    for any other value: a whole column at once, one regex pass when every cell is such a MAC."""
    if values and set(map(type, values)) == {str}:
        texts = list(map(str.strip, values))
        joined = "\n".join(texts)
        if _COMMON_MACS.fullmatch(joined):
            found: list[str | None] = [*joined.translate(_DROP_SEPARATORS).upper().split("\n")]
            return found
    out: list[str | None] = []
    for value in values:
        text = value.strip() if value.__class__ is str else None
        out.append(text.translate(_DROP_SEPARATORS).upper() if text and _COMMON_MAC.fullmatch(text) else None)
    return out


def _restored(digits: str, vendor: str | None) -> str:
    if len(digits) > 12:
        raise CellError(
            f"{digits} is a number of {len(digits)} digits, not a MAC",
            "format the column as Text and type the MAC again",
        )
    padded = digits.zfill(12)
    maker = vendors.vendor_for_mac(padded)
    if maker is None or (vendor is not None and maker.name != vendor):
        whose = f"a {vendor} MAC prefix" if vendor else "the MAC prefix of a known vendor"
        raise CellError(
            f"{digits} looks like a MAC whose leading zeros were lost, but {padded} does not start with {whose}",
            "format the column as Text and type the MAC again",
        )
    return padded


def _mac_problem(text: str) -> str:
    bare = _MAC_SEPARATORS.sub("", text)
    if not _HEX.fullmatch(bare):
        bad = next(ch for ch in bare if not _HEX.fullmatch(ch))
        return f"MAC {text!r} is not hexadecimal ({bad!r} is not 0-9 or A-F)"
    if len(bare) < 12:
        return f"MAC {text!r} is too short ({len(bare)} of 12 hex digits)"
    if len(bare) > 12:
        return f"MAC {text!r} is too long ({len(bare)} hex digits, a MAC has 12)"
    return f"MAC {text!r} is not spelled like a MAC address"


_OWNERSHIP = {
    "rental": "rental",
    "rent": "rental",
    "rented": "rental",
    "noleggio": "rental",
    "owned": "owned",
    "own": "owned",
    "customer": "owned",
    "proprieta": "owned",
    "cliente": "owned",
    "acquisto": "owned",
    "venduto": "owned",
}


def ownership(value: Any) -> str:
    text = as_text(value)
    if text is None:
        return "rental"
    key = text.casefold().replace("à", "a")
    if key not in _OWNERSHIP:
        raise CellError(
            f"ownership {text!r} is not rental or owned",
            "write rental (the provider's phone) or owned (the customer's)",
        )
    return _OWNERSHIP[key]


# --- formula-looking text stays text ---------------------------------------------------


def escape_csv(text: str) -> str:
    """Text for a CSV cell a spreadsheet will not evaluate: ``=x`` -> ``'=x``.

    A leading apostrophe is doubled too, so :func:`unescape_csv` is exact.
    """
    if text.startswith((*FORMULA_START, "'")):
        return "'" + text
    return text


def unescape_csv(text: str) -> str:
    """Undo :func:`escape_csv`: ``'=x`` -> ``=x``; any other text is returned as is."""
    if len(text) > 1 and text[0] == "'" and text[1] in "=+-@'":
        return text[1:]
    return text

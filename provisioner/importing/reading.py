"""Spreadsheet files -> rows of cells, as the spreadsheet program shows them.

CSV (UTF-8 with or without BOM, UTF-16, or Windows-1252 as Italian Excel saves
it; ``,`` ``;`` or tab, sniffed) is read with the csv module. XLSX, legacy XLS
and ODS are read with python-calamine (about ten times faster than openpyxl).
Each sheet's dimensions are checked before its cells are expanded, and a ZIP-based file's entries before anything is
decompressed (first the sizes the archive declares, then what each entry really
inflates to, counted as a stream and stopped at the limit), so neither a zip bomb nor a cell at
XFD1048576 can exhaust memory.

Rows keep their position: ``rows[i]`` is what the spreadsheet shows as row
``i + 1``, title rows and blank rows included.
"""

from __future__ import annotations

from pathlib import Path

from .csv_files import decode, read_csv, sniff_delimiter
from .problems import SheetError
from .tables import Limits, Table, size_text, too_large
from .workbooks import ENCRYPTED_PACKAGE, OLE, encrypted, read_workbook, zip_kind

__all__ = ["Limits", "Table", "decode", "read", "read_path", "size_text", "sniff_delimiter"]


def read_path(path: Path, *, sheet: str | None = None, limits: Limits | None = None) -> Table:
    limits = limits or Limits()
    try:
        size = path.stat().st_size
        if size > limits.max_bytes:
            raise too_large(size, limits)
        data = path.read_bytes()
    except OSError as exc:
        raise SheetError(f"cannot read {path.name}: {exc.strerror or exc}") from None
    return read(data, path.name, sheet=sheet, limits=limits)


def read(data: bytes, name: str, *, sheet: str | None = None, limits: Limits | None = None) -> Table:
    """The sheet of ``data`` that has the header row (or the sheet named ``sheet``)."""
    limits = limits or Limits()
    if len(data) > limits.max_bytes:
        raise too_large(len(data), limits)
    if not data.strip():
        raise SheetError(f"{name} is empty")
    if data.startswith(b"PK\x03\x04"):
        kind = zip_kind(data, name, limits)
    elif data.startswith(OLE):
        if ENCRYPTED_PACKAGE in data[: 1024 * 1024] or ENCRYPTED_PACKAGE in data[-1024 * 1024 :]:
            raise encrypted(name)
        kind = "xls"
    else:
        return read_csv(data, name, sheet, limits)
    return read_workbook(data, name, kind, sheet, limits)

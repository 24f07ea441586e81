"""What every reader makes: the :class:`Table` of one sheet, the :class:`Limits` on what is read,
and the errors every format shares (file too large, no header row, too many rows)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .columns import HEADER_SCAN_ROWS, TEMPLATE_HEADERS, Header
from .problems import FileTooLarge, SheetError

MB = 1024 * 1024


@dataclass(frozen=True)
class Limits:
    """Bounds on what an import reads. Each may be set by an environment variable."""

    max_bytes: int = 50 * MB  # PROVISIONER_IMPORT_MAX_BYTES
    max_rows: int = 200_000  # PROVISIONER_IMPORT_MAX_ROWS (data rows)
    max_columns: int = 200
    max_unzipped_bytes: int = 1024 * MB  # PROVISIONER_IMPORT_MAX_UNZIPPED_BYTES (XLSX/ODS content)
    max_ratio: int = 200  # a ZIP entry may expand this many times, at most

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, **overrides: int | None) -> Limits:
        values: dict[str, int] = {}
        for field, var in (
            ("max_bytes", "PROVISIONER_IMPORT_MAX_BYTES"),
            ("max_rows", "PROVISIONER_IMPORT_MAX_ROWS"),
            ("max_unzipped_bytes", "PROVISIONER_IMPORT_MAX_UNZIPPED_BYTES"),
        ):
            if env.get(var):
                try:
                    values[field] = int(env[var])
                except ValueError:
                    raise SheetError(f"{var}={env[var]!r} is not a whole number") from None
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class Table:
    """One sheet: every row from row 1, and its header row."""

    name: str  # the file's name, as uploaded
    kind: str  # csv | xlsx | xls | ods
    sheet: str | None  # the sheet's name (None for CSV)
    detail: str  # how it was read: encoding and delimiter, or the sheet
    rows: list[list[Any]]
    header: Header
    csv: bool = False  # cells may carry our CSV escape (cells.unescape_csv): a CSV with a cell starting with "'"

    def body(self):  # type: ignore[no-untyped-def]
        """(row number as shown, cells) of each non-blank row under the header."""
        rows = self.rows
        for index in range(self.header.index + 1, len(rows)):
            row = rows[index]
            if any(row) or any(cell is not None and cell != "" for cell in row):
                yield index + 1, row


def size_text(size: int) -> str:
    return f"{size / MB:.1f} MB" if size >= MB else f"{size / 1024:.1f} KB" if size >= 1024 else f"{size} bytes"


def too_large(size: int, limits: Limits) -> FileTooLarge:
    return FileTooLarge(
        f"the file is {size_text(size)}; the limit is {size_text(limits.max_bytes)} "
        f"(split it, or raise PROVISIONER_IMPORT_MAX_BYTES)"
    )


def no_header(name: str, where: str) -> SheetError:
    return SheetError(
        f"no header row in {where} of {name}: one of the first {HEADER_SCAN_ROWS} rows must name "
        f"the columns, with at least MAC and one more (e.g. {', '.join(TEMPLATE_HEADERS[:6])}); "
        f"imports/ has blank templates"
    )


def check_rows(table: Table, limits: Limits) -> None:
    count = len(table.rows) - table.header.index - 1
    if count > limits.max_rows:
        raise FileTooLarge(
            f"{table.name} has {count} rows under the header; the limit is {limits.max_rows} "
            f"(split the file, or raise PROVISIONER_IMPORT_MAX_ROWS)"
        )


# --- CSV ----------------------------------------------------------------------------

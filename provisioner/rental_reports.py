"""Rental reports as files for the office: CSV (UTF-8 with BOM, opens in Excel) and XLSX."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

from .errors import Invalid

HEADERS = {
    "mac": "MAC",
    "customer": "Customer",
    "customer_name": "Customer name",
    "vendor": "Vendor",
    "model": "Model",
    "serial": "Serial",
    "status": "Status",
    "reason": "Due because",
    "contract_end": "Contract end",
    "due_from": "Due from",
    "deadline": "Return deadline",
    "days_late": "Days late",
    "owed": "Owed to date (EUR)",
    "charged": "Charged (EUR)",
    "outstanding": "Outstanding (EUR)",
}
FORMATS = ("csv", "xlsx")
CONTENT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def format_of(path: Path) -> str:
    suffix = path.suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise Invalid(f"{path.name}: the report can be written as .csv or .xlsx", field="output")
    return suffix


def render(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, title: str = "Rentals") -> bytes:
    if fmt == "csv":
        return _csv(rows, columns)
    if fmt == "xlsx":
        return _xlsx(rows, columns, title)
    raise Invalid(f"format {fmt!r} must be one of: {', '.join(FORMATS)}", field="format")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _csv(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([HEADERS.get(c, c) for c in columns])
    for row in rows:
        writer.writerow([_text(row.get(c)) for c in columns])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _xlsx(rows: Sequence[dict[str, Any]], columns: Sequence[str], title: str) -> bytes:
    from openpyxl import Workbook

    book = Workbook()
    sheet = book.active
    sheet.title = title[:31]
    sheet.append([HEADERS.get(c, c) for c in columns])
    for row in rows:
        values = []
        for c in columns:
            value = row.get(c)
            values.append(float(value) if isinstance(value, Decimal) else value)
        sheet.append(values)
    for index, column in enumerate(columns, 1):
        letter = sheet.cell(row=1, column=index).column_letter
        sheet.column_dimensions[letter].width = max(12, len(HEADERS.get(column, column)) + 2)
        for cell in sheet[letter][1:]:
            if isinstance(cell.value, float):
                cell.number_format = "#,##0.00"
            elif isinstance(cell.value, date):
                cell.number_format = "yyyy-mm-dd"
    sheet.freeze_panes = "A2"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()

"""Files and views for people: the XLSX error report, exports, the plan as JSON and as text.

Every string written to a spreadsheet is written as text, never as a formula: a display
name ``=HYPERLINK(...)`` or a password ``=CJ6...`` opens as the characters typed (XLSX cells
typed as strings; CSV cells escaped with a leading apostrophe, see :mod:`.cells`).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from . import cells, keys
from .planning import Change, Plan
from .problems import Problem
from .reading import Table

BAD_FILL = "FFC7CE"  # Excel's "bad" red
ERROR_FONT = "9C0006"
MAX_LISTED = 40


def _xlsx_cell(sheet: Any, value: Any, *, bad: bool = False, bold: bool = False, error: bool = False) -> Any:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    cell = WriteOnlyCell(sheet, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # text, even when it starts with = + - @
    if bad:
        cell.fill = PatternFill("solid", fgColor=BAD_FILL)
    if bold or error:
        cell.font = Font(bold=bold, color=ERROR_FONT if error else None)
    return cell


def write_xlsx(headers: Sequence[str], rows: Iterable[Sequence[Any]], target: Any, *, sheet: str = "Devices") -> None:
    """A one-sheet workbook: a bold header row, then ``rows``. ``target``: a path or a binary file."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    ws = book.create_sheet(sheet)
    ws.freeze_panes = "A2"
    ws.append([_xlsx_cell(ws, h, bold=True) for h in headers])
    for row in rows:
        ws.append([_xlsx_cell(ws, v) if v is not None else None for v in row])
    book.save(target)


def write_csv(headers: Sequence[str], rows: Iterable[Sequence[Any]], target: Any) -> None:
    """UTF-8 with BOM (so Excel reads accents), comma-separated, formula-looking text escaped.
    ``target``: a text file opened with ``newline=""``."""
    writer = csv.writer(target, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if v is None else cells.escape_csv(v) if isinstance(v, str) else v for v in row])


def error_report(table: Table, problems: Sequence[Problem]) -> bytes:
    """The sheet as read, at the same row numbers, with an ``errors`` column and the bad cells red.
    SIP passwords are never copied: their cells say "set" or "missing"."""
    from openpyxl import Workbook

    by_row: dict[int, list[Problem]] = defaultdict(list)
    for problem in problems:
        by_row[problem.row].append(problem)
    header = table.header
    width = max([len(r) for r in table.rows] + [1])
    while width > 0 and all(len(r) < width or r[width - 1] in (None, "") for r in table.rows):
        width -= 1
    errors_col = max(width, max(header.titles, default=-1) + 1)
    columns = {field: index for field, index in header.fields.items()}
    secret = columns.get("sip_password")  # never written back: "set" or "missing" instead
    book = Workbook(write_only=True)
    ws = book.create_sheet((table.sheet or "Import")[:31])
    ws.freeze_panes = f"A{header.index + 2}"
    for index, row in enumerate(table.rows):
        number = index + 1
        found = by_row.get(number, [])
        bad = {columns[p.field] for p in found if p.field in columns}
        out: list[Any] = []
        for col in range(errors_col):
            value = row[col] if col < len(row) else None
            if value == "":
                value = None
            if col == secret and index > header.index:
                value = "missing" if value is None or not str(value).strip() else "set"
            out.append(
                _xlsx_cell(ws, value, bad=col in bad, bold=index == header.index)
                if value is not None or col in bad
                else None
            )
        if index == header.index:
            out.append(_xlsx_cell(ws, "errors", bold=True))
        elif found:
            text = "; ".join(f"{p.column or p.field}: {p.message}. Fix: {p.fix}" for p in found)
            out.append(_xlsx_cell(ws, text, error=True))
        ws.append(out)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# --- the plan, for scripts and for people ---------------------------------------------------------


def plan_dict(table: Table, plan: Plan, *, applied: bool, dry_run: bool) -> dict[str, Any]:
    header = table.header
    return {
        "file": table.name,
        "format": table.kind,
        "sheet": table.sheet,
        "read_as": table.detail,
        "header_row": header.index + 1,
        "rows": plan.rows,
        "columns": {field: header.titles[index] for field, index in header.fields.items()},
        "unknown_columns": [header.titles[i] for i in header.unknown],
        "notes": plan.notes,
        "counts": plan.counts(),
        "changes": [c.to_dict() for c in plan.changes],
        "problems": [p.to_dict() for p in plan.problems],
        "skipped_rows": plan.skipped_rows,
        "rejected": plan.rejected,
        "dry_run": dry_run,
        "applied": applied,
        "fingerprint": plan.fingerprint,
    }


def describe(change: Change) -> str:
    rows = ", ".join(map(str, change.rows[:5])) + (", ..." if len(change.rows) > 5 else "")
    where = f" (row{'s' if len(change.rows) > 1 else ''} {rows})" if change.rows else ""
    if change.kind == "key":
        return keys.describe(change) + where
    if change.action == "create":
        after = change.after
        if change.kind == "device":
            what = (
                f"for {after['customer']}, lines {', '.join(after['lines'])}" if after.get("customer") else "in stock"
            )
            return f"+ device {change.key} {after['vendor']} {after['model']} {what}{where}"
        if change.kind == "line":
            return f"+ line {change.key} {after.get('display_name')!r}{where}"
        return f"+ customer {change.key} {after.get('name')!r}, SIP server {after.get('sip_server')}{where}"
    before, after = change.before or {}, change.after
    diffs = [
        f"{k} {before.get(k)!r} -> {after.get(k)!r}"
        for k in after
        if k != "password_changed" and before.get(k) != after.get(k)
    ]
    if after.get("password_changed"):
        diffs.append("SIP password changed")
    return f"~ {change.kind} {change.key}: {'; '.join(diffs)}{where}"


def text_lines(table: Table, plan: Plan, *, applied: bool, dry_run: bool, verbose: bool) -> list[str]:
    header = table.header
    out = [f"{table.name}: {table.kind.upper()} ({table.detail}), header on row {header.index + 1}, {plan.rows} rows"]
    out += [f"note: {n}" for n in plan.notes[: MAX_LISTED // 2]]
    if len(plan.notes) > MAX_LISTED // 2:
        out.append(f"note: ... and {len(plan.notes) - MAX_LISTED // 2} more (--json lists them all)")
    if plan.problems:
        out.append(f"{len(plan.problems)} problem{'s' * (len(plan.problems) > 1)}:")
        out += [f"  {p}" for p in plan.problems]
    listed = [c for c in plan.changes if verbose or c.action != "create" or c.kind == "key"]
    if listed:
        out.append("changes:")
        out += [f"  {describe(c)}" for c in listed[:MAX_LISTED]]
        if len(listed) > MAX_LISTED:
            out.append(f"  ... and {len(listed) - MAX_LISTED} more (--json lists them all)")
    out.append(f"plan: {plan.summary()}")
    if plan.rejected:
        valid = plan.rows - len({p.row for p in plan.problems})
        out.append(
            f"rejected: nothing was changed. Fix the rows above (--report writes them into a copy of the "
            f"file), or use --skip-invalid to apply the {valid} valid row{'s' * (valid != 1)}"
        )
    elif dry_run:
        out.append("dry run: nothing was changed")
    elif applied:
        skipped = f"; {len(plan.skipped_rows)} rows skipped" if plan.skipped_rows else ""
        out.append(f"applied in one transaction: {plan.change_count} change{'s' * (plan.change_count != 1)}{skipped}")
    return out

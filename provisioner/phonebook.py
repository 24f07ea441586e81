"""A customer's phonebook: its extensions (read from its lines) plus the contacts added here.

Every change is one transaction with one audit event carrying the customer's id, so the config
cache drops the files of every phone of that customer and their phonebook is rendered again
(``<mac>-phonebook.xml``, Polycom ``<mac>-directory.xml``). Imports are all or nothing: a bad row
is named (row number, column, what is wrong) and nothing is written.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .changes import find_customer
from .db import Store
from .errors import Invalid
from .fields import text

MAX_FILE_BYTES = 5 * 1024 * 1024
MAX_CONTACTS = 10_000  # per import, and per customer
# A number as the phone dials it: digits and + * #, or a SIP user/URI part.
_NUMBER = re.compile(r"[0-9A-Za-z+*#._@:\-]{1,64}")
# Header spellings (case-insensitive), English and Italian.
_COLUMNS = {
    "name": "name",
    "nome": "name",
    "number": "number",
    "numero": "number",
    "phone": "number",
    "telefono": "number",
    "group": "group",
    "gruppo": "group",
    "kind": "kind",
}


def number(value: Any, field: str = "number") -> str:
    raw = text(value, field, max_len=64)
    assert raw is not None
    squeezed = re.sub(r"[\s()/]", "", raw)  # "+39 06 1234 5678", "(06) 1234-5678" as typed
    if not _NUMBER.fullmatch(squeezed):
        raise Invalid(f"{field} {raw!r} is not a phone number (digits, + * #, or a SIP user)", field=field)
    return squeezed


def _contact(name: Any, num: Any, group: Any) -> dict[str, Any]:
    return {
        "name": text(name, "name"),
        "number": number(num),
        "group_name": text(group, "group", required=False, max_len=100),
    }


def add(store: Store, actor: str, customer_code: str, name: str, num: str, group: str | None = None) -> dict[str, Any]:
    row = _contact(name, num, group)
    return _write(store, actor, customer_code, [row], source="phonebook add")


def remove(store: Store, actor: str, customer_code: str, *, name: str | None = None, num: str | None = None) -> int:
    if name is None and num is None:
        raise Invalid("say which contact to remove: a name, a number or both", field="name")
    with store.transaction() as tx:
        customer = find_customer(tx, customer_code)
        count = tx.delete_contacts(
            customer["id"], name=text(name, "name", required=False), number=number(num) if num is not None else None
        )
        if count == 0:
            raise Invalid(f"customer {customer['code']} has no such contact in its phonebook", field="name")
        tx.add_event(
            actor=actor,
            action="phonebook.removed",
            customer_id=customer["id"],
            summary=f"{count} contact(s) removed from the phonebook of {customer['code']}",
            before={"name": name, "number": num},
        )
        return count


def entries(store: Store, customer_code: str) -> list[dict[str, Any]]:
    """The whole phonebook as its phones show it: extensions (group None, kind "extension"), then contacts."""
    with store.reading() as tx:
        customer = find_customer(tx, customer_code)
        extensions, contacts = tx.phonebooks([customer["id"]])[customer["id"]]
    return [
        {"name": e["name"] or e["number"], "number": e["number"], "group": None, "kind": "extension"}
        for e in extensions
    ] + [{"name": c["name"], "number": c["number"], "group": c["group_name"], "kind": "contact"} for c in contacts]


def export_csv(store: Store, customer_code: str) -> str:
    """The phonebook as CSV (name, number, group, kind): what ``import`` takes back (kind ignored)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["name", "number", "group", "kind"])
    for e in entries(store, customer_code):
        writer.writerow([_safe(e["name"]), _safe(e["number"]), _safe(e["group"] or ""), e["kind"]])
    return out.getvalue()


def _safe(value: str) -> str:
    # A cell a spreadsheet would evaluate (=, +, -, @) is kept as text; a number "+39..." too.
    return "'" + value if value[:1] in ("=", "@") else value


def import_file(store: Store, actor: str, customer_code: str, path: Path) -> dict[str, int]:
    """Add the contacts of a CSV or XLSX file (columns name, number, group); all or nothing.

    A contact already in the phonebook (same name and number) is skipped and counted."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise Invalid(
                f"{path.name} is {size:,} bytes; a phonebook file may be at most {MAX_FILE_BYTES:,}", field="file"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise Invalid(f"cannot read {path.name}: {exc.strerror or exc}", field="file") from None
    rows = _read(data, path.name)
    return _import_rows(store, actor, customer_code, rows, path.name)


def _read(data: bytes, name: str) -> list[list[Any]]:
    if data.startswith(b"PK\x03\x04"):
        from python_calamine import CalamineWorkbook

        try:
            book = CalamineWorkbook.from_filelike(io.BytesIO(data))
            return [list(r) for r in book.get_sheet_by_index(0).to_python(skip_empty_area=False)]
        except Exception as exc:  # calamine raises its own errors and Rust panics: all mean unreadable
            raise Invalid(f"{name} is not a readable XLSX file ({exc})", field="file") from None
    try:
        textual = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        textual = data.decode("cp1252", errors="replace")
    first = textual.split("\n", 1)[0]
    delimiter = max((";", ",", "\t"), key=first.count)
    return [row for row in csv.reader(io.StringIO(textual), delimiter=delimiter)]


def _import_rows(
    store: Store, actor: str, customer_code: str, rows: Sequence[Sequence[Any]], source: str
) -> dict[str, int]:
    if not rows:
        raise Invalid(f"{source} is empty", field="file")
    header = [str(c or "").strip().lower() for c in rows[0]]
    where = {}
    for index, cell in enumerate(header):
        key = _COLUMNS.get(cell)
        if key and key not in where:
            where[key] = index
    missing = [k for k in ("name", "number") if k not in where]
    if missing:
        raise Invalid(
            f"{source}: the first row must name the columns name and number (and optionally group); "
            f"missing: {', '.join(missing)}",
            field="file",
        )
    found: list[dict[str, Any]] = []
    problems: list[str] = []
    for number_shown, row in enumerate(rows[1:], 2):
        cells = [_cell(row, where.get(k)) for k in ("name", "number", "group")]
        if not any(cells) or _cell(row, where.get("kind")) == "extension":
            continue  # an export's extension rows: those are the customer's lines, not contacts
        try:
            found.append(_contact(*cells))
        except Invalid as exc:
            problems.append(f"row {number_shown}: {exc.message}")
    if problems:
        shown = "; ".join(problems[:20]) + (f"; and {len(problems) - 20} more" if len(problems) > 20 else "")
        raise Invalid(f"{source}: nothing imported, {len(problems)} bad row(s): {shown}", field="file")
    if len(found) > MAX_CONTACTS:
        raise Invalid(f"{source} holds {len(found):,} contacts; at most {MAX_CONTACTS:,} at once", field="file")
    return _write(store, actor, customer_code, found, source=source)


def _cell(row: Sequence[Any], index: int | None) -> str | None:
    if index is None or index >= len(row) or row[index] is None:
        return None
    value = row[index]
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a number typed in a spreadsheet cell
    value = str(value).strip()
    if len(value) > 1 and value[0] == "'" and value[1] in "=@+-'":
        value = value[1:]  # our own export's escape
    return value or None


def _write(store: Store, actor: str, customer_code: str, rows: list[dict[str, Any]], *, source: str) -> dict[str, int]:
    with store.transaction() as tx:
        customer = find_customer(tx, customer_code)
        existing = {(c["name"], c["number"]) for c in tx.phonebook_contacts(customer["id"])}
        fresh, seen = [], set(existing)
        for row in rows:
            key = (row["name"], row["number"])
            if key not in seen:
                seen.add(key)
                fresh.append(row)
        if len(existing) + len(fresh) > MAX_CONTACTS:
            raise Invalid(
                f"customer {customer['code']} would have {len(existing) + len(fresh):,} contacts; "
                f"at most {MAX_CONTACTS:,}",
                field="file",
            )
        tx.insert_contacts(customer["id"], fresh)
        if fresh:
            tx.add_event(
                actor=actor,
                action="phonebook.added",
                customer_id=customer["id"],
                summary=f"{len(fresh)} contact(s) added to the phonebook of {customer['code']} ({source})",
                after={
                    "contacts": [
                        {"name": r["name"], "number": r["number"], "group": r["group_name"]} for r in fresh[:50]
                    ],
                    "count": len(fresh),
                },
            )
        return {"added": len(fresh), "skipped": len(rows) - len(fresh)}

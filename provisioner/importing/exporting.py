"""Devices and their lines -> the import's own columns, so an export imports back with no change.

One row per line of each phone (in slot order), one row without a line for a phone in
stock. Phones assigned to a customer without any line are left out (a row of a customer
with no extension would not import). The file holds SIP passwords: the export is recorded.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from ..db import Store
from ..errors import Invalid, NotFound
from ..macs import colon
from .columns import FIELDS, TEMPLATE_HEADERS
from .reports import write_csv, write_xlsx

FORMATS = ("xlsx", "csv")


def rows(store: Store, customer: str | None = None) -> tuple[list[list[Any]], int]:
    """(rows in FIELDS order, phones left out because they have a customer but no line)."""
    with store.reading() as tx:
        customer_id = None
        if customer is not None:
            found = tx.customer_by_code(customer.strip())
            if found is None:
                raise NotFound(f"no customer {customer!r}", field="customer")
            customer_id = found["id"]
        records = tx.export_rows(customer_id)
    out = []
    left_out = 0
    for r in records:
        if r["extension"] is None and r["customer_code"] is not None:
            left_out += 1
            continue
        line = r["extension"] is not None
        values = {
            "customer": r["customer_code"],
            "mac": colon(r["mac"]),
            "vendor": r["vendor"],
            "model": r["model"],
            "line": r["position"] if line else None,
            "extension": r["extension"],
            "display_name": r["display_name"],
            "sip_username": r["sip_username"],
            "auth_id": r["auth_id"],
            "sip_password": r["password"],
            "sip_server": (r["sip_server"] or r["customer_server"]) if line else None,
            "label": r["label"],
            "serial": r["serial"],
            "ownership": r["ownership"],
        }
        out.append([values[f] for f in FIELDS])
    return out, left_out


def export(
    store: Store, actor: str, target: Path | str, *, customer: str | None = None, fmt: str | None = None
) -> dict[str, Any]:
    """Write the export to ``target`` (format from its suffix, or ``fmt``); returns counts."""
    fmt = (fmt or Path(str(target)).suffix.lstrip(".")).lower()
    if fmt not in FORMATS:
        raise Invalid(f"cannot export to {fmt or 'a file without suffix'!r}: name the file .xlsx or .csv", field="file")
    data, left_out = rows(store, customer)
    body = render(data, fmt)
    Path(target).write_bytes(body)
    devices = len({r[FIELDS.index("mac")] for r in data})
    lines = sum(1 for r in data if r[FIELDS.index("extension")] is not None)
    with store.transaction() as tx:
        customer_id = tx.customer_by_code(customer.strip())["id"] if customer else None  # type: ignore[index]
        tx.add_event(
            actor=actor,
            action="devices.exported",
            customer_id=customer_id,
            summary=f"{devices} devices and {lines} lines (with their SIP passwords) exported to "
            f"{Path(str(target)).name}" + (f" for {customer}" if customer else ""),
        )
    return {"devices": devices, "lines": lines, "left_out": left_out, "format": fmt}


def render(data: list[list[Any]], fmt: str) -> bytes:
    if fmt == "xlsx":
        buffer = io.BytesIO()
        write_xlsx(TEMPLATE_HEADERS, data, buffer)
        return buffer.getvalue()
    text = io.StringIO(newline="")
    write_csv(TEMPLATE_HEADERS, data, text)
    return "\ufeff".encode() + text.getvalue().encode("utf-8")

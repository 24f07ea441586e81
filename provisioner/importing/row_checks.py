"""One row checked on its own: every problem of the row collected, not only the first. Pure."""

from __future__ import annotations

from typing import Any

from .. import fields, vendors
from ..errors import Invalid
from . import cells
from .entries import Checked, Entry
from .problems import Problem

_PLACEHOLDER = {"display_name": "-", "password": "-"}
_SERVICE_FIELD = {"password": "sip_password"}  # services' name -> ours


def check_row(checked: Checked, row: int, raw: dict[str, Any], models: dict, vendor_names: set[str]) -> Entry | None:
    problems: list[Problem] = []

    def fail(field_: str, message: str, fix: str | None = None) -> None:
        problems.append(checked.problem(row, field_, raw.get(field_), message, fix))

    # Vendor and model first: a MAC that Excel made a number is restored only for its vendor's prefix.
    vendor = cells.as_text(raw["vendor"])
    if vendor is not None:
        vendor = vendor.lower()
        if vendor not in vendor_names:
            fail("vendor", f"unknown vendor {vendor!r} (known: {', '.join(sorted(vendor_names))})")
            vendor = None
    model = None
    model_text = cells.as_text(raw["model"])
    if model_text is not None:
        key = (model_text, vendor)
        found = models.get(key)
        if found is None:
            try:
                found = fields.model(model_text, vendor)
            except Invalid as exc:
                found = exc
            models[key] = found
        if isinstance(found, Invalid):
            fail("model", found.message)
            found = None
        else:
            vendor, model = found

    mac = None
    restored = False
    try:
        mac, restored = cells.mac(raw["mac"], vendor)
    except cells.CellError as exc:
        fail("mac", exc.message, exc.fix)

    customer = cells.as_text(raw["customer"])
    if customer is not None:
        try:
            fields.text(customer, "customer")
        except Invalid as exc:
            fail("customer", exc.message)
    extension = cells.number_text(raw["extension"])
    line_cells = ("display_name", "sip_username", "auth_id", "sip_password", "sip_server", "label")
    has_line = (
        extension is not None or customer is not None or any(cells.as_text(raw[f]) is not None for f in line_cells)
    )

    accounts = vendors.get(vendor).caps(model).accounts if model is not None and vendor is not None else None
    position = 1
    try:
        position = cells.line_number(raw["line"], accounts)
    except cells.CellError as exc:
        fail("line", exc.message, exc.fix)

    line = None
    missing: list[str] = []
    server = None
    if has_line:
        if extension is None:
            fail(
                "extension",
                "extension missing"
                + (" (a line needs one)" if "extension" in checked.given else ": add an Extension column"),
            )
        else:
            try:
                extension = fields.extension(extension, "extension")
            except Invalid as exc:
                fail("extension", exc.message)
                extension = None
        if customer is None:
            fail(
                "customer",
                "customer missing: a line belongs to a customer"
                if "customer" in checked.given
                else "customer missing: add a Customer column with the customer's code or name",
            )
        data = {
            "display_name": cells.as_text(raw["display_name"]),
            "sip_username": cells.number_text(raw["sip_username"]),
            "auth_id": cells.number_text(raw["auth_id"]),
            "password": cells.as_text(raw["sip_password"]),
            "label": cells.as_text(raw["label"]),
            "sip_server": cells.as_text(raw["sip_server"]),
        }
        server = data["sip_server"]
        for service_field in ("display_name", "password"):
            if data[service_field] is None:
                missing.append(_SERVICE_FIELD.get(service_field, service_field))
                data[service_field] = _PLACEHOLDER[service_field]
        for _attempt in range(len(data) + 1):
            try:
                line = fields.line_values(data, extension or "0")
                break
            except Invalid as exc:
                name = exc.field or "display_name"
                fail(_SERVICE_FIELD.get(name, name), exc.message)
                data[name] = _PLACEHOLDER.get(name)
                if name == "sip_server":
                    server = None

    serial = None
    if "serial" in checked.given:
        try:
            serial = fields.text(cells.as_text(raw["serial"]), "serial", required=False, max_len=64)
        except Invalid as exc:
            fail("serial", exc.message)
    ownership = None
    if "ownership" in checked.given:
        try:
            ownership = cells.ownership(raw["ownership"])
        except cells.CellError as exc:
            fail("ownership", exc.message, exc.fix)

    if problems:
        checked.problems.extend(problems)
        checked.bad_rows[row] = mac
        return None
    assert mac is not None
    return Entry(
        row=row,
        mac=mac,
        vendor=vendor,
        model=model,
        serial=serial,
        ownership=ownership,
        customer=customer,
        position=position,
        line=line,
        missing=tuple(missing),
        server=server,
        restored_mac=restored,
    )

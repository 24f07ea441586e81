"""Customers, lines and devices: the operations every interface calls.

Each write validates its input first, runs in one transaction and appends an
audit event in that same transaction. Errors are :mod:`provisioner.errors`
exceptions that name the field at fault; none holds a password.
"""

from __future__ import annotations

import secrets as _secrets
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from . import access, fields, firmware, rentals, vendors
from .activity import flag_downloads
from .changes import (
    CUSTOMER_FIELDS,
    LINE_VIEW,
    DeviceChange,
    find_customer,
    find_device,
    public,
)
from .db import Store, Tx
from .errors import Conflict, Invalid, NotFound
from .fields import (
    LANGUAGES,
    OWNERSHIPS,
    TRANSPORTS,
    choice,
    extension,
    host,
    port,
    text,
    timezone_name,
)
from .redirect import outbox as redirect_outbox

# --- customers ---------------------------------------------------------------------

_CLEARABLE = ("ntp_server", "resync_after_change", "country", "codecs", "check_hour", "check_interval_hours")
# The phones' admin password: typed on a keypad at worst, so no look-alikes and no ':' (Yealink
# writes "admin:<password>"). Migration 0009_phone_baseline uses the same alphabet and length.
_ADMIN_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"


def new_admin_password() -> str:
    """A phone admin password: 12 characters, about 70 random bits."""
    return "".join(_secrets.choice(_ADMIN_ALPHABET) for _ in range(12))


def _customer_values(data: Mapping[str, Any], partial: bool) -> dict[str, Any]:
    checks = {
        "name": lambda v: text(v, "name"),
        "sip_server": lambda v: host(v, "sip_server"),
        "sip_port": lambda v: port(v, "sip_port"),
        "sip_transport": lambda v: choice(v, TRANSPORTS, "sip_transport"),
        "timezone": lambda v: timezone_name(v, "timezone"),
        "language": lambda v: choice(v, LANGUAGES, "language"),
        "ntp_server": lambda v: host(v, "ntp_server", required=False),
        "resync_after_change": lambda v: fields.on_off_default(v, "resync_after_change"),
        "country": lambda v: fields.country(v),
        "codecs": lambda v: fields.codecs(v),
        "check_hour": lambda v: fields.whole(v, "check_hour", 0, 23),
        "check_interval_hours": lambda v: fields.whole(v, "check_interval_hours", 1, 168),
    }
    values = {}
    for key, check in checks.items():
        if key in data and (data[key] is not None or key in _CLEARABLE):
            values[key] = check(data[key])
        elif not partial and key in ("name", "sip_server"):
            raise Invalid(f"{key} is required", field=key)
    return values


def add_customer(store: Store, actor: str, code: str, *, path_key: str = "none", **data: Any) -> dict[str, Any]:
    """Add a customer. ``path_key="new"`` (what the CLI, the API and imports ask by default) gives
    it a secret path key in the same transaction; the row then holds it once as ``new_path_key``."""
    customer_code = fields.code(code, "code")
    with_key = choice(path_key, ("new", "none"), "path_key") == "new"
    values = _customer_values(data, partial=False)
    with store.transaction() as tx:
        if tx.customer_by_code(customer_code):
            raise Conflict(f"customer {customer_code!r} already exists", field="code")
        # Every customer's phones get their own admin password (the factory admin/admin is public).
        customer_id = tx.insert_customer({"code": customer_code, **values, "admin_password": new_admin_password()})
        row = tx.customer_by_id(customer_id)
        after = {**(public(row, *CUSTOMER_FIELDS) or {}), "admin_password_set": True}
        if with_key:
            key = access.new_secret()
            tx.save_customer_security(customer_id, {"path_key": key})
            after = {**(after or {}), "path_key_set": True}  # that it is set, never the key
        tx.add_event(
            actor=actor,
            action="customer.created",
            customer_id=customer_id,
            summary=f"customer {customer_code} created",
            after=after,
        )
        return {**row, "new_path_key": key} if with_key else row  # type: ignore[dict-item,return-value]


def update_customer(store: Store, actor: str, code: str, **data: Any) -> dict[str, Any]:
    values = _customer_values(data, partial=True)
    with store.transaction() as tx:
        before = find_customer(tx, code)
        tx.update_customer(before["id"], values)
        after = tx.customer_by_id(before["id"])
        tx.add_event(
            actor=actor,
            action="customer.updated",
            customer_id=before["id"],
            summary=f"customer {before['code']} updated",
            before=public(before, *CUSTOMER_FIELDS),
            after=public(after, *CUSTOMER_FIELDS),
        )
        return after  # type: ignore[return-value]


ADMIN_PASSWORD_MIN = 8
ADMIN_PASSWORD_MAX = 64


def typed_admin_password(value: Any) -> str:
    """A typed admin password: one line, 8 to 64 characters. The error never holds the password."""
    text_ = "" if value is None else str(value)
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text_):
        raise Invalid("admin_password must be one line", field="admin_password")
    if len(text_) < ADMIN_PASSWORD_MIN:
        raise Invalid(f"admin_password must be at least {ADMIN_PASSWORD_MIN} characters", field="admin_password")
    if len(text_) > ADMIN_PASSWORD_MAX:
        raise Invalid(f"admin_password must be at most {ADMIN_PASSWORD_MAX} characters", field="admin_password")
    return text_


def admin_password(
    store: Store, actor: str, code: str, *, new: bool = False, password: str | None = None
) -> str | None:
    """The admin password of customer ``code``'s phones; ``new=True`` generates another, ``password``
    sets a typed one (an event says so, never the password). None: none set, the phones keep their own."""
    if password is not None:
        password = typed_admin_password(password)
    elif not new:
        with store.reading() as tx:
            return find_customer(tx, code)["admin_password"]  # type: ignore[no-any-return]
    with store.transaction() as tx:
        row = find_customer(tx, code)
        typed = password is not None
        password = password if password is not None else new_admin_password()
        tx.update_customer(row["id"], {"admin_password": password})
        tx.add_event(
            actor=actor,
            action="customer.admin_password",
            customer_id=row["id"],
            summary=f"{'typed' if typed else 'new'} admin password for the phones of {row['code']}",
            after={"admin_password_changed": True},
        )
        return password


def get_customer(store: Store, code: str) -> dict[str, Any]:
    with store.reading() as tx:
        return find_customer(tx, code)


def list_customers(store: Store, q: str | None = None) -> list[dict[str, Any]]:
    """Customers by code; with ``q``, those whose code or name holds it (case-insensitive)."""
    text_ = (q or "").strip().casefold()
    with store.reading() as tx:
        rows = tx.list_customers()
    return [r for r in rows if not text_ or text_ in r["code"].casefold() or text_ in r["name"].casefold()]


def lines_of_customer(store: Store, code: str) -> list[dict[str, Any]]:
    """A customer's lines by extension, each with ``holder``: the MAC of the device it is on, or None."""
    with store.reading() as tx:
        customer = find_customer(tx, code)
        rows = tx.lines_with_holders(customer_ids=[customer["id"]])
    return sorted(rows, key=lambda r: r["extension"])


# --- lines -------------------------------------------------------------------------


def add_line(store: Store, actor: str, customer_code: str, ext: str, **data: Any) -> dict[str, Any]:
    ext = fields.extension(ext)
    # voicemail is not a spreadsheet column: kept out of line_values, which imports compare as is.
    values = {**fields.line_values(data, ext), "voicemail": fields.voicemail(data.get("voicemail"))}
    with store.transaction() as tx:
        customer = find_customer(tx, customer_code)
        if tx.line(customer["id"], ext):
            raise Conflict(f"customer {customer['code']} already has extension {ext}", field="extension")
        line_id = tx.insert_line({"customer_id": customer["id"], **values})
        tx.add_event(
            actor=actor,
            action="line.created",
            customer_id=customer["id"],
            summary=f"line {ext} of {customer['code']} created",
            after=public(values, *LINE_VIEW),
        )
        return {"id": line_id, "customer_id": customer["id"], **values}


def update_line(store: Store, actor: str, customer_code: str, ext: str, **data: Any) -> dict[str, Any]:
    with store.transaction() as tx:
        customer = find_customer(tx, customer_code)
        before = tx.line(customer["id"], str(ext).strip())
        if before is None:
            raise NotFound(f"customer {customer['code']} has no extension {ext!r}", field="extension")
        merged = {**before, **{k: v for k, v in data.items() if v is not None}}
        values = {
            **fields.line_values(merged, before["extension"]),
            "voicemail": fields.voicemail(merged.get("voicemail")),
        }
        tx.update_line(before["id"], values)
        after = {**before, **values}
        changes = public(after, *LINE_VIEW) or {}
        if values["password"] != before["password"]:
            changes["password_changed"] = True
        where = tx.device_of_line(before["id"])
        tx.add_event(
            actor=actor,
            action="line.updated",
            customer_id=customer["id"],
            device_mac=where["mac"] if where else None,
            summary=f"line {before['extension']} of {customer['code']} updated",
            before=public(before, *LINE_VIEW),
            after=changes,
        )
        return after


# --- devices -----------------------------------------------------------------------


def resolve_lines(tx: Tx, customer: Mapping[str, Any], extensions: Sequence[str], device_id: int | None) -> list[int]:
    """Line ids for ``extensions`` of ``customer``, each free or already on this device."""
    if len(set(extensions)) != len(extensions):
        raise Invalid("the same extension is listed twice", field="line")
    ids = []
    for ext in extensions:
        row = tx.line(customer["id"], extension(ext, "line"))
        if row is None:
            raise NotFound(
                f"customer {customer['code']} has no extension {ext!r} (add it with "
                f"`provisioner line add {customer['code']} {ext} ...`)",
                field="line",
            )
        holder = tx.device_of_line(row["id"])
        if holder is not None:
            holder_row = tx.device(holder["mac"])
            if holder_row is not None and holder_row["id"] != device_id:
                raise Conflict(f"extension {ext} is already on device {holder['mac']}", field="line")
        ids.append(row["id"])
    return ids


def add_device(
    store: Store,
    actor: str,
    mac: str,
    *,
    model: str,
    vendor: str | None = None,
    customer: str | None = None,
    lines: Sequence[str] = (),
    serial: str | None = None,
    ownership: str = "rental",
    settings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    canonical = fields.mac(mac)
    vendor_name, model_key = fields.model(model, vendor.lower() if vendor else None)
    values: dict[str, Any] = {
        "mac": canonical,
        "vendor": vendor_name,
        "model": model_key,
        "serial": text(serial, "serial", required=False, max_len=64),
        "ownership": choice(ownership, OWNERSHIPS, "ownership"),
        "settings": fields.device_settings(settings or {}),
    }
    if lines and not customer:
        raise Invalid("lines need a customer (--customer)", field="customer")
    caps = vendors.get(vendor_name).caps(model_key)
    if len(lines) > caps.accounts:
        raise Invalid(f"{model_key} has {caps.accounts} SIP accounts; {len(lines)} lines given", field="line")
    with store.transaction() as tx:
        if tx.device(canonical):
            raise Conflict(f"device {canonical} already exists", field="mac")
        customer_row = find_customer(tx, customer) if customer else None
        if customer_row and rentals.contract_ended(customer_row["contract_end"], rentals.today()):
            raise Conflict(
                f"the contract of {customer_row['code']} ended on "
                f"{customer_row['contract_end'].isoformat()}: it cannot take devices (cancel the "
                "termination first, or add the device to stock)",
                field="customer",
            )
        values["customer_id"] = customer_row["id"] if customer_row else None
        values["state"] = "deployed" if customer_row else "in_stock"
        line_ids = resolve_lines(tx, customer_row, list(lines), None) if customer_row else []
        change = DeviceChange(tx, None, mac=canonical)
        device_id = tx.insert_device(values)
        tx.set_device_lines(device_id, line_ids)
        redirect_outbox.devices_changed(tx, [canonical])
        device = change.reload()
        change.emit(
            actor, "device.created", f"device {canonical} ({model_key}) created", customer_id=values["customer_id"]
        )
        return device


def set_device_settings(
    store: Store, actor: str, mac: str, settings: Mapping[str, Any], *, replace: bool = False
) -> dict[str, Any]:
    new = fields.device_settings(settings)
    with store.transaction() as tx:
        change = DeviceChange.of(tx, mac)
        device = change.device
        assert device is not None
        merged = new if replace else {**(device["settings"] or {}), **new}
        merged = {k: v for k, v in merged.items() if v != ""}
        tx.update_device(device["id"], {"settings": merged})
        after_row = change.reload()
        change.emit(actor, "device.settings", f"settings of {device['mac']} changed", customer_id=device["customer_id"])
        return after_row


def show_device(store: Store, mac: str) -> dict[str, Any]:
    """A device as support staff see it: record, customer, lines (no passwords), history."""
    with store.reading() as tx:
        device = find_device(tx, mac, lock=False)
        customer = tx.customer_by_id(device["customer_id"]) if device["customer_id"] else None
        lines_ = [
            {"position": row["position"], **(public(row, *LINE_VIEW) or {})} for row in tx.device_lines(device["id"])
        ]
        history = tx.events_of_device(device["mac"])
        downloads = flag_downloads(tx.downloads_of_device(device["mac"]))
        view = {**(public(device) or {}), **firmware.device_status(tx, device)}
    flagged = sorted({d["ip"] for d in downloads if d["flagged"]})
    # Where its credentials went: a second address within the hour is a warning sign.
    # A row stands for ``count`` repeats of one fetch, the last at ``last_at`` (NULL: at ``at``).
    latest = max(downloads, key=lambda d: d["last_at"] or d["at"], default=None)
    view["downloads"] = {
        "count": sum(d["count"] for d in downloads),
        "last_at": (latest["last_at"] or latest["at"]).isoformat() if latest else None,
        "last_ip": latest["ip"] if latest else None,
        "flagged": bool(flagged),
        "flagged_ips": flagged,
    }
    # What support staff need is the state today: a terminated contract makes rented phones due back
    # from its end date on, without a write.
    view["state"] = rentals.effective_state(
        device["state"], device["ownership"], customer.get("contract_end") if customer else None, rentals.today()
    )
    return {
        **view,
        "customer": public(customer, "code", "name") if customer else None,
        "lines": lines_,
        "history": [public(e) for e in history],
    }


def unknown_devices(store: Store, since: datetime | None = None) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return [public(row) for row in tx.list_unknown(since=since)]  # type: ignore[misc]


def claim_unknown(
    store: Store, actor: str, mac: str, *, model: str | None = None, vendor: str | None = None, **device: Any
) -> dict[str, Any]:
    """Add a phone that asked for its configuration while unknown as a device, with the vendor and
    model it announced unless others are given (:func:`add_device` for the rest)."""
    canonical = fields.mac(mac)
    with store.reading() as tx:
        seen = next((row for row in tx.list_unknown() if row["mac"] == canonical), None)
    if seen is None:
        raise NotFound(f"no unknown phone with MAC {canonical} was seen (or it is a device already)", field="mac")
    model = model or seen["model"]
    if not model:
        raise Invalid(f"the phone {canonical} did not announce its model: give the model", field="model")
    return add_device(store, actor, canonical, model=model, vendor=vendor or seen["vendor"], **device)

"""Customers, lines and devices: the operations every interface calls.

Each write validates its input first, runs in one transaction and appends an
audit event in that same transaction. Errors are :mod:`provisioner.errors`
exceptions that name the field at fault; none holds a password.
"""

from __future__ import annotations

import re
import secrets as _secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from . import access, rentals, timezones, vendors
from .activity import flag_downloads
from .errors import Conflict, Invalid, NotFound
from .macs import InvalidMAC, parse_mac
from .redirect import outbox as redirect_outbox
from .rendering import Account, DeviceData
from .store import Store, Tx

TRANSPORTS = ("udp", "tcp", "tls")
OWNERSHIPS = ("rental", "owned")
LANGUAGES = ("it", "en", "de", "fr", "es", "pt", "nl")
# The phone baseline: tone countries every vendor module can spell, and the codecs a customer may order.
COUNTRIES = ("IT", "DE", "FR", "GB", "NL", "US")
DEFAULT_COUNTRY = "IT"
CODECS = ("g722", "pcma", "pcmu", "g729", "opus")

_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_EXTENSION = re.compile(r"[A-Za-z0-9*#+][A-Za-z0-9*#+_.-]{0,63}")
_TOKEN = re.compile(r"[^\s\x00-\x1f\x7f\"<>]{1,128}")
_HOST = re.compile(r"(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9-]{1,63})*\.?|\[[0-9A-Fa-f:.]+\]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
# Line, customer and device fields kept out of audit events.
_SECRET_FIELDS = frozenset({"password", "path_key", "admin_password"})
# The phones' admin password: typed on a keypad at worst, so no look-alikes and no ':' (Yealink
# writes "admin:<password>"). Migration 0009_phone_baseline uses the same alphabet and length.
_ADMIN_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_VOICEMAIL = re.compile(r"[0-9*#+]{1,32}")


# --- validation (pure) -------------------------------------------------------------


def text(value: Any, field: str, *, required: bool = True, max_len: int = 200) -> str | None:
    """Trimmed single-line text, or None when optional and empty."""
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise Invalid(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        value = str(value)
    value = value.strip()
    if _CONTROL.search(value):
        raise Invalid(f"{field} must be one line of text without control characters", field=field)
    if len(value) > max_len:
        raise Invalid(f"{field} is longer than {max_len} characters", field=field)
    return value


# Bulk forms of the checks above, for spreadsheet imports: one regex pass over a whole column.
# Each says whether every value (trimmed text, never empty) passes its check unchanged.

def texts_pass(values: Sequence[str], *, max_len: int = 200) -> bool:
    """True when :func:`text` (and :func:`secret`, with ``max_len=255``) accepts each of ``values`` as is."""
    return not _CONTROL.search(" ".join(values)) and max(map(len, values), default=0) <= max_len


_EXTENSIONS = re.compile(rf"(?:{_EXTENSION.pattern})(?:\n(?:{_EXTENSION.pattern}))*")


def extensions_pass(values: Sequence[str]) -> bool:
    """True when :func:`extension` accepts each of ``values`` as is."""
    return not values or (texts_pass(values, max_len=64) and _EXTENSIONS.fullmatch("\n".join(values)) is not None)


def secret(value: Any, field: str = "password") -> str:
    """A password: required, one line; the message never repeats it."""
    if not isinstance(value, str) or not value:
        raise Invalid(f"{field} is required", field=field)
    if _CONTROL.search(value):
        raise Invalid(f"{field} must not contain line breaks or control characters", field=field)
    if len(value) > 255:
        raise Invalid(f"{field} is longer than 255 characters", field=field)
    return value


def code(value: Any, field: str = "code") -> str:
    value = text(value, field, max_len=64)
    assert value is not None
    if not _CODE.fullmatch(value):
        raise Invalid(f"{field} {value!r} may only hold letters, digits, '.', '_' and '-'", field=field)
    return value


def extension(value: Any, field: str = "extension") -> str:
    value = text(value, field, max_len=64)
    assert value is not None
    if not _EXTENSION.fullmatch(value):
        raise Invalid(f"{field} {value!r} may only hold letters, digits and * # + . _ -", field=field)
    return value


def token(value: Any, field: str, *, required: bool = True) -> str | None:
    """A SIP user or auth id: no spaces, quotes or angle brackets."""
    value = text(value, field, required=required, max_len=128)
    if value is not None and not _TOKEN.fullmatch(value):
        raise Invalid(f"{field} {value!r} must not contain spaces, quotes or < >", field=field)
    return value


def host(value: Any, field: str = "sip_server", *, required: bool = True) -> str | None:
    value = text(value, field, required=required, max_len=253)
    if value is not None and not _HOST.fullmatch(value):
        raise Invalid(f"{field} {value!r} is not a host name or IP address", field=field)
    return value


def port(value: Any, field: str = "sip_port") -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise Invalid(f"{field} {value!r} is not a port number", field=field) from None
    if not 1 <= number <= 65535:
        raise Invalid(f"{field} {number} is not between 1 and 65535", field=field)
    return number


def choice(value: Any, options: Sequence[str], field: str) -> str:
    text_value = str(value or "").strip().lower()
    if text_value not in options:
        raise Invalid(f"{field} {value!r} must be one of: {', '.join(options)}", field=field)
    return text_value


def mac(value: Any, field: str = "mac") -> str:
    try:
        return parse_mac(value)
    except InvalidMAC:
        raise Invalid(f"{field} {value!r} is not a MAC address (e.g. 00:15:65:AB:CD:EF)", field=field) from None


def timezone_name(value: Any, field: str = "timezone") -> str:
    name = text(value, field, max_len=64)
    assert name is not None
    try:
        timezones.lookup(name)
    except timezones.UnknownTimeZone as exc:
        raise Invalid(str(exc), field=field) from None
    return name


def model(value: Any, vendor_name: str | None = None, field: str = "model") -> tuple[str, str]:
    """(vendor, model) from a model name in any common spelling."""
    name = text(value, field, max_len=64)
    assert name is not None
    if vendor_name is not None and vendor_name.lower() not in {v.name for v in vendors.all_vendors()}:
        known = ", ".join(v.name for v in vendors.all_vendors())
        raise Invalid(f"unknown vendor {vendor_name!r} (known: {known})", field="vendor")
    found = vendors.vendor_for_model(name, vendor_name)
    if found is None:
        known = ", ".join(f"{v.name}: {' '.join(v.models)}" for v in vendors.all_vendors()
                          if not vendor_name or v.name == vendor_name)
        raise Invalid(f"unknown phone model {name!r} (known models: {known})", field=field)
    vendor, key = found
    return vendor.name, key


def public(row: Mapping[str, Any] | None, *fields: str) -> dict[str, Any] | None:
    """A row as an audit snapshot: chosen fields, never a secret, JSON-friendly."""
    if row is None:
        return None
    keys = fields or tuple(row)
    out = {}
    for key in keys:
        if key in _SECRET_FIELDS or key in ("created_at", "updated_at", "id"):
            continue
        value = row.get(key)
        out[key] = value.isoformat() if isinstance(value, (datetime, date)) else value
    return out


# --- customers ---------------------------------------------------------------------

CUSTOMER_FIELDS = ("code", "name", "sip_server", "sip_port", "sip_transport", "timezone", "language",
                   "ntp_server", "country", "codecs", "check_hour", "check_interval_hours")
_CLEARABLE = ("ntp_server", "resync_after_change", "country", "codecs", "check_hour", "check_interval_hours")


def new_admin_password() -> str:
    """A phone admin password: 12 characters, about 70 random bits."""
    return "".join(_secrets.choice(_ADMIN_ALPHABET) for _ in range(12))


def country(value: Any, field: str = "country") -> str | None:
    """A tone country (ISO 3166 two letters) the vendor modules know; empty: the default (IT)."""
    text_value = str(value or "").strip().upper()
    if not text_value:
        return None
    if text_value not in COUNTRIES:
        raise Invalid(f"{field} {value!r} must be one of: {', '.join(COUNTRIES)}", field=field)
    return text_value


def codecs(value: Any, field: str = "codecs") -> str | None:
    """A codec order, e.g. "g722,pcma,pcmu"; empty: each phone keeps its own."""
    names = [n.strip().lower() for n in str(value or "").replace(" ", ",").split(",") if n.strip()]
    if not names:
        return None
    unknown = [n for n in names if n not in CODECS]
    if unknown:
        raise Invalid(f"{field}: unknown codec {unknown[0]!r} (known: {', '.join(CODECS)})", field=field)
    if len(set(names)) != len(names):
        raise Invalid(f"{field}: a codec is listed twice", field=field)
    return ",".join(names)


def whole(value: Any, field: str, low: int, high: int) -> int | None:
    """A whole number from low to high; empty: None (the default applies)."""
    if value is None or str(value).strip() == "":
        return None
    text_value = str(value).strip()
    if not text_value.isdigit() or not low <= int(text_value) <= high:
        raise Invalid(f"{field} {value!r} must be a whole number from {low} to {high}", field=field)
    return int(text_value)


def voicemail(value: Any, field: str = "voicemail") -> str | None:
    """The number a line's message key dials (*97); empty: no voicemail, no MWI."""
    text_value = str(value or "").strip()
    if not text_value:
        return None
    if not _VOICEMAIL.fullmatch(text_value):
        raise Invalid(f"{field} {value!r} may only hold digits, * # and + (e.g. *97)", field=field)
    return text_value


def _customer_values(data: Mapping[str, Any], partial: bool) -> dict[str, Any]:
    checks = {
        "name": lambda v: text(v, "name"),
        "sip_server": lambda v: host(v, "sip_server"),
        "sip_port": lambda v: port(v, "sip_port"),
        "sip_transport": lambda v: choice(v, TRANSPORTS, "sip_transport"),
        "timezone": lambda v: timezone_name(v, "timezone"),
        "language": lambda v: choice(v, LANGUAGES, "language"),
        "ntp_server": lambda v: host(v, "ntp_server", required=False),
        "resync_after_change": lambda v: _on_off_default(v, "resync_after_change"),
        "country": lambda v: country(v),
        "codecs": lambda v: codecs(v),
        "check_hour": lambda v: whole(v, "check_hour", 0, 23),
        "check_interval_hours": lambda v: whole(v, "check_interval_hours", 1, 168),
    }
    values = {}
    for key, check in checks.items():
        if key in data and (data[key] is not None or key in _CLEARABLE):
            values[key] = check(data[key])
        elif not partial and key in ("name", "sip_server"):
            raise Invalid(f"{key} is required", field=key)
    return values


def add_customer(store: Store, actor: str, code_: str, *, path_key: str = "none", **data: Any) -> dict[str, Any]:
    """Add a customer. ``path_key="new"`` (what the CLI, the API and imports ask by default) gives
    it a secret path key in the same transaction; the row then holds it once as ``new_path_key``."""
    customer_code = code(code_, "code")
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
        tx.add_event(actor=actor, action="customer.created", customer_id=customer_id,
                     summary=f"customer {customer_code} created", after=after)
        return {**row, "new_path_key": key} if with_key else row  # type: ignore[dict-item,return-value]


def _on_off_default(value: Any, name: str) -> bool | None:
    """on/off/true/false, or server/default/None: follow the server's flag."""
    if value is None or isinstance(value, bool):
        return value
    text_ = str(value).strip().lower()
    if text_ in ("on", "true", "yes", "1"):
        return True
    if text_ in ("off", "false", "no", "0"):
        return False
    if text_ in ("server", "default", ""):
        return None
    raise Invalid(f"{name} must be on, off or server (follow the server's flag), not {value!r}", field=name)


def update_customer(store: Store, actor: str, code_: str, **data: Any) -> dict[str, Any]:
    values = _customer_values(data, partial=True)
    with store.transaction() as tx:
        before = _customer(tx, code_)
        tx.update_customer(before["id"], values)
        after = tx.customer_by_id(before["id"])
        tx.add_event(actor=actor, action="customer.updated", customer_id=before["id"],
                     summary=f"customer {before['code']} updated",
                     before=public(before, *CUSTOMER_FIELDS), after=public(after, *CUSTOMER_FIELDS))
        return after  # type: ignore[return-value]


def admin_password(store: Store, actor: str, code_: str, *, new: bool = False) -> str | None:
    """The admin password of customer ``code_``'s phones; ``new=True`` generates another (an event
    says so, never the password). None: none set, the phones keep their own."""
    if not new:
        with store.reading() as tx:
            return _customer(tx, code_)["admin_password"]  # type: ignore[no-any-return]
    with store.transaction() as tx:
        row = _customer(tx, code_)
        password = new_admin_password()
        tx.update_customer(row["id"], {"admin_password": password})
        tx.add_event(actor=actor, action="customer.admin_password", customer_id=row["id"],
                     summary=f"new admin password for the phones of {row['code']}",
                     after={"admin_password_changed": True})
        return password


def _customer(tx: Tx, code_: str) -> dict[str, Any]:
    row = tx.customer_by_code(str(code_).strip())
    if row is None:
        raise NotFound(f"no customer {code_!r}", field="customer")
    return row


def get_customer(store: Store, code_: str) -> dict[str, Any]:
    with store.reading() as tx:
        return _customer(tx, code_)


def list_customers(store: Store, q: str | None = None) -> list[dict[str, Any]]:
    """Customers by code; with ``q``, those whose code or name holds it (case-insensitive)."""
    text_ = (q or "").strip().casefold()
    with store.reading() as tx:
        rows = tx.list_customers()
    return [r for r in rows if not text_ or text_ in r["code"].casefold() or text_ in r["name"].casefold()]


def lines_of_customer(store: Store, code_: str) -> list[dict[str, Any]]:
    """A customer's lines by extension, each with ``holder``: the MAC of the device it is on, or None."""
    with store.reading() as tx:
        customer = _customer(tx, code_)
        rows = tx.lines_with_holders(customer_ids=[customer["id"]])
    return sorted(rows, key=lambda r: r["extension"])


# --- lines -------------------------------------------------------------------------

LINE_FIELDS = ("extension", "display_name", "sip_username", "auth_id", "label", "sip_server", "sip_port",
               "sip_transport")
LINE_VIEW = (*LINE_FIELDS, "voicemail")  # what events and views show of a line (imports leave voicemail be)


def line_values(data: Mapping[str, Any], ext: str) -> dict[str, Any]:
    """Validate a whole line; SIP user defaults to the extension, auth id to the SIP user."""
    user = token(data.get("sip_username"), "sip_username", required=False) or ext
    values = {
        "extension": ext,
        "display_name": text(data.get("display_name"), "display_name"),
        "sip_username": user,
        "auth_id": token(data.get("auth_id"), "auth_id", required=False) or user,
        "password": secret(data.get("password"), "password"),
        "label": text(data.get("label"), "label", required=False, max_len=100),
        "sip_server": host(data.get("sip_server"), "sip_server", required=False),
        "sip_port": port(data["sip_port"]) if data.get("sip_port") not in (None, "") else None,
        "sip_transport": (choice(data["sip_transport"], TRANSPORTS, "sip_transport")
                          if data.get("sip_transport") else None),
    }
    return values


def add_line(store: Store, actor: str, customer_code: str, ext: str, **data: Any) -> dict[str, Any]:
    ext = extension(ext)
    # voicemail is not a spreadsheet column: kept out of line_values, which imports compare as is.
    values = {**line_values(data, ext), "voicemail": voicemail(data.get("voicemail"))}
    with store.transaction() as tx:
        customer = _customer(tx, customer_code)
        if tx.line(customer["id"], ext):
            raise Conflict(f"customer {customer['code']} already has extension {ext}", field="extension")
        line_id = tx.insert_line({"customer_id": customer["id"], **values})
        tx.add_event(actor=actor, action="line.created", customer_id=customer["id"],
                     summary=f"line {ext} of {customer['code']} created", after=public(values, *LINE_VIEW))
        return {"id": line_id, "customer_id": customer["id"], **values}


def update_line(store: Store, actor: str, customer_code: str, ext: str, **data: Any) -> dict[str, Any]:
    with store.transaction() as tx:
        customer = _customer(tx, customer_code)
        before = tx.line(customer["id"], str(ext).strip())
        if before is None:
            raise NotFound(f"customer {customer['code']} has no extension {ext!r}", field="extension")
        merged = {**before, **{k: v for k, v in data.items() if v is not None}}
        values = {**line_values(merged, before["extension"]), "voicemail": voicemail(merged.get("voicemail"))}
        tx.update_line(before["id"], values)
        after = {**before, **values}
        changes = public(after, *LINE_VIEW) or {}
        if values["password"] != before["password"]:
            changes["password_changed"] = True
        where = tx.device_of_line(before["id"])
        tx.add_event(actor=actor, action="line.updated", customer_id=customer["id"],
                     device_mac=where["mac"] if where else None,
                     summary=f"line {before['extension']} of {customer['code']} updated",
                     before=public(before, *LINE_VIEW), after=changes)
        return after


# --- devices -----------------------------------------------------------------------

DEVICE_FIELDS = ("mac", "vendor", "model", "serial", "ownership", "state", "customer", "lines", "settings")


def _device(tx: Tx, mac_: str) -> dict[str, Any]:
    canonical = mac(mac_)
    row = tx.device(canonical)
    if row is None:
        raise NotFound(f"no device with MAC {canonical}", field="mac")
    return row


def device_snapshot(tx: Tx, device: Mapping[str, Any]) -> dict[str, Any]:
    """What an audit event records of a device: no secrets, lines by extension."""
    customer = tx.customer_by_id(device["customer_id"]) if device.get("customer_id") else None
    snap = public(device, "mac", "vendor", "model", "serial", "ownership", "state", "settings") or {}
    snap["customer"] = customer["code"] if customer else None
    snap["lines"] = [row["extension"] for row in tx.device_lines(device["id"])] if device.get("id") else []
    return snap


def resolve_lines(tx: Tx, customer: Mapping[str, Any], extensions: Sequence[str],
                  device_id: int | None) -> list[int]:
    """Line ids for ``extensions`` of ``customer``, each free or already on this device."""
    if len(set(extensions)) != len(extensions):
        raise Invalid("the same extension is listed twice", field="line")
    ids = []
    for ext in extensions:
        row = tx.line(customer["id"], extension(ext, "line"))
        if row is None:
            raise NotFound(f"customer {customer['code']} has no extension {ext!r} (add it with "
                           f"`provisioner line add {customer['code']} {ext} ...`)", field="line")
        holder = tx.device_of_line(row["id"])
        if holder is not None:
            holder_row = tx.device(holder["mac"])
            if holder_row is not None and holder_row["id"] != device_id:
                raise Conflict(f"extension {ext} is already on device {holder['mac']}", field="line")
        ids.append(row["id"])
    return ids


def add_device(store: Store, actor: str, mac_: str, *, model_: str, vendor: str | None = None,
               customer: str | None = None, lines: Sequence[str] = (), serial: str | None = None,
               ownership: str = "rental", settings: Mapping[str, str] | None = None) -> dict[str, Any]:
    canonical = mac(mac_)
    vendor_name, model_key = model(model_, vendor.lower() if vendor else None)
    values: dict[str, Any] = {
        "mac": canonical,
        "vendor": vendor_name,
        "model": model_key,
        "serial": text(serial, "serial", required=False, max_len=64),
        "ownership": choice(ownership, OWNERSHIPS, "ownership"),
        "settings": _settings(settings or {}),
    }
    if lines and not customer:
        raise Invalid("lines need a customer (--customer)", field="customer")
    caps = vendors.get(vendor_name).caps(model_key)
    if len(lines) > caps.accounts:
        raise Invalid(f"{model_key} has {caps.accounts} SIP accounts; {len(lines)} lines given", field="line")
    with store.transaction() as tx:
        if tx.device(canonical):
            raise Conflict(f"device {canonical} already exists", field="mac")
        customer_row = _customer(tx, customer) if customer else None
        if customer_row and rentals.contract_ended(customer_row["contract_end"], rentals.today()):
            raise Conflict(f"the contract of {customer_row['code']} ended on "
                           f"{customer_row['contract_end'].isoformat()}: it cannot take devices (cancel the "
                           "termination first, or add the device to stock)", field="customer")
        values["customer_id"] = customer_row["id"] if customer_row else None
        values["state"] = "deployed" if customer_row else "in_stock"
        line_ids = resolve_lines(tx, customer_row, list(lines), None) if customer_row else []
        device_id = tx.insert_device(values)
        tx.set_device_lines(device_id, line_ids)
        redirect_outbox.devices_changed(tx, [canonical])
        device = tx.device(canonical)
        assert device is not None
        tx.add_event(actor=actor, action="device.created", device_mac=canonical,
                     customer_id=values["customer_id"], summary=f"device {canonical} ({model_key}) created",
                     after=device_snapshot(tx, device))
        return device


def _settings(data: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for key, value in data.items():
        key = text(key, "setting", max_len=100)
        assert key is not None
        if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+", key):
            raise Invalid(f"setting name {key!r} may only hold letters, digits and . _ - [ ]", field="settings")
        out[key] = text(value, f"setting {key}", required=False, max_len=500) or ""
    return out


def set_device_settings(store: Store, actor: str, mac_: str, settings: Mapping[str, Any],
                        *, replace: bool = False) -> dict[str, Any]:
    new = _settings(settings)
    with store.transaction() as tx:
        device = _device(tx, mac_)
        before = device_snapshot(tx, device)
        merged = new if replace else {**(device["settings"] or {}), **new}
        merged = {k: v for k, v in merged.items() if v != ""}
        tx.update_device(device["id"], {"settings": merged})
        after_row = tx.device(device["mac"])
        tx.add_event(actor=actor, action="device.settings", device_mac=device["mac"],
                     customer_id=device["customer_id"], summary=f"settings of {device['mac']} changed",
                     before=before, after=device_snapshot(tx, after_row))  # type: ignore[arg-type]
        return after_row  # type: ignore[return-value]


def show_device(store: Store, mac_: str) -> dict[str, Any]:
    """A device as support staff see it: record, customer, lines (no passwords), history."""
    with store.reading() as tx:
        device = _device(tx, mac_)
        customer = tx.customer_by_id(device["customer_id"]) if device["customer_id"] else None
        lines_ = [
            {"position": row["position"], **(public(row, *LINE_VIEW) or {})}
            for row in tx.device_lines(device["id"])
        ]
        history = tx.events_of_device(device["mac"])
        downloads = flag_downloads(tx.downloads_of_device(device["mac"]))
    view = public(device) or {}
    flagged = sorted({d["ip"] for d in downloads if d["flagged"]})
    # Where its credentials went: a second address within the hour is a warning sign.
    view["downloads"] = {"count": len(downloads), "last_at": downloads[-1]["at"].isoformat() if downloads else None,
                         "last_ip": downloads[-1]["ip"] if downloads else None, "flagged": bool(flagged),
                         "flagged_ips": flagged}
    # What support staff need is the state today: a terminated contract makes rented phones due back
    # from its end date on, without a write.
    view["state"] = rentals.effective_state(device["state"], device["ownership"],
                                            customer.get("contract_end") if customer else None, rentals.today())
    return {
        **view,
        "customer": public(customer, "code", "name") if customer else None,
        "lines": lines_,
        "history": [public(e) for e in history],
    }


def unknown_devices(store: Store, since: datetime | None = None) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return [public(row) for row in tx.list_unknown(since=since)]  # type: ignore[misc]


def claim_unknown(store: Store, actor: str, mac_: str, *, model_: str | None = None, vendor: str | None = None,
                  **device: Any) -> dict[str, Any]:
    """Add a phone that asked for its configuration while unknown as a device, with the vendor and
    model it announced unless others are given (:func:`add_device` for the rest)."""
    canonical = mac(mac_)
    with store.reading() as tx:
        seen = next((row for row in tx.list_unknown() if row["mac"] == canonical), None)
    if seen is None:
        raise NotFound(f"no unknown phone with MAC {canonical} was seen (or it is a device already)", field="mac")
    model_ = model_ or seen["model"]
    if not model_:
        raise Invalid(f"the phone {canonical} did not announce its model: give the model", field="model")
    return add_device(store, actor, canonical, model_=model_, vendor=vendor or seen["vendor"], **device)


# --- what a render needs -------------------------------------------------------------

DEPROVISIONED_STATES = frozenset({"in_stock", "return_due", "returned", "retired", "charged"})


def device_data(tx: Tx, mac_: str, *, ntp_server: str) -> DeviceData | None:
    """The render input of one device, defaults applied; None for an unknown MAC."""
    return devices_data(tx, [mac_], ntp_server=ntp_server).get(mac_)


def devices_data(tx: Tx, macs: Sequence[str], *, ntp_server: str) -> dict[str, DeviceData]:
    """The render input of each known MAC among ``macs`` (unknown ones are left out)."""
    return {mac_: _device_data(*rows, ntp_server=ntp_server) for mac_, rows in tx.render_rows(macs).items()}


def _device_data(device: Mapping[str, Any], customer: Mapping[str, Any] | None,
                 line_rows: Sequence[Mapping[str, Any]], *, ntp_server: str) -> DeviceData:
    # From the start of its contract end date (provider's time zone) a customer's phones get no
    # credentials; until then the rendered files are valid only up to that instant (the cache reloads).
    service_ends = rentals.service_ends_at(customer.get("contract_end")) if customer is not None else None
    contract_over = service_ends is not None and service_ends <= rentals.now()
    deprovisioned = customer is None or device["state"] in DEPROVISIONED_STATES or contract_over
    accounts = []
    if not deprovisioned and customer is not None:
        for slot, row in enumerate(line_rows, 1):
            accounts.append(Account(
                index=slot,
                extension=row["extension"],
                display_name=row["display_name"],
                label=row["label"] or row["extension"],
                sip_username=row["sip_username"],
                auth_id=row["auth_id"],
                password=row["password"],
                server=row["sip_server"] or customer["sip_server"] or "",
                port=row["sip_port"] or customer["sip_port"],
                transport=row["sip_transport"] or customer["sip_transport"],
                voicemail=row.get("voicemail"),
            ))
    return DeviceData(
        mac=device["mac"],
        vendor=device["vendor"],
        model=device["model"],
        customer_code=customer["code"] if customer else None,
        customer_name=customer["name"] if customer else None,
        timezone=customer["timezone"] if customer else "UTC",
        language=customer["language"] if customer else "en",
        ntp_server=(customer or {}).get("ntp_server") or ntp_server,
        accounts=tuple(accounts),
        deprovisioned=deprovisioned,
        settings=dict(device["settings"] or {}),
        valid_until=None if deprovisioned else service_ends,
        policy=access.Policy.from_row(customer.get("security")) if customer is not None else None,
        customer_id=customer["id"] if customer is not None else None,
        assigned_at=_utc(device.get("assigned_at")),
        window_closed_at=_utc(device.get("window_closed_at")),
        admin_password=customer.get("admin_password") if customer is not None else None,
        country=(customer or {}).get("country") or DEFAULT_COUNTRY,
        codecs=tuple(((customer or {}).get("codecs") or "").split(",")) if (customer or {}).get("codecs") else (),
        check_defaults={k: str(customer[k]) for k in ("check_hour", "check_interval_hours")
                        if customer is not None and customer.get(k) is not None},
    )


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value

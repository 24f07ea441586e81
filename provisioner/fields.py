"""Field validators: one value in, the clean value out, or :class:`Invalid` naming the field.

Pure (no I/O): the services, the spreadsheet import, the JSON API schemas and the rental
operations all check a MAC, a code, a model or a SIP server the same way, here. A message
never repeats a password.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from . import timezones, vendors
from .errors import Invalid
from .macs import InvalidMAC, parse_mac

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
_VOICEMAIL = re.compile(r"[0-9*#+]{1,32}")


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


def _spelled(value: Any, field: str, pattern: re.Pattern[str], allowed: str) -> str:
    value = text(value, field, max_len=64)
    assert value is not None
    if not pattern.fullmatch(value):
        raise Invalid(f"{field} {value!r} may only hold {allowed}", field=field)
    return value


def code(value: Any, field: str = "code") -> str:
    return _spelled(value, field, _CODE, "letters, digits, '.', '_' and '-'")


def extension(value: Any, field: str = "extension") -> str:
    return _spelled(value, field, _EXTENSION, "letters, digits and * # + . _ -")


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
        known = ", ".join(
            f"{v.name}: {' '.join(v.models)}" for v in vendors.all_vendors() if not vendor_name or v.name == vendor_name
        )
        raise Invalid(f"unknown phone model {name!r} (known models: {known})", field=field)
    vendor, key = found
    return vendor.name, key


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
        "sip_transport": (
            choice(data["sip_transport"], TRANSPORTS, "sip_transport") if data.get("sip_transport") else None
        ),
    }
    return values


def device_settings(data: Mapping[str, Any]) -> dict[str, str]:
    out = {}
    for given, value in data.items():
        key = text(given, "setting", max_len=100)
        assert key is not None
        if not re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+", key):
            raise Invalid(f"setting name {key!r} may only hold letters, digits and . _ - [ ]", field="settings")
        out[key] = text(value, f"setting {key}", required=False, max_len=500) or ""
    return out


def on_off_default(value: Any, name: str) -> bool | None:
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


# --- programmable keys (provisioner.function_keys) -------------------------------------

KEY_TYPES = ("line", "blf", "speed-dial", "park", "dtmf", "url", "none")
# What a key's value must look like, by type: a number to dial or watch, DTMF digits, a URL.
_KEY_NUMBER = re.compile(r"[A-Za-z0-9*#+][A-Za-z0-9*#+_.@-]{0,127}")
_KEY_DTMF = re.compile(r"[0-9*#A-Da-d,]{1,64}")
_KEY_URL = re.compile(r"https?://[^\s\x00-\x1f\x7f\"<>]{1,240}")


def function_key(data: Mapping[str, Any], where: str = "") -> dict[str, Any]:
    """One programmable key from its parts: ``type``, ``value``, ``label``, ``line`` (account, from 1),
    ``position`` (from 1) and ``module`` (0: the phone, 1..: its expansion modules). Errors name the
    field, prefixed by ``where`` ("Key 3: ") when given."""

    def bad(message: str, field: str) -> Invalid:
        return Invalid(f"{where}{message}", field=field)

    type_ = str(data.get("type") or "").strip().lower()
    if type_ not in KEY_TYPES:
        raise bad(f"key type {data.get('type')!r} is not one of {', '.join(KEY_TYPES)}", "type")
    value = str(data.get("value") or "").strip()
    pattern = {
        "blf": _KEY_NUMBER,
        "speed-dial": _KEY_NUMBER,
        "park": _KEY_NUMBER,
        "dtmf": _KEY_DTMF,
        "url": _KEY_URL,
    }.get(type_)
    if pattern is not None and not pattern.fullmatch(value):
        what = {"dtmf": "DTMF digits (0-9 * # A-D)", "url": "an http(s) URL"}.get(type_, "a number or extension")
        raise bad(f"a {type_} key needs a value: {what}" + (f", not {value!r}" if value else ""), "value")
    if pattern is None:
        value = ""  # line and none keys carry no value
    label = data.get("label")
    label = None if label is None or str(label).strip() == "" else str(label).strip()
    if label is not None and (_CONTROL.search(label) or len(label) > 100):
        raise bad("the key label must be one line of at most 100 characters", "label")
    numbers = {}
    for name, low, high, default in (("line", 1, 16, 1), ("position", 1, 200, None), ("module", 0, 6, 0)):
        raw = data.get(name)
        if raw is None or str(raw).strip() == "":
            if default is None:
                raise bad(f"the key {name} is required", name)
            numbers[name] = default
            continue
        text_value = str(raw).strip()
        if not text_value.isdigit() or not low <= int(text_value) <= high:
            raise bad(f"key {name} {raw!r} must be a whole number from {low} to {high}", name)
        numbers[name] = int(text_value)
    return {"type": type_, "value": value, "label": label, **numbers}


def key_cell(text_value: Any, where: str = "") -> dict[str, Any] | None:
    """A spreadsheet key cell, ``TYPE:VALUE`` (``blf:202``, ``speed-dial:0612345678``, ``line``,
    ``none``); empty: no key. The position comes from the column."""
    cell = str(text_value or "").strip()
    if not cell:
        return None
    type_, _, value = cell.partition(":")
    return {"type": type_.strip(), "value": value.strip()}

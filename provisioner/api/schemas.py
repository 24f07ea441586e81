"""JSON Schemas of the API's bodies and answers, shared by the route declarations.

Request bodies are closed (``additionalProperties: false``: an unknown field is a 400
naming it); answers are open, so adding a field to an answer breaks no client.
"""

from __future__ import annotations

from typing import Any

from .. import accounts, fields, rentals, vendors
from ..queries import MAX_LIMIT
from .openapi import Param, path_param, query

Schema = dict[str, Any]


def string(
    max_length: int | None = None,
    *,
    min_length: int | None = None,
    enum: tuple[str, ...] | None = None,
    pattern: str | None = None,
    fmt: str | None = None,
    description: str | None = None,
    nullable: bool = False,
) -> Schema:
    out: Schema = {"type": ["string", "null"] if nullable else "string"}
    if enum is not None:
        out["enum"] = [*enum, None] if nullable else list(enum)
    for key, value in (
        ("maxLength", max_length),
        ("minLength", min_length),
        ("pattern", pattern),
        ("format", fmt),
        ("description", description),
    ):
        if value is not None:
            out[key] = value
    return out


def integer(
    minimum: int | None = None, maximum: int | None = None, *, nullable: bool = False, description: str | None = None
) -> Schema:
    out: Schema = {"type": ["integer", "null"] if nullable else "integer"}
    for key, value in (("minimum", minimum), ("maximum", maximum), ("description", description)):
        if value is not None:
            out[key] = value
    return out


def nullable(schema: Schema) -> Schema:
    kind = schema.get("type", "object")
    return {**schema, "type": [*([kind] if isinstance(kind, str) else kind), "null"]}


def body(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    out: Schema = {"type": "object", "properties": properties, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    return out


def answer(properties: dict[str, Schema], required: tuple[str, ...] = ()) -> Schema:
    out: Schema = {"type": "object", "properties": properties}
    if required:
        out["required"] = list(required)
    return out


def array(items: Schema, max_items: int | None = None) -> Schema:
    out: Schema = {"type": "array", "items": items}
    if max_items is not None:
        out["maxItems"] = max_items
    return out


def page(item: Schema) -> Schema:
    return answer(
        {"items": array(item), "total": integer(0), "limit": integer(1, MAX_LIMIT), "offset": integer(0)},
        ("items", "total", "limit", "offset"),
    )


ANY: dict[str, Any] = {}  # any JSON value
TEXT = {"type": "string"}
DATE = string(fmt="date", description="YYYY-MM-DD")
DATE_OR_NULL = string(fmt="date", nullable=True)
TIME_OR_NULL = string(description="ISO 8601 date and time, UTC", nullable=True)
AMOUNT = string(32, description='euros, e.g. "89.90"')

# --- parameters --------------------------------------------------------------------------

LIMIT = query("limit", integer(1, MAX_LIMIT), "items per page (default 50)")
OFFSET = query("offset", integer(0, 1_000_000_000), "items to skip (default 0)")
PAGING = (LIMIT, OFFSET)
CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$"
EXTENSION_PATTERN = r"^[A-Za-z0-9*#+][A-Za-z0-9*#+_.\-]{0,63}$"
MAC_PARAM = path_param(
    "mac",
    string(32, min_length=1),
    "the MAC in any common spelling: 00:15:65:AB:CD:EF, 00-15-65-ab-cd-ef, 0015.65ab.cdef, 001565abcdef",
)
CODE_PARAM = path_param("code", string(64, min_length=1), "the customer code")
EXTENSION_PARAM = path_param("extension", string(64, min_length=1), "the extension")
USER_PARAM = path_param("name", string(64, min_length=1), "the user name")


def customer_filter(description: str = "only this customer's (by code; 404 when unknown)") -> Param:
    return query("customer", string(64), description)


# --- customers and lines ------------------------------------------------------------------

_CUSTOMER_IN = {
    "name": string(200, min_length=1),
    "sip_server": string(253, min_length=1, description="host name or IP address of the customer's PBX"),
    "sip_port": integer(1, 65535),
    "sip_transport": string(enum=fields.TRANSPORTS),
    "timezone": string(64, min_length=1, description="IANA time zone, e.g. Europe/Rome"),
    "language": string(enum=fields.LANGUAGES),
    "ntp_server": string(253, nullable=True),
    "country": string(enum=fields.COUNTRIES, nullable=True, description="call-progress tones; null: IT"),
    "codecs": string(
        100,
        nullable=True,
        description="codec order, e.g. g722,pcma,pcmu (known: " + ", ".join(fields.CODECS) + "); null: the phone's own",
    ),
    "check_hour": integer(0, 23, nullable=True, description="hour its phones check for new files"),
    "check_interval_hours": integer(1, 168, nullable=True, description="under 24: every N hours"),
}
CUSTOMER_CREATE = body({"code": string(64, pattern=CODE_PATTERN), **_CUSTOMER_IN}, ("code", "name", "sip_server"))
CUSTOMER_UPDATE = body(_CUSTOMER_IN)
CUSTOMER = answer(
    {
        "code": TEXT,
        "name": TEXT,
        "sip_server": nullable(TEXT),
        "sip_port": integer(),
        "sip_transport": TEXT,
        "timezone": TEXT,
        "language": TEXT,
        "ntp_server": nullable(TEXT),
        "contract_end": DATE_OR_NULL,
        "country": nullable(TEXT),
        "codecs": nullable(TEXT),
        "check_hour": integer(nullable=True),
        "check_interval_hours": integer(nullable=True),
    },
    ("code", "name", "sip_server", "sip_port", "sip_transport", "timezone", "language", "contract_end"),
)

_LINE_IN = {
    "display_name": string(200, min_length=1),
    "password": {**string(255, min_length=1), "writeOnly": True, "description": "the SIP password; never returned"},
    "sip_username": string(128, nullable=True, description="default: the extension"),
    "auth_id": string(128, nullable=True, description="default: the SIP user"),
    "label": string(100, nullable=True),
    "sip_server": string(253, nullable=True, description="default: the customer's"),
    "sip_port": integer(1, 65535, nullable=True),
    "sip_transport": string(enum=fields.TRANSPORTS, nullable=True),
    "voicemail": string(32, nullable=True, description="number the message key dials, e.g. *97; turns MWI on"),
}
LINE_CREATE = body(
    {"extension": string(64, pattern=EXTENSION_PATTERN), **_LINE_IN}, ("extension", "display_name", "password")
)
LINE_UPDATE = body(_LINE_IN)
LINE = answer(
    {
        "extension": TEXT,
        "display_name": TEXT,
        "sip_username": TEXT,
        "auth_id": TEXT,
        "label": nullable(TEXT),
        "sip_server": nullable(TEXT),
        "sip_port": integer(nullable=True),
        "sip_transport": nullable(TEXT),
        "device": string(nullable=True, description="MAC of the device the line is on"),
    },
    ("extension", "display_name", "sip_username", "auth_id"),
)

TERMINATE = body({"on": {**DATE, "description": "the contract end date, YYYY-MM-DD"}}, ("on",))
TERMINATION = answer(
    {
        "customer": TEXT,
        "contract_end": DATE,
        "effective": {"type": "boolean"},
        "policy": {"type": "object"},
        "devices": array({"type": "object"}),
    },
    ("customer", "contract_end", "devices"),
)
CANCELLATION = answer({"customer": TEXT, "cancelled": DATE, "devices": array(TEXT)}, ("customer", "devices"))
_POLICY_TERMS = {
    "window_days": integer(0, rentals.MAX_WINDOW_DAYS),
    "charge": string(enum=rentals.CHARGE_MODES),
    "penalty_per_day": string(32, nullable=True, description='euros per day late, e.g. "10.00"'),
}
POLICY_UPDATE = body(_POLICY_TERMS)
CUSTOMER_POLICY_UPDATE = body(
    {**_POLICY_TERMS, "default": {"type": "boolean", "description": "true: follow the provider default"}}
)
POLICY = answer(
    {"window_days": integer(), "charge": TEXT, "penalty_per_day": nullable(TEXT), "description": TEXT},
    ("window_days", "charge", "description"),
)
COST_UPDATE = body({"cost": AMOUNT, "vendor": string(32, nullable=True)}, ("cost",))
COST = answer({"vendor": TEXT, "model": TEXT, "cost": TEXT}, ("vendor", "model", "cost"))

# --- devices ----------------------------------------------------------------------------

STATE = string(enum=rentals.STATES)
VENDOR_NAMES = tuple(v.name for v in vendors.all_vendors())
_SETTINGS = {
    "type": "object",
    "additionalProperties": string(500),
    "maxProperties": 200,
    "description": "vendor setting name -> value; an empty value removes the setting",
}
_EXTENSIONS = array(string(64, min_length=1), max_items=16)
DEVICE_CREATE = body(
    {
        "mac": string(32, min_length=1),
        "model": string(64, min_length=1),
        "vendor": string(enum=VENDOR_NAMES, nullable=True),
        "customer": string(64, nullable=True),
        "lines": _EXTENSIONS,
        "serial": string(64, nullable=True),
        "ownership": string(enum=fields.OWNERSHIPS),
        "settings": _SETTINGS,
    },
    ("mac", "model"),
)
CLAIM = body(
    {
        "model": string(64, min_length=1, nullable=True, description="default: the model the phone announced"),
        "vendor": string(enum=VENDOR_NAMES, nullable=True),
        "customer": string(64, nullable=True),
        "lines": _EXTENSIONS,
        "serial": string(64, nullable=True),
        "ownership": string(enum=fields.OWNERSHIPS),
    }
)
DEVICE_UPDATE = body(
    {"settings": _SETTINGS, "replace": {"type": "boolean", "description": "true: these settings replace all others"}},
    ("settings",),
)
_EVENT_FIELDS = {"at": TEXT, "actor": TEXT, "action": TEXT, "summary": TEXT, "before": ANY, "after": ANY}
HISTORY_ITEM = answer(_EVENT_FIELDS, ("at", "actor", "action", "summary"))
DEVICE = answer(
    {
        "mac": TEXT,
        "vendor": TEXT,
        "model": TEXT,
        "serial": nullable(TEXT),
        "ownership": TEXT,
        "state": STATE,
        "settings": {"type": "object"},
        "customer": nullable(answer({"code": TEXT, "name": TEXT})),
        "lines": array(answer({"position": integer(), "extension": TEXT, "display_name": TEXT})),
        "last_seen_at": TIME_OR_NULL,
        "last_seen_ip": nullable(TEXT),
        "last_seen_user_agent": nullable(TEXT),
        "firmware": nullable({**TEXT, "description": "the version its User-Agent reported at its last fetch"}),
        "firmware_target": nullable(
            {**TEXT, "description": "the version it should run: its customer's target, else every customer's"}
        ),
        "firmware_upgrade_due": {"type": "boolean", "description": "it reported a version other than its target"},
        "history": array(HISTORY_ITEM),
    },
    ("mac", "vendor", "model", "ownership", "state", "customer", "lines", "history"),
)
DEVICE_ITEM = answer(
    {
        "mac": TEXT,
        "vendor": TEXT,
        "model": TEXT,
        "serial": nullable(TEXT),
        "ownership": TEXT,
        "state": STATE,
        "customer": nullable(TEXT),
        "customer_name": nullable(TEXT),
        "extensions": array(TEXT),
        "last_seen_at": TIME_OR_NULL,
        "last_seen_ip": nullable(TEXT),
        "updated_at": TIME_OR_NULL,
    },
    ("mac", "vendor", "model", "state", "customer", "extensions"),
)
UNKNOWN = answer(
    {
        "mac": TEXT,
        "vendor": nullable(TEXT),
        "model": nullable(TEXT),
        "first_seen_at": TEXT,
        "last_seen_at": TEXT,
        "ip": nullable(TEXT),
        "user_agent": nullable(TEXT),
        "last_file": nullable(TEXT),
        "requests": integer(),
    },
    ("mac", "last_seen_at", "requests"),
)
COUNTS = answer({state: integer(0) for state in rentals.STATES}, rentals.STATES)

ASSIGN = body({"customer": string(64, min_length=1), "lines": _EXTENSIONS}, ("customer",))
ON = body({"on": {**DATE, "description": "the day it happened (default today)"}})
SWAP = body(
    {
        "new_mac": string(32, min_length=1),
        "model": string(64, nullable=True),
        "serial": string(64, nullable=True),
        "on": DATE,
    },
    ("new_mac",),
)
RETURN = body({"on": DATE, "condition": string(enum=rentals.CONDITIONS)})
CHARGE = body({"amount": {**AMOUNT, "description": "default: what is owed to that day"}, "on": DATE})
SWAPPED = answer(
    {
        "old": {"type": "object"},
        "new": {"type": "object"},
        "created": {"type": "boolean"},
        "return_deadline": DATE_OR_NULL,
    },
    ("old", "new"),
)
DEVICE_STATE = answer({"mac": TEXT, "state": TEXT}, ("mac", "state"))

REPORT_ROW = answer(
    {
        "mac": TEXT,
        "customer": TEXT,
        "status": TEXT,
        "deadline": DATE_OR_NULL,
        "owed": nullable(TEXT),
        "charged": nullable(TEXT),
        "outstanding": nullable(TEXT),
    },
    ("mac", "customer", "status"),
)

# --- events, users -----------------------------------------------------------------------

EVENT = answer(
    {"id": integer(), **_EVENT_FIELDS, "device_mac": nullable(TEXT), "customer_id": integer(nullable=True)},
    ("id", "at", "actor", "action", "summary"),
)
EVENTS = answer(
    {"items": array(EVENT), "limit": integer(1, MAX_LIMIT), "next_before": integer(nullable=True)},
    ("items", "limit", "next_before"),
)

ROLE = string(enum=accounts.ROLES)
USER = answer(
    {
        "id": integer(),
        "name": TEXT,
        "role": ROLE,
        "disabled": {"type": "boolean"},
        "created_at": TEXT,
        "last_login_at": TIME_OR_NULL,
    },
    ("name", "role", "disabled"),
)
TOKEN = answer(
    {
        "id": integer(),
        "label": TEXT,
        "created_at": TEXT,
        "last_used_at": TIME_OR_NULL,
        "revoked_at": TIME_OR_NULL,
        "expires_at": {**TIME_OR_NULL, "description": "from then on the token opens nothing; null: never"},
    },
    ("id", "label", "created_at", "revoked_at"),
)
USER_DETAIL = {
    **USER,
    "properties": {**USER["properties"], "tokens": array(TOKEN)},
    "required": [*USER["required"], "tokens"],
}
USER_NAME = string(64, min_length=1, pattern=r"^[A-Za-z0-9][A-Za-z0-9._@\-]{0,63}$")
PASSWORD = {**string(accounts.PASSWORD_MAX, min_length=accounts.PASSWORD_MIN), "writeOnly": True}
USER_CREATE = body({"name": USER_NAME, "role": ROLE, "password": PASSWORD}, ("name", "role", "password"))
USER_UPDATE = body({"role": ROLE, "disabled": {"type": "boolean"}})
PASSWORD_UPDATE = body({"password": PASSWORD}, ("password",))
TOKEN_CREATE = body(
    {
        "label": string(100, min_length=1),
        "expires": string(
            fmt="date",
            nullable=True,
            description="last day the token works (YYYY-MM-DD, Europe/Rome); null or absent: never",
        ),
    },
    ("label",),
)
NEW_TOKEN = {
    **TOKEN,
    "properties": {
        **TOKEN["properties"],
        "token": {"type": "string", "description": "the token itself, shown this once: keep it"},
    },
    "required": [*TOKEN["required"], "token"],
}
ME = answer(
    {"name": TEXT, "role": ROLE, "actor": TEXT, "permissions": array(TEXT)}, ("name", "role", "actor", "permissions")
)

# --- programmable keys ---------------------------------------------------------------------

POSITION_PARAM = path_param("position", integer(1, 200), "the key's position, from 1 (on the phone or on the module)")
MODULE = query("module", integer(0, 6), "0 (default): the phone; 1..6: its expansion modules")
KEY_SET = body(
    {
        "type": string(enum=fields.KEY_TYPES, description="what the key does"),
        "value": string(
            300,
            nullable=True,
            description="extension to watch (blf), number (speed-dial, park), digits (dtmf), URL (url); "
            "none for line and none keys",
        ),
        "label": string(100, nullable=True, description="text beside the key; blf default: the watched line's name"),
        "line": integer(1, 16, nullable=True, description="the SIP account the key uses (default 1)"),
    },
    ("type",),
)
KEY = answer(
    {
        "module": integer(0),
        "position": integer(1),
        "type": TEXT,
        "value": TEXT,
        "label": nullable(TEXT),
        "line": integer(1),
    },
    ("module", "position", "type", "value", "label", "line"),
)
DEVICE_KEY = answer(
    {
        **KEY["properties"],
        "source": string(enum=("device", "customer"), description="device: its own key; customer: the profile's"),
    },
    (*KEY["required"], "source"),
)

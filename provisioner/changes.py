"""Finding what a change is about, and recording it: the one home of these rules.

- Not found: :func:`find_customer` and :func:`find_device` are the only lookups that raise
  :class:`NotFound` for a customer code or a MAC, with one message each. A device looked up to be
  changed is locked until the transaction ends (``SELECT ... FOR UPDATE`` on PostgreSQL; SQLite
  writers are serial, so there it is a plain read); a device looked up to be shown is not.
- Audit snapshots: :func:`public` turns a row into what an event records (never a secret);
  :func:`device_view` is what an event records of a device, from the store
  (:func:`device_snapshot`) or from an import's plan, which builds it without reading the store.
- :class:`DeviceChange`: load (locked) -> snapshot before -> the caller's transition -> snapshot
  after -> the event, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import Any

from . import fields, rentals
from .db import Tx
from .errors import NotFound

# Line, customer and device fields kept out of audit events.
SECRET_FIELDS = frozenset({"password", "path_key", "admin_password"})
CUSTOMER_FIELDS = (
    "code",
    "name",
    "sip_server",
    "sip_port",
    "sip_transport",
    "timezone",
    "language",
    "ntp_server",
    "country",
    "codecs",
    "check_hour",
    "check_interval_hours",
)
LINE_FIELDS = (
    "extension",
    "display_name",
    "sip_username",
    "auth_id",
    "label",
    "sip_server",
    "sip_port",
    "sip_transport",
)
LINE_VIEW = (*LINE_FIELDS, "voicemail")  # what events and views show of a line (imports leave voicemail be)
DEVICE_FIELDS = ("mac", "vendor", "model", "serial", "ownership", "state", "customer", "lines", "settings")


def public(row: Mapping[str, Any] | None, *fields_: str) -> dict[str, Any] | None:
    """A row as an audit snapshot: chosen fields, never a secret, JSON-friendly."""
    if row is None:
        return None
    keys = fields_ or tuple(row)
    out = {}
    for key in keys:
        if key in SECRET_FIELDS or key in ("created_at", "updated_at", "id"):
            continue
        value = row.get(key)
        out[key] = value.isoformat() if isinstance(value, (datetime, date)) else value
    return out


# --- lookups ---------------------------------------------------------------------------


def find_customer(tx: Tx, code: Any) -> dict[str, Any]:
    row = tx.customer_by_code(str(code or "").strip())
    if row is None:
        raise NotFound(f"no customer {code!r}", field="customer")
    return row


def find_device(tx: Tx, mac: Any, field: str = "mac", *, lock: bool = True) -> dict[str, Any]:
    """The device with MAC (any spelling), locked for the rest of the transaction unless ``lock``
    is off (a read that changes nothing)."""
    canonical = fields.mac(mac, field)
    row = tx.device_for_update(canonical) if lock else tx.device(canonical)
    if row is None:
        raise NotFound(f"no device with MAC {canonical}", field=field)
    return row


# --- what an event records of a device ---------------------------------------------------


def device_view(
    device: Mapping[str, Any],
    customer: str | None,
    lines: Sequence[str],
    *,
    mac: str | None = None,
    settings: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """What an audit event records of a device: no secrets, its customer's code, lines by extension.
    ``mac`` and ``settings`` stand for the row's own (an import's plan holds them apart); built
    field by field, as an import does it 100,000 times."""
    get = device.get
    return {
        "mac": mac or get("mac"),
        "vendor": get("vendor"),
        "model": get("model"),
        "serial": get("serial"),
        "ownership": get("ownership"),
        "state": get("state"),
        "settings": get("settings") if settings is None else settings,
        "customer": customer,
        "lines": list(lines),
    }


def device_snapshot(tx: Tx, device: Mapping[str, Any], *, rental: bool = False) -> dict[str, Any]:
    """:func:`device_view` of a stored device; ``rental`` adds the return and charge fields."""
    customer = tx.customer_by_id(device["customer_id"]) if device.get("customer_id") else None
    lines = [row["extension"] for row in tx.device_lines(device["id"])] if device.get("id") else []
    snap = device_view(device, customer["code"] if customer else None, lines)
    if rental:
        snap["due_from"] = device["due_from"].isoformat() if device["due_from"] else None
        snap["due_reason"] = device["due_reason"]
        snap["charged"] = str(rentals.from_cents(device["charged_cents"])) if device["charged_cents"] else None
    return snap


class DeviceChange:
    """One device's change in a transaction: its snapshot before, then the event with before and after.

    ``DeviceChange.of(tx, mac)`` loads the device (locked; :class:`NotFound` if unknown) and records
    its snapshot; the caller checks and applies its transition; :meth:`emit` reads the device again
    and appends the event. ``DeviceChange(tx, None, mac=...)`` is a device being created (no before).
    """

    def __init__(self, tx: Tx, device: Mapping[str, Any] | None, *, mac: str | None = None, rental: bool = False):
        self.tx = tx
        self.device = device
        self.mac: str = mac or device["mac"]  # type: ignore[index]
        self.rental = rental
        self.before = device_snapshot(tx, device, rental=rental) if device is not None else None

    @classmethod
    def of(cls, tx: Tx, mac: Any, field: str = "mac", *, rental: bool = False) -> DeviceChange:
        return cls(tx, find_device(tx, mac, field), rental=rental)

    def reload(self) -> dict[str, Any]:
        row = self.tx.device(self.mac)
        assert row is not None
        return row

    def after(self) -> dict[str, Any]:
        """The device's snapshot now."""
        return device_snapshot(self.tx, self.reload(), rental=self.rental)

    def emit(
        self,
        actor: str,
        action: str,
        summary: str,
        *,
        customer_id: int | None,
        after: dict[str, Any] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Append the event (after = ``after`` or the snapshot now, plus ``extra``); return ``after``."""
        if after is None:
            after = self.after()
        self.tx.add_event(
            actor=actor,
            action=action,
            device_mac=self.mac,
            customer_id=customer_id,
            summary=summary,
            before=self.before,
            after={**after, **extra} if extra else after,
        )
        return after

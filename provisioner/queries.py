"""Finding things, for the console and the admin API: devices by whatever support
staff type into one box, device counts per state, and the audit events, a page at
a time. Read-only; no rule here changes data.
"""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

from . import rentals, vendors
from .changes import public
from .db import Store, Tx, utcnow
from .errors import Invalid, NotFound
from .macs import try_parse_mac

MAX_LIMIT = 200
MAX_SELECTED = 500  # devices one bulk action or export takes
DEFAULT_LIMIT = 50
_HEX_PART = re.compile(r"[0-9A-Fa-f]{2}([:.\- ]?[0-9A-Fa-f]{2}){1,5}")
_SEPARATORS = re.compile(r"[:.\- ]")


def page_args(limit: Any = None, offset: Any = None, max_limit: int = MAX_LIMIT) -> tuple[int, int]:
    """``limit`` (1-``max_limit``, 200 unless a download, default 50) and ``offset`` (>= 0)."""
    try:
        size = DEFAULT_LIMIT if limit in (None, "") else int(limit)
    except (TypeError, ValueError):
        raise Invalid(f"limit must be a whole number from 1 to {max_limit}", field="limit") from None
    try:
        start = 0 if offset in (None, "") else int(offset)
    except (TypeError, ValueError):
        raise Invalid("offset must be a whole number, 0 or more", field="offset") from None
    if not 1 <= size <= max_limit:
        raise Invalid(f"limit must be from 1 to {max_limit}", field="limit")
    if start < 0:
        raise Invalid("offset must be 0 or more", field="offset")
    return size, start


SORTS = ("updated", "mac", "model", "state", "customer", "serial", "firmware", "last_seen")
MAX_EXPORT = 10_000  # rows one download of a list holds


def find_devices(
    store: Store,
    q: str | None = None,
    *,
    customer: str | None = None,
    state: str | None = None,
    limit: Any = None,
    offset: Any = None,
    today: date | None = None,
    vendor: str | None = None,
    model: str | None = None,
    firmware: str | None = None,
    seen_days: Any = None,
    sort: str | None = None,
    max_limit: int = MAX_LIMIT,
) -> dict[str, Any]:
    """Devices matching ``q`` — a MAC in any spelling (or a part of one), an extension, a name,
    a serial, a label, a customer — within a customer and an effective state, newest change first.

    Filters: ``vendor`` and ``model`` (exact), ``firmware`` (in part), ``seen_days`` (last seen
    more than that many days ago, or never). ``sort``: one of :data:`SORTS`, ``-`` before it for
    descending (default ``-updated``). ``max_limit``: a download's larger page.

    ``{"items": [...], "total": N, "limit": L, "offset": O}``; an item is the device with its
    customer, its extensions in slot order and its state as of today.
    """
    size, start = page_args(limit, offset, max_limit)
    text = (q or "").strip()
    if len(text) > 100:
        raise Invalid("the search text is longer than 100 characters", field="q")
    mac = try_parse_mac(text) if text else None
    mac_part = mac or (_SEPARATORS.sub("", text) if _HEX_PART.fullmatch(text) else None)
    states: tuple[str, ...] = ()
    if state:
        if state not in rentals.STATES:
            raise Invalid(f"state must be one of {', '.join(rentals.STATES)}", field="state")
        states = (state,)
    key = (sort or "-updated").strip()
    descending = key.startswith("-")
    key = key.lstrip("-")
    if key not in SORTS:
        raise Invalid(f"sort must be one of {', '.join(SORTS)} (with - before it for descending)", field="sort")
    vendor_ = (vendor or "").strip() or None
    if vendor_ and vendor_.casefold() not in {v.name for v in vendors.all_vendors()}:
        raise Invalid(f"vendor must be one of {', '.join(v.name for v in vendors.all_vendors())}", field="vendor")
    model_ = (model or "").strip() or None
    firmware_ = (firmware or "").strip() or None
    for name, value in (("model", model_), ("firmware", firmware_)):
        if value and len(value) > 64:
            raise Invalid(f"the {name} filter is longer than 64 characters", field=name)
    seen_before = None
    if seen_days not in (None, ""):
        try:
            days = int(seen_days)
        except (TypeError, ValueError):
            raise Invalid("seen_days must be a whole number of days from 1 to 3650", field="seen_days") from None
        if not 1 <= days <= 3650:
            raise Invalid("seen_days must be a whole number of days from 1 to 3650", field="seen_days")
        seen_before = utcnow() - timedelta(days=days)
    with store.reading() as tx:
        customer_id = _customer_id(tx, customer)
        rows, total = tx.search_devices(
            text=None if mac else text or None,
            mac_part=mac_part,
            customer_id=customer_id,
            states=states,
            today=today or rentals.today(),
            limit=size,
            offset=start,
            vendor=vendor_,
            model=model_,
            firmware=firmware_,
            seen_before=seen_before,
            sort=key,
            descending=descending,
        )
    return {"items": rows, "total": total, "limit": size, "offset": start}


def devices_by_mac(store: Store, macs: Any, today: date | None = None) -> list[dict[str, Any]]:
    """The devices with these MACs (any spelling), as :func:`find_devices` lists them, in the order
    given; a MAC that is not a device is left out. Bad spelling: Invalid naming it."""
    wanted: list[str] = []
    for raw in macs:
        mac = try_parse_mac(str(raw))
        if mac is None:
            raise Invalid(f"{str(raw)[:40]!r} is not a MAC address", field="mac")
        if mac not in wanted:
            wanted.append(mac)
    if len(wanted) > MAX_SELECTED:
        raise Invalid(f"select at most {MAX_SELECTED} devices at once; {len(wanted)} were selected", field="mac")
    found: dict[str, dict[str, Any]] = {}
    with store.reading() as tx:
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            rows, _ = tx.search_devices(macs=chunk, today=today or rentals.today(), limit=len(chunk), offset=0)
            found.update((r["mac"], r) for r in rows)
    return [found[m] for m in wanted if m in found]


def customers_page(store: Store, *, limit: Any = None, offset: Any = None) -> dict[str, Any]:
    """Customers by code, a page at a time: ``{"items", "total", "limit", "offset"}``."""
    size, start = page_args(limit, offset)
    with store.reading() as tx:
        rows, total = tx.customers_page(limit=size, offset=start)
    return {"items": rows, "total": total, "limit": size, "offset": start}


def _customer_id(tx: Tx, customer: str | None) -> int | None:
    if not customer:
        return None
    row = tx.customer_by_code(customer.strip())
    if row is None:
        raise NotFound(f"no customer with code {customer!r}", field="customer")
    return int(row["id"])


def device_counts(store: Store, today: date | None = None) -> dict[str, int]:
    """How many devices are in each state today (every state listed, zeros included)."""
    with store.reading() as tx:
        found = tx.count_devices_by_state(today or rentals.today())
    return {state: found.get(state, 0) for state in rentals.STATES}


def events(
    store: Store,
    *,
    device: str | None = None,
    customer: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    before: Any = None,
    limit: Any = None,
    since: Any = None,
    until: Any = None,
    max_limit: int = MAX_LIMIT,
) -> dict[str, Any]:
    """Audit events newest first. Page with ``before`` = the ``next_before`` of the previous page.
    ``since``/``until``: calendar dates (YYYY-MM-DD) in the provider's zone, both days included."""
    size, _ = page_args(limit, 0, max_limit)
    start = end = None
    if since not in (None, ""):
        start = rentals.start_of_day(rentals.parse_date(since, "since"))
    if until not in (None, ""):
        end = rentals.start_of_day(rentals.parse_date(until, "until") + timedelta(days=1))
    if start and end and end <= start:
        raise Invalid("until must be the same day as since or later", field="until")
    before_id = None
    if before not in (None, ""):
        try:
            before_id = int(before)
        except (TypeError, ValueError):
            raise Invalid("before must be an event id", field="before") from None
    mac = None
    if device:
        mac = try_parse_mac(device)
        if mac is None:
            raise Invalid(f"{device!r} is not a MAC address", field="device")
    with store.reading() as tx:
        customer_id = _customer_id(tx, customer)
        rows = tx.events_page(
            device_mac=mac,
            customer_id=customer_id,
            actor=actor or None,
            action=action or None,
            before_id=before_id,
            limit=size + 1,
            since=start,
            until=end,
        )
    more = len(rows) > size
    rows = rows[:size]
    items = [{"id": r["id"], **(public(r) or {})} for r in rows]
    return {"items": items, "limit": size, "next_before": rows[-1]["id"] if more else None}

"""What a render needs of one device: its record, customer and lines as a :class:`DeviceData`.

Read from the store in one query per batch of MACs (:meth:`Tx.render_rows`), defaults applied
(the customer's SIP server for a line without its own, the server's NTP server). A device that
is in stock, awaiting return or whose customer's contract is over is deprovisioned: it gets no
credentials. The config cache and the console's preview call this; no use case is involved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, NamedTuple

from . import access, key_layout, rentals, vendors
from .db import Tx
from .fields import DEFAULT_COUNTRY
from .rendering import Account, Contact, DeviceData

DEPROVISIONED_STATES = frozenset({"in_stock", "return_due", "returned", "retired", "charged"})


def device_data(tx: Tx, mac: str, *, ntp_server: str) -> DeviceData | None:
    """The render input of one device, defaults applied; None for an unknown MAC."""
    return devices_data(tx, [mac], ntp_server=ntp_server).get(mac)


def devices_data(
    tx: Tx, macs: Sequence[str], *, ntp_server: str, books: dict[int, tuple[Contact, ...]] | None = None
) -> dict[str, DeviceData]:
    """The render input of each known MAC among ``macs`` (unknown ones are left out).

    ``books``: phonebooks by customer id already read (the config cache keeps them between
    batches); those missing are read and added to it."""
    rows = tx.render_rows(macs)
    # Each customer's phonebook once per batch at most, shared by all its phones (one tuple in memory).
    books = {} if books is None else books
    wanted = {r[1]["id"] for r in rows.values() if r[1] is not None} - books.keys()
    if wanted:
        books.update((cid, _phonebook(*parts)) for cid, parts in tx.phonebooks(wanted).items())
    found = {}
    shared: dict[int, _Customer] = {}  # what is the same for every phone of a customer, once per batch
    for mac, (device, customer, line_rows) in rows.items():
        part = None
        if customer is not None:
            part = shared.get(customer["id"])
            if part is None:
                part = shared[customer["id"]] = _customer(customer, books.get(customer["id"], ()))
        found[mac] = _device_data(device, customer, part, line_rows, ntp_server=ntp_server)
    return _with_keys(tx, rows, found)


def _phonebook(extensions: Sequence[Mapping[str, Any]], contacts: Sequence[Mapping[str, Any]]) -> tuple[Contact, ...]:
    return tuple(Contact(e["name"] or e["number"], e["number"]) for e in extensions) + tuple(
        Contact(c["name"], c["number"], c["group_name"]) for c in contacts
    )


class _Customer(NamedTuple):
    """What a customer's row gives each of its phones, worked out once per batch."""

    service_ends: datetime | None
    contract_over: bool
    policy: access.Policy | None
    country: str
    codecs: tuple[str, ...]
    check_defaults: Mapping[str, str]
    phonebook: tuple[Contact, ...]


def _customer(customer: Mapping[str, Any], phonebook: tuple[Contact, ...]) -> _Customer:
    # From the start of its contract end date (provider's time zone) a customer's phones get no
    # credentials; until then the rendered files are valid only up to that instant (the cache reloads).
    service_ends = rentals.service_ends_at(customer.get("contract_end"))
    return _Customer(
        service_ends=service_ends,
        contract_over=service_ends is not None and service_ends <= rentals.now(),
        policy=access.Policy.from_row(customer.get("security")),
        country=customer.get("country") or DEFAULT_COUNTRY,
        codecs=tuple(customer["codecs"].split(",")) if customer.get("codecs") else (),
        check_defaults={
            k: str(customer[k]) for k in ("check_hour", "check_interval_hours") if customer.get(k) is not None
        },
        phonebook=phonebook,
    )


def _device_data(
    device: Mapping[str, Any],
    customer: Mapping[str, Any] | None,
    part: _Customer | None,
    line_rows: Sequence[Mapping[str, Any]],
    *,
    ntp_server: str,
) -> DeviceData:
    if customer is None or part is None:
        return DeviceData(
            mac=device["mac"],
            vendor=device["vendor"],
            model=device["model"],
            customer_code=None,
            customer_name=None,
            timezone="UTC",
            language="en",
            ntp_server=ntp_server,
            accounts=(),
            deprovisioned=True,
            settings=dict(device["settings"] or {}),
            assigned_at=_utc(device.get("assigned_at")),
            window_closed_at=_utc(device.get("window_closed_at")),
            country=DEFAULT_COUNTRY,
        )
    deprovisioned = device["state"] in DEPROVISIONED_STATES or part.contract_over
    accounts = []
    if not deprovisioned:
        for slot, row in enumerate(line_rows, 1):
            accounts.append(
                Account(
                    slot,
                    row["extension"],
                    row["display_name"],
                    row["label"] or row["extension"],
                    row["sip_username"],
                    row["auth_id"],
                    row["password"],
                    row["sip_server"] or customer["sip_server"] or "",
                    row["sip_port"] or customer["sip_port"],
                    row["sip_transport"] or customer["sip_transport"],
                    row.get("voicemail"),
                )
            )
    return DeviceData(
        mac=device["mac"],
        vendor=device["vendor"],
        model=device["model"],
        customer_code=customer["code"],
        customer_name=customer["name"],
        timezone=customer["timezone"],
        language=customer["language"],
        ntp_server=customer.get("ntp_server") or ntp_server,
        accounts=tuple(accounts),
        deprovisioned=deprovisioned,
        settings=dict(device["settings"] or {}),
        valid_until=None if deprovisioned else part.service_ends,
        policy=part.policy,
        customer_id=customer["id"],
        assigned_at=_utc(device.get("assigned_at")),
        window_closed_at=_utc(device.get("window_closed_at")),
        admin_password=customer.get("admin_password"),
        country=part.country,
        codecs=part.codecs,
        check_defaults=part.check_defaults,
        phonebook=() if deprovisioned else part.phonebook,
    )


def _utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value.replace(tzinfo=UTC) if value is not None and value.tzinfo is None else value


def _with_keys(tx: Tx, rows: Mapping[str, Any], found: dict[str, DeviceData]) -> dict[str, DeviceData]:
    """Each provisioned device's programmable keys (its own over its customer's profile): two queries
    for the batch, a third for BLF labels when a BLF key is among them."""
    live = [mac for mac, data in found.items() if not data.deprovisioned]
    if not live:
        return found
    device_ids = {mac: rows[mac][0]["id"] for mac in live}
    customer_ids = {cid for mac in live if (cid := found[mac].customer_id) is not None}
    by_device, by_customer = tx.keys_for_render(device_ids.values(), customer_ids)
    if not by_device and not by_customer:
        return found
    blf = any(k["type"] == "blf" for ks in (*by_device.values(), *by_customer.values()) for k in ks)
    # Each customer's extension -> name, grouped once for the batch (not scanned per device).
    names: dict[int, dict[str, str]] = {}
    for (cid, ext), name in (tx.line_names(customer_ids) if blf else {}).items():
        names.setdefault(cid, {})[ext] = name
    for mac in live:
        data = found[mac]
        own = by_device.get(device_ids[mac], [])
        profile = by_customer.get(data.customer_id, []) if data.customer_id is not None else []
        if not own and not profile:
            continue
        line_names = names.get(data.customer_id, {}) if data.customer_id is not None else {}
        keys = key_layout.effective(
            vendors.get(data.vendor), data.model, own, profile, (a.extension for a in data.accounts), line_names
        )
        found[mac] = replace(data, keys=tuple(keys))
    return found

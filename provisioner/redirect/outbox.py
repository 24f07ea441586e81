"""What to tell the vendors, written in the same transaction as the device change.

The lifecycle code calls :func:`devices_changed` with the MACs it touched, inside its transaction.
It compares each device with what was last asked of its vendor and queues a ``register`` (a
deployed device, with its customer) or a ``deregister`` (any other state) where they differ. No
account for the device's vendor: nothing is queued (``redirect sync`` catches up later).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from .. import rentals
from ..db import Tx
from ..db import redirect as tables

DEPLOYED = "deployed"


def wanted(device: Mapping[str, Any]) -> tuple[str, int | None]:
    """("registered", customer id) for a device at a customer's; ("deregistered", None) otherwise
    (in stock, awaiting return, retired, or its customer's contract has ended)."""
    end = device.get("contract_end")
    if end is not None and rentals.contract_ended(end, rentals.today()):
        return "deregistered", None
    if device["state"] == DEPLOYED and device["customer_id"] is not None:
        return "registered", device["customer_id"]
    return "deregistered", None


def devices_changed(tx: Tx, macs: Iterable[str]) -> int:
    """Queue what the devices ``macs`` now need from their vendors' redirect services; how many
    changes were queued. Call it inside the transaction that changed them."""
    vendors = tables.enabled_vendors(tx)
    if not vendors:
        return 0
    macs = list(dict.fromkeys(macs))
    if not macs:
        return 0
    return queue_differences(tx, tables.devices_for(tx, macs, vendors), known_only=False)


def queue_differences(tx: Tx, rows: Iterable[Mapping[str, Any]], *, known_only: bool) -> int:
    """Queue a change for each device row whose wanted state differs from the last one queued.
    A device never queued and not deployed needs nothing (it was never registered by us)."""
    changes = []
    for row in rows:
        state, customer_id = wanted(row)
        last = row.get("desired")
        if last is None and state == "deregistered":
            continue
        if last == state and (state == "deregistered" or row.get("desired_customer_id") == customer_id):
            continue
        changes.append(
            {
                "mac": row["mac"],
                "vendor": row["vendor"],
                "op": "register" if state == "registered" else "deregister",
                "customer_id": customer_id,
            }
        )
    tables.enqueue(tx, changes)
    return len(changes)


def registered_url(tx: Tx, customer_id: int, base_url: str) -> str:
    """The URL a customer's phone is sent to: the customer's own host name (if set) or the public
    base URL, with the customer's path key when it has one. The first-contact window and device
    tokens work by MAC, so nothing per device is needed; never a password."""
    base = tables.customer_url(tx, customer_id) or base_url
    url = urlsplit(base)
    path = url.path if url.path.endswith("/") else url.path + "/"
    key = tables.path_key(tx, customer_id)
    if key:
        path += f"p/{key}/"
    netloc = url.netloc.rpartition("@")[2]  # never credentials
    return urlunsplit((url.scheme, netloc, path, "", ""))


def contracts_ended(tx: Tx) -> int:
    """Queue the deregistration of devices whose customer's contract ended since (a termination
    takes effect on its day, with no change made that day)."""
    return queue_differences(tx, tables.ended_but_registered(tx, rentals.today()), known_only=True)

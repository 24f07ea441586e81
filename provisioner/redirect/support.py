"""What support staff do with redirects: see each device's state, retry, reconcile with the vendor."""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .. import fields
from ..db import Store
from ..db import redirect as tables
from ..errors import Invalid, NotFound
from . import outbox, protocols
from .worker import Pacing, Worker

STATES = ("pending", "registered", "deregistered", "failed", "conflict", "rejected")

HINTS = {
    "conflict": "the vendor says this MAC belongs to another provider's account: ask the previous owner (or the "
    "vendor's support, with proof of purchase) to release it, then run `provisioner redirect retry MAC`",
    "rejected": "the vendor refused the MAC or the URL as malformed: check the device's MAC and the public URL, "
    "then run `provisioner redirect retry MAC`",
    "failed": "the vendor could not be reached after every retry: check the account and the service, then "
    "`provisioner redirect retry`",
}


def _customer_id(tx: Any, code: Any) -> int | None:
    if code is None:
        return None
    row = tx.customer_by_code(fields.code(code, "customer"))
    if row is None:
        raise NotFound(f"no customer {code!r}", field="customer")
    return int(row["id"])


def status(store: Store, mac: Any = None, *, customer: Any = None, state: Any = None) -> list[dict[str, Any]]:
    """Each device's redirect state, with the account's trouble when it is broken."""
    canonical = fields.mac(mac) if mac else None
    if state is not None and state not in STATES:
        raise Invalid(f"state must be one of {', '.join(STATES)}", field="state")
    with store.reading() as tx:
        rows = tables.status(tx, mac=canonical, customer_id=_customer_id(tx, customer), state=state)
        broken = {a["vendor"]: a for a in tables.accounts(tx) if a["broken_at"] is not None or not a["enabled"]}
    for row in rows:
        account = broken.get(row["vendor"])
        row["held"] = None
        if account is not None and row["queued"]:
            row["held"] = (
                f"the {row['vendor']} account is disabled"
                if not account["enabled"]
                else f"the {row['vendor']} account was refused ({account['broken_reason']}): set it again "
                f"with `provisioner redirect set {row['vendor']}`"
            )
        row["hint"] = HINTS.get(row["state"])
    return rows


def retry(store: Store, actor: str, mac: Any = None, *, customer: Any = None) -> int:
    """Make the waiting and failed changes (of MAC, of CUSTOMER's devices, or all) due now, and
    queue again a conflict or a rejection; how many changes are due."""
    with store.transaction() as tx:
        customer_id = _customer_id(tx, customer)
        rows = tables.status(tx, mac=fields.mac(mac) if mac else None, customer_id=customer_id)
        if mac and not rows:
            raise NotFound(f"device {fields.mac(mac)} has no redirect state", field="mac")
        macs = [r["mac"] for r in rows]
        again = [r for r in rows if r["state"] in ("conflict", "rejected") and not r["queued"]]
        if again:
            found = tables.devices_for(tx, [r["mac"] for r in again], {r["vendor"] for r in again})
            tables.enqueue(
                tx,
                [
                    {
                        "mac": d["mac"],
                        "vendor": d["vendor"],
                        "op": "register" if outbox.wanted(d)[0] == "registered" else "deregister",
                        "customer_id": outbox.wanted(d)[1],
                    }
                    for d in found
                ],
            )
        count = tables.retry(tx, macs=None if (mac is None and customer is None) else macs)
        tx.add_event(
            actor=actor,
            action="redirect.retry",
            device_mac=fields.mac(mac) if mac else None,
            summary=f"redirect retry: {count} change(s) due now",
        )
    return count


async def sync(
    store: Store,
    actor: str,
    base_url: str,
    *,
    customer: Any = None,
    pacing: Pacing | None = None,
    deliver: bool = True,
    logger: Any = None,
) -> dict[str, Any]:
    """Read each device's entry at its vendor (checkDevice/checkPhone), queue what differs from what
    it should be, and (``deliver``) deliver it. Counts of what was found."""
    pacing = pacing or Pacing()
    worker = Worker(store, base_url, pacing, logger=logger)

    def load() -> tuple[dict[str, Any], list[dict[str, Any]], dict[int, str]]:
        with store.reading() as tx:
            customer_id = _customer_id(tx, customer)
            accounts = {a["vendor"]: a for a in tables.accounts(tx) if a["enabled"] and a["broken_at"] is None}
            rows = tables.devices_of(tx, sorted(accounts), customer_id) if accounts else []
            urls = {cid: outbox.registered_url(tx, cid, base_url) for cid in {r["customer_id"] for r in rows} if cid}
        return accounts, rows, urls

    accounts, rows, urls = await asyncio.to_thread(load)  # off the event loop: the server answers phones on it
    ours = urlsplit(base_url).netloc
    counts = {"checked": 0, "register": 0, "deregister": 0, "in_sync": 0, "unreachable": 0}
    changes = []
    async with aiohttp.ClientSession() as session:
        for row in rows:
            account = accounts[row["vendor"]]
            await worker._pace(row["vendor"])
            seen = await protocols.check(session, account, row["mac"], timeout=pacing.timeout)
            counts["checked"] += 1
            if seen.kind == protocols.AUTH:
                raise Invalid(
                    f"the {row['vendor']} redirect service refused the account ({seen.message}): "
                    f"set it again with `provisioner redirect set {row['vendor']}`",
                    field="account",
                )
            if seen.kind != protocols.OK:
                counts["unreachable"] += 1
                continue
            state, cid = outbox.wanted(row)
            url = urls.get(cid) if cid is not None else None
            if state == "registered" and not (seen.registered and seen.url == url):
                changes.append({"mac": row["mac"], "vendor": row["vendor"], "op": "register", "customer_id": cid})
            elif state == "deregistered" and seen.registered and (seen.url is None or ours in seen.url):
                changes.append({"mac": row["mac"], "vendor": row["vendor"], "op": "deregister", "customer_id": None})
            else:
                counts["in_sync"] += 1
    for change in changes:
        counts[change["op"]] += 1

    def save() -> None:
        with store.transaction() as tx:
            tables.enqueue(tx, changes)
            tx.add_event(
                actor=actor,
                action="redirect.sync",
                summary=f"redirect sync: {counts['checked']} checked, {counts['register']} to register, "
                f"{counts['deregister']} to deregister",
            )

    await asyncio.to_thread(save)
    if deliver:
        counts["delivered"] = await worker.deliver()
    return counts


async def deliver_now(store: Store, base_url: str, pacing: Pacing | None = None, *, logger: Any = None) -> int:
    return await Worker(store, base_url, pacing, logger=logger).deliver()


def set_customer_url(store: Store, actor: str, customer: Any, url: Any) -> dict[str, Any]:
    """Send CUSTOMER's phones to its own host name (``url``), or back to the public URL (None)."""
    value = None
    if url:
        value = str(url).strip()
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname or "@" in parts.netloc:
            raise Invalid(
                "the customer's URL must be http(s)://host[:port]/[path] without credentials", field="public_url"
            )
    with store.transaction() as tx:
        customer_id = _customer_id(tx, customer)
        assert customer_id is not None
        tables.set_customer_url(tx, customer_id, value)
        macs = [d["mac"] for d in tx.devices_of_customer(customer_id)]
        # the devices registered for it are registered again with the new URL
        rows = [r for r in tables.devices_for(tx, macs, tables.enabled_vendors(tx)) if r["desired"] == "registered"]
        tables.enqueue(
            tx,
            [{"mac": r["mac"], "vendor": r["vendor"], "op": "register", "customer_id": r["customer_id"]} for r in rows],
        )
        tx.add_event(
            actor=actor,
            action="redirect.customer_url",
            customer_id=customer_id,
            summary=f"redirect URL of {customer}: {value or 'the public URL'}",
        )
    return {"customer": customer, "public_url": value, "queued": len(rows)}

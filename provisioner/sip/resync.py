"""Tell phones to fetch their files again: one, or many paced.

A phone is reached at the address it last fetched a file from (``last_seen_ip``),
port 5060, unless the caller says where (``--to HOST[:PORT]``). The NOTIFY event is
its vendor's (:attr:`provisioner.vendors.base.Vendor.resync_event`); with
``reboot`` it is ``check-sync;reboot=true`` for every vendor. When the phone
challenges the NOTIFY (401/407), the answer uses the credentials of its first
account, which is what the four vendors check a NOTIFY against.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import fields, vendors
from ..db import Store
from ..errors import Conflict, Invalid, NotFound
from .notify import TIMEOUT, Credentials, Outcome, send_notify

__all__ = ["RATE", "Outcome", "Target", "parse_to", "resync", "resync_many", "target_of", "targets_of"]

SIP_PORT = 5060
RATE = 10.0  # phones per second in a bulk resync
REBOOT_EVENT = "check-sync;reboot=true"
_HOST_PORT = re.compile(r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]\s]+))(?::(?P<port>\d{1,5}))?")


@dataclass(frozen=True)
class Target:
    mac: str
    vendor: str
    host: str
    port: int
    event: str
    user: str | None
    credentials: Credentials | None


def parse_to(value: str) -> tuple[str, int]:
    """``HOST``, ``HOST:PORT``, ``[v6]:PORT`` -> (host, port); port 5060 when not given."""
    m = _HOST_PORT.fullmatch(value.strip())
    port = int(m["port"]) if m and m["port"] else SIP_PORT
    if not m or not 0 < port < 65536:
        raise Invalid(f"--to {value!r} is not HOST or HOST:PORT (port 1-65535)", field="to")
    return (m["v6"] or m["host"]), port


def target_of(store: Store, mac: str, *, to: str | None = None, reboot: bool = False) -> Target:
    """Where and what to send to the phone with ``mac``; NotFound/Conflict when it cannot be reached."""
    canonical = fields.mac(mac)
    with store.reading() as tx:
        device = tx.device(canonical)
        if device is None:
            raise NotFound(f"no device {canonical}")
        line_rows = tx.device_lines(device["id"])
    return _target(device, line_rows, to=to, reboot=reboot)


def _target(device: dict, line_rows: Sequence[dict], *, to: str | None, reboot: bool) -> Target:
    if to:
        host, port = parse_to(to)
    elif device.get("last_seen_ip"):
        host, port = device["last_seen_ip"], SIP_PORT
    else:
        raise Conflict(
            f"no address known for {device['mac']}: it has never fetched a file; give one with --to HOST[:PORT]",
            field="to",
        )
    first = line_rows[0] if line_rows else None
    credentials = Credentials(first["auth_id"], first["password"]) if first and first["password"] else None
    event = REBOOT_EVENT if reboot else vendors.get(device["vendor"]).resync_event
    return Target(
        mac=device["mac"],
        vendor=device["vendor"],
        host=host,
        port=port,
        event=event,
        user=first["sip_username"] if first else None,
        credentials=credentials,
    )


def targets_of(
    store: Store, *, customer: str | None = None, macs: Sequence[str] = (), reboot: bool = False, port: int = SIP_PORT
) -> tuple[list[Target], list[tuple[str, str]]]:
    """The phones of a customer and/or a list of MACs: those that can be reached, and (mac, why) the others."""
    if not customer and not macs:
        raise Invalid("name a customer or at least one MAC", field="customer")
    wanted = [fields.mac(m) for m in macs]
    targets: list[Target] = []
    skipped: list[tuple[str, str]] = []
    with store.reading() as tx:
        rows: dict[str, dict] = {}
        if customer:
            row = tx.customer_by_code(customer)
            if row is None:
                raise NotFound(f"no customer {customer}", field="customer")
            rows.update((d["mac"], d) for d in tx.devices_of_customer(row["id"]))
        for mac in wanted:
            device = tx.device(mac)
            if device is None:
                skipped.append((mac, "no such device"))
            else:
                rows[mac] = device
        for mac, device in sorted(rows.items()):
            try:
                target = _target(device, tx.device_lines(device["id"]), to=None, reboot=reboot)
                targets.append(dataclasses.replace(target, port=port))
            except Conflict:
                skipped.append((mac, "no address known (never fetched a file)"))
    return targets, skipped


async def resync(target: Target, *, timeout: float = TIMEOUT) -> Outcome:
    return await send_notify(
        target.host, target.port, event=target.event, user=target.user, credentials=target.credentials, timeout=timeout
    )


async def resync_many(
    targets: Sequence[Target],
    *,
    rate: float = RATE,
    timeout: float = TIMEOUT,
    done: Callable[[Target, Outcome], None] | None = None,
) -> list[Outcome]:
    """NOTIFY every target, starting at most ``rate`` per second (the i-th no sooner than i/rate s
    after the first), each waiting for its own answer while the next ones start."""
    if rate <= 0:
        raise Invalid("the rate must be more than 0 phones per second", field="rate")
    loop = asyncio.get_running_loop()
    start = loop.time()
    results: list[Outcome | None] = [None] * len(targets)

    async def one(i: int, target: Target) -> None:
        outcome = await resync(target, timeout=timeout)
        results[i] = outcome
        if done is not None:
            done(target, outcome)

    tasks = []
    for i, target in enumerate(targets):
        delay = start + i / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, target)))
    await asyncio.gather(*tasks)
    return [r for r in results if r is not None]

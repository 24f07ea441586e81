"""Delivering the outbox: at least once, in order per MAC, paced per account, with capped
exponential backoff. Runs in the server (``lifecycle.redirect``); ``provisioner redirect
sync|retry`` run one pass of it from the command line.

Each change is claimed for a minute before its call (a second worker, on another node or the
command line, skips it), and removed only once the vendor has answered it: a crash or a restart
delivers it again, which registering and deregistering allow (both are idempotent).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import aiohttp
import structlog
from aiohttp import web

from ..db import Store, utcnow
from ..db import redirect as tables
from ..errors import Invalid
from ..tasks import cancel_and_wait
from . import outbox, protocols

log = structlog.get_logger("provisioner.redirect")

PUBLIC_URL = "public_url"  # redirect_settings: the base URL the server runs with, for the CLI


@dataclass(frozen=True)
class Pacing:
    rate: float = 5.0  # calls per second per vendor account
    backoff: float = 5.0  # seconds before the first retry; doubles each time
    backoff_cap: float = 900.0  # ... up to this
    max_attempts: int = 12  # then the change is failed until `redirect retry`
    timeout: float = 15.0  # seconds per call
    batch: int = 200  # changes read at once
    claim: float = 60.0  # seconds a worker holds the changes it is delivering


class Worker:
    def __init__(
        self,
        store: Store,
        base_url: str,
        pacing: Pacing | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: Any = None,
    ):
        self.log = logger or log  # the command line logs to stderr, its stdout being the answer
        self.store = store
        self.base_url = base_url
        self.pacing = pacing or Pacing()
        self._clock = clock
        self._last_call: dict[str, float] = {}
        self.calls = 0  # vendor calls made (tests, metrics)

    async def run(self, interval: float) -> None:
        """Deliver what is due, then look again every ``interval`` seconds, until cancelled."""
        async with aiohttp.ClientSession() as session:
            while True:
                try:
                    await self.deliver(session)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    self.log.exception("redirect_delivery_failed")
                await asyncio.sleep(interval)

    async def deliver(self, session: aiohttp.ClientSession | None = None) -> int:
        """Deliver every change due now; how many were answered (delivered or given up)."""
        if session is None:
            async with aiohttp.ClientSession() as own:
                return await self.deliver(own)
        answered = 0
        while True:
            accounts, rows = await asyncio.to_thread(self._claim)
            if not rows:
                return answered
            for row in rows:
                account = accounts.get(row["vendor"])
                if account is None or account.get("_broken"):
                    await asyncio.to_thread(self._release, row["id"])
                    continue
                outcome = await self._send(session, account, row)
                answered += await asyncio.to_thread(self._record, account, row, outcome)

    def _claim(self) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        now = utcnow()
        with self.store.reading() as tx:  # most looks find nothing: they write nothing
            accounts = {a["vendor"]: a for a in tables.accounts(tx) if a["enabled"] and a["broken_at"] is None}
            if not accounts or not tables.due(tx, now, sorted(accounts), 1):
                return {}, []
        with self.store.transaction() as tx:
            rows = tables.due(tx, now, sorted(accounts), self.pacing.batch)
            tables.claim(tx, [r["id"] for r in rows], now + timedelta(seconds=self.pacing.claim))
            for row in rows:
                if row["op"] == "register":
                    row["url"] = (
                        outbox.registered_url(tx, row["customer_id"], self.base_url)
                        if row["customer_id"] is not None
                        else None
                    )
        return accounts, rows

    def _release(self, row_id: int) -> None:
        with self.store.transaction() as tx:
            tables.update_outbox(tx, row_id, {"claimed_until": None})

    async def _pace(self, vendor: str) -> None:
        gap = 1.0 / self.pacing.rate if self.pacing.rate > 0 else 0.0
        wait = self._last_call.get(vendor, -1e9) + gap - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        self._last_call[vendor] = self._clock()

    async def _send(
        self, session: aiohttp.ClientSession, account: dict[str, Any], row: dict[str, Any]
    ) -> protocols.Outcome:
        await self._pace(account["vendor"])
        self.calls += 1
        if row["op"] == "register":
            if not row.get("url"):
                return protocols.Outcome(protocols.REJECTED, "no customer to build the URL from")
            return await protocols.register(session, account, row["mac"], row["url"], timeout=self.pacing.timeout)
        return await protocols.deregister(session, account, row["mac"], timeout=self.pacing.timeout)

    def _record(self, account: dict[str, Any], row: dict[str, Any], outcome: protocols.Outcome) -> int:
        now = utcnow()
        mac, vendor, op = row["mac"], row["vendor"], row["op"]
        fields = {"mac": mac, "vendor": vendor, "op": op}
        with self.store.transaction() as tx:
            if outcome.kind == protocols.AUTH:
                account["_broken"] = True
                tables.update_account(tx, vendor, {"broken_at": now, "broken_reason": outcome.message})
                tables.update_outbox(tx, row["id"], {"claimed_until": None, "last_error": outcome.message})
                tx.add_event(
                    actor="redirect",
                    action="redirect.account_broken",
                    summary=f"the {vendor} redirect service refused the account: deliveries held until "
                    f"`provisioner redirect set {vendor}` is run again ({outcome.message})",
                )
                self.log.warning("redirect_account_broken", vendor=vendor, message=outcome.message)
                return 0
            if outcome.kind == protocols.RETRY:
                attempts = row["attempts"] + 1
                if attempts >= self.pacing.max_attempts:
                    tables.update_outbox(
                        tx,
                        row["id"],
                        {
                            "attempts": attempts,
                            "next_attempt_at": None,
                            "claimed_until": None,
                            "last_error": outcome.message,
                        },
                    )
                    tables.set_device_state(tx, mac, {"state": "failed", "message": outcome.message})
                    self.log.warning("redirect_failed", attempts=attempts, message=outcome.message, **fields)
                    return 1
                delay = min(self.pacing.backoff * 2 ** (attempts - 1), self.pacing.backoff_cap)
                tables.update_outbox(
                    tx,
                    row["id"],
                    {
                        "attempts": attempts,
                        "claimed_until": None,
                        "next_attempt_at": now + timedelta(seconds=delay),
                        "last_error": outcome.message,
                    },
                )
                tables.set_device_state(tx, mac, {"state": "pending", "message": outcome.message})
                self.log.info(
                    "redirect_retry_later", attempts=attempts, delay_s=delay, message=outcome.message, **fields
                )
                return 0
            tables.done(tx, row["id"])
            more = tables.queued(tx, mac)
            if outcome.kind == protocols.OK:
                state = "registered" if op == "register" else "deregistered"
                values = {"state": "pending" if more else state, "message": outcome.message or None}
                if op == "register":
                    values["url"] = row["url"]
                tables.set_device_state(tx, mac, values)
                self.log.info("redirect_delivered", **fields)
            else:  # conflict, rejected: the vendor will not change its mind by itself
                tables.set_device_state(
                    tx, mac, {"state": "pending" if more else outcome.kind, "message": outcome.message}
                )
                tx.add_event(
                    actor="redirect",
                    action=f"redirect.{outcome.kind}",
                    device_mac=mac,
                    summary=f"{vendor} redirect {op} of {mac}: {outcome.kind}: {outcome.message}",
                )
                self.log.warning(f"redirect_{outcome.kind}", message=outcome.message, **fields)
            return 1


def base_url_for_cli(store: Store, given: str | None) -> str:
    """The public base URL for a delivery run from the command line: ``--public-url`` (or
    PROVISIONER_PUBLIC_URL), else the one the server last started with."""
    if given:
        return given
    with store.reading() as tx:
        stored = tables.setting(tx, PUBLIC_URL)
    if not stored:
        raise Invalid(
            "the server's public URL is not known yet: give --public-url (PROVISIONER_PUBLIC_URL) "
            "or start the server once",
            field="public_url",
        )
    return stored


def remember_base_url(store: Store, url: str) -> None:
    with store.transaction() as tx:
        if tables.setting(tx, PUBLIC_URL) != url:
            tables.save_setting(tx, PUBLIC_URL, url)


WORKER = web.AppKey("redirect_worker", Worker)


def pacing_of(settings: Any) -> Pacing:
    return Pacing(
        rate=settings.redirect_rate,
        backoff=settings.redirect_backoff,
        backoff_cap=settings.redirect_backoff_cap,
        max_attempts=settings.redirect_max_attempts,
        timeout=settings.redirect_timeout,
    )


CONTRACTS_EVERY = 300.0  # seconds between looks for terminations whose day has come


async def serve(app: Any) -> Any:
    """``cleanup_ctx``: the outbox worker runs while the server does. A change it was delivering
    when stopped stays claimed for a minute (:attr:`Pacing.claim`), then goes out again."""
    from .. import keys

    settings = app[keys.SETTINGS]
    store = app[keys.STORE]
    base_url = settings.provisioning_url
    await asyncio.to_thread(remember_base_url, store, base_url)
    worker = Worker(store, base_url, pacing_of(settings))
    app[WORKER] = worker

    async def contracts() -> None:
        while True:
            try:
                await asyncio.to_thread(_contracts_ended, store)
            except Exception:
                log.exception("redirect_contracts_check_failed")
            await asyncio.sleep(CONTRACTS_EVERY)

    tasks = [asyncio.create_task(worker.run(settings.redirect_poll)), asyncio.create_task(contracts())]
    yield
    await cancel_and_wait(tasks)


def _contracts_ended(store: Store) -> None:
    with store.transaction() as tx:
        outbox.contracts_ended(tx)

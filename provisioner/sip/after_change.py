"""``--resync-after-change``: once a change is committed, NOTIFY the phones it concerns.

The cache's sync sees every committed event (on every node, whoever made the change)
and hands each batch to :meth:`AfterChange.events` from its worker thread. Events are
gathered for ``settle`` seconds (an import or a swap is many events: one NOTIFY per
phone), the phones they concern are looked up (a device event: that phone; a customer
or line event: every phone of the customer), those whose customer says no (or, when
the customer says nothing, the server flag says no) are dropped, a phone NOTIFYed less
than ``dedup`` seconds ago is skipped, and the rest go out paced by
:func:`provisioner.sip.resync.resync_many`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence

import structlog

from ..db import Store
from ..tasks import cancel_and_wait
from . import resync

log = structlog.get_logger("provisioner.resync")

# Events that do not change what a phone is served (or that the phone itself caused).
QUIET = frozenset({"device.window_closed", "device.charged", "device.created"})
_PREFIXES = ("device.", "customer.", "line.")


class AfterChange:
    def __init__(
        self,
        store: Store,
        *,
        enabled: bool,
        port: int = resync.SIP_PORT,
        rate: float = resync.RATE,
        settle: float = 1.0,
        dedup: float = 30.0,
        timeout: float = 4.0,
        send: Callable[..., Awaitable[list[resync.Outcome]]] = resync.resync_many,
    ):
        self.store = store
        self.enabled = enabled  # the server flag; a customer's column overrides it
        self.port, self.rate, self.settle, self.dedup, self.timeout = port, rate, settle, dedup, timeout
        self.send = send
        self.sent = 0  # NOTIFYs started (tests and metrics read it)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._macs: set[str] = set()
        self._customers: set[str] = set()
        self._last: dict[str, float] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        await cancel_and_wait([self._task])

    def events(self, batch: Sequence[dict]) -> None:
        """The cache's callback: safe from any thread."""
        macs = {e["device_mac"] for e in batch if _counts(e) and e.get("device_mac")}
        customers = {
            e["customer_code"] for e in batch if _counts(e) and not e.get("device_mac") and e.get("customer_code")
        }
        if (macs or customers) and self._loop is not None:
            self._loop.call_soon_threadsafe(self._add, macs, customers)

    def _add(self, macs: set[str], customers: set[str]) -> None:
        self._macs |= macs
        self._customers |= customers
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            await asyncio.sleep(self.settle)  # let a burst of events settle into one batch
            self._wake.clear()
            macs, customers, self._macs, self._customers = self._macs, self._customers, set(), set()
            try:
                await self._notify(macs, customers)
            except Exception:
                log.exception("resync_after_change_failed", devices=len(macs), customers=len(customers))

    async def _notify(self, macs: set[str], customers: set[str]) -> None:
        targets, skipped = await asyncio.to_thread(self._targets, macs, customers)
        now = time.monotonic()
        self._last = {m: t for m, t in self._last.items() if now - t < self.dedup}
        fresh = [t for t in targets if t.mac not in self._last]
        if not fresh:
            return
        for target in fresh:
            self._last[target.mac] = now
        self.sent += len(fresh)
        log.info(
            "resync_after_change", phones=len(fresh), deduplicated=len(targets) - len(fresh), unreachable=len(skipped)
        )
        outcomes = await self.send(fresh, rate=self.rate, timeout=self.timeout)
        failed = [o for o in outcomes if not o.ok]
        if failed:
            log.warning("resync_after_change_unanswered", phones=len(failed), first=failed[0].describe())

    def _targets(self, macs: set[str], customers: set[str]) -> tuple[list[resync.Target], list]:
        """The reachable phones among those changed whose customer wants the NOTIFY."""
        wanted: dict[str, bool] = {}  # mac -> send?
        with self.store.reading() as tx:
            decide: dict[int | None, bool] = {}

            def wants(customer_id: int | None) -> bool:
                if customer_id not in decide:
                    row = tx.customer_by_id(customer_id) if customer_id is not None else None
                    override = row.get("resync_after_change") if row else None
                    decide[customer_id] = self.enabled if override is None else bool(override)
                return decide[customer_id]

            for code in customers:
                row = tx.customer_by_code(code)
                if row is not None and wants(row["id"]):
                    for device in tx.devices_of_customer(row["id"]):
                        wanted[device["mac"]] = True
            for mac in macs:
                known = tx.device(mac)
                if known is not None and wants(known.get("customer_id")):
                    wanted[mac] = True
        if not wanted:
            return [], []
        return resync.targets_of(self.store, macs=sorted(wanted), port=self.port)


def _counts(event: dict) -> bool:
    action = event.get("action") or ""
    return action.startswith(_PREFIXES) and action not in QUIET

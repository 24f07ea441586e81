"""Rendering devices' files before their phones ask: at start, and again for what a change dropped.

A boot storm after a power cut asks for every phone's file within a minute; rendered on demand
they would all be misses. The pre-warm walks the assigned devices in batches of :data:`BATCH`
(one store read per batch, in a worker thread), renders each device's files on the event loop
:data:`CHUNK` devices at a time, yielding between chunks so that phones asking meanwhile are
answered at once. After a sync drops devices (an import, a customer's change) it renders them
again the same way. It stops short of the cache's bound: a pre-warm never evicts what phones asked.

Phonebook files are left to the first request: one customer's phonebook can be large, and every
phone of the customer would carry a copy.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable

import structlog

from .cache import ENTRY_OVERHEAD, ConfigCache
from .errors import RenderError
from .vendors import FileKind
from .vendors import get as get_vendor

log = structlog.get_logger("provisioner.prewarm")

BATCH = 500  # devices per store read
CHUNK = 25  # devices rendered between two yields to the event loop
# Templates left to the first request (see above).
SKIPPED_TEMPLATES = frozenset({"phonebook.xml", "directory.xml"})
# The pre-warm stops when the cache holds this share of its bound.
FILL = 0.9


class Prewarmer:
    def __init__(self, cache: ConfigCache, *, batch: int = BATCH):
        self.cache = cache
        self.batch = batch
        self.rendered = 0  # devices this pre-warm rendered (the tests and /metrics read it)
        self.passes = 0  # pre-warm passes finished
        self._all = False
        self._macs: dict[str, None] = {}  # dropped devices to render again, in order
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_size = ENTRY_OVERHEAD
        self.idle = asyncio.Event()  # set when nothing is left to do
        self.idle.set()

    def start(self) -> None:
        """Pre-warm every assigned device now, then the devices each sync drops."""
        self._all = True
        self.idle.clear()
        self._wake.set()
        self.cache.on_dropped = self.dropped
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self.cache.on_dropped = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def dropped(self, macs: Iterable[str]) -> None:
        """A sync dropped these devices: render them again (called on the event loop, O(len(macs)))."""
        self._macs.update(dict.fromkeys(macs))
        if self._macs:
            self.idle.clear()
            self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                if self._all:
                    self._all = False
                    await self._everything()
                while self._macs and not self._full():
                    macs = list(self._macs)[: self.batch]
                    for mac in macs:
                        del self._macs[mac]
                    await self._warm(macs)
            except Exception as exc:  # the database away: phones still load on demand
                log.warning("prewarm_failed", error=type(exc).__name__)
            if not self._macs or self._full():
                self._macs.clear()
                self.passes += 1
                self.idle.set()

    async def _everything(self) -> None:
        after = ""
        while not self._full():
            macs = await asyncio.to_thread(self._page, after)
            if not macs:
                break
            after = macs[-1]
            await self._warm(macs)
        log.info(
            "prewarm_done",
            devices=len(self.cache._devices),
            cache_bytes=self.cache.bytes,
            full=self._full(),
        )

    def _page(self, after: str) -> list[str]:
        with self.cache.store.reading() as tx:
            return tx.assigned_macs(after, self.batch)

    def _full(self) -> bool:
        """Whether one more device (as large as the last one warmed) would pass FILL of the bound."""
        return self.cache.bytes + self._last_size > self.cache.max_bytes * FILL

    async def _warm(self, macs: list[str]) -> None:
        cache = self.cache
        macs = [m for m in macs if m not in cache._devices]
        if not macs:
            return
        generation = cache._generation
        found, books = await asyncio.to_thread(cache._load, macs, dict(cache._books))
        if generation != cache._generation:
            return  # a change came in meanwhile: what was read may be stale; phones load on demand
        cache._books = books
        cache.loads += len(found)
        for start in range(0, len(macs), CHUNK):
            if start:
                await asyncio.sleep(0)
                if generation != cache._generation:
                    return
            for mac in macs[start : start + CHUNK]:
                data = found.get(mac)
                if data is None or mac in cache._devices or self._full():
                    continue
                entry = cache._entry(data)
                cache.put(mac, entry)
                vendor = get_vendor(data.vendor)
                for spec in vendor.files:
                    if spec.kind is FileKind.DEVICE and spec.template and spec.template not in SKIPPED_TEMPLATES:
                        with contextlib.suppress(RenderError):  # logged with the MAC when the phone asks
                            cache.device_file(entry, spec, spec.template)
                self._last_size = entry.size
                self.rendered += 1

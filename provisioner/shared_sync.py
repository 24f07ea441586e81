"""What one server process learns from the others (``serve --workers N``, PostgreSQL nodes).

- The config cache: :meth:`ConfigCache.sync` reads the audit events other processes committed
  (polled every ``sync_interval``; on PostgreSQL woken at once by ``LISTEN/NOTIFY``, with polling
  kept as the fallback at :data:`PG_POLL_FACTOR` times the interval while the listener is up).
- Scan-defence bans: a ban this process's :class:`~provisioner.access.ScanGuard` made is written to
  the ``bans`` table; bans other processes wrote are applied here. Same tick as the cache.
- First-contact windows need nothing here: closing one is a write with an event (``device.window_closed``),
  which the cache sync above picks up.
"""

from __future__ import annotations

import asyncio
import contextlib
from datetime import datetime, timedelta

from .access import ScanGuard
from .cache import LATE_COMMIT_WINDOW, ConfigCache
from .db import Store, utcnow
from .tasks import FailuresInARow

PG_POLL_FACTOR = 10  # with LISTEN up, a poll every 10 sync intervals catches a missed notification


class SharedBans:
    """Bans written by this process, and read from the others."""

    def __init__(self, db: Store, guard: ScanGuard):
        self.db = db
        self.guard = guard
        self._last_id: int | None = None
        self._mine: set[int] = set()

    async def sync(self) -> int:
        """Share this process's new bans, apply the others'; returns how many were applied."""
        new = self.guard.take_new_bans()
        try:
            rows = await asyncio.to_thread(self._exchange, new)
        except BaseException:
            self.guard.requeue_bans(new)  # tried again at the next tick
            raise
        applied = 0
        now = utcnow()
        for row in rows:
            if row["id"] in self._mine:
                continue
            self._mine.add(row["id"])  # applied once
            self.guard.apply_ban(row["ip"], (row["until"] - now).total_seconds())
            applied += 1
        return applied

    def _exchange(self, new: list[tuple[str, float, str]]) -> list[dict]:
        if new:
            now = utcnow()
            with self.db.transaction() as tx:
                self._mine.update(tx.add_bans((ip, now + timedelta(seconds=s), reason) for ip, s, reason in new))
        with self.db.reading() as tx:
            if self._last_id is None:
                self._last_id = 0  # the first sync: every ban still running applies here too
            since: datetime | None = None if self.db.is_sqlite else utcnow() - LATE_COMMIT_WINDOW
            rows = tx.bans_since(self._last_id, since=since)
        if rows:
            self._last_id = max(self._last_id, max(r["id"] for r in rows))
        return rows


async def run(db: Store, cache: ConfigCache, guard: ScanGuard, interval: float, *, listen: bool = True) -> None:
    """Until cancelled: sync the cache and the bans every ``interval`` seconds, and (PostgreSQL) at
    once when another process commits a change."""
    bans = SharedBans(db, guard)
    wake = asyncio.Event()
    listening = False

    def state(up: bool) -> None:
        nonlocal listening
        listening = up

    guard.on_ban = wake.set  # a ban made here is written (and, on PostgreSQL, notified) at once
    listener = None
    if listen and not db.is_sqlite:
        from .db import notify

        listener = asyncio.create_task(notify.listen(db.url, wake.set, state))
    failures = FailuresInARow("cache_sync_failed")
    try:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), interval * (PG_POLL_FACTOR if listening else 1))
            wake.clear()
            try:
                await cache.sync()
                await bans.sync()
            except Exception as exc:
                failures.failed(exc)
                continue
            failures.succeeded()
    finally:
        if listener is not None:
            listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await listener

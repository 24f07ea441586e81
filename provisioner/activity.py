"""What phones did: last seen, config downloads, unknown MACs.

The phone-facing path only appends to memory; :meth:`Activity.flush` (every
``flush_interval`` and at shutdown) writes it all in one transaction. A boot
storm of 5,000 phones becomes a handful of writes instead of 5,000.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import structlog

from .store import Store, utcnow

log = structlog.get_logger("provisioner.activity")

# A scanner must not grow memory without end between two flushes.
MAX_PENDING = 100_000


@dataclass(frozen=True)
class Fetch:
    mac: str
    file: str
    ip: str
    user_agent: str | None
    firmware: str | None
    transport: str


class Activity:
    def __init__(self, store: Store):
        self.store = store
        self._seen: dict[str, dict[str, Any]] = {}
        self._downloads: list[dict[str, Any]] = []
        self._unknown: dict[str, dict[str, Any]] = {}
        self.dropped = 0

    def fetched(self, fetch: Fetch, *, download: bool) -> None:
        at = utcnow()
        before = self._seen.get(fetch.mac, {})
        # A TFTP fetch carries no User-Agent: keep what the phone said over HTTP.
        self._seen[fetch.mac] = {"mac": fetch.mac, "at": at, "ip": fetch.ip,
                                 "user_agent": (fetch.user_agent or "")[:400] or before.get("user_agent"),
                                 "firmware": fetch.firmware or before.get("firmware")}
        if download:
            if len(self._downloads) >= MAX_PENDING:
                self.dropped += 1
                return
            self._downloads.append({"at": at, "device_mac": fetch.mac, "file": fetch.file[:128],
                                    "ip": fetch.ip, "user_agent": (fetch.user_agent or "")[:400] or None,
                                    "transport": fetch.transport})

    def unknown(self, fetch: Fetch, *, vendor: str | None, model: str | None) -> None:
        at = utcnow()
        row = self._unknown.get(fetch.mac)
        if row is None:
            if len(self._unknown) >= MAX_PENDING:
                self.dropped += 1
                return
            row = self._unknown[fetch.mac] = {"mac": fetch.mac, "first_at": at, "count": 0}
        row.update(at=at, ip=fetch.ip, user_agent=(fetch.user_agent or "")[:400] or None,
                   last_file=fetch.file[:128], vendor=vendor or row.get("vendor"),
                   model=model or row.get("model"))
        row["count"] += 1

    @property
    def pending(self) -> int:
        return len(self._seen) + len(self._downloads) + len(self._unknown)

    async def flush(self) -> None:
        if not self.pending:
            return
        seen, downloads, unknown = self._seen, self._downloads, self._unknown
        self._seen, self._downloads, self._unknown = {}, [], {}
        try:
            await asyncio.to_thread(self._write, list(seen.values()), downloads, list(unknown.values()))
        except Exception:
            log.exception("activity_flush_failed", seen=len(seen), downloads=len(downloads),
                          unknown=len(unknown))
        if self.dropped:
            log.warning("activity_dropped", count=self.dropped)
            self.dropped = 0

    def _write(self, seen: list[dict[str, Any]], downloads: list[dict[str, Any]],
               unknown: list[dict[str, Any]]) -> None:
        with self.store.transaction() as tx:
            tx.record_seen(seen)
            tx.record_downloads(downloads)
            tx.record_unknown(unknown)


"""What phones did: last seen, config downloads, unknown MACs.

The phone-facing path only appends to memory; :meth:`Activity.flush` (every
``flush_interval`` and at shutdown) writes it all in one transaction. A boot
storm of 5,000 phones becomes a handful of writes instead of 5,000. A flush
that fails (the database down, locked or full) loses nothing: the batch is kept
and written with the next one, up to :data:`MAX_PENDING` downloads.

What is written costs O(devices per ``resolution``), not O(requests): a device's last seen is
written at once when its address, User-Agent or firmware changed, else at most once per
``resolution`` (the newest, when due, by a later flush; all at a final flush); repeats of one
download (device, file, address, User-Agent, transport) within ``resolution`` of the previous and
within :data:`DOWNLOAD_SPAN` of the first are one row (``count``, ``last_at``), inserted by the
first flush and updated at most once per ``resolution``. ``resolution`` 0: every fetch written.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import structlog

from .db import Store, unavailable, utcnow

log = structlog.get_logger("provisioner.activity")

# A scanner must not grow memory without end between two flushes.
MAX_PENDING = 100_000
# A device whose credentials go to two addresses within this long is flagged (and logged).
TWO_IPS_WITHIN = timedelta(hours=1)
# Seconds of repeats one downloads row holds at most (a phone boot-looping all day: ~24 rows).
DOWNLOAD_SPAN = 3600.0
RESOLUTION = 60.0  # seconds (settings.activity_resolution)
_MAX_LAST_DOWNLOADS = 200_000
# After a failed flush the periodic one waits this long, doubling per failure up to _RETRY_MAX seconds.
_RETRY_FIRST = 1.0
_RETRY_MAX = 30.0
_TWO_IPS_SECONDS = TWO_IPS_WITHIN.total_seconds()
_now = time.time  # a fetch's time
_clock = time.time  # a flush's time (apart: a test may give fetches times of its own)

# A merged download: a list, changed in place by each repeat (no allocation per request).
_AT, _LAST, _COUNT, _WRITTEN, _QUEUED, _WROTE_AT, _KEY = range(7)


class Fetch(NamedTuple):
    """One phone fetch, as the resolver tells it (a tuple: made on every request, a frozen
    dataclass's ``__init__`` cost more than recording it)."""

    mac: str
    file: str
    ip: str
    user_agent: str | None
    firmware: str | None
    transport: str


class Activity:
    def __init__(self, store: Store, *, resolution: float = RESOLUTION):
        self.store = store
        self.resolution = max(0.0, resolution)
        # mac -> (at, ip, user_agent, firmware, mac), to write at the next flush.
        # ``at`` is time.time() (a float: no datetime per request), made a datetime by the flush.
        self._seen: dict[str, tuple] = {}
        # mac -> the newest last seen not yet due (same as the one written, within the resolution),
        # and (due, mac) in a heap: a flush pops what is due, it does not walk every device.
        self._held: dict[str, tuple] = {}
        self._held_due: list[tuple[float, str]] = []
        # mac -> the last seen handed to a write: what a fetch is compared with (bounded, oldest out).
        self._wrote: dict[str, tuple] = {}
        # Downloads rows to insert: lists [at, last_at, count, written count, queued, written at,
        # (mac, file, ip, user_agent, transport)] (resolution 0: tuples of the INSERT's values).
        self._downloads: list[Any] = []
        # The open row per (mac, file, ip, user_agent, transport), repeats join it; bounded, oldest out.
        self._open: dict[tuple, list] = {}
        # (due, seq, row): rows written before whose count grew, updated when due.
        self._repeats: list[tuple[float, int, list]] = []
        self._seq = itertools.count()
        self._unknown: dict[str, dict[str, Any]] = {}
        self._windows: dict[str, tuple[datetime, int | None]] = {}
        # Last download per device (IP, time.time()): a second IP within the hour is logged at once.
        # A plain dict (no reordering per request); past its bound the oldest entered go first.
        self._last_download: dict[str, tuple[str, float]] = {}
        self.dropped = 0
        self._flushing = asyncio.Lock()
        self.failures = 0  # flushes failed in a row (the database is down, locked or full)
        self._retry_at = 0.0  # monotonic time before which the periodic flush does not try again

    def repeat(
        self, mac: str, file: str, ip: str, user_agent: str | None, firmware: str | None, transport: str
    ) -> None:
        """``fetched(Fetch(mac, file, ip, user_agent, firmware, transport), download=True)`` for a
        warm reply (a repeat of a download served before): the same records, by fewer steps when it
        is what a boot storm repeats (same address, User-Agent and firmware within the resolution,
        joining the open download row); anything else goes the way :meth:`fetched` goes."""
        at = _now()
        resolution = self.resolution
        if not resolution or not user_agent or firmware is None or len(user_agent) > 400:
            self._record(at, mac, file, ip, user_agent, firmware, transport, True)
            return
        wrote = self._wrote.get(mac)
        last = self._last_download.get(mac)
        if (
            wrote is None
            or last is None
            or last[0] != ip  # a second address: fetched() warns
            or at - wrote[0] >= resolution
            or wrote[1] != ip
            or wrote[2] != user_agent
            or wrote[3] != firmware
        ):
            self._record(at, mac, file, ip, user_agent, firmware, transport, True)
            return
        # fetched()'s steps for this case: last seen held, the download joins its open row.
        self._hold(mac, wrote, (at, ip, user_agent, firmware, mac))
        self._last_download[mac] = (ip, at)
        self._join(at, (mac, file[:128], ip, user_agent, transport))

    def fetched(self, fetch: Fetch, *, download: bool) -> None:
        """O(1) and one tuple per kind: this runs on every phone request."""
        # Unpacked once: a NamedTuple's field access is a descriptor call, and there were a dozen.
        mac, file, ip, user_agent, firmware, transport = fetch
        self._record(_now(), mac, file, ip, user_agent, firmware, transport, download)

    def _record(
        self,
        at: float,
        mac: str,
        file: str,
        ip: str,
        user_agent: str | None,
        firmware: str | None,
        transport: str,
        download: bool,
    ) -> None:
        said = ua = user_agent[:400] if user_agent else None
        if ua is None or firmware is None:  # a TFTP fetch carries no User-Agent: keep what HTTP said
            before = self._seen.get(mac) or self._held.get(mac) or self._wrote.get(mac)
            if before is not None:
                ua = ua or before[2]
                firmware = firmware or before[3]
        # (at, ip, user_agent, firmware, mac): the order of Tx.record_activity's UPDATE
        row = (at, ip, ua, firmware, mac)
        resolution = self.resolution
        wrote = self._wrote.get(mac)
        if (
            wrote is not None
            and at - wrote[0] < resolution
            and wrote[1] == ip
            and wrote[2] == ua
            and wrote[3] == firmware
        ):
            self._hold(mac, wrote, row)
        else:  # new to this process, changed, or its resolution has passed: written by the next flush
            self._seen[mac] = row
            self._held.pop(mac, None)
            if resolution:
                if wrote is None and len(self._wrote) >= _MAX_LAST_DOWNLOADS:
                    del self._wrote[next(iter(self._wrote))]
                self._wrote[mac] = row
        if download:
            last_download = self._last_download
            last = last_download.get(mac)
            if last is not None and last[0] != ip and at - last[1] < _TWO_IPS_SECONDS:
                log.warning(
                    "device_fetched_from_two_ips",
                    mac=mac,
                    ip=ip,
                    previous_ip=last[0],
                    file=file,
                    transport=transport,
                )
            if last is None and len(last_download) >= _MAX_LAST_DOWNLOADS:
                del last_download[next(iter(last_download))]
            last_download[mac] = (ip, at)
            if not resolution:
                if len(self._downloads) >= MAX_PENDING:
                    self.dropped += 1
                    return
                self._downloads.append((at, mac, file[:128], ip, said, transport, 1, None))
                return
            self._join(at, (mac, file[:128], ip, said, transport))

    def _hold(self, mac: str, wrote: tuple, row: tuple) -> None:
        """A last seen like the one written (``wrote``) within the resolution: kept in memory, due
        when the resolution has passed since that write."""
        held = self._held
        if mac not in held:
            heapq.heappush(self._held_due, (wrote[0] + self.resolution, mac))
        held[mac] = row

    def _join(self, at: float, key: tuple) -> None:
        """A download (``key``: mac, file, ip, user_agent, transport) joins its open row, or opens one."""
        opened = self._open.get(key)
        if opened is not None and at - opened[_LAST] <= self.resolution and at - opened[_AT] < DOWNLOAD_SPAN:
            opened[_LAST] = at
            opened[_COUNT] += 1
            if opened[_WRITTEN] and not opened[_QUEUED]:  # in the store: its new count written when due
                opened[_QUEUED] = True
                heapq.heappush(self._repeats, (opened[_WROTE_AT] + self.resolution, next(self._seq), opened))
            return
        self._open_row(at, key, opened)

    def _open_row(self, at: float, key: tuple, opened: list | None) -> None:
        """A download that joins no open row: a new row, the open one for ``key`` from now on."""
        if len(self._downloads) >= MAX_PENDING:
            self.dropped += 1
            return
        fresh = [at, at, 1, 0, False, 0.0, key]
        self._downloads.append(fresh)
        if opened is None and len(self._open) >= MAX_PENDING:
            del self._open[next(iter(self._open))]  # the oldest opened: its counts are kept
        self._open[key] = fresh

    def unknown(self, fetch: Fetch, *, vendor: str | None, model: str | None) -> None:
        at = utcnow()
        row = self._unknown.get(fetch.mac)
        if row is None:
            if len(self._unknown) >= MAX_PENDING:
                self.dropped += 1
                return
            row = self._unknown[fetch.mac] = {"mac": fetch.mac, "first_at": at, "count": 0}
        row.update(
            at=at,
            ip=fetch.ip,
            user_agent=(fetch.user_agent or "")[:400] or None,
            last_file=fetch.file[:128],
            vendor=vendor or row.get("vendor"),
            model=model or row.get("model"),
        )
        row["count"] += 1

    def window_used(self, mac: str, customer_id: int | None) -> None:
        """A device got its credentials without its token: its first-contact window is over."""
        self._windows.setdefault(mac, (utcnow(), customer_id))

    def window_closing(self, mac: str) -> bool:
        """Whether this process closed the device's window and has not written that yet: a cache
        entry re-read from the store in the meantime still shows the window open."""
        return mac in self._windows

    @property
    def pending(self) -> int:
        return (
            len(self._seen)
            + len(self._held)
            + len(self._downloads)
            + len(self._repeats)
            + len(self._unknown)
            + len(self._windows)
        )

    async def flush(self, *, due: bool = False) -> bool:
        """Write what is pending; True when it is in the store (or nothing was pending).

        ``due``: the periodic flush, which writes held last-seen rows and download counts only
        once their resolution has passed, and after a failure waits for its backoff; any other
        caller (shutdown, a test, the API) writes everything at once. A failed write keeps its
        batch: it is merged with what came since and written by the next flush. One flush at a
        time: a caller waits for one already writing, so what was recorded before the call is in
        the store when it returns True."""
        async with self._flushing:
            if due and time.monotonic() < self._retry_at:
                return False
            return await self._flush(everything=not due)

    def _take_due(self, now: float, everything: bool) -> list[list]:
        """Move held last-seen rows that are due into ``_seen``; the repeated downloads that are due."""
        heap, held, wrote = self._held_due, self._held, self._wrote
        while heap and (everything or heap[0][0] <= now):
            mac = heapq.heappop(heap)[1]
            row = held.pop(mac, None)
            if row is not None:
                self._seen[mac] = wrote[mac] = row
        repeats = []
        while self._repeats and (everything or self._repeats[0][0] <= now):
            repeats.append(heapq.heappop(self._repeats)[2])
        return repeats

    async def _flush(self, *, everything: bool = True) -> bool:
        now = _clock()
        repeats = self._take_due(now, everything)
        if not (self._seen or self._downloads or repeats or self._unknown or self._windows):
            return True
        seen, new, unknown, windows = self._seen, self._downloads, self._unknown, self._windows
        self._seen, self._downloads, self._unknown, self._windows = {}, [], {}, {}
        # The values as of now (a repeat coming while the thread writes counts for the next write).
        if self.resolution:
            inserts = [
                (r[_AT], *r[_KEY], r[_COUNT], r[_LAST] if r[_COUNT] > 1 else None) for r in new
            ]  # (at, mac, file, ip, user_agent, transport, count, last_at)
        else:
            inserts = new
        updates = [(r[_COUNT], r[_LAST], r[_KEY][0], r[_AT], r[_KEY][1], r[_KEY][2], r[_KEY][4]) for r in repeats]
        try:
            # Handed over as they are (O(1) here): the thread makes the rows.
            await asyncio.to_thread(self._write, seen, inserts, unknown, windows, updates)
        except Exception as exc:
            self._keep(seen, new, unknown, windows)
            for r in repeats:  # still queued: written by the next flush that writes
                heapq.heappush(self._repeats, (now, next(self._seq), r))
            self._failed(exc)
            return False
        finally:
            if self.dropped:
                log.warning(
                    "activity_dropped",
                    count=self.dropped,
                    bound=MAX_PENDING,
                    fix="the database was unwritable too long; see the activity_flush_failed logs",
                )
                self.dropped = 0
        if self.resolution:
            self._written(new, [r[6] for r in inserts], now)
            self._written(repeats, [u[0] for u in updates], now)
        if self.failures:
            log.info("activity_flush_recovered", failures=self.failures, downloads=len(new), seen=len(seen))
        self.failures = 0
        self._retry_at = 0.0
        return True

    def _written(self, rows: list[list], counts: list[int], now: float) -> None:
        """Rows now in the store with ``counts``: those repeated since are updated when due."""
        for r, count in zip(rows, counts, strict=True):
            r[_WRITTEN] = count
            r[_WROTE_AT] = now
            r[_QUEUED] = r[_COUNT] > count
            if r[_QUEUED]:
                heapq.heappush(self._repeats, (now + self.resolution, next(self._seq), r))

    def _keep(
        self,
        seen: dict[str, tuple],
        downloads: list[Any],
        unknown: dict[str, dict[str, Any]],
        windows: dict[str, tuple[datetime, int | None]],
    ) -> None:
        """Put a batch that could not be written back in front of what came since."""
        for mac, row in seen.items():
            newer = self._seen.get(mac)
            if newer is None:
                self._seen[mac] = row
            else:  # newest last seen wins; what it did not say (User-Agent over TFTP) comes from before
                self._seen[mac] = (newer[0], newer[1], newer[2] or row[2], newer[3] or row[3], mac)
        merged = downloads + self._downloads
        if len(merged) > MAX_PENDING:  # the oldest are kept: they are the ones nobody else has
            self.dropped += len(merged) - MAX_PENDING
            for r in merged[MAX_PENDING:]:
                if isinstance(r, list) and self._open.get(r[_KEY]) is r:
                    del self._open[r[_KEY]]  # dropped: its repeats start a row of their own
            del merged[MAX_PENDING:]
        self._downloads = merged
        for mac, asked in unknown.items():
            since = self._unknown.get(mac)
            if since is None:
                self._unknown[mac] = asked
            else:
                since.update(
                    first_at=asked["first_at"],
                    count=asked["count"] + since["count"],
                    vendor=since.get("vendor") or asked.get("vendor"),
                    model=since.get("model") or asked.get("model"),
                )
        for mac, closed in windows.items():
            self._windows[mac] = closed  # the earlier close wins

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        delay = min(_RETRY_MAX, _RETRY_FIRST * 2 ** (self.failures - 1))
        self._retry_at = time.monotonic() + delay
        busy = unavailable(exc)
        if self.failures == 1:  # once per failure streak, not once per retry
            fields = dict(
                reason=busy.reason if busy else "error",
                error=type(exc).__name__,
                pending_downloads=len(self._downloads),
                pending_seen=len(self._seen),
                retry_in=delay,
                kept_up_to=MAX_PENDING,
            )
            if busy is None:
                log.error("activity_flush_failed", exc_info=exc, **fields)
            else:
                log.warning("activity_flush_failed", **fields)

    def _write(
        self,
        seen: dict[str, tuple],
        downloads: list[tuple],
        unknown: dict[str, dict[str, Any]],
        windows: dict[str, tuple[datetime, int | None]] | None = None,
        repeats: list[tuple] | None = None,
    ) -> None:
        # ``at`` stays a time.time() float: the store formats it (once per second, not per row).
        with self.store.transaction() as tx:
            tx.record_activity(list(seen.values()), downloads, repeats or ())
            tx.record_unknown(list(unknown.values()))
            if windows:
                # An event per closed window: every node's cache drops the device and sees it closed.
                for row in tx.close_windows({mac: at for mac, (at, _) in windows.items()}):
                    tx.add_event(
                        actor="phone",
                        action="device.window_closed",
                        device_mac=row["mac"],
                        customer_id=None,
                        summary=f"device {row['mac']} fetched its credentials; from now on only with its token",
                        after={"window_closed_at": row["at"].isoformat()},
                    )


def flag_downloads(rows: Sequence[dict[str, Any]], within: timedelta = TWO_IPS_WITHIN) -> list[dict[str, Any]]:
    """Each download with ``flagged``: another download of the same device came from another IP
    less than ``within`` before or after it. A merged row (``count`` > 1) spans ``at`` to
    ``last_at``: two rows are that close when the gap between their spans is."""
    out = [dict(r) for r in rows]
    ordered = sorted(range(len(out)), key=lambda i: out[i]["at"])
    for i in ordered:
        out[i]["flagged"] = False
    for pos, i in enumerate(ordered):
        end = out[i].get("last_at") or out[i]["at"]
        for j in ordered[pos + 1 :]:
            if out[j]["at"] - end >= within:
                break
            if out[j]["ip"] != out[i]["ip"]:
                out[i]["flagged"] = out[j]["flagged"] = True
    return out

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
# Held last-seen rows and count updates a periodic flush writes at most, each (see _take_due).
DUE_PER_FLUSH = 2_000
_MAX_DEVICES = 200_000  # Seen records kept (last seen and last download per device)
# After a failed flush the periodic one waits this long, doubling per failure up to _RETRY_MAX seconds.
_RETRY_FIRST = 1.0
_RETRY_MAX = 30.0
_TWO_IPS_SECONDS = TWO_IPS_WITHIN.total_seconds()
_now = time.time  # a fetch's time
_clock = time.time  # a flush's time (apart: a test may give fetches times of its own)

# A merged download: a list, changed in place by each repeat (no allocation per request). ``_OPEN``:
# it is the open row of its key (a repeat joins it); False once another row took its place or it
# was dropped.
_AT, _LAST, _COUNT, _WRITTEN, _QUEUED, _WROTE_AT, _KEY, _OPEN = range(8)


class Fetch(NamedTuple):
    """One phone fetch, as the resolver tells it (a tuple: made on every request, a frozen
    dataclass's ``__init__`` cost more than recording it)."""

    mac: str
    file: str
    ip: str
    user_agent: str | None
    firmware: str | None
    transport: str


class Seen:
    """One device's activity in memory, changed in place by its fetches: the last seen handed to a
    write (``wrote``: at, ip, user_agent, firmware, mac), the time of the newest one like it held
    back (``held_at``, None when none is), and its last download (address and time). ``live``:
    still the device's record (False once the bound pushed it out)."""

    __slots__ = ("held_at", "last_at", "last_ip", "live", "mac", "wrote")

    def __init__(self, mac: str):
        self.mac = mac
        self.wrote: tuple | None = None
        self.held_at: float | None = None
        self.last_ip: str | None = None
        self.last_at = 0.0
        self.live = True


class Repeat:
    """What a download served again and again (a kept warm reply, provisioner.warm_replies) holds
    so that :meth:`Activity.repeat` records it without a lookup: the device's :class:`Seen` and the
    open download row its last repeat joined, from which address and transport."""

    __slots__ = ("fast", "file", "firmware", "ip", "mac", "row", "seen", "transport", "user_agent")

    def __init__(self, mac: str, file: str, user_agent: str | None, firmware: str | None):
        self.mac = mac
        self.file = file
        self.user_agent = user_agent
        self.firmware = firmware
        # What the shorter steps need (else each repeat goes fetched()'s way): a User-Agent kept as
        # sent, and a firmware (a TFTP fetch says neither, and takes both from before).
        self.fast = bool(user_agent) and firmware is not None and len(user_agent) <= 400  # type: ignore[arg-type]
        self.seen: Seen | None = None
        self.row: list | None = None
        self.ip: str | None = None
        self.transport: str | None = None


class Activity:
    def __init__(self, store: Store, *, resolution: float = RESOLUTION):
        self.store = store
        self.resolution = max(0.0, resolution)
        # mac -> (at, ip, user_agent, firmware, mac), to write at the next flush.
        # ``at`` is time.time() (a float: no datetime per request), made a datetime by the flush.
        self._seen: dict[str, tuple] = {}
        # mac -> the device's Seen (last seen written, held, last download); bounded, oldest out.
        self._devices: dict[str, Seen] = {}
        # (due, mac) of the devices holding a last seen back: a flush pops what is due, it does not
        # walk every device. ``_holding``: how many hold one.
        self._held_due: list[tuple[float, str]] = []
        self._holding = 0
        # Downloads rows to insert: lists [at, last_at, count, written count, queued, written at,
        # (mac, file, ip, user_agent, transport), open] (resolution 0: tuples of the INSERT's values).
        self._downloads: list[Any] = []
        # The open row per (mac, file, ip, user_agent, transport), repeats join it; bounded, oldest out.
        self._open: dict[tuple, list] = {}
        # (due, seq, row): rows written before whose count grew, updated when due.
        self._repeats: list[tuple[float, int, list]] = []
        self._seq = itertools.count()
        self._unknown: dict[str, dict[str, Any]] = {}
        self._windows: dict[str, tuple[datetime, int | None]] = {}
        self.dropped = 0
        self._flushing = asyncio.Lock()
        self.failures = 0  # flushes failed in a row (the database is down, locked or full)
        self._retry_at = 0.0  # monotonic time before which the periodic flush does not try again

    def repeat(self, r: Repeat, ip: str, transport: str) -> None:
        """``fetched(Fetch(r.mac, r.file, ip, r.user_agent, r.firmware, transport), download=True)``
        for a download served again (a warm reply): the same records, in place and with no lookup
        when it is what a boot storm repeats (the same address, User-Agent and firmware as the last
        seen written within the resolution, joining the row the last repeat joined); anything else
        goes :meth:`fetched`'s way, and ``r`` then holds what that one found."""
        at = _now()
        resolution = self.resolution
        seen, row = r.seen, r.row
        if (
            seen is not None
            and row is not None
            and resolution
            and r.fast
            and seen.live
            and seen.last_ip == ip  # else a second address: fetched() warns
            and r.ip == ip
            and r.transport == transport
            and row[_OPEN]
            and at - row[_LAST] <= resolution
            and at - row[_AT] < DOWNLOAD_SPAN
        ):
            wrote = seen.wrote
            if (
                wrote is not None
                and at - wrote[0] < resolution
                and wrote[1] == ip
                and wrote[2] == r.user_agent
                and wrote[3] == r.firmware
            ):
                # fetched()'s steps for this case: last seen held, the download joins its open row.
                if seen.held_at is None:
                    self._hold(seen, wrote)
                seen.held_at = seen.last_at = at
                self._count(row, at)
                return
        r.row = self._record(at, r.mac, r.file, ip, r.user_agent, r.firmware, transport, True)
        r.seen = self._devices.get(r.mac)
        r.ip, r.transport = ip, transport

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
    ) -> list | None:
        """A fetch recorded; the download row it joined or opened (None: not a download, not kept)."""
        said = ua = user_agent[:400] if user_agent else None
        seen = self._devices.get(mac)
        if ua is None or firmware is None:  # a TFTP fetch carries no User-Agent: keep what HTTP said
            # (a held last seen says what the one written says: they differ in time only)
            before = self._seen.get(mac) or (seen.wrote if seen is not None else None)
            if before is not None:
                ua = ua or before[2]
                firmware = firmware or before[3]
        resolution = self.resolution
        wrote = seen.wrote if seen is not None else None
        if (
            wrote is not None
            and at - wrote[0] < resolution
            and wrote[1] == ip
            and wrote[2] == ua
            and wrote[3] == firmware
        ):
            if seen.held_at is None:  # type: ignore[union-attr]
                self._hold(seen, wrote)  # type: ignore[arg-type]
            seen.held_at = at  # type: ignore[union-attr]
        else:  # new to this process, changed, or its resolution has passed: written by the next flush
            # (at, ip, user_agent, firmware, mac): the order of Tx.record_activity's UPDATE
            row = (at, ip, ua, firmware, mac)
            self._seen[mac] = row
            if seen is not None and seen.held_at is not None:
                self._unhold(seen)  # this one is newer
            if resolution:
                if seen is None:
                    seen = self._device(mac)
                seen.wrote = row
        if not download:
            return None
        if seen is None:
            seen = self._device(mac)
        last_ip = seen.last_ip
        if last_ip is not None and last_ip != ip and at - seen.last_at < _TWO_IPS_SECONDS:
            log.warning(
                "device_fetched_from_two_ips",
                mac=mac,
                ip=ip,
                previous_ip=last_ip,
                file=file,
                transport=transport,
            )
        seen.last_ip = ip
        seen.last_at = at
        if not resolution:
            if len(self._downloads) >= MAX_PENDING:
                self.dropped += 1
                return None
            self._downloads.append((at, mac, file[:128], ip, said, transport, 1, None))
            return None
        return self._join(at, (mac, file[:128], ip, said, transport))

    def _device(self, mac: str) -> Seen:
        """A new :class:`Seen` for ``mac`` (past the bound, the oldest entered goes: a last seen it
        held back is written by the next flush)."""
        devices = self._devices
        if len(devices) >= _MAX_DEVICES:
            old = devices.pop(next(iter(devices)))
            old.live = False
            if old.held_at is not None:
                self._seen[old.mac] = self._unhold(old)
        seen = devices[mac] = Seen(mac)
        return seen

    def _hold(self, seen: Seen, wrote: tuple) -> None:
        """``seen`` starts holding a last seen like the one written (``wrote``) back: due when the
        resolution has passed since that write (the caller sets its time)."""
        heapq.heappush(self._held_due, (wrote[0] + self.resolution, seen.mac))
        self._holding += 1

    def _unhold(self, seen: Seen) -> tuple:
        """``seen`` holds no last seen back any more; the one it held (to write, or not if newer came)."""
        row = (seen.held_at, *seen.wrote[1:4], seen.mac)  # type: ignore[index]
        seen.held_at = None
        self._holding -= 1
        return row

    def _count(self, row: list, at: float) -> None:
        """A repeat joins an open download row: its count and last time; written when due."""
        row[_LAST] = at
        row[_COUNT] += 1
        if row[_WRITTEN] and not row[_QUEUED]:  # in the store: its new count written when due
            self._queue(row)

    def _queue(self, row: list) -> None:
        """A row in the store whose count grew: updated when the resolution has passed since its write."""
        row[_QUEUED] = True
        heapq.heappush(self._repeats, (row[_WROTE_AT] + self.resolution, next(self._seq), row))

    def _join(self, at: float, key: tuple) -> list | None:
        """A download (``key``: mac, file, ip, user_agent, transport) joins its open row, or opens one."""
        opened = self._open.get(key)
        if opened is not None and at - opened[_LAST] <= self.resolution and at - opened[_AT] < DOWNLOAD_SPAN:
            self._count(opened, at)
            return opened
        return self._open_row(at, key, opened)

    def _open_row(self, at: float, key: tuple, opened: list | None) -> list | None:
        """A download that joins no open row: a new row, the open one for ``key`` from now on."""
        if len(self._downloads) >= MAX_PENDING:
            self.dropped += 1
            return None
        fresh = [at, at, 1, 0, False, 0.0, key, True]
        self._downloads.append(fresh)
        if opened is not None:
            opened[_OPEN] = False  # its time has passed: repeats go to the new one
        elif len(self._open) >= MAX_PENDING:
            self._open.pop(next(iter(self._open)))[_OPEN] = False  # the oldest opened: its counts are kept
        self._open[key] = fresh
        return fresh

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
            + self._holding
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
        """Move held last-seen rows that are due into ``_seen``; the repeated downloads that are due.
        A periodic flush takes at most :data:`DUE_PER_FLUSH` of each (a boot storm makes a whole
        fleet due in the same second, a minute later: written over a few flushes, not in one that
        stalls the loop), unless it has fallen a resolution behind."""
        heap, devices = self._held_due, self._devices
        limit = len(heap) if everything or self._behind(heap, now) else DUE_PER_FLUSH
        while heap and limit and (everything or heap[0][0] <= now):
            limit -= 1
            seen = devices.get(heapq.heappop(heap)[1])
            if seen is not None and seen.held_at is not None:
                self._seen[seen.mac] = seen.wrote = self._unhold(seen)
        queued = self._repeats
        limit = len(queued) if everything or self._behind(queued, now) else DUE_PER_FLUSH
        repeats = []
        while queued and limit and (everything or queued[0][0] <= now):
            limit -= 1
            repeats.append(heapq.heappop(queued)[2])
        return repeats

    def _behind(self, heap: list[tuple], now: float) -> bool:
        """The oldest due item waited a resolution already: take all that is due (catch up)."""
        return bool(heap) and heap[0][0] + self.resolution < now

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
        # (count, last_at, mac, at, file, ip, transport, user_agent): the row's whole key (see Tx.record_activity)
        updates = [
            (r[_COUNT], r[_LAST], r[_KEY][0], r[_AT], r[_KEY][1], r[_KEY][2], r[_KEY][4], r[_KEY][3]) for r in repeats
        ]
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
                    r[_OPEN] = False
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

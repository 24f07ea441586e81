"""Rendered bytes per (device, file), kept until a change makes them wrong.

A phone fetch, once warm, is a dict lookup. A miss loads the device's render
input from the store (in a worker thread), renders, and keeps both; concurrent
misses for the same device share one load. The server fills the cache before
phones ask (:mod:`provisioner.prewarm`), and bounds it by bytes: past
``max_bytes`` (``--cache-max-bytes``) the least recently asked devices are
dropped, and load again on their next request.

Invalidation comes from the audit events: every write appends one in its own
transaction, so :meth:`ConfigCache.sync` (run every ``sync_interval`` by the
server, and right after this process's own writes) reading the events since the
last one it saw drops exactly what changed, whichever process or node made the
change. Template files are watched the same way: a change of any file under the
template folders drops everything.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import markupsafe

from . import access, render_data
from .access import DeviceAccess
from .db import Store, Tx, utcnow
from .rendering import (
    PHONEBOOK_REFRESH,
    Contact,
    DeviceData,
    Renderer,
    common_context,
    device_context,
)
from .vendors import ConfigFile, Vendor
from .vendors import get as get_vendor

# On PostgreSQL events newer than this are read again at every sync: a transaction that began
# earlier can commit an event id lower than one already seen. SQLite has one writer at a time, each
# taking ids after the last committed: there, the ids after the last seen are all a sync reads (a
# 100,000-phone import is 91,000 events: read again every half second for 10 s, 1 s each time).
LATE_COMMIT_WINDOW = timedelta(seconds=10)
# Events applied to the cache between two yields to the event loop.
APPLY_CHUNK = 2_000
# SQLite cache misses read on the event loop per batch (~90 us each: a batch holds the loop ~6 ms).
# In a worker thread the read handed the GIL to the loop and back at every row it stepped through:
# a cold boot storm cost ~25% more CPU per request that way (benchmarks/cold_pairs.py).
INLINE_LOAD = 64
# The default bound of the cache (--cache-max-bytes): 512 MiB.
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
# What a cached device costs besides its files' bytes (its render input, its entry, the dict slot):
# measured with tracemalloc by benchmarks/render_throughput.py (two lines, a shared phonebook).
ENTRY_OVERHEAD = 2_500  # 3,000 before its records had __slots__ (issue 19: -505 bytes measured)
# The cache's size at its first gc.freeze(), then at each doubling (see ConfigCache._freeze).
FREEZE_FIRST = 1_024


@dataclass(frozen=True, slots=True)
class Rendered:
    body: bytes
    content_type: str
    etag: str
    credentials: bool = False  # the file holds a SIP password

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Rendered:
        return cls(body, content_type, '"' + hashlib.sha1(body).hexdigest() + '"')


@dataclass(slots=True)
class DeviceEntry:
    data: DeviceData
    customer_code: str | None
    files: dict[str, Rendered] = field(default_factory=dict)
    # The customer's rules and this device's token and window, checked per request in memory.
    access: DeviceAccess | None = None
    size: int = ENTRY_OVERHEAD  # what it counts toward the cache's bound: overhead + files' bytes
    # Replies the resolver may give again to the same path and User-Agent (provisioner.warm_replies),
    # one per path (a list: a dict's table cost ~250 bytes more per device): dropped with the entry at
    # any change, and from the cache's path map (ConfigCache.warm).
    warm: list = field(default_factory=list)
    # Asked through a warm reply since it was last at the front of the LRU (see ConfigCache._evict).
    used: bool = False


def _holds_password(body: bytes, data: DeviceData) -> bool:
    """Whether a rendered file carries one of the device's SIP passwords (as written or XML-escaped)."""
    for account in data.accounts:
        if account.password and (
            account.password.encode() in body or str(markupsafe.escape(account.password)).encode() in body
        ):
            return True
    return False


class ConfigCache:
    def __init__(
        self,
        store: Store,
        renderer: Renderer,
        *,
        provisioning_url: str,
        ntp_server: str,
        template_dirs: tuple[Path, ...] = (),
        phonebook_refresh: int = PHONEBOOK_REFRESH,
        max_bytes: int = DEFAULT_MAX_BYTES,
    ):
        self.store = store
        self.phonebook_refresh = phonebook_refresh
        self.renderer = renderer
        self.provisioning_url = provisioning_url
        self.ntp_server = ntp_server
        self.template_dirs = template_dirs
        # Least recently asked first: what goes when the cache is over max_bytes.
        self._devices: OrderedDict[str, DeviceEntry] = OrderedDict()
        # path -> the warm reply kept for it (provisioner.warm_replies.Warm), of a cached entry only:
        # the warm path's one lookup.
        self.warm: dict[str, Any] = {}
        # Each customer's phonebook, read once and shared by its phones; dropped at any change.
        self._books: dict[int, tuple[Contact, ...]] = {}
        self.max_bytes = max_bytes
        self.bytes = 0  # overhead + files' bytes of the cached devices (common files not counted)
        self.evictions = 0
        self.loads = 0  # devices read from the store
        self._common: dict[tuple[str, str], Rendered] = {}
        self._loading: dict[str, asyncio.Future[DeviceEntry | None]] = {}
        self._queued: list[str] = []
        self._loader: asyncio.Task[None] | None = None
        self._generation = 0
        self._last_event_id: int | None = None
        self._recent_ids: dict[int, object] = {}
        self._template_stamp: tuple | None = None
        # The secret every node shares (server_secrets "hmac"): device tokens, digest nonces.
        self.secret: str | None = None
        self.renders = 0  # how many renders this cache did: the benchmarks read it
        self.freezes = 0  # gc.freeze() calls (see _freeze)
        self._freeze_at = FREEZE_FIRST
        self._sync_lock = asyncio.Lock()
        self._syncs_started = 0
        self._syncs_done = 0  # the number of the last sync that finished
        # Told (on the event loop, by sync) of every batch of committed events: lifecycle sets it.
        self.on_change: Callable[[list[dict]], None] | None = None
        # Also told of every batch (the firmware rollout reloads its targets on firmware events).
        self.listeners: list[Callable[[list[dict]], None]] = []
        # Told (on the event loop, by sync) of the devices a batch of changes dropped: the pre-warm.
        self.on_dropped: Callable[[list[str]], None] | None = None

    # --- lookups -------------------------------------------------------------------

    def keep_warm(self, entry: DeviceEntry, kept: Any, size: int, most: int) -> None:
        """A warm reply kept for its ``path`` with a cached device (``size`` bytes toward the bound),
        in place of one kept for that path before: found by :attr:`warm` until the entry is dropped.
        Not kept for an entry no longer cached, nor as a new path past ``most`` paths."""
        if self._devices.get(entry.data.mac) is not entry:
            return
        path, replies = kept.path, entry.warm
        before = next((i for i, w in enumerate(replies) if w.path == path), None)
        if before is None:
            if len(replies) >= most:
                return
            self.count_bytes(entry, size)
            if self._devices.get(entry.data.mac) is not entry:
                return  # its own bytes pushed it out
            replies.append(kept)
        else:
            replies[before] = kept
        self.warm[path] = kept

    def count_bytes(self, entry: DeviceEntry, size: int) -> None:
        """``size`` more bytes kept with a device (a rendered file, a warm reply) count toward the bound."""
        entry.size += size
        if self._devices.get(entry.data.mac) is entry:
            self.bytes += size
            self._evict()

    async def device(self, mac: str) -> DeviceEntry | None:
        entry = self._devices.get(mac)
        if entry is not None:
            until = entry.data.valid_until
            if until is None or utcnow() < until:
                self._devices.move_to_end(mac)
                return entry
            self._drop(mac)  # its files change at a known instant (a contract end): load again
        future = self._loading.get(mac)
        if future is None:
            future = self._loading[mac] = asyncio.get_running_loop().create_future()
            self._queued.append(mac)
            if self._loader is None:
                self._loader = asyncio.create_task(self._load_queued())
        return await asyncio.shield(future)

    async def _load_queued(self) -> None:
        """Load every queued MAC, in batches: one store round trip serves a whole boot storm's misses.

        On SQLite, once a phonebook is cached, :data:`INLINE_LOAD` MACs at a time are read on the event
        loop, with a yield between two batches. Otherwise (PostgreSQL: a network round trip; no
        phonebook cached yet: a large customer's takes 100 ms and more to read) what is queued is read
        in a worker thread, all at once."""
        try:
            await asyncio.sleep(0)  # let the requests already read off the sockets queue their MACs too
            while self._queued:
                inline = self.store.is_sqlite and bool(self._books)
                if inline:
                    macs, self._queued = self._queued[:INLINE_LOAD], self._queued[INLINE_LOAD:]
                else:
                    macs, self._queued = self._queued, []
                generation = self._generation
                try:
                    if inline:
                        found, books = self._load(macs, dict(self._books))
                    else:
                        found, books = await asyncio.to_thread(self._load, macs, dict(self._books))
                except Exception as exc:
                    for mac in macs:
                        future = self._loading.pop(mac)
                        future.set_exception(exc)
                        future.exception()  # retrieved by each waiter; not "never retrieved"
                    continue
                self.loads += len(found)
                current = generation == self._generation
                if current:
                    self._books = books
                for mac in macs:
                    data = found.get(mac)
                    entry = self._entry(data) if data else None
                    if entry is not None and current:
                        self.put(mac, entry)
                    self._loading.pop(mac).set_result(entry)
                if inline and self._queued:
                    await asyncio.sleep(0)  # the phones of this batch (and warm ones) answered before the next
        finally:
            self._loader = None

    def _load(
        self, macs: list[str], books: dict[int, tuple[Contact, ...]]
    ) -> tuple[dict[str, DeviceData], dict[int, tuple[Contact, ...]]]:
        """In a worker thread: the render input of ``macs``, and ``books`` with the phonebooks read."""
        with self.store.reading() as tx:
            self._read_secret(tx)
            found = render_data.devices_data(tx, macs, ntp_server=self.ntp_server, books=books)
        return found, books

    def put(self, mac: str, entry: DeviceEntry) -> None:
        """Keep a loaded device (the most recently asked), dropping the least recently asked ones
        while the cache is over its bound."""
        self._drop(mac)
        self._devices[mac] = entry
        self.bytes += entry.size
        self._evict()
        if len(self._devices) >= self._freeze_at:
            self._freeze()

    def _freeze(self) -> None:
        """Move every object alive now (the cached devices, the phonebooks, the templates) out of
        the cyclic collector's reach (``gc.freeze()``; reference counting still frees them when
        dropped). A full collection walked all of them, on the loop, every few seconds of a
        boot storm: warm p99 139 ms with it, 28 ms without, same run. At each doubling of the
        cache only (1,024, 2,048, ...): a cycle of garbage alive at that moment stays (bounded)."""
        gc.freeze()
        self.freezes += 1
        self._freeze_at = 2 * len(self._devices)

    def _drop(self, mac: str) -> None:
        entry = self._devices.pop(mac, None)
        if entry is not None:
            self.bytes -= entry.size
            self._forget_warm(entry)

    def _forget_warm(self, entry: DeviceEntry) -> None:
        """The warm replies of an entry leaving the cache are no longer found by path."""
        warm = self.warm
        for kept in entry.warm:
            path = kept.path
            if warm.get(path) is kept:
                del warm[path]

    def _evict(self) -> None:
        """Least recently asked out until the cache is within its bound. A warm reply does not move
        its entry (a reordering per request cost the warm path a cache miss): it marks it ``used``,
        and an entry found used at the front gets a second chance at the back (the CLOCK
        approximation of LRU)."""
        devices = self._devices
        while self.bytes > self.max_bytes and len(devices) > 1:
            mac, entry = devices.popitem(last=False)
            if entry.used:
                entry.used = False
                devices[mac] = entry
                continue
            self.bytes -= entry.size
            self.evictions += 1
            self._forget_warm(entry)

    def _read_secret(self, tx: Tx) -> None:
        if self.secret is None:
            self.secret = tx.server_secret("hmac")

    def _entry(self, data: DeviceData) -> DeviceEntry:
        entry = DeviceEntry(data=data, customer_code=data.customer_code)
        policy = data.policy
        if policy is not None and data.customer_id is not None:
            # Every device of a customer with rules has a token, accepted in place of the path key
            # even with token mode off: phones given a token URL keep working when the rules change.
            token = None
            if self.secret:
                token = access.device_token(self.secret, data.mac, data.customer_id, data.assigned_at)
            entry.access = DeviceAccess(
                policy, token, access.window_end(policy, data.assigned_at, data.window_closed_at)
            )
        return entry

    def provisioning_url_of(self, entry: DeviceEntry) -> str:
        """The URL a device's files send it back to: with its token or path key and its customer's
        credentials; the plain one for a deprovisioned device (it gets no credentials of any kind)."""
        rules = entry.access
        return access.device_url(
            self.provisioning_url,
            rules.policy if rules else None,
            rules.token if rules else None,
            deprovisioned=entry.data.deprovisioned,
        )

    def device_file(
        self, entry: DeviceEntry, spec: ConfigFile, name: str, *, firmware_url: str | None = None
    ) -> Rendered:
        """The bytes of a per-device file; renders on the first request only. Kept by template: a
        device's file is the same whatever spelling of its name a phone asks. With ``firmware_url``
        (an upgrade is due, provisioner.firmware_rollout) the variant carrying the directive, kept
        next to the plain one: the choice between them is made per request without rendering."""
        base = spec.template or name.lower()
        key = base if firmware_url is None else f"{base} {firmware_url}"
        rendered = entry.files.get(key)
        if rendered is None:
            vendor = get_vendor(entry.data.vendor)
            context = device_context(
                vendor, entry.data, self.provisioning_url_of(entry), phonebook_refresh=self.phonebook_refresh
            )
            context["firmware_url"] = firmware_url
            rendered = self._render(vendor, spec, context)
            if not entry.data.deprovisioned and _holds_password(rendered.body, entry.data):
                rendered = dataclasses.replace(rendered, credentials=True)
            entry.files[key] = rendered
            self.count_bytes(entry, len(rendered.body))
        return rendered

    def common_file(self, vendor: Vendor, spec: ConfigFile, name: str, model: str | None) -> Rendered:
        key = (vendor.name, name.lower())
        rendered = self._common.get(key)
        if rendered is None:
            context = common_context(vendor, self.provisioning_url, model=model, ntp_server=self.ntp_server)
            rendered = self._render(vendor, spec, context)
            self._common[key] = rendered
        return rendered

    def _render(self, vendor: Vendor, spec: ConfigFile, context: dict) -> Rendered:
        assert spec.template is not None
        body = self.renderer.render(vendor.name, spec.template, context, spec.xml)
        self.renders += 1
        return Rendered.of(body, spec.content_type)

    # --- invalidation --------------------------------------------------------------

    def invalidate_device(self, mac: str) -> None:
        self._generation += 1
        self._drop(mac)
        self._books.clear()  # a line's name or extension is in its customer's phonebook

    def invalidate_customer(self, customer_code: str | None) -> list[str]:
        """Drop the devices of a customer; returns their MACs."""
        self._generation += 1
        self._books.clear()
        if customer_code is None:
            return []
        dropped = [m for m, e in self._devices.items() if e.customer_code == customer_code]
        for mac in dropped:
            self._drop(mac)
        return dropped

    def clear(self) -> None:
        self._generation += 1
        self._devices.clear()
        self.warm.clear()
        self.bytes = 0
        self._freeze_at = FREEZE_FIRST  # the devices loaded again are frozen again as they come
        self._books.clear()
        self._common.clear()
        self.renderer.clear()

    async def sync(self) -> int:
        """Drop what changed since the last sync; returns how many changes were seen.

        One sync at a time: a caller arriving while one runs waits for one that starts after its
        call (the running one may have read the events before the caller's write). The worker
        thread only reads; what changes the cache is applied here, on the event loop.
        """
        wanted = self._syncs_started + 1
        async with self._sync_lock:
            if self._syncs_done >= wanted:
                return 0  # a sync that started after this call already ran
            self._syncs_started += 1
            number = self._syncs_started
            try:
                stamp, secret, last_id, fresh, codes, now = await asyncio.to_thread(
                    self._read_changes, self._last_event_id
                )
                return await self._apply_changes(stamp, secret, last_id, fresh, codes, now)
            finally:
                self._syncs_done = number

    def _read_changes(self, last_event_id: int | None) -> tuple:
        """In a worker thread: the template stamp, the secret and the events after ``last_event_id``."""
        stamp = self._template_fingerprint()
        with self.store.reading() as tx:
            secret = self.secret if self.secret is not None else tx.server_secret("hmac")
            if last_event_id is None:
                return stamp, secret, tx.last_event_id(), None, {}, utcnow()
            now = utcnow()
            since = None if self.store.is_sqlite else now - LATE_COMMIT_WINDOW
            fresh = tx.events_since(last_event_id, since=since)
            codes = {}
            for event in fresh:
                if event["customer_id"] is not None and event["customer_id"] not in codes:
                    row = tx.customer_by_id(event["customer_id"])
                    codes[event["customer_id"]] = row["code"] if row else None
        return stamp, secret, last_event_id, fresh, codes, now

    async def _apply_changes(
        self, stamp: tuple, secret: str | None, last_id: int, fresh: list | None, codes: dict, now: object
    ) -> int:
        """On the event loop: drop what the events read by :meth:`_read_changes` made wrong,
        :data:`APPLY_CHUNK` events at a time with a yield between (an import's 100,000 events must
        not hold phones' requests for the whole of it)."""
        if stamp != self._template_stamp:
            if self._template_stamp is not None:
                self.clear()
            self._template_stamp = stamp
        if self.secret is None:
            self.secret = secret
        if fresh is None:  # the first sync: start from the newest event
            self._last_event_id = last_id
            return 0
        fresh = [e for e in fresh if e["id"] not in self._recent_ids]
        if fresh:
            self._generation += 1  # a load that read before these changes must not keep what it read
            self._books.clear()  # phonebooks: any change may touch one (lines, contacts)
        dropped: dict[str, None] = {}
        for number, event in enumerate(fresh):
            if number and not number % APPLY_CHUNK:
                await asyncio.sleep(0)
            self._recent_ids[event["id"]] = now
            self._last_event_id = max(self._last_event_id or 0, event["id"])
            if event["device_mac"]:
                self.invalidate_device(event["device_mac"])
                dropped[event["device_mac"]] = None
        # Each customer once per sync: a 190,000-event import must not scan the cache per event.
        for customer_code in {codes.get(e["customer_id"]) for e in fresh if e["customer_id"] is not None}:
            dropped.update(dict.fromkeys(self.invalidate_customer(customer_code)))
        if self.on_dropped is not None and dropped:
            self.on_dropped(list(dropped))
        if self.on_change is not None and fresh:  # --resync-after-change
            self.on_change([{**e, "customer_code": codes.get(e["customer_id"])} for e in fresh])
        for listener in self.listeners if fresh else ():
            listener(fresh)
        # Oldest first (each sync's ``now`` is later): drop from the front, O(what goes), not a copy of
        # all the ids an import just wrote at every sync.
        horizon = now - LATE_COMMIT_WINDOW * 2  # type: ignore[operator]
        recent = self._recent_ids
        while recent:
            first = next(iter(recent))
            if recent[first] >= horizon:  # type: ignore[operator]
                break
            del recent[first]
        return len(fresh)

    def _template_fingerprint(self) -> tuple:
        stamp = []
        for root in self.template_dirs:
            if not root.is_dir():
                continue
            for dirpath, _dirs, files in os.walk(root):
                for name in files:
                    try:
                        st = os.stat(os.path.join(dirpath, name))
                    except OSError:
                        continue
                    stamp.append((dirpath, name, st.st_mtime_ns, st.st_size))
        return tuple(sorted(stamp))

    @property
    def size(self) -> int:
        return sum(len(e.files) for e in self._devices.values()) + len(self._common)

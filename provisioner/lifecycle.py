"""What the server starts and stops, as aiohttp ``cleanup_ctx`` generators:
code before ``yield`` runs at startup, code after it at shutdown (SIGTERM too)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web
from prometheus_client import Histogram

from . import access, cache_metrics, keys, shared_sync
from .access import ScanGuard, ScanSettings
from .activity import Activity
from .cache import ConfigCache
from .db import Store, database_exists, describe, unavailable
from .errors import Unavailable
from .firmware_rollout import Rollout
from .prewarm import Prewarmer
from .rendering import SHIPPED_TEMPLATES, Renderer
from .resolver import Request, Resolver
from .settings import Settings
from .tasks import FailuresInARow, cancel_and_wait

log = structlog.get_logger("provisioner")

LOOP_LAG = Histogram(
    "provisioner_loop_lag_seconds",
    "How late the event loop ran a 20 ms timer",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0),
)
_LAG_TICK = 0.02


# How long a worker thread (the activity flush, a cache load) may hold the GIL while the event loop
# waits for it: CPython's 5 ms default makes every syscall of the loop during a flush a 5 ms wait
# (boot storm warm p99 155-227 ms with it, 105-126 ms at 0.5 ms, same run, same machine).
SWITCH_INTERVAL = 0.0005
# The cyclic collector's thresholds while serving: CPython's (700, 10, 10) ran a young collection
# every 700 allocations, ~55 a second in a warm boot storm (each request allocates a few dozen
# objects, nearly all freed by reference counting). The cached devices are out of its reach
# (ConfigCache freezes them), so a young collection walks only what came since the last one.
GC_THRESHOLDS = (50_000, 50, 100)


async def store(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    sys.setswitchinterval(SWITCH_INTERVAL)
    thresholds = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLDS)
    try:
        async for _ in _serving(app, settings):
            yield
    finally:
        gc.set_threshold(*thresholds)


async def _serving(app: web.Application, settings: Settings) -> AsyncIterator[None]:
    db = await _open_store(settings)
    renderer = Renderer(override=settings.templates_dir)
    cache = ConfigCache(
        db,
        renderer,
        provisioning_url=settings.provisioning_url,
        ntp_server=settings.ntp_server,
        template_dirs=(settings.templates_dir, SHIPPED_TEMPLATES),
        phonebook_refresh=settings.phonebook_refresh,
        max_bytes=settings.cache_max_bytes,
    )
    activity = Activity(db, resolution=settings.activity_resolution)
    await cache.sync()
    prewarmer = Prewarmer(cache)
    app[keys.PREWARM] = prewarmer
    cache_metrics.watch(cache, prewarmer)
    if settings.prewarm:
        prewarmer.start()
    app[keys.STORE] = db
    app[keys.CACHE] = cache
    app[keys.ACTIVITY] = activity
    guard = ScanGuard(
        ScanSettings(
            failures=settings.scan_failures,
            window=settings.scan_window,
            ban=settings.scan_ban,
            enabled=settings.scan_failures > 0,
            exempt=access.networks(settings.scan_exempt),
            unknown_rate=settings.scan_unknown_rate,
            unknown_burst=settings.scan_unknown_burst,
        )
    )
    rollout = Rollout(
        settings.firmware_folder,
        max_concurrent=settings.firmware_max_concurrent,
        slot_timeout=settings.firmware_slot_timeout,
    )
    await asyncio.to_thread(rollout.load, db)
    cache.listeners.append(rollout.watch(db))  # read again when a firmware event is synced
    app[keys.RESOLVER] = Resolver(
        db, cache, activity, upload_max_bytes=settings.upload_max_bytes, guard=guard, rollout=rollout
    )
    tasks = [
        asyncio.create_task(shared_sync.run(db, cache, guard, settings.sync_interval, listen=settings.pg_listen)),
        asyncio.create_task(
            _every(settings.flush_interval, functools.partial(activity.flush, due=True), "activity_flush_failed")
        ),
        asyncio.create_task(_watch_loop_lag()),
    ]
    log.info(
        "store_opened",
        database=db.engine.url.render_as_string(hide_password=True),
        provisioning_url=settings.provisioning_url,
    )
    if not settings.public_url and "//127." in settings.provisioning_url:
        log.warning(
            "provisioning_url_is_loopback",
            provisioning_url=settings.provisioning_url,
            fix="set --public-url (PROVISIONER_PUBLIC_URL) to the address phones use",
        )
    if await asyncio.to_thread(_no_users, db):
        log.warning("no_users_yet", fix="create the first admin: provisioner user add NAME --role admin")
    yield
    await prewarmer.stop()
    await cancel_and_wait(tasks)
    if not await activity.flush():
        log.error(
            "activity_lost_at_shutdown",
            downloads=len(activity._downloads),
            seen=len(activity._seen),
            fix="the database could not be written before the server stopped",
        )
    db.close()


# Waiting for a database that is not there yet: first retry after this long, doubling up to the max.
_OPEN_RETRY_FIRST = 1.0
_OPEN_RETRY_MAX = 30.0


def _open_or_create(settings: Settings) -> Store:
    new = not database_exists(settings.data_dir, settings.database_url)
    db = Store.open(settings.data_dir, settings.database_url)
    if new:  # said apart: a server started in the wrong folder, or without its --database-url, shows here
        log.info("new_database", database=describe(settings.data_dir, settings.database_url))
    return db


async def _open_store(settings: Settings) -> Store:
    """Open the store; while the database cannot be reached (PostgreSQL starting after this node,
    a network cut) wait and retry with backoff, logging each try. SIGTERM or SIGINT during the
    wait stops the process cleanly (exit status 0)."""
    attempt = 0
    stop = asyncio.Event()
    signals = _on_stop_signals(stop.set)
    try:
        while True:
            attempt += 1
            try:
                return await asyncio.to_thread(_open_or_create, settings)
            except Exception as exc:
                busy = unavailable(exc)
                if busy is None:
                    raise
                delay = min(_OPEN_RETRY_MAX, _OPEN_RETRY_FIRST * 2 ** (attempt - 1))
                log.warning(
                    "database_unavailable_at_start",
                    reason=busy.reason,
                    error=type(exc).__name__,
                    attempt=attempt,
                    retry_in=delay,
                )
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), delay)
            if stop.is_set():
                log.info("stopped_while_waiting_for_database", attempts=attempt)
                raise SystemExit(0)
    finally:
        signals()


def _on_stop_signals(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` on SIGTERM/SIGINT until the returned function is called (main thread only)."""
    loop = asyncio.get_running_loop()
    added = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(sig, callback)
        except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or no signals here
            continue
        added.append(sig)

    def remove() -> None:
        for sig in added:
            loop.remove_signal_handler(sig)

    return remove


async def tftp(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.tftp_port is None:
        yield
        return
    from .tftp import TftpError, TftpServer

    resolver = app[keys.RESOLVER]

    async def handle(filename: str, client_ip: str) -> bytes | memoryview:
        try:
            # A repeat of a read served before: from memory (provisioner.warm_replies).
            kept = resolver.warm(filename, None, client_ip, "tftp")
            if kept is not None:
                reply = kept.reply
            else:
                reply = await resolver.resolve(Request(filename, client_ip, transport="tftp"))
        except Unavailable as exc:  # an uncached file with the database down: the phone retries
            log.warning("database_unavailable", reason=exc.reason, transport="tftp")
            raise TftpError(0, "server busy, try again") from None
        keys.count(reply, "tftp")
        if reply.status == 200:
            return reply.body
        if reply.status == 403:
            raise TftpError(2, "access violation")
        if reply.status == 404:
            raise TftpError(1, "file not found")
        raise TftpError(0, "server error")

    server = TftpServer(
        handle, max_sessions=settings.tftp_max_sessions, max_unacked_per_ip=settings.tftp_max_unacked_per_ip
    )
    port = await server.start(settings.host, settings.tftp_port, reuse_port=settings.reuse_port)
    app[keys.TFTP_PORT] = port
    log.info("tftp_listening", host=settings.host, port=port)
    yield
    await server.stop()


PNP = web.AppKey("pnp", object)  # the running PnpResponder (tests read its port and counters)
MDNS = web.AppKey("mdns", object)  # the mDNS Advertiser
AFTER_CHANGE = web.AppKey("after_change", object)  # the --resync-after-change sender


async def discovery(app: web.Application) -> AsyncIterator[None]:
    """How phones on the LAN find the server and follow every change: the SIP plug-and-play
    responder (--pnp), the mDNS advertisement (--mdns), the NOTIFY after a change
    (--resync-after-change, told by the cache's sync)."""
    settings = app[keys.SETTINGS]
    advertiser = None
    if settings.mdns:
        from .mdns import Advertiser
        from .settings import _primary_address

        host = settings.host if settings.host not in ("0.0.0.0", "::", "") else _primary_address()
        advertiser = Advertiser(
            settings.provisioning_url,
            [host],
            interfaces=list(settings.mdns_interfaces) if settings.mdns_interfaces else None,
        )
        app[MDNS] = advertiser
    mdns_task = asyncio.create_task(_advertise(advertiser)) if advertiser else None
    responder = await _start_pnp(app, settings) if settings.pnp else None
    from .sip.after_change import AfterChange

    # Always listening: a customer may ask for it (customer update --resync-after-change on)
    # while the server flag is off.
    after_change = AfterChange(
        app[keys.STORE], enabled=settings.resync_after_change, port=settings.resync_port, rate=settings.resync_rate
    )
    if settings.worker == 0:  # serve --workers N: one NOTIFY per change, from worker 0
        after_change.start()
        app[AFTER_CHANGE] = after_change
        app[keys.CACHE].on_change = after_change.events
    try:
        yield
    finally:
        app[keys.CACHE].on_change = None
        if settings.worker == 0:
            await after_change.stop()
        if responder is not None:
            await responder.stop()
        if advertiser is not None and mdns_task is not None:
            await _withdraw(advertiser, mdns_task)


async def _advertise(advertiser) -> None:  # type: ignore[no-untyped-def]
    """Register in the background: probing takes a second or two, the server need not wait."""
    try:
        await advertiser.start()
    except Exception as exc:  # no multicast, no interface: serve without it
        log.warning("mdns_failed", error=str(exc), effect="the server is not advertised on the LAN")
        return
    log.info("mdns_advertised", name=advertiser.info.name, url=advertiser.info.properties.get(b"url", b"").decode())


async def _withdraw(advertiser, task: asyncio.Task[None]) -> None:  # type: ignore[no-untyped-def]
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await advertiser.stop()


async def _start_pnp(app: web.Application, settings):  # type: ignore[no-untyped-def]
    from .activity import Fetch
    from .sip.pnp import PnpResponder, Subscription

    cache, activity = app[keys.CACHE], app[keys.ACTIVITY]

    async def known(mac: str) -> bool:
        return await cache.device(mac) is not None

    def unknown(sub: Subscription, ip: str) -> None:
        activity.unknown(
            Fetch(sub.mac, "SUBSCRIBE ua-profile", ip, sub.user_agent, sub.version, "pnp"),
            vendor=sub.vendor,
            model=sub.model,
        )

    responder = PnpResponder(settings.provisioning_url, known=known, unknown=unknown)
    try:
        port = await responder.start(settings.host, settings.pnp_port)
    except OSError as exc:
        # Phones still find the server by DHCP or a redirect service: serve them, say why PnP is off.
        log.error(
            "pnp_cannot_listen",
            host=settings.host,
            port=settings.pnp_port,
            error=exc.strerror or str(exc),
            fix="free the port, pick another with --pnp-port, or --pnp off",
        )
        return None
    app[PNP] = responder
    log.info("pnp_listening", host=settings.host, port=port, multicast=responder.multicast)
    return responder


async def _watch_loop_lag() -> None:
    """What a phone waits for on top of its own request when the loop is busy (a stall shows as p99)."""
    loop = asyncio.get_running_loop()
    observe = LOOP_LAG.observe
    while True:
        planned = loop.time() + _LAG_TICK
        await asyncio.sleep(_LAG_TICK)
        observe(max(0.0, loop.time() - planned))


async def _every(seconds: float, job: Callable[[], Awaitable[object]], failure: str) -> None:
    failures = FailuresInARow(failure)
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception as exc:
            failures.failed(exc)
            continue
        failures.succeeded()


def _no_users(db: Store) -> bool:
    with db.reading() as tx:
        return tx.count_users() == 0

"""What the server starts and stops, as aiohttp ``cleanup_ctx`` generators:
code before ``yield`` runs at startup, code after it at shutdown (SIGTERM too)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from . import keys
from . import access
from .access import ScanGuard, ScanSettings
from .activity import Activity
from .cache import ConfigCache
from .rendering import SHIPPED_TEMPLATES, Renderer
from .resolver import Reply, Request, Resolver
from .store import Store

log = structlog.get_logger("provisioner")


async def store(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    db = await asyncio.to_thread(Store.open, settings.data_dir, settings.database_url)
    renderer = Renderer(override=settings.templates_dir)
    cache = ConfigCache(db, renderer, provisioning_url=settings.provisioning_url,
                        ntp_server=settings.ntp_server,
                        template_dirs=(settings.templates_dir, SHIPPED_TEMPLATES))
    activity = Activity(db)
    await cache.sync()
    app[keys.STORE] = db
    app[keys.CACHE] = cache
    app[keys.ACTIVITY] = activity
    guard = ScanGuard(ScanSettings(failures=settings.scan_failures, window=settings.scan_window,
                                   ban=settings.scan_ban, enabled=settings.scan_failures > 0,
                                   exempt=access.networks(settings.scan_exempt),
                                   unknown_rate=settings.scan_unknown_rate,
                                   unknown_burst=settings.scan_unknown_burst))
    app[keys.RESOLVER] = Resolver(db, cache, activity, upload_max_bytes=settings.upload_max_bytes, guard=guard)
    tasks = [
        asyncio.create_task(_every(settings.sync_interval, cache.sync, "cache_sync_failed")),
        asyncio.create_task(_every(settings.flush_interval, activity.flush, "activity_flush_failed")),
    ]
    log.info("store_opened", database=db.engine.url.render_as_string(hide_password=True),
             provisioning_url=settings.provisioning_url)
    if not settings.public_url and "//127." in settings.provisioning_url:
        log.warning("provisioning_url_is_loopback", provisioning_url=settings.provisioning_url,
                    fix="set --public-url (PROVISIONER_PUBLIC_URL) to the address phones use")
    if await asyncio.to_thread(_no_users, db):
        log.warning("no_users_yet", fix="create the first admin: provisioner user add NAME --role admin")
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await activity.flush()
    db.close()


async def tftp(app: web.Application) -> AsyncIterator[None]:
    settings = app[keys.SETTINGS]
    if settings.tftp_port is None:
        yield
        return
    from .tftp import TftpError, TftpServer

    resolver = app[keys.RESOLVER]

    async def handle(filename: str, client_ip: str) -> bytes:
        reply: Reply = await resolver.resolve(Request(filename, client_ip, transport="tftp"))
        keys.count(reply, "tftp")
        if reply.status == 200:
            return reply.body
        if reply.status == 403:
            raise TftpError(2, "access violation")
        if reply.status == 404:
            raise TftpError(1, "file not found")
        raise TftpError(0, "server error")

    server = TftpServer(handle, max_sessions=settings.tftp_max_sessions,
                        max_unacked_per_ip=settings.tftp_max_unacked_per_ip)
    port = await server.start(settings.host, settings.tftp_port)
    app[keys.TFTP_PORT] = port
    log.info("tftp_listening", host=settings.host, port=port)
    yield
    await server.stop()


async def _every(seconds: float, job: Callable[[], Awaitable[object]], failure: str) -> None:
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            log.exception(failure)


def _no_users(db: Store) -> bool:
    with db.reading() as tx:
        return tx.count_users() == 0

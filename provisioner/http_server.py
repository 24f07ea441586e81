"""The HTTP and HTTPS listeners of one server process: aiohttp's runner behind the connection guard,
phones' requests dispatched first (:func:`provisioner.web.phone_first`), until SIGTERM or SIGINT.
``provisioner serve`` runs it (one worker), and so does each worker of the supervisor."""

from __future__ import annotations

import asyncio
import signal

import structlog
from aiohttp import web

from . import connections
from .settings import Settings
from .web import phone_first


async def run(app: web.Application, settings: Settings, ssl_context, ready=None) -> None:  # type: ignore[no-untyped-def]
    """HTTP and HTTPS sites on one runner, until SIGTERM or SIGINT; ``ready()`` once listening."""
    limits = connections.raise_fd_limit()
    if limits is not None:
        structlog.get_logger("provisioner").info("fd_limit", soft_was=limits[0], soft=limits[1], hard=limits[2])
    guard = connections.ConnectionGuard(
        head_timeout=settings.http_head_timeout, max_per_ip=settings.http_max_connections_per_ip
    )
    # keepalive_timeout: an idle keep-alive connection (or one slow with its next head) is closed too.
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=10, keepalive_timeout=settings.http_head_timeout)
    await runner.setup()
    assert runner.server is not None
    # Phones' GET and HEAD past the router and the middlewares (issue 19); the rest as before.
    runner.server.request_handler = phone_first(app, runner.server.request_handler)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        if settings.http_port is not None:
            await connections.GuardedSite(
                runner, settings.host, settings.http_port, guard, reuse_port=settings.reuse_port
            ).start()
        if settings.https_port is not None:
            await connections.GuardedSite(
                runner,
                settings.host,
                settings.https_port,
                guard,
                ssl_context=ssl_context,
                reuse_port=settings.reuse_port,
            ).start()
        structlog.get_logger("provisioner").info(
            "http_listening", host=settings.host, http_port=settings.http_port, https_port=settings.https_port
        )
        if ready is not None:
            ready()
        await stop.wait()
    finally:
        await runner.cleanup()

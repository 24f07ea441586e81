"""PostgreSQL ``LISTEN``: wake this process when another one commits a change.

Migration 0013 adds statement triggers on ``events`` and ``bans`` that ``pg_notify`` the channel
:data:`CHANNEL` in the writing transaction; PostgreSQL delivers it at commit (once per transaction).
:func:`listen` holds one dedicated connection per process listening on it. Polling stays as the
fallback (a missed notification, a dropped connection): see :mod:`provisioner.shared_sync`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import sqlalchemy as sa
import structlog

CHANNEL = "provisioner_changes"
_RETRY_FIRST = 1.0
_RETRY_MAX = 30.0

log = structlog.get_logger("provisioner")


def conninfo(url: str) -> str:
    """The libpq URL of a SQLAlchemy PostgreSQL URL (``postgresql+psycopg://`` -> ``postgresql://``)."""
    return sa.engine.make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


async def listen(url: str, on_notify: Callable[[], None], on_state: Callable[[bool], None]) -> None:
    """Until cancelled: ``on_notify()`` at each notification on :data:`CHANNEL` (and once each time
    the connection is (re)made: what was committed while not listening). ``on_state(True/False)``
    says whether the connection is listening. A lost connection is made again with backoff."""
    import psycopg

    delay = _RETRY_FIRST
    while True:
        try:
            async with await psycopg.AsyncConnection.connect(conninfo(url), autocommit=True) as conn:
                await conn.execute(f"LISTEN {CHANNEL}")
                on_state(True)
                log.info("pg_listening", channel=CHANNEL)
                delay = _RETRY_FIRST
                on_notify()
                async for _notice in conn.notifies():
                    on_notify()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # only the type: a driver message may quote the connection string
            log.warning("pg_listen_failed", error=type(exc).__name__, retry_in=delay, fallback="polling")
        on_state(False)
        await asyncio.sleep(delay)
        delay = min(_RETRY_MAX, delay * 2)

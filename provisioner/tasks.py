"""Background tasks of a running server (workers started in an aiohttp ``cleanup_ctx``): the one way
they are stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any

import structlog

from .db import unavailable

log = structlog.get_logger("provisioner")


class FailuresInARow:
    """A background job's failures in a row: a database that is down (or busy) is logged once, an
    unexpected error each time with its traceback, and the recovery once, with how many it took."""

    def __init__(self, event: str) -> None:
        self.event = event  # e.g. "cache_sync_failed"; the recovery is logged as "..._recovered"
        self.count = 0

    def failed(self, exc: Exception) -> None:
        self.count += 1
        busy = unavailable(exc)
        if busy is None:
            log.exception(self.event)
        elif self.count == 1:
            log.warning(self.event, reason=busy.reason, error=type(exc).__name__)

    def succeeded(self) -> None:
        if self.count:
            log.info(self.event.replace("_failed", "_recovered"), failures=self.count)
            self.count = 0


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task, then wait for each to end; its cancellation is swallowed, an error it
    raised instead is not. ``None`` (a task never started) is skipped."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""Background tasks of a running server (workers started in an aiohttp ``cleanup_ctx``): the one way
they are stopped."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Task[Any] | None]) -> None:
    """Cancel every task, then wait for each to end; its cancellation is swallowed, an error it
    raised instead is not. ``None`` (a task never started) is skipped."""
    started = [task for task in tasks if task is not None]
    for task in started:
        task.cancel()
    for task in started:
        with contextlib.suppress(asyncio.CancelledError):
            await task

"""Structured logs: JSON lines by default (one event, key=value fields), or a
console format for people. Secrets are never passed to a logger.

Libraries log through the standard ``logging`` module (aiohttp's server, access
and web loggers, asyncio). Their records are rendered by the same renderer, one
line per event, and what they carry is clipped first: aiohttp puts the bytes of
a malformed request into its messages and exceptions, and those bytes are the
client's, not ours. A library's exception becomes its type, its clipped message
and the code frames it went through, never a multi-line traceback.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

import structlog

# Text a library logs (message, exception message) is clipped to this many characters.
MAX_FOREIGN_TEXT = 200
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F, *range(0x80, 0xA0))}


def clip(text: str, limit: int = MAX_FOREIGN_TEXT) -> str:
    """``text`` on one line, control characters escaped, at most ``limit`` characters of it kept."""
    kept = text[:limit].translate(_CONTROL)
    return kept + f"...(+{len(text) - limit} chars)" if len(text) > limit else kept


def configure(level: str = "info", fmt: str = "json") -> None:
    numeric = logging.getLevelName(level.upper())
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")
    renderer = structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        # One write per line (the text and its newline together): workers share the supervisor's
        # stderr, and with PYTHONUNBUFFERED print()'s two writes interleave between processes.
        logger_factory=structlog.WriteLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_ForeignFormatter(renderer))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(numeric, logging.WARNING))
    # tftpy's packet decoder logs every ERROR a client sends (phones abort after tsize with ERROR 8).
    logging.getLogger("tftpy").setLevel(logging.CRITICAL)


class _ForeignFormatter(logging.Formatter):
    """A library's ``logging`` record as one structured line, its text clipped."""

    def __init__(self, renderer: Any) -> None:
        super().__init__()
        self._renderer = renderer

    def format(self, record: logging.LogRecord) -> str:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format string must not lose the line
            message = str(record.msg)
        event: dict[str, Any] = {"event": clip(message), "logger": record.name}
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            event["error"] = clip(f"{type(exc).__name__}: {exc}")
            # Frames only: file, line and our source, never the exception's text.
            frames = traceback.extract_tb(exc.__traceback__)[-8:]
            event["frames"] = [f"{frame.filename}:{frame.lineno} {frame.name}" for frame in frames]
        event["level"] = record.levelname.lower()
        event["timestamp"] = self.formatTime(record)
        rendered = self._renderer(None, record.levelname.lower(), event)
        return rendered.replace("\n", "\\n")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # logging's name
        return datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

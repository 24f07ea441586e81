"""HTTP connections that hold the server without asking anything (slowloris) are closed.

aiohttp's server reads a request head for as long as the client takes. Its only timer is
``keepalive_timeout``, which (in aiohttp 3.14) also runs while a first request head is awaited,
but it is one timer for two jobs and its behaviour has changed between versions. So every
connection goes through :class:`ConnectionGuard`, a thin protocol in front of aiohttp's own:

- a connection that has not sent a complete request head (up to the blank line) within
  ``head_timeout`` seconds of opening is aborted; aiohttp's ``keepalive_timeout``, set to the
  same value, closes a keep-alive connection idle (or sending a next head) for as long;
- at most ``max_per_ip`` connections are open per client address; one more is aborted at once,
  before aiohttp sees it (a NAT'd office shares one address: the default leaves room for it).

The guard adds one Python call per read and looks for the blank line only until the first head
is in; the phone's fetch is otherwise untouched.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from typing import Any

import structlog
from aiohttp import web

log = structlog.get_logger("provisioner.connections")

_HEAD_END = b"\r\n\r\n"
_LOG_EVERY = 10.0  # seconds between two summaries of refused or timed-out connections


class ConnectionGuard:
    """Counts open connections per client address and makes each one's guarding protocol."""

    def __init__(self, *, head_timeout: float, max_per_ip: int) -> None:
        if head_timeout <= 0:
            raise ValueError("head_timeout must be positive")
        if max_per_ip < 1:
            raise ValueError("max_per_ip must be at least 1")
        self.head_timeout = head_timeout
        self.max_per_ip = max_per_ip
        self.open: Counter[str] = Counter()
        self.refused = 0  # connections over max_per_ip, since start
        self.timed_out = 0  # connections closed for a late request head, since start
        self._logged = (0, 0)
        self._next_log = 0.0

    def factory(self, server: web.Server) -> Any:
        """A protocol factory for ``loop.create_server``, wrapping aiohttp's ``server``."""
        return lambda: _Guarded(self, server())

    def _note(self) -> None:
        """One summary line at most every _LOG_EVERY seconds, however hard a client pushes."""
        now = asyncio.get_running_loop().time()
        if now < self._next_log:
            return
        self._next_log = now + _LOG_EVERY
        refused, timed_out = self.refused - self._logged[0], self.timed_out - self._logged[1]
        self._logged = (self.refused, self.timed_out)
        busiest = self.open.most_common(1)
        log.warning(
            "http_connections_dropped",
            over_limit=refused,
            head_timeout=timed_out,
            max_per_ip=self.max_per_ip,
            head_timeout_s=self.head_timeout,
            busiest_ip=busiest[0][0] if busiest else None,
            open=sum(self.open.values()),
        )


class _Guarded(asyncio.Protocol):
    """aiohttp's protocol for one connection, behind the guard's two checks."""

    __slots__ = ("_guard", "_inner", "_ip", "_tail", "_timer", "_transport")

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self._guard = guard
        self._inner = inner
        self._ip: str | None = None  # set once the connection is admitted
        self._timer: asyncio.TimerHandle | None = None
        self._tail = b""  # the last bytes seen while waiting for the end of the head
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        guard = self._guard
        peer = transport.get_extra_info("peername")
        ip = str(peer[0]) if peer else ""
        if guard.open[ip] >= guard.max_per_ip:
            guard.refused += 1
            transport.abort()  # type: ignore[attr-defined]
            guard._note()
            return
        guard.open[ip] += 1
        self._ip = ip
        self._transport = transport  # type: ignore[assignment]
        self._timer = asyncio.get_running_loop().call_later(guard.head_timeout, self._late)
        self._inner.connection_made(transport)

    def _late(self) -> None:
        self._timer = None
        if self._transport is not None:
            self._guard.timed_out += 1
            self._transport.abort()
            self._guard._note()

    def data_received(self, data: bytes) -> None:
        if self._timer is not None:
            seen = self._tail + data
            if _HEAD_END in seen:
                self._timer.cancel()
                self._timer = None
                self._tail = b""
            else:
                self._tail = seen[-3:]
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        if self._ip is None:
            return None
        return self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._ip is None:
            return  # refused: aiohttp never saw it
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        open_ = self._guard.open
        open_[self._ip] -= 1
        if open_[self._ip] <= 0:
            del open_[self._ip]
        self._transport = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class GuardedSite(web.BaseSite):
    """A TCP site (like ``web.TCPSite``) whose connections go through a :class:`ConnectionGuard`."""

    def __init__(
        self,
        runner: web.BaseRunner,
        host: str,
        port: int,
        guard: ConnectionGuard,
        *,
        ssl_context: ssl.SSLContext | None = None,
        backlog: int = 1024,
        reuse_port: bool = False,
    ) -> None:
        super().__init__(runner, ssl_context=ssl_context, backlog=backlog)
        self._reuse_port = reuse_port  # serve --workers: every worker listens on the same port
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        self._server = await asyncio.get_running_loop().create_server(
            self._guard.factory(server),
            self._host,
            self._port,
            ssl=self._ssl_context,
            backlog=self._backlog,
            reuse_address=True,
            reuse_port=self._reuse_port or None,
            # A TLS handshake that never ends is a slowloris too; asyncio's default is 60 s.
            ssl_handshake_timeout=self._guard.head_timeout if self._ssl_context else None,
        )


def raise_fd_limit() -> tuple[int, int, int] | None:
    """Raise the soft RLIMIT_NOFILE to the hard one: every connection and TFTP transfer holds a
    descriptor, and the usual soft 1,024 is soon reached. Returns (soft before, soft now, hard),
    None off Unix."""
    try:
        import resource
    except ImportError:
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == hard or soft == resource.RLIM_INFINITY:
        return soft, soft, hard
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ValueError, OSError) as exc:
        log.warning("fd_limit_not_raised", soft=soft, hard=hard, error=str(exc))
        return soft, soft, hard
    return soft, hard, hard

"""TFTP server for phones: read requests only, RFC 1350 with the option
extensions of RFCs 2347 (OACK), 2348 (blksize) and 2349 (timeout, tsize).

It runs on asyncio datagram endpoints in the same event loop as aiohttp, with its
own packet codec (:mod:`provisioner.tftp_codec`). tftpy is a test client only; its
server loop was never used here: it crashes when a
dynamic file has no name (tftpy issue #155), is built on ``select()`` (dies
past ~1,020 open sessions) and takes one new request per loop pass, so bursts
of requests from phones booting together were lost.

Shape: :class:`_Listener` decodes what arrives on the well-known port, which
:class:`_DrainingSocket` reads (both in :mod:`provisioner.tftp_listener`);
:class:`TftpServer` (here) admits read requests (bounded, de-duplicated), asks
the handler for the file, answers refusals from the listening socket and starts
one :class:`_ReadSession` per file to send; each session sends from its own
ephemeral socket (the RFC 1350 transfer ID), an asyncio datagram endpoint
wrapped by :class:`_SessionSocket` (both in :mod:`provisioner.tftp_session`,
with the packets and option negotiation).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from . import tftp_codec as codec
from .tftp_listener import _DrainingSocket, _enlarge_receive_buffer, _Listener
from .tftp_session import (
    ERR_ILLEGAL_OPERATION,
    ERR_NOT_DEFINED,
    MAX_BLKSIZE,
    MIN_BLKSIZE,
    Address,
    TftpError,
    _context,
    _Limits,
    _ReadRequest,
    _ReadSession,
    error_packet,
    negotiate,
    to_netascii,
)

__all__ = ["Handler", "TftpError", "TftpServer", "negotiate", "to_netascii"]

MODES = ("octet", "netascii")
# File descriptors kept free for the rest of the process (HTTP, database, logs).
_FD_HEADROOM = 1024
# Seconds between two log lines about requests dropped unanswered.
_DROP_LOG_EVERY = 10.0

Handler = Callable[[str, str], Awaitable[bytes | memoryview]]
"""``(filename as requested, client IP) -> file bytes``; raises :class:`TftpError`."""


def _client_ip(host: str) -> str:
    """The client's IP as the handler should see it: an IPv4-mapped IPv6
    address (dual-stack listener) is given as plain IPv4."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return host


# --- the server ------------------------------------------------------------


class TftpServer:
    """Serves read requests by asking ``handler`` for the file's bytes.

    A request is looked up first (the handler is called) with no socket of its
    own; one that is refused (unknown name, banned address, ...) gets its ERROR
    from the listening socket and never takes a session slot, so a flood of
    requests for files nobody has cannot crowd out a phone that has one. Only a
    file to send takes a slot (``max_sessions``) and a socket.

    Per client address, at most ``max_unacked_per_ip`` transfers may be under
    way whose first packet is not acknowledged yet; requests beyond that are
    dropped unanswered (a real client resends). With the first packet resent
    once at most, a forged source address cannot turn the server into an
    amplifier: whatever it sends, it draws at most that many first packets,
    twice each, every two timeouts.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        max_sessions: int = 4096,
        timeout: float = 1.0,
        retries: int = 5,
        max_blksize: int = 1468,
        max_unacked_per_ip: int = 16,
        max_lookups: int = 4096,
        log: Any = None,
    ) -> None:
        if max_sessions < 1:
            raise ValueError("max_sessions must be at least 1")
        if max_unacked_per_ip < 1 or max_lookups < 1:
            raise ValueError("max_unacked_per_ip and max_lookups must be at least 1")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if retries < 0:
            raise ValueError("retries must not be negative")
        if not MIN_BLKSIZE <= max_blksize <= MAX_BLKSIZE:
            raise ValueError(f"max_blksize must be within {MIN_BLKSIZE}..{MAX_BLKSIZE}")
        self._handler = handler
        self._max_sessions = max_sessions
        self._max_unacked_per_ip = max_unacked_per_ip
        self._max_lookups = max_lookups  # requests waiting for the handler: tasks, no socket
        self._limits = _Limits(timeout=timeout, retries=retries, max_blksize=max_blksize)
        self._log = log if log is not None else structlog.get_logger("provisioner.tftp")
        self._listener: _Listener | None = None
        self._endpoint: _DrainingSocket | asyncio.BaseTransport | None = None
        self._host = ""
        # Requests in flight (looked up or being sent), each with its (client
        # address, raw request) key: a client resending a request still being
        # served is not served twice.
        self._sessions: dict[asyncio.Task[None], tuple[Address, bytes]] = {}
        self._requests: set[tuple[Address, bytes]] = set()
        self._lookups = 0  # requests whose handler has not answered yet
        self._transfers = 0  # requests sending a file: each holds a socket and a slot
        self._unacked: dict[str, int] = {}  # client IP -> requests in flight not acknowledged yet
        self.dropped = {"unacked_per_ip": 0, "lookups_full": 0}  # requests dropped unanswered, by reason
        self._dropped_logged = 0
        self._next_drop_log = 0.0

    @property
    def active_sessions(self) -> int:
        """Requests in flight: being looked up or being sent."""
        return len(self._sessions)

    @property
    def transfers(self) -> int:
        """Requests sending a file (each holds a session slot and a socket)."""
        return self._transfers

    async def start(self, host: str, port: int, *, reuse_port: bool = False) -> int:
        """Bind the listening socket; returns its port (``port=0``: the OS picks). ``reuse_port``:
        SO_REUSEPORT, several processes on one port (serve --workers)."""
        if self._listener is not None:
            raise RuntimeError("TFTP server already started")
        _ensure_fd_limit(self._max_sessions + _FD_HEADROOM, self._log)
        host = host or "0.0.0.0"  # "" means every IPv4 address, as for socket.bind()
        listener = _Listener(self._accept, self._log)
        endpoint: _DrainingSocket | asyncio.BaseTransport
        try:
            endpoint = await _DrainingSocket.bind(host, port, listener, **({"reuse_port": True} if reuse_port else {}))
        except NotImplementedError:  # an event loop without add_reader (Windows Proactor)
            endpoint, _ = await asyncio.get_running_loop().create_datagram_endpoint(
                lambda: listener, local_addr=(host, port), reuse_port=reuse_port or None
            )
        self._listener, self._endpoint = listener, endpoint
        sockname = endpoint.get_extra_info("sockname")
        self._host = sockname[0]  # sessions bind to the same address
        _enlarge_receive_buffer(endpoint.get_extra_info("socket"), self._log)
        return int(sockname[1])

    async def stop(self) -> None:
        """Close the listener and every session socket; cancel the sessions."""
        listener, self._listener = self._listener, None
        endpoint, self._endpoint = self._endpoint, None
        if listener is not None and endpoint is not None:
            endpoint.close()
            await listener.closed
        tasks = list(self._sessions)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._sessions.clear()
        self._requests.clear()

    def _accept(self, packet: codec.Request, raw: bytes, addr: Address) -> None:
        """Admit a read request: look it up, then send it if there is something to send."""
        listener = self._listener
        if listener is None:
            return
        if packet.mode not in MODES:
            listener.reply(error_packet(ERR_ILLEGAL_OPERATION, f"unsupported mode {packet.mode}"), addr)
            return
        key = (tuple(addr[:2]), raw)
        if key in self._requests:
            return  # the client resent its request; its session will answer
        if self._lookups >= self._max_lookups:
            self._drop("lookups_full", addr[0])  # the handler is far behind: the client resends later
            return
        request = _ReadRequest(filename=packet.filename, mode=packet.mode, options=dict(packet.options), peer=addr)
        self._lookups += 1
        task = asyncio.get_running_loop().create_task(self._serve(request, listener))
        self._sessions[task] = key
        self._requests.add(key)
        task.add_done_callback(self._finished)

    async def _serve(self, request: _ReadRequest, listener: _Listener) -> None:
        ip = request.peer[0]
        unacked = False

        def acknowledged() -> None:
            nonlocal unacked
            if unacked:
                unacked = False
                left = self._unacked.get(ip, 1) - 1
                if left > 0:
                    self._unacked[ip] = left
                else:
                    self._unacked.pop(ip, None)

        try:
            try:
                content = await self._lookup(request, listener)
            finally:
                self._lookups -= 1
            if content is None:
                return
            if self._unacked.get(ip, 0) >= self._max_unacked_per_ip:
                self._drop("unacked_per_ip", ip)  # forged source address, or the client resends later
                return
            if self._transfers >= self._max_sessions:
                self._log.warning("tftp_busy", client=ip, port=request.peer[1], sessions=self._transfers)
                listener.reply(error_packet(ERR_NOT_DEFINED, "server busy"), request.peer)
                return
            self._transfers += 1
            self._unacked[ip] = self._unacked.get(ip, 0) + 1
            unacked = True
            try:
                session = _ReadSession(
                    request,
                    content,
                    host=self._host,
                    limits=self._limits,
                    reply_from_listener=listener.reply,
                    on_acknowledged=acknowledged,
                    log=self._log,
                )
                await session.run()
            finally:
                self._transfers -= 1
        finally:
            acknowledged()

    async def _lookup(self, request: _ReadRequest, listener: _Listener) -> bytes | memoryview | None:
        """The file as it goes on the wire, or None once an ERROR was sent (from the listener)."""
        context = _context(request)
        try:
            content = await self._handler(request.filename, _client_ip(request.peer[0]))
        except TftpError as exc:
            self._log.debug("tftp_refused", **context, code=exc.code, message=exc.message)
            listener.reply(error_packet(exc.code, exc.message), request.peer)
            return None
        except Exception:
            self._log.error("tftp_handler_failed", **context, exc_info=True)
            listener.reply(error_packet(ERR_NOT_DEFINED, "internal error"), request.peer)
            return None
        if not isinstance(content, (bytes, bytearray, memoryview)):
            self._log.error("tftp_handler_bad_result", **context, type=type(content).__name__)
            listener.reply(error_packet(ERR_NOT_DEFINED, "internal error"), request.peer)
            return None
        if isinstance(content, memoryview) and request.mode != "netascii":
            return content  # a firmware image mapped from disk: sent block by block, never copied whole
        content = bytes(content)
        return to_netascii(content) if request.mode == "netascii" else content

    def _drop(self, reason: str, ip: str) -> None:
        """Count a request dropped unanswered; one summary line at most every _DROP_LOG_EVERY seconds."""
        self.dropped[reason] += 1
        now = time.monotonic()
        if now < self._next_drop_log:
            return
        self._next_drop_log = now + _DROP_LOG_EVERY
        total = sum(self.dropped.values())
        self._log.warning(
            "tftp_requests_dropped",
            count=total - self._dropped_logged,
            last_client=ip,
            last_reason=reason,
            max_unacked_per_ip=self._max_unacked_per_ip,
        )
        self._dropped_logged = total

    def _finished(self, task: asyncio.Task[None]) -> None:
        key = self._sessions.pop(task, None)
        if key is not None:
            self._requests.discard(key)
        if not task.cancelled() and (exc := task.exception()) is not None:
            self._log.error("tftp_session_crashed", error=repr(exc))


def _ensure_fd_limit(wanted: int, log: Any) -> None:
    """Each session holds a socket: raise the soft RLIMIT_NOFILE towards the
    hard limit when it is below what max_sessions needs."""
    try:
        import resource
    except ImportError:  # not on Unix
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY or soft >= wanted:
        return
    new = wanted if hard == resource.RLIM_INFINITY else hard
    if new <= soft:
        log.warning("tftp_fd_limit_low", soft=soft, hard=hard, wanted=wanted)
        return
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
    except (ValueError, OSError) as exc:
        log.warning("tftp_fd_limit_low", soft=soft, hard=hard, wanted=wanted, error=str(exc))
        return
    log.info("tftp_fd_limit_raised", old=soft, new=new)

"""TFTP server for phones: read requests only, RFC 1350 with the option
extensions of RFCs 2347 (OACK), 2348 (blksize) and 2349 (timeout, tsize).

It runs on asyncio datagram endpoints in the same event loop as aiohttp, with its
own packet codec (:mod:`provisioner.tftp_codec`). tftpy is a test client only; its
server loop was never used here: it crashes when a
dynamic file has no name (tftpy issue #155), is built on ``select()`` (dies
past ~1,020 open sessions) and takes one new request per loop pass, so bursts
of requests from phones booting together were lost.

Shape: :class:`_Listener` decodes what arrives on the well-known port, which
:class:`_DrainingSocket` reads; :class:`TftpServer` admits read requests
(bounded, de-duplicated), asks the handler for the file, answers refusals from
the listening socket and starts one :class:`_ReadSession` per file to send;
each session sends from its own ephemeral socket (the RFC 1350 transfer ID),
an asyncio datagram endpoint wrapped by :class:`_SessionSocket`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import structlog

from . import tftp_codec as codec

__all__ = ["Handler", "TftpError", "TftpServer", "negotiate", "to_netascii"]

# Error codes (RFC 1350 section 5).
ERR_NOT_DEFINED = 0
ERR_FILE_NOT_FOUND = 1
ERR_ACCESS_VIOLATION = 2
ERR_ILLEGAL_OPERATION = 4
ERR_UNKNOWN_TID = 5

DEFAULT_BLKSIZE = 512
MIN_BLKSIZE, MAX_BLKSIZE = 8, 65464  # RFC 2348
MIN_TIMEOUT, MAX_TIMEOUT = 1, 255  # RFC 2349, seconds
MODES = ("octet", "netascii")

# A request must fit in 512 bytes (RFC 2347); anything much larger on the
# well-known port is not TFTP and is not worth decoding.
_MAX_REQUEST_SIZE = 1500
_MAX_ERROR_TEXT = 200
# Receive buffer asked for on the well-known port, so a burst of requests from
# phones booting together is queued rather than dropped while the loop is busy.
# Linux caps it at net.core.rmem_max.
_LISTENER_RCVBUF = 4 * 1024 * 1024
# Datagrams the listener takes from the kernel per wake-up, at most.
_DRAIN_BATCH = 512
# File descriptors kept free for the rest of the process (HTTP, database, logs).
_FD_HEADROOM = 1024
# Seconds between two log lines about requests dropped unanswered.
_DROP_LOG_EVERY = 10.0

Handler = Callable[[str, str], Awaitable[bytes]]
"""``(filename as requested, client IP) -> file bytes``; raises :class:`TftpError`."""

Address = tuple[Any, ...]  # (host, port) for IPv4, (host, port, flowinfo, scope_id) for IPv6


class TftpError(Exception):
    """Raise from a handler to send a TFTP ERROR packet.

    Codes: 1 file not found, 2 access violation, 4 illegal operation, 0 not defined.
    """

    def __init__(self, code: int, message: str) -> None:
        if not 0 <= code <= 8:
            raise ValueError(f"TFTP error code {code} is not one of 0..8")
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"TFTP error {self.code}: {self.message}"


# --- packets and options ---------------------------------------------------


def error_packet(code: int, message: str) -> bytes:
    """An encoded ERROR packet carrying ``message``."""
    return codec.encode_error(code, message[:_MAX_ERROR_TEXT])


_data_packet = codec.encode_data


def _oack_packet(options: Mapping[str, str]) -> bytes:
    return codec.encode_oack(dict(options))


def to_netascii(data: bytes) -> bytes:
    """RFC 764 netascii from a local (LF-newline) file: a bare CR becomes
    CR NUL, every LF becomes CR LF."""
    return data.replace(b"\r", b"\r\0").replace(b"\n", b"\r\n")


@dataclass(frozen=True)
class TransferOptions:
    """What a read request settled on after option negotiation."""

    blksize: int
    timeout: float
    oack: dict[str, str]  # accepted options, named as the client spelled them; empty: no OACK


def negotiate(requested: Mapping[str, str], *, size: int, max_blksize: int, timeout: float) -> TransferOptions:
    """Accept the options we support (names are case-insensitive, RFC 2347);
    ignore unknown ones and ones with values out of range.

    ``size`` is the number of bytes that will be sent (the tsize reply);
    ``timeout`` is the server's own retransmission timeout, replaced by the
    client's if it asks for one in range.
    """
    blksize = DEFAULT_BLKSIZE
    accepted: dict[str, str] = {}
    for name, value in requested.items():
        key = name.lower()
        number = int(value) if value.isdigit() and len(value) <= 10 else None
        if number is None:
            continue
        if key == "blksize" and number >= MIN_BLKSIZE:
            blksize = min(number, max_blksize, MAX_BLKSIZE)
            accepted[name] = str(blksize)
        elif key == "timeout" and MIN_TIMEOUT <= number <= MAX_TIMEOUT:
            timeout = float(number)
            accepted[name] = str(number)
        elif key == "tsize":
            accepted[name] = str(size)
    return TransferOptions(blksize=blksize, timeout=timeout, oack=accepted)


def _parse_request(data: bytes) -> codec.Packet:
    """Decode a datagram from the well-known port (:class:`codec.Malformed` when malformed;
    NULs some boot ROMs pad requests with are accepted)."""
    return codec.decode(data)


_SECRET_SEGMENT = re.compile(r"(^|/)([pd])/[^/]+(?=/)")


def redact(filename: str) -> str:
    """A requested name as logs may show it: path keys and device tokens (``p/<key>/``,
    ``d/<token>/``) are secrets and are masked."""
    return _SECRET_SEGMENT.sub(r"\1\2/***", filename)


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


# --- one transfer ----------------------------------------------------------


class _ClientError(Exception):
    """The client sent an ERROR packet: the transfer is over."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message


class _GaveUp(Exception):
    """No acknowledgement came after all retransmissions."""

    def __init__(self, block: int) -> None:
        super().__init__(block)
        self.block = block


@dataclass(frozen=True)
class _Limits:
    timeout: float
    retries: int
    max_blksize: int


@dataclass(frozen=True)
class _ReadRequest:
    filename: str
    mode: str
    options: dict[str, str]
    peer: Address


class _SessionSocket(asyncio.DatagramProtocol):
    """A transfer's own UDP socket (its RFC 1350 transfer ID). Datagrams from
    the client's address and port go to the session; anyone else gets
    ERROR 5 and the transfer goes on."""

    def __init__(self, peer: Address, on_datagram: Callable[[bytes], None]) -> None:
        self._peer = tuple(peer[:2])
        self._on_datagram = on_datagram
        self.transport: asyncio.DatagramTransport | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Python 3.11's selector datagram transport does not subclass DatagramTransport.
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if tuple(addr[:2]) != self._peer:
            assert self.transport is not None
            self.transport.sendto(error_packet(ERR_UNKNOWN_TID, "unknown transfer ID"), addr)
            return
        self._on_datagram(data)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (client gone): the retransmission timer ends the session.
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


class _ReadSession:
    """Sends one file the handler already gave: negotiates options, then sends
    it block by block in lock-step from its own socket.

    Only a timeout resends the outstanding packet; a duplicate ACK, or an ACK
    for any other block, is ignored (RFC 1123 4.2.3.1, the Sorcerer's
    Apprentice bug). Until the client has acknowledged something, the first
    packet (OACK or DATA 1) is resent once at most: a request with a forged
    source address must not draw six packets for one (amplification).
    """

    def __init__(
        self,
        request: _ReadRequest,
        content: bytes,
        *,
        host: str,
        limits: _Limits,
        reply_from_listener: Callable[[bytes, Address], None],
        on_acknowledged: Callable[[], None],
        log: Any,
    ) -> None:
        self._request = request
        self._content_bytes = content
        self._host = host
        self._limits = limits
        self._reply_from_listener = reply_from_listener
        self._on_acknowledged = on_acknowledged
        self._log = log
        self._context = _context(request)
        self._socket: _SessionSocket | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._expected_block = -1
        self._client_error: _ClientError | None = None
        self._retransmits = 0
        self._acknowledged = False

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        peer = self._request.peer
        try:
            _, self._socket = await loop.create_datagram_endpoint(
                lambda: _SessionSocket(peer, self._datagram_received), local_addr=(self._host, 0)
            )
        except OSError as exc:  # out of file descriptors or ports
            self._log.error("tftp_session_socket_failed", **self._context, error=str(exc))
            self._reply_from_listener(error_packet(ERR_NOT_DEFINED, "server busy"), peer)
            return
        try:
            await self._serve()
        except _ClientError as exc:
            self._log.info("tftp_client_error", **self._context, code=exc.code, message=exc.message)
        except _GaveUp as exc:
            self._log.info("tftp_gave_up", **self._context, block=exc.block, retransmits=self._retransmits)
        finally:
            assert self._socket.transport is not None
            self._socket.transport.close()
            await self._socket.closed

    async def _serve(self) -> None:
        started = time.monotonic()
        content = self._content_bytes
        options = negotiate(
            self._request.options, size=len(content), max_blksize=self._limits.max_blksize, timeout=self._limits.timeout
        )
        if options.oack:
            await self._exchange(_oack_packet(options.oack), 0, options.timeout)
        blocks = await self._send_blocks(content, options)
        self._log.debug(
            "tftp_sent",
            **self._context,
            bytes=len(content),
            blksize=options.blksize,
            blocks=blocks,
            mode=self._request.mode,
            retransmits=self._retransmits,
            ms=round((time.monotonic() - started) * 1000, 1),
        )

    async def _send_blocks(self, content: bytes, options: TransferOptions) -> int:
        """Send DATA 1..n; the last block is short, empty if the size is a
        multiple of blksize. Block numbers wrap from 65535 to 0."""
        size = options.blksize
        block, offset, sent = 1, 0, 0
        while True:
            chunk = content[offset : offset + size]
            await self._exchange(_data_packet(block, chunk), block, options.timeout)
            sent += 1
            if len(chunk) < size:
                return sent
            offset += size
            block = (block + 1) & 0xFFFF

    async def _exchange(self, packet: bytes, block: int, timeout: float) -> None:
        """Send ``packet`` and wait for ACK ``block``, resending it only when
        the wait times out, at most ``retries`` times."""
        loop = asyncio.get_running_loop()
        retries = self._limits.retries if self._acknowledged else min(self._limits.retries, 1)
        for attempt in range(retries + 1):
            if self._client_error is not None:
                raise self._client_error
            if attempt:
                self._retransmits += 1
            self._waiter = loop.create_future()
            self._expected_block = block
            self._send(packet)
            try:
                async with asyncio.timeout(timeout):
                    await self._waiter
                return
            except TimeoutError:
                continue
            finally:
                self._waiter = None
        raise _GaveUp(block)

    def _datagram_received(self, data: bytes) -> None:
        """A datagram from the client's transfer ID."""
        waiter = self._waiter
        pending = waiter is not None and not waiter.done()
        if len(data) == 4 and data[:2] == b"\0\4":  # an ACK, read from its bytes
            if pending and int.from_bytes(data[2:], "big") == self._expected_block:
                waiter.set_result(None)  # type: ignore[union-attr]
                if not self._acknowledged:
                    self._acknowledged = True
                    self._on_acknowledged()
        elif data[:2] == b"\0\5":
            try:
                packet = codec.decode(data)
            except codec.Malformed:
                return  # garbage: the retransmission timer covers whatever was lost
            assert isinstance(packet, codec.Error)
            self._client_error = _ClientError(packet.code, packet.message)
            if pending:
                waiter.set_exception(self._client_error)  # type: ignore[union-attr]
        # Anything else from the client mid-transfer is ignored.

    def _send(self, packet: bytes) -> None:
        assert self._socket is not None and self._socket.transport is not None
        self._socket.transport.sendto(packet, self._request.peer)


# --- the well-known port ---------------------------------------------------


class _Sender(Protocol):
    def sendto(self, data: bytes, addr: Address) -> None: ...

    def is_closing(self) -> bool: ...


class _DrainingSocket:
    """The well-known port's socket, read until empty (at most _DRAIN_BATCH
    datagrams) each time it turns readable, feeding a datagram protocol.

    asyncio's own datagram transport reads one datagram per event-loop pass,
    so while the loop is busy with sessions the kernel queue fills. Measured
    with 1,100 requests sent at once from another process and Linux's default
    net.core.rmem_max (212,992): 480 of them overflowed and waited for the
    client to resend; read this way, none did.
    """

    def __init__(self, sock: socket.socket, protocol: asyncio.DatagramProtocol) -> None:
        self._sock = sock
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._closing = False
        self._loop.add_reader(sock.fileno(), self._read_ready)  # NotImplementedError on Proactor
        protocol.connection_made(self)  # type: ignore[arg-type]

    @classmethod
    async def bind(
        cls, host: str, port: int, protocol: asyncio.DatagramProtocol, *, reuse_port: bool = False
    ) -> _DrainingSocket:
        loop = asyncio.get_running_loop()
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_DGRAM, flags=socket.AI_PASSIVE)
        error: OSError | None = None
        for family, kind, proto, _, sockaddr in infos:
            sock = socket.socket(family, kind, proto)
            try:
                sock.setblocking(False)
                if reuse_port:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                sock.bind(sockaddr)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            try:
                return cls(sock, protocol)
            except BaseException:
                sock.close()
                raise
        raise error or OSError(f"cannot bind UDP {host}:{port}")

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        if name == "socket":
            return self._sock
        if name == "sockname":
            return self._sock.getsockname()
        return default

    def _read_ready(self) -> None:
        for _ in range(_DRAIN_BATCH):
            if self._closing:
                return
            try:
                data, addr = self._sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # e.g. an ICMP error queued on the socket
                self._protocol.error_received(exc)
                continue
            self._protocol.datagram_received(data, addr)

    def sendto(self, data: bytes, addr: Address) -> None:
        """Best effort: the listener only sends ERROR packets; a client that
        misses one resends its request."""
        if self._closing:
            return
        try:
            self._sock.sendto(data, addr)
        except (BlockingIOError, InterruptedError):
            pass
        except OSError as exc:
            self._protocol.error_received(exc)

    def is_closing(self) -> bool:
        return self._closing

    def close(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._protocol.connection_lost(None)


class _Listener(asyncio.DatagramProtocol):
    """The listening socket: decodes each datagram as it arrives, passes read
    requests on, refuses writes and drops everything else."""

    def __init__(self, on_read: Callable[[codec.Request, bytes, Address], None], log: Any) -> None:
        self._on_read = on_read
        self._log = log
        self.transport: _Sender | None = None
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a _DrainingSocket, or asyncio's

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def error_received(self, exc: Exception) -> None:
        pass  # ICMP errors for replies sent from this socket; nothing to do

    def reply(self, packet: bytes, addr: Address) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(packet, addr)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        if len(data) > _MAX_REQUEST_SIZE:
            return
        try:
            packet = _parse_request(data)
        except codec.Malformed:
            # A request we cannot decode gets an answer; other garbage does not.
            if data[:2] in (b"\0\1", b"\0\2"):
                self._log.info("tftp_malformed_request", client=addr[0], port=addr[1])
                self.reply(error_packet(ERR_ILLEGAL_OPERATION, "malformed request"), addr)
            return
        if not isinstance(packet, codec.Request):
            return  # DATA, ACK, ERROR or OACK here belong to no session: dropped.
        if packet.opcode == codec.RRQ:
            self._on_read(packet, data, addr)
        else:
            self._log.info("tftp_write_refused", client=addr[0], port=addr[1], filename=redact(packet.filename))
            self.reply(error_packet(ERR_ACCESS_VIOLATION, "writes are not accepted"), addr)


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

    async def _lookup(self, request: _ReadRequest, listener: _Listener) -> bytes | None:
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


def _context(request: _ReadRequest) -> dict[str, Any]:
    return {"client": request.peer[0], "port": request.peer[1], "filename": redact(request.filename)}


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


def _enlarge_receive_buffer(sock: socket.socket, log: Any) -> None:
    """Ask for a large receive buffer on the well-known port (see _LISTENER_RCVBUF)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _LISTENER_RCVBUF)
        got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    except OSError as exc:
        log.warning("tftp_receive_buffer_failed", error=str(exc))
        return
    if got < _LISTENER_RCVBUF:  # Linux reports double what it granted
        log.info("tftp_receive_buffer_capped", bytes=got, wanted=_LISTENER_RCVBUF, hint="raise net.core.rmem_max")

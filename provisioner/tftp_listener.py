"""The TFTP well-known port: :class:`_DrainingSocket` reads it until empty
each time it turns readable, and :class:`_Listener` decodes what arrives,
passing read requests on to the server (:mod:`provisioner.tftp`) and refusing
writes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any, Protocol

from . import tftp_codec as codec
from .tftp_session import ERR_ACCESS_VIOLATION, ERR_ILLEGAL_OPERATION, Address, error_packet, redact

# A request must fit in 512 bytes (RFC 2347); anything much larger on the
# well-known port is not TFTP and is not worth decoding.
_MAX_REQUEST_SIZE = 1500
# Receive buffer asked for on the well-known port, so a burst of requests from
# phones booting together is queued rather than dropped while the loop is busy.
# Linux caps it at net.core.rmem_max.
_LISTENER_RCVBUF = 4 * 1024 * 1024
# Datagrams the listener takes from the kernel per wake-up, at most.
_DRAIN_BATCH = 512


def _parse_request(data: bytes) -> codec.Packet:
    """Decode a datagram from the well-known port (:class:`codec.Malformed` when malformed;
    NULs some boot ROMs pad requests with are accepted)."""
    return codec.decode(data)


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

"""One TFTP read transfer (RFC 1350 with the option extensions of RFCs 2347,
2348 and 2349): the protocol's error codes and packets, option negotiation,
and :class:`_ReadSession`, which sends one file from its own socket
(:class:`_SessionSocket`, the RFC 1350 transfer ID). The server that starts
sessions is :mod:`provisioner.tftp`; the well-known port is
:mod:`provisioner.tftp_listener`.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from . import tftp_codec as codec

# Error codes (RFC 1350 section 5).
ERR_NOT_DEFINED = 0
ERR_FILE_NOT_FOUND = 1
ERR_ACCESS_VIOLATION = 2
ERR_ILLEGAL_OPERATION = 4
ERR_UNKNOWN_TID = 5

DEFAULT_BLKSIZE = 512
MIN_BLKSIZE, MAX_BLKSIZE = 8, 65464  # RFC 2348
MIN_TIMEOUT, MAX_TIMEOUT = 1, 255  # RFC 2349, seconds
_MAX_ERROR_TEXT = 200

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


_SECRET_SEGMENT = re.compile(r"(^|/)([pd])/[^/]+(?=/)")


def redact(filename: str) -> str:
    """A requested name as logs may show it: path keys and device tokens (``p/<key>/``,
    ``d/<token>/``) are secrets and are masked."""
    return _SECRET_SEGMENT.sub(r"\1\2/***", filename)


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
        content: bytes | memoryview,
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

    async def _send_blocks(self, content: bytes | memoryview, options: TransferOptions) -> int:
        """Send DATA 1..n; the last block is short, empty if the size is a
        multiple of blksize. Block numbers wrap from 65535 to 0."""
        size = options.blksize
        block, offset, sent = 1, 0, 0
        while True:
            chunk = bytes(content[offset : offset + size])
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


def _context(request: _ReadRequest) -> dict[str, Any]:
    return {"client": request.peer[0], "port": request.peer[1], "filename": redact(request.filename)}

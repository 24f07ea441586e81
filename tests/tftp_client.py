"""A small asyncio TFTP client for tests and benchmarks, built on tftpy's
packet classes. It can misbehave on purpose (drop DATA, send every ACK twice)
and counts what it receives, so tests can check the server's side of the
protocol."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import (
    TftpPacket,
    TftpPacketACK,
    TftpPacketDAT,
    TftpPacketERR,
    TftpPacketOACK,
    TftpPacketRRQ,
    TftpPacketWRQ,
)

Address = tuple[Any, ...]
_factory = TftpPacketFactory()


def parse(data: bytes) -> TftpPacket:
    return _factory.parse(data)


def rrq(filename: str, *, mode: str = "octet", options: Mapping[str, object] | None = None) -> bytes:
    if mode != "octet":
        # tftpy's encoder only writes octet requests.
        fields = [filename, mode]
        for name, value in (options or {}).items():
            fields += [name, str(value)]
        return b"\0\1" + b"".join(f.encode("ascii") + b"\0" for f in fields)
    packet = TftpPacketRRQ()
    packet.filename = filename
    packet.mode = mode
    packet.options = {name: str(value) for name, value in (options or {}).items()}
    return packet.encode().buffer


def wrq(filename: str) -> bytes:
    packet = TftpPacketWRQ()
    packet.filename = filename
    packet.mode = "octet"
    packet.options = {}
    return packet.encode().buffer


def ack(block: int) -> bytes:
    packet = TftpPacketACK()
    packet.blocknumber = block
    return packet.encode().buffer


def error(code: int) -> bytes:
    packet = TftpPacketERR()
    packet.errorcode = code
    return packet.encode().buffer


class _Inbox(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, Address]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.queue.put_nowait((data, addr))

    def error_received(self, exc: Exception) -> None:
        pass


class UdpSocket:
    """A UDP socket with awaitable receive, for scripting exchanges by hand."""

    def __init__(self, transport: asyncio.DatagramTransport, inbox: _Inbox) -> None:
        self._transport = transport
        self._inbox = inbox

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> UdpSocket:
        transport, inbox = await asyncio.get_running_loop().create_datagram_endpoint(_Inbox, local_addr=(host, 0))
        return cls(transport, inbox)

    @property
    def address(self) -> Address:
        return self._transport.get_extra_info("sockname")

    def send(self, data: bytes, addr: Address) -> None:
        self._transport.sendto(data, addr)

    async def recv(self, timeout: float) -> tuple[bytes, Address]:
        """The next datagram; raises TimeoutError."""
        async with asyncio.timeout(timeout):
            return await self._inbox.queue.get()

    async def recv_packet(self, timeout: float) -> tuple[TftpPacket, Address]:
        data, addr = await self.recv(timeout)
        return parse(data), addr

    def pending(self) -> int:
        return self._inbox.queue.qsize()

    def close(self) -> None:
        self._transport.close()

    async def __aenter__(self) -> UdpSocket:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Transfer:
    """The outcome of :func:`fetch`."""

    data: bytes = b""
    error: tuple[int, str] | None = None
    oack: dict[str, str] | None = None
    server: Address | None = None  # the session's transfer ID
    received: Counter[int] = field(default_factory=Counter)  # DATA datagrams per block number
    blocks: int = 0  # distinct blocks taken
    resends: int = 0  # requests or ACKs the client resent after a timeout

    @property
    def data_packets(self) -> int:
        return sum(self.received.values())


async def fetch(
    server: Address,
    filename: str,
    *,
    options: Mapping[str, object] | None = None,
    mode: str = "octet",
    timeout: float = 1.0,
    retries: int = 5,
    drop: Callable[[int, int], bool] | None = None,
    duplicate_acks: bool = False,
    linger: float = 0.0,
    on_data: Callable[[int, Address], object] | None = None,
    sock: UdpSocket | None = None,
) -> Transfer:
    """Download ``filename``; returns the bytes or the server's ERROR.

    ``drop(block, seen)`` returning True makes the client behave as if that
    DATA (its ``seen``-th copy) was lost: no ACK. ``duplicate_acks`` sends every
    ACK twice. ``linger`` keeps counting datagrams after the last ACK.
    ``on_data(block, server)`` is called (awaited if it returns an awaitable)
    for every DATA taken. ``sock``: an already open socket to use (and close);
    with it the request goes out before the first await, so many fetches
    started together make a true burst. Raises TimeoutError after ``retries``
    resends in a row.
    """
    result = Transfer()
    blksize = 512
    wanted = dict(options or {})
    if sock is None:
        sock = await UdpSocket.open(server[0])
    async with sock:
        last: tuple[bytes, Address] = (rrq(filename, mode=mode, options=wanted), server)
        sock.send(*last)
        expected = 1
        chunks: list[bytes] = []
        tries = 0
        while True:
            try:
                packet, addr = await sock.recv_packet(timeout)
            except TimeoutError:
                tries += 1
                if tries > retries:
                    raise
                result.resends += 1
                sock.send(*last)
                continue
            if result.server is None:
                result.server = addr
            elif tuple(addr[:2]) != tuple(result.server[:2]):
                continue  # not our transfer
            if isinstance(packet, TftpPacketERR):
                result.error = (packet.errorcode, (packet.errmsg or b"").decode("ascii", "replace"))
                return result
            if isinstance(packet, TftpPacketOACK):
                result.oack = dict(packet.options)
                for name, value in result.oack.items():
                    if name.lower() == "blksize":
                        blksize = int(value)
                last = (ack(0), addr)
            elif isinstance(packet, TftpPacketDAT):
                block = packet.blocknumber
                result.received[block] += 1
                if drop is not None and drop(block, result.received[block]):
                    continue
                if block == expected:
                    chunks.append(packet.data)
                    result.blocks += 1
                    expected = (expected + 1) & 0xFFFF
                    last = (ack(block), addr)
                    if on_data is not None:
                        maybe = on_data(block, addr)
                        if asyncio.iscoroutine(maybe):
                            await maybe
                    if len(packet.data) < blksize:
                        _send_ack(sock, last, duplicate_acks)
                        break
                elif block != (expected - 1) & 0xFFFF:
                    continue  # neither the next block nor a resend of the last one
            else:
                continue
            tries = 0
            _send_ack(sock, last, duplicate_acks)
        result.data = b"".join(chunks)
        if linger:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + linger
            while (left := deadline - loop.time()) > 0:
                try:
                    packet, _ = await sock.recv_packet(left)
                except TimeoutError:
                    break
                if isinstance(packet, TftpPacketDAT):
                    result.received[packet.blocknumber] += 1
        return result


def _send_ack(sock: UdpSocket, last: tuple[bytes, Address], twice: bool) -> None:
    sock.send(*last)
    if twice:
        sock.send(*last)

"""provisioner.tftp against real UDP sockets on 127.0.0.1."""

from __future__ import annotations

import asyncio
import io
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import tftpy
from tftpy.TftpPacketTypes import TftpPacketDAT, TftpPacketERR, TftpPacketOACK

from provisioner import tftp
from provisioner.tftp import TftpError, TftpServer, negotiate, to_netascii
from tests.tftp_client import UdpSocket, ack, error, fetch, parse, rrq, wrq

HOST = "127.0.0.1"


class RecordingLog:
    """A structlog-style logger that keeps what it was given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []

    def _record(self, level: str) -> Callable[..., None]:
        return lambda event, **kw: self.events.append((level, event, kw))

    def __getattr__(self, level: str) -> Callable[..., None]:
        if level not in ("debug", "info", "warning", "error"):
            raise AttributeError(level)
        return self._record(level)

    def names(self) -> list[str]:
        return [event for _, event, _ in self.events]


class Files:
    """A handler serving a dict of files, counting calls."""

    def __init__(self, files: dict[str, bytes] | None = None) -> None:
        self.files = dict(files or {})
        self.calls: list[tuple[str, str]] = []

    async def __call__(self, filename: str, client_ip: str) -> bytes:
        self.calls.append((filename, client_ip))
        try:
            return self.files[filename]
        except KeyError:
            raise TftpError(1, f"no such file {filename}") from None


Started = Callable[..., Awaitable[tuple[TftpServer, tuple[str, int]]]]


@pytest.fixture
async def start_server() -> AsyncIterator[Started]:
    """Starts servers on a free port; stops them after the test."""
    servers: list[TftpServer] = []

    async def _start(handler: Any, **kw: Any) -> tuple[TftpServer, tuple[str, int]]:
        kw.setdefault("log", RecordingLog())
        server = TftpServer(handler, **kw)
        port = await server.start(HOST, 0)
        servers.append(server)
        return server, (HOST, port)

    yield _start
    for server in servers:
        await server.stop()


def blob(size: int, seed: int = 0) -> bytes:
    pattern = bytes((i * 7 + seed) % 251 for i in range(251))
    return (pattern * (size // 251 + 1))[:size]


async def settle(server: TftpServer, timeout: float = 2.0) -> None:
    """Wait until the server has no sessions left."""
    async with asyncio.timeout(timeout):
        while server.active_sessions:
            await asyncio.sleep(0.01)


# --- transfers ---------------------------------------------------------------


async def test_small_file(start_server: Started) -> None:
    files = Files({"y000000000000.cfg": b"#!version:1.0.0.1\naccount.1.enable = 1\n"})
    server, addr = await start_server(files)
    result = await fetch(addr, "y000000000000.cfg")
    assert result.error is None
    assert result.data == files.files["y000000000000.cfg"]
    assert result.oack is None
    assert result.blocks == 1
    assert result.server is not None and result.server[1] != addr[1]  # a new transfer ID
    assert files.calls == [("y000000000000.cfg", HOST)]
    await settle(server)


async def test_empty_file(start_server: Started) -> None:
    _, addr = await start_server(Files({"empty.cfg": b""}))
    result = await fetch(addr, "empty.cfg")
    assert result.error is None and result.data == b""
    assert result.received == {1: 1}


@pytest.mark.parametrize("blksize", [None, 1024])
async def test_exact_multiple_of_blksize_ends_with_empty_block(start_server: Started, blksize: int | None) -> None:
    size = (blksize or 512) * 3
    _, addr = await start_server(Files({"f": blob(size)}))
    result = await fetch(addr, "f", options={"blksize": blksize} if blksize else None)
    assert result.data == blob(size)
    assert result.blocks == 4  # three full blocks and an empty one
    assert sorted(result.received) == [1, 2, 3, 4]


async def test_200k_file_with_blksize_and_tsize(start_server: Started) -> None:
    content = blob(200 * 1024, seed=3)
    _, addr = await start_server(Files({"firmware.rom": content}))
    result = await fetch(addr, "firmware.rom", options={"blksize": 1428, "tsize": 0})
    assert result.oack == {"blksize": "1428", "tsize": str(len(content))}
    assert result.data == content
    assert result.blocks == len(content) // 1428 + 1


async def test_default_blksize_without_options(start_server: Started) -> None:
    content = blob(1300)
    _, addr = await start_server(Files({"f": content}))
    blocks: list[int] = []
    result = await fetch(addr, "f", on_data=lambda block, _: blocks.append(block))
    assert result.oack is None
    assert result.data == content
    assert blocks == [1, 2, 3]  # 512 + 512 + 276


async def test_blksize_capped_at_max_blksize(start_server: Started) -> None:
    content = blob(5000)
    _, addr = await start_server(Files({"f": content}), max_blksize=1468)
    result = await fetch(addr, "f", options={"blksize": 65464})
    assert result.oack == {"blksize": "1468"}
    assert result.data == content and result.blocks == 4


async def test_unacceptable_and_unknown_options_are_ignored(start_server: Started) -> None:
    content = blob(700)
    _, addr = await start_server(Files({"f": content}))
    # blksize below 8, timeout out of range, an option we do not know: no OACK, DATA 1 at 512.
    result = await fetch(addr, "f", options={"blksize": 4, "timeout": 0, "windowsize": 4})
    assert result.oack is None
    assert result.data == content and result.blocks == 2


async def test_timeout_option_is_acknowledged(start_server: Started) -> None:
    _, addr = await start_server(Files({"f": b"x" * 10}))
    result = await fetch(addr, "f", options={"timeout": 3, "TSIZE": 0, "windowsize": 8})
    assert result.oack == {"timeout": "3", "TSIZE": "10"}
    assert result.data == b"x" * 10


async def test_netascii_mode(start_server: Started) -> None:
    files = Files({"f.txt": b"line one\nline\rtwo\n"})
    _, addr = await start_server(files)
    result = await fetch(addr, "f.txt", mode="netascii", options={"tsize": 0})
    assert result.data == b"line one\r\nline\r\0two\r\n"
    assert result.oack == {"tsize": str(len(result.data))}


async def test_filename_passed_as_requested(start_server: Started) -> None:
    files = Files({"/Phones/SEP0011.cnf.xml": b"<x/>"})
    _, addr = await start_server(files)
    result = await fetch(addr, "/Phones/SEP0011.cnf.xml")
    assert result.data == b"<x/>"
    assert files.calls == [("/Phones/SEP0011.cnf.xml", HOST)]


# --- errors ------------------------------------------------------------------


async def test_unknown_file_gets_error_1_with_message(start_server: Started) -> None:
    server, addr = await start_server(Files())
    result = await fetch(addr, "nope.cfg")
    assert result.error == (1, "no such file nope.cfg")
    await settle(server)


async def test_handler_access_violation_gets_error_2(start_server: Started) -> None:
    async def handler(filename: str, client_ip: str) -> bytes:
        raise TftpError(2, "access violation")

    _, addr = await start_server(handler)
    result = await fetch(addr, "secret.cfg")
    assert result.error == (2, "access violation")
    # Refused before any session: answered from the listening socket, no socket of its own.
    assert result.server is not None and result.server[1] == addr[1]


async def test_handler_crash_gets_internal_error_and_server_goes_on(start_server: Started) -> None:
    calls = 0

    async def handler(filename: str, client_ip: str) -> bytes:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("database down")
        return b"ok"

    log = RecordingLog()
    _, addr = await start_server(handler, log=log)
    assert (await fetch(addr, "a")).error == (0, "internal error")
    assert "tftp_handler_failed" in log.names()
    assert (await fetch(addr, "a")).data == b"ok"


async def test_handler_returning_non_bytes_is_internal_error(start_server: Started) -> None:
    async def handler(filename: str, client_ip: str) -> bytes:
        return None  # type: ignore[return-value]

    _, addr = await start_server(handler)
    assert (await fetch(addr, "a")).error == (0, "internal error")


async def test_wrq_refused_with_error_2(start_server: Started) -> None:
    files = Files()
    _, addr = await start_server(files)
    async with await UdpSocket.open() as sock:
        sock.send(wrq("upload.bin"), addr)
        packet, _ = await sock.recv_packet(2)
    assert isinstance(packet, TftpPacketERR)
    assert (packet.errorcode, packet.errmsg) == (2, b"writes are not accepted")
    assert files.calls == []


async def test_unsupported_mode_gets_error_4(start_server: Started) -> None:
    files = Files({"f": b"x"})
    _, addr = await start_server(files)
    result = await fetch(addr, "f", mode="mail")
    assert result.error is not None and result.error[0] == 4
    assert files.calls == []


async def test_client_error_ends_session(start_server: Started) -> None:
    server, addr = await start_server(Files({"f": blob(5000)}), timeout=0.2)
    async with await UdpSocket.open() as sock:
        sock.send(rrq("f", options={"tsize": 0}), addr)  # probe the size...
        packet, tid = await sock.recv_packet(2)
        assert isinstance(packet, TftpPacketOACK) and packet.options == {"tsize": "5000"}
        sock.send(error(8), tid)  # ...and abort, as some phones do
        await settle(server)
        with pytest.raises(TimeoutError):
            await sock.recv(0.5)  # nothing resent


# --- retransmission and the Sorcerer's Apprentice ----------------------------


async def test_lost_data_is_resent_after_timeout(start_server: Started) -> None:
    content = blob(1500)
    _server, addr = await start_server(Files({"f": content}), timeout=0.2)
    # Drop the first copy of DATA 1: no ACK, so the server must resend it.
    result = await fetch(addr, "f", timeout=2.0, drop=lambda block, seen: block == 1 and seen == 1)
    assert result.data == content
    assert result.received[1] == 2
    assert all(result.received[b] == 1 for b in (2, 3))


async def test_lost_oack_is_resent_after_timeout(start_server: Started) -> None:
    _, addr = await start_server(Files({"f": b"abc"}), timeout=0.2)
    async with await UdpSocket.open() as sock:
        sock.send(rrq("f", options={"blksize": 1024}), addr)
        first, tid = await sock.recv_packet(2)
        again, tid2 = await sock.recv_packet(2)  # no ACK 0 sent: resent
        assert isinstance(first, TftpPacketOACK) and isinstance(again, TftpPacketOACK)
        assert tid == tid2
        sock.send(ack(0), tid)
        data, _ = await sock.recv_packet(2)
        assert isinstance(data, TftpPacketDAT) and (data.blocknumber, data.data) == (1, b"abc")
        sock.send(ack(1), tid)


async def test_duplicate_acks_do_not_duplicate_data(start_server: Started) -> None:
    content = blob(512 * 6 + 10)
    _, addr = await start_server(Files({"f": content}), timeout=3.0)
    for options in (None, {"blksize": 512, "tsize": 0}):
        result = await fetch(addr, "f", options=options, duplicate_acks=True, linger=0.5)
        assert result.data == content
        assert result.received == {block: 1 for block in range(1, 8)}


async def test_ack_for_other_block_is_ignored(start_server: Started) -> None:
    _, addr = await start_server(Files({"f": blob(1200)}), timeout=0.3)
    async with await UdpSocket.open() as sock:
        sock.send(rrq("f"), addr)
        packet, tid = await sock.recv_packet(2)
        assert isinstance(packet, TftpPacketDAT) and packet.blocknumber == 1
        sock.send(ack(0), tid)  # stale
        sock.send(ack(2), tid)  # ahead of the server
        sock.send(b"\0\4", tid)  # truncated
        resent, _ = await sock.recv_packet(2)  # only the timeout resends, still block 1
        assert isinstance(resent, TftpPacketDAT) and resent.blocknumber == 1
        sock.send(ack(1), tid)
        nxt, _ = await sock.recv_packet(2)
        assert isinstance(nxt, TftpPacketDAT) and nxt.blocknumber == 2


async def test_gives_up_after_retries(start_server: Started) -> None:
    log = RecordingLog()
    server, addr = await start_server(Files({"f": b"abc"}), timeout=0.1, retries=2, log=log)
    async with await UdpSocket.open() as sock:
        sock.send(rrq("f"), addr)
        copies = 0
        with pytest.raises(TimeoutError):
            while True:
                packet, _ = await sock.recv_packet(0.5)
                assert isinstance(packet, TftpPacketDAT)
                copies += 1
    assert copies == 2  # never acknowledged: the first send and one retransmission only
    await settle(server)
    assert "tftp_gave_up" in log.names()


async def test_wrong_tid_gets_error_5_and_transfer_goes_on(start_server: Started) -> None:
    content = blob(512 * 4)
    _, addr = await start_server(Files({"f": content}), timeout=2.0)
    stranger_replies: list[Any] = []

    async def intrude(block: int, tid: tuple[str, int]) -> None:
        if block != 2:
            return
        async with await UdpSocket.open() as stranger:
            stranger.send(ack(2), tid)
            packet, source = await stranger.recv_packet(2)
            stranger_replies.append((packet, source))

    result = await fetch(addr, "f", on_data=intrude, linger=0.3)
    assert result.data == content
    assert result.received == {block: 1 for block in range(1, 6)}  # no resend, no skip
    [(packet, source)] = stranger_replies
    assert isinstance(packet, TftpPacketERR) and packet.errorcode == 5
    assert source == result.server


async def test_resent_request_is_served_once(start_server: Started) -> None:
    gate = asyncio.Event()
    calls = 0

    async def slow(filename: str, client_ip: str) -> bytes:
        nonlocal calls
        calls += 1
        await gate.wait()
        return b"data"

    _, addr = await start_server(slow)
    async with await UdpSocket.open() as sock:
        request = rrq("f")
        sock.send(request, addr)
        await asyncio.sleep(0.1)
        sock.send(request, addr)  # the client's own retransmission of its RRQ
        await asyncio.sleep(0.1)
        gate.set()
        packet, tid = await sock.recv_packet(2)
        assert isinstance(packet, TftpPacketDAT) and packet.data == b"data"
        sock.send(ack(1), tid)
        with pytest.raises(TimeoutError):
            await sock.recv(0.3)
    assert calls == 1


# --- block numbers -----------------------------------------------------------


async def test_block_number_wraps_past_65535(start_server: Started) -> None:
    content = blob(600_000, seed=5)  # 75,000 blocks of 8 bytes
    _, addr = await start_server(Files({"big": content}), timeout=2.0)
    result = await fetch(addr, "big", options={"blksize": 8}, timeout=5.0)
    assert result.oack == {"blksize": "8"}
    assert result.data == content
    assert result.blocks == 75_001  # the last one empty
    assert result.received[0] == 1 and result.received[65535] == 1
    assert result.received[1] == 2  # block 1 before the wrap and block 65537 after it


# --- limits and robustness ---------------------------------------------------


async def test_session_bound_answers_busy(start_server: Started) -> None:
    files = Files({"a": b"data", "b": b"data", "c": b"data", "d": b"data"})
    server, addr = await start_server(files, max_sessions=2, timeout=1.0)
    # Two transfers that are never acknowledged hold both slots...
    holders = [await UdpSocket.open() for _ in range(2)]
    for sock, name in zip(holders, "ab", strict=True):
        sock.send(rrq(name), addr)
        packet, _ = await sock.recv_packet(2)
        assert isinstance(packet, TftpPacketDAT)
    assert server.transfers == 2
    third = await fetch(addr, "c")
    assert third.error == (0, "server busy")
    assert third.server is not None and third.server[1] == addr[1]  # from the listening socket
    for sock in holders:
        sock.close()
    await settle(server, timeout=5)
    assert (await fetch(addr, "d")).data == b"data"  # room again


async def test_refused_requests_take_no_slot(start_server: Started) -> None:
    """Refusals are answered from the listener while every slot is held: not "busy"."""
    files = Files({"a": b"data"})
    server, addr = await start_server(files, max_sessions=1, timeout=1.0)
    async with await UdpSocket.open() as holder:
        holder.send(rrq("a"), addr)
        packet, _ = await holder.recv_packet(2)
        assert isinstance(packet, TftpPacketDAT) and server.transfers == 1
        results = await asyncio.gather(*(fetch(addr, f"nope{i}.cfg") for i in range(20)))
    assert [r.error for r in results] == [(1, f"no such file nope{i}.cfg") for i in range(20)]
    assert all(r.server is not None and r.server[1] == addr[1] for r in results)


async def test_garbage_does_not_break_server(start_server: Started) -> None:
    files = Files({"f": b"fine"})
    _, addr = await start_server(files)
    async with await UdpSocket.open() as sock:
        # Not requests: dropped without an answer.
        for junk in [
            b"",
            b"\0",
            b"\0\x09abc",
            b"\xff" * 3000,
            bytes(range(200, 256)),
            b"\0\1" + b"x" * 2000,
            b"\0\3\0\1data",
            b"\0\4\0\1",
            b"\0\5\0\1oops\0",
            b"\0\6blksize\0" + b"8\0",
        ]:
            sock.send(junk, addr)
        with pytest.raises(TimeoutError):
            await sock.recv(0.2)
        # Malformed requests get ERROR 4: too short, no mode, odd options, non-ASCII name.
        for bad in [b"\0\1", b"\0\1nomode", b"\0\1f\0octet\0blksize\0", b"\0\1\xc3\xa9\0octet\0"]:
            sock.send(bad, addr)
            packet, _ = await sock.recv_packet(2)
            assert isinstance(packet, TftpPacketERR) and packet.errorcode == 4
    assert files.calls == []
    assert (await fetch(addr, "f")).data == b"fine"


async def test_nul_padded_request_is_accepted(start_server: Started) -> None:
    _, addr = await start_server(Files({"f": b"fine"}))
    async with await UdpSocket.open() as sock:
        sock.send(rrq("f") + b"\0" * 20, addr)
        packet, tid = await sock.recv_packet(2)
        assert isinstance(packet, TftpPacketDAT) and packet.data == b"fine"
        sock.send(ack(1), tid)


async def test_stop_closes_everything(start_server: Started) -> None:
    server, addr = await start_server(Files({"f": blob(5000)}), timeout=5.0)
    async with await UdpSocket.open() as sock:
        sock.send(rrq("f"), addr)
        _, tid = await sock.recv_packet(2)  # DATA 1, left unacknowledged
        assert server.active_sessions == 1
        await server.stop()
        assert server.active_sessions == 0
        for port in (addr[1], tid[1]):  # listener and session sockets are gone
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((HOST, port))
            probe.close()
        with pytest.raises(TimeoutError):
            await sock.recv(0.3)
    await server.stop()  # twice is fine


async def test_listener_on_plain_asyncio_endpoint(start_server: Started, monkeypatch: pytest.MonkeyPatch) -> None:
    """Event loops without add_reader get asyncio's datagram endpoint instead."""

    async def unsupported(*args: Any) -> None:
        raise NotImplementedError

    monkeypatch.setattr(tftp._DrainingSocket, "bind", unsupported)
    server, addr = await start_server(Files({"f": b"fine"}))
    assert (await fetch(addr, "f")).data == b"fine"
    await server.stop()
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(addr)
    probe.close()


async def test_ipv6(start_server: Started) -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    files = Files({"f": b"six"})
    server = TftpServer(files, log=RecordingLog())
    try:
        port = await server.start("::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback")
    try:
        result = await fetch(("::1", port), "f")
    finally:
        await server.stop()
    assert result.data == b"six"
    assert files.calls == [("f", "::1")]


async def test_several_servers_in_one_process(start_server: Started) -> None:
    _, one = await start_server(Files({"f": b"one"}))
    _, two = await start_server(Files({"f": b"two"}))
    a, b = await asyncio.gather(fetch(one, "f"), fetch(two, "f"))
    assert (a.data, b.data) == (b"one", b"two")


async def test_logs_never_carry_file_contents(start_server: Started) -> None:
    log = RecordingLog()
    secret = b"account.1.password = hunter2\n"
    _, addr = await start_server(Files({"f": secret}), log=log)
    await fetch(addr, "f")
    await fetch(addr, "missing")
    assert "tftp_sent" in log.names() and "tftp_refused" in log.names()
    assert "hunter2" not in repr(log.events)


async def test_default_logger_is_structlog(start_server: Started) -> None:
    _server, addr = await start_server(Files({"f": b"x"}), log=None)
    assert (await fetch(addr, "f")).data == b"x"


# --- interoperability with tftpy's own client ----------------------------------


@pytest.mark.parametrize("options", [{}, {"blksize": 1428}, {"blksize": 8, "tsize": 0}])
async def test_tftpy_client_interop(start_server: Started, options: dict[str, int]) -> None:
    content = blob(20_000, seed=9)
    _, addr = await start_server(Files({"boot.rom": content}))

    def download() -> bytes:
        out = io.BytesIO()
        client = tftpy.TftpClient(HOST, addr[1], options=dict(options), flock=False)
        client.download("boot.rom", out, timeout=5)
        return out.getvalue()

    assert await asyncio.to_thread(download) == content


async def test_tftpy_client_sees_file_not_found(start_server: Started) -> None:
    _, addr = await start_server(Files())

    def download() -> None:
        tftpy.TftpClient(HOST, addr[1], flock=False).download("nope", io.BytesIO(), timeout=5)

    with pytest.raises(tftpy.TftpFileNotFoundError):
        await asyncio.to_thread(download)


# --- burst -------------------------------------------------------------------


async def test_burst_1100_concurrent(start_server: Started) -> None:
    count = 1100
    files = {f"cfg{i:04d}.xml": blob(2048 + i % 97, seed=i) for i in range(count)}
    server, addr = await start_server(Files(files), timeout=2.0, retries=8)

    async def one(name: str, sock: UdpSocket) -> bytes:
        result = await fetch(addr, name, timeout=5.0, retries=10, sock=sock)
        assert result.error is None, result.error
        return result.data

    # Sockets first, so that all 1,100 requests leave in one go; from as many addresses as
    # phones (one address would be one NAT'd site, bounded by max_unacked_per_ip).
    sockets = [await UdpSocket.open(f"127.0.{i // 200}.{i % 200 + 1}") for i in range(count)]
    async with asyncio.timeout(50):
        got = await asyncio.gather(*(one(name, sock) for name, sock in zip(files, sockets, strict=True)))
    assert got == list(files.values())
    await settle(server)


# --- pure helpers --------------------------------------------------------------


def test_negotiate() -> None:
    opts = negotiate(
        {"blksize": "1428", "tsize": "0", "timeout": "5", "multicast": ""}, size=1234, max_blksize=1468, timeout=1.0
    )
    assert (opts.blksize, opts.timeout) == (1428, 5.0)
    assert opts.oack == {"blksize": "1428", "tsize": "1234", "timeout": "5"}
    opts = negotiate({"blksize": "x", "timeout": "256", "tsize": "-1"}, size=1, max_blksize=1468, timeout=1.0)
    assert (opts.blksize, opts.timeout, opts.oack) == (512, 1.0, {})
    assert negotiate({"BlkSize": "100000"}, size=0, max_blksize=65464, timeout=1.0).oack == {"BlkSize": "65464"}


def test_to_netascii() -> None:
    assert to_netascii(b"a\nb\rc\r\n") == b"a\r\nb\r\0c\r\0\r\n"


def test_tftp_error() -> None:
    exc = TftpError(1, "file not found")
    assert (exc.code, exc.message, str(exc)) == (1, "file not found", "TFTP error 1: file not found")
    with pytest.raises(ValueError):
        TftpError(42, "nope")


def test_parse_helpers_roundtrip() -> None:
    packet = parse(rrq("f", options={"blksize": 512}))
    assert (packet.filename, packet.mode, packet.options) == ("f", "octet", {"blksize": "512"})

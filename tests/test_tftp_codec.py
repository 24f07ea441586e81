"""The server's own TFTP codec (provisioner.tftp_codec) against tftpy's packet classes, and
malformed datagrams sent to a real server on 127.0.0.1: an ERROR or silence, never a crash."""

from __future__ import annotations

import asyncio

import pytest
import tftpy
from tftpy.TftpPacketFactory import TftpPacketFactory
from tftpy.TftpPacketTypes import (
    TftpPacketACK,
    TftpPacketDAT,
    TftpPacketERR,
    TftpPacketOACK,
    TftpPacketRRQ,
    TftpPacketWRQ,
)

from provisioner import tftp_codec as codec
from tests.test_tftp import HOST, Files, RecordingLog, blob, settle, start_server  # noqa: F401
from tests.tftp_client import UdpSocket, fetch

FACTORY = TftpPacketFactory()


def tftpy_bytes(packet) -> bytes:  # type: ignore[no-untyped-def]
    return packet.encode().buffer


@pytest.mark.parametrize("options", [{}, {"blksize": "1428", "tsize": "0"}, {"BlkSize": "512", "timeout": "3"}])
@pytest.mark.parametrize("cls, opcode", [(TftpPacketRRQ, codec.RRQ), (TftpPacketWRQ, codec.WRQ)])
def test_requests_round_trip_with_tftpy(cls, opcode, options) -> None:  # type: ignore[no-untyped-def]
    packet = cls()
    packet.filename, packet.mode, packet.options = "p/KEY/001565a1b2c3.cfg", "octet", dict(options)
    theirs = tftpy_bytes(packet)
    decoded = codec.decode(theirs)
    assert decoded == codec.Request(opcode, "p/KEY/001565a1b2c3.cfg", "octet", options)
    ours = codec.encode_request(opcode, "p/KEY/001565a1b2c3.cfg", "octet", options)
    assert ours == theirs
    back = FACTORY.parse(ours)
    assert (back.filename, back.mode, back.options) == ("p/KEY/001565a1b2c3.cfg", "octet", options)


def test_mode_is_case_insensitive_and_nul_padding_is_accepted() -> None:
    assert codec.decode(b"\0\1a.cfg\0NetASCII\0\0\0\0") == codec.Request(1, "a.cfg", "netascii", {})
    assert codec.decode(b"\0\1a.cfg\0octet\0tsize\0000\0\0") == codec.Request(1, "a.cfg", "octet", {"tsize": "0"})


@pytest.mark.parametrize("block, data", [(1, b""), (7, b"x" * 512), (65535, bytes(range(256)) * 5)])
def test_data_round_trips_with_tftpy(block: int, data: bytes) -> None:
    theirs = TftpPacketDAT()
    theirs.blocknumber, theirs.data = block, data
    assert codec.encode_data(block, data) == tftpy_bytes(theirs)
    assert codec.decode(tftpy_bytes(theirs)) == codec.Data(block, data)
    parsed = FACTORY.parse(codec.encode_data(block, data))
    assert (parsed.blocknumber, parsed.data) == (block, data)


@pytest.mark.parametrize("block", [0, 1, 4096, 65535])
def test_ack_round_trips_with_tftpy(block: int) -> None:
    theirs = TftpPacketACK()
    theirs.blocknumber = block
    assert codec.encode_ack(block) == tftpy_bytes(theirs)
    assert codec.decode(tftpy_bytes(theirs)) == codec.Ack(block)


def test_error_and_oack_round_trip_with_tftpy() -> None:
    theirs = TftpPacketERR()
    theirs.errorcode = 1
    assert codec.decode(tftpy_bytes(theirs)) == codec.Error(1, "File not found")
    parsed = FACTORY.parse(codec.encode_error(2, "no access to p/***/x.cfg"))
    assert (parsed.errorcode, parsed.errmsg) == (2, b"no access to p/***/x.cfg")
    assert len(codec.encode_error(0, "é" * 500)) == 4 + 200 + 1  # ASCII, cut, NUL-terminated

    oack = TftpPacketOACK()
    oack.options = {"blksize": "1428", "tsize": "4513"}
    assert codec.encode_oack({"blksize": "1428", "tsize": "4513"}) == tftpy_bytes(oack)
    assert codec.decode(tftpy_bytes(oack)) == codec.Oack({"blksize": "1428", "tsize": "4513"})
    assert FACTORY.parse(codec.encode_oack({"tsize": "9"})).options == {"tsize": "9"}


@pytest.mark.parametrize(
    "data, fault",
    [
        (b"", "shorter than any"),
        (b"\0", "shorter than any"),
        (b"\0\1a", "shorter than any"),
        (b"\0\1a.cfg\0octet", "not NUL-terminated"),
        (b"\0\1a.cfg", "not NUL-terminated"),
        (b"\0\1a.cfg\0", "a file name and a mode"),
        (b"\0\1\0octet\0", "file name is empty"),
        (b"\0\1a.cfg\0octet\0blksize\0", "has no value"),
        (b"\0\1a.cfg\0octet\0\0001428\0", "empty name or value"),
        (b"\0\1a\xff.cfg\0octet\0", "not ASCII"),
        (b"\0\4\0\1\0", "ACK of 5 bytes"),
        (b"\0\5\0\1oops", "not NUL-terminated"),
        (b"\0\11\0\1", "opcode 9 is not a TFTP opcode"),
        (b"\xff\xff\0\0", "opcode 65535"),
    ],
)
def test_malformed_packets_name_their_fault(data: bytes, fault: str) -> None:
    with pytest.raises(codec.Malformed, match=fault):
        codec.decode(data)


def test_huge_option_lists_decode_or_fail_cleanly() -> None:
    many = b"".join(b"o%d\0%d\0" % (i, i) for i in range(2000))
    assert len(codec.decode(b"\0\1a.cfg\0octet\0" + many).options) == 2000  # type: ignore[union-attr]
    with pytest.raises(codec.Malformed):
        codec.decode(b"\0\1a.cfg\0octet\0" + b"x" * 100_000)


async def test_the_server_answers_or_ignores_garbage_and_keeps_serving(start_server) -> None:  # noqa: F811
    files = Files({"a.cfg": blob(3000)})
    server, addr = await start_server(files)
    async with await UdpSocket.open() as sock:
        for data in (
            b"\0\1a.cfg\0octet",
            b"\0\1a.cfg\0",
            b"\0\1\0octet\0",
            b"\0\2x\0octet\0blksize\0",
            b"\0\1a\xff\0octet\0",
        ):
            sock.send(data, addr)
            reply, source = await sock.recv(2.0)
            assert source == addr and codec.decode(reply) == codec.Error(4, "malformed request"), data
        for data in (
            b"",
            b"\0",
            b"\0\11\0\1",
            b"\0\4\0\1",
            b"\0\5\0\1oops\0",
            b"\0\3\0\1data",
            b"\xff" * 40,
            b"\0\1" + b"a" * 2000,
        ):
            sock.send(data, addr)
        with pytest.raises(TimeoutError):
            await sock.recv(0.3)  # not requests, or too large to be one: no answer
        sock.send(b"\0\1a.cfg\0octet\0" + b"opt\0v\0" * 200, addr)  # 200 unknown options: ignored
        reply, source = await sock.recv(2.0)
        assert source != addr and codec.decode(reply) == codec.Data(1, files.files["a.cfg"][:512])
        sock.send(codec.encode_error(0, "enough"), source)
    result = await fetch(addr, "a.cfg", options={"blksize": 1428, "tsize": 0})
    assert result.error is None and result.data == files.files["a.cfg"]
    assert files.calls == [("a.cfg", HOST)] * 2  # no garbage reached the handler
    await settle(server)


async def test_tftpy_as_a_client_downloads_through_our_codec(start_server, tmp_path) -> None:  # noqa: F811
    files = Files({"big.cfg": blob(70_000, seed=3)})
    server, (host, port) = await start_server(files)
    target = tmp_path / "big.cfg"

    def download() -> None:
        tftpy.TftpClient(host, port, options={"blksize": 1024, "tsize": 0}).download("big.cfg", str(target), timeout=2)

    await asyncio.to_thread(download)
    assert target.read_bytes() == files.files["big.cfg"]
    await settle(server)

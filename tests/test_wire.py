"""A warm reply written from its prebuilt head (provisioner.wire): the same bytes aiohttp sends for
it, on connections kept open (over TLS too), pipelined and read slowly; anything but a plain HTTP/1.1 GET that
keeps its connection gets aiohttp's own response."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import shutil
import socket
import time
from email.utils import parsedate_to_datetime

import pytest
from aiohttp.http import SERVER_SOFTWARE

from provisioner import keys, web, wire
from tests.test_warm_cost import FILE, MAC, PASSWORD, UA, _phone

DATE = re.compile(
    rb"^Date: (Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
    rb"\d\d:\d\d:\d\d GMT$"
)


def _get(path: str = FILE, *, method: str = "GET", version: str = "1.1", extra: str = "") -> bytes:
    return f"{method} {path} HTTP/{version}\r\nHost: prov.test\r\nUser-Agent: {UA}\r\n{extra}\r\n".encode()


async def _response(reader: asyncio.StreamReader, *, head_only: bool = False) -> tuple[bytes, list[bytes], bytes]:
    """One response off the connection: (its raw bytes, its header lines, its body), the body read
    by its Content-Length."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
    lines = head[:-4].split(b"\r\n")
    length = next((int(line[16:]) for line in lines if line.lower().startswith(b"content-length: ")), 0)
    body = b"" if head_only or b" 304 " in lines[0] else await asyncio.wait_for(reader.readexactly(length), 10)
    return head + body, lines, body


def _without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date: "))


async def _warmed(server, store) -> tuple[bytes, list[bytes], bytes]:
    """The phone, and its first fetch (cold: the whole resolve) on a connection of its own, answered
    by aiohttp's own response: the bytes the prebuilt ones are compared with."""
    _phone(store)
    await server.sync()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(web, "_prebuilt_fits", lambda request: False)
        reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
        writer.write(_get())
        cold = await _response(reader)
        writer.close()
    return cold


async def test_a_kept_connection_gets_the_cold_reply_s_bytes_from_the_prebuilt_head(server, store):
    cold_raw, cold_lines, cold_body = await _warmed(server, store)
    assert cold_lines[0] == b"HTTP/1.1 200 OK" and PASSWORD.encode() in cold_body
    res = server.app[keys.RESOLVER]
    hits = res.warm_hits
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    for n in range(4):  # one connection, kept: each repeat written from the head made at the first
        writer.write(_get())
        raw, lines, body = await _response(reader)
        assert _without_date(raw) == _without_date(cold_raw), n
        assert [line.split(b":", 1)[0] for line in lines[1:]] == [
            b"Cache-Control",
            b"ETag",
            b"Content-Type",
            b"Content-Length",
            b"Date",
            b"Server",
        ]
        date = next(line for line in lines if line.startswith(b"Date: "))
        assert DATE.match(date), date
        assert abs(parsedate_to_datetime(date[6:].decode()).timestamp() - time.time()) < 5
        assert f"Server: {SERVER_SOFTWARE}".encode() in lines
        assert body == cold_body
    assert res.warm_hits == hits + 4
    kept = res.cache.warm[FILE[1:]]
    assert kept.head is not None and kept.head.startswith(b"HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nETag: ")
    assert not reader.at_eof()  # kept open: no Connection: close on a kept connection
    writer.close()


async def test_a_first_fetch_is_written_from_a_head_too_with_aiohttp_s_bytes(server, store, monkeypatch):
    """A phone's first fetch (cold: resolved and rendered) on a connection it keeps is a
    :class:`wire.Prebuilt` too, with the bytes aiohttp's own response gives the same reply."""
    _phone(store)
    await server.sync()
    written = []
    original = wire.Prebuilt.write_eof

    async def counted(self, data=b""):  # type: ignore[no-untyped-def]
        written.append(self._payload)
        await original(self, data)

    monkeypatch.setattr(wire.Prebuilt, "write_eof", counted)
    res = server.app[keys.RESOLVER]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    with pytest.MonkeyPatch.context() as patch:  # aiohttp's own response to a first fetch: the reference
        patch.setattr(web, "_prebuilt_fits", lambda request: False)
        writer.write(_get())
        theirs, _lines, _body = await _response(reader)
    assert written == []
    res.cache.invalidate_device(MAC)  # the next fetch is a first fetch again
    writer.write(_get())
    first_raw, first_lines, first_body = await _response(reader)
    assert res.warm_hits == 0 and written == [first_body] and PASSWORD.encode() in first_body
    assert _without_date(first_raw) == _without_date(theirs)
    assert first_lines[0] == b"HTTP/1.1 200 OK" and any(DATE.match(line) for line in first_lines)
    assert not reader.at_eof()
    writer.close()


async def test_pipelined_repeats_read_slowly_wait_for_the_reader_then_all_arrive_whole(server, store):
    """4,000 requests in one write (about 18 MB of replies) to a client with a small receive buffer
    that reads nothing for a while: once the kernel's socket buffers (at most 4 MB here) and its
    transport's high-water mark are full, the server stops and waits for the reader (as aiohttp's
    own responses do) instead of buffering every reply; then every reply arrives whole and in order."""
    _raw, _lines, cold_body = await _warmed(server, store)
    res = server.app[keys.RESOLVER]
    hits = res.warm_hits
    count = 4000
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.http_port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    writer.write(_get() * count)  # not drained here: the server reads requests as it answers them
    await asyncio.sleep(0.5)
    stalled = res.warm_hits - hits
    await asyncio.sleep(0.5)
    assert 0 < stalled == res.warm_hits - hits < count  # waiting for the reader, a bounded backlog written
    for n in range(count):
        _raw, lines, body = await _response(reader)
        assert lines[0] == b"HTTP/1.1 200 OK" and body == cold_body, n
    assert res.warm_hits == hits + count
    writer.close()


@pytest.mark.parametrize(
    "case",
    ["http/1.0", "connection close", "head", "if-none-match", "other etag"],
)
async def test_every_other_request_gets_aiohttp_s_own_response(server, store, case):
    """A warm reply still (no second resolve), but not from the prebuilt head: HTTP/1.0 gets an
    HTTP/1.0 status line and its connection closed, ``Connection: close`` gets that header and the
    close, HEAD gets the headers and no body, a matching If-None-Match gets 304, another ETag the file."""
    cold_raw, cold_lines, cold_body = await _warmed(server, store)
    etag = next(line for line in cold_lines if line.startswith(b"ETag: "))[6:].decode()
    res = server.app[keys.RESOLVER]
    hits = res.warm_hits
    request = {
        "http/1.0": _get(version="1.0"),
        "connection close": _get(extra="Connection: close\r\n"),
        "head": _get(method="HEAD"),
        "if-none-match": _get(extra=f"If-None-Match: {etag}\r\n"),
        "other etag": _get(extra='If-None-Match: "an-older-one"\r\n'),
    }[case]
    reader, writer = await asyncio.open_connection("127.0.0.1", server.http_port)
    writer.write(request)
    raw, lines, body = await _response(reader, head_only=case == "head")
    assert res.warm_hits == hits + 1
    assert res.cache.warm[FILE[1:]].head is None  # the prebuilt head was never made
    same = {line for line in cold_lines[1:] if not line.startswith(b"Date: ")}
    if case == "http/1.0":
        assert lines[0] == b"HTTP/1.0 200 OK" and body == cold_body
        assert same <= set(lines)
        assert await asyncio.wait_for(reader.read(), 10) == b""  # closed after the reply
    elif case == "connection close":
        assert _without_date(raw) == _without_date(cold_raw).replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n", 1)
        assert await asyncio.wait_for(reader.read(), 10) == b""
    elif case == "head":
        assert lines[0] == b"HTTP/1.1 200 OK" and same <= set(lines)  # Content-Length of the file, no body
        writer.write(_get())  # the connection is kept, and the next read finds no stray body
        _raw, _lines, after = await _response(reader)
        assert after == cold_body
    elif case == "if-none-match":
        assert lines[0] == b"HTTP/1.1 304 Not Modified" and body == b""
        assert f"ETag: {etag}".encode() in lines and PASSWORD.encode() not in raw
    else:
        assert _without_date(raw) == _without_date(cold_raw)
    writer.close()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
async def test_curl_reuses_its_connection_and_gets_the_file_each_time(server, store):
    """curl, as a phone's HTTP client would: three fetches of the file over one connection (the
    second and third written from the prebuilt head), each the whole file."""
    _raw, _lines, cold_body = await _warmed(server, store)
    url = f"http://127.0.0.1:{server.http_port}{FILE}"
    proc = await asyncio.create_subprocess_exec(
        "curl", "-s", "-f", "-A", UA, "-w", "\n%{http_code} %{num_connects}\n", url, url, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err
    assert out == b"".join(cold_body + f"\n200 {n}\n".encode() for n in (1, 0, 0))
    assert server.app[keys.RESOLVER].cache.warm[FILE[1:]].head is not None


async def test_over_https_the_prebuilt_head_goes_through_tls_on_a_kept_connection(store, settings, tmp_path):
    """The same write over a TLS transport: three fetches on one kept HTTPS connection, the last two
    written from the prebuilt head, each the whole file with aiohttp's headers."""
    import ssl

    from aiohttp import ClientSession, TCPConnector, TraceConfig, web

    from provisioner.web import create_app, phone_first, tls_context
    from tests.test_phone_security import self_signed

    _phone(store)
    cert, key = self_signed(tmp_path)
    https = dataclasses.replace(settings, tls_cert=cert, tls_key=key, tftp_port=None)
    app = create_app(https)
    runner = web.AppRunner(app)
    await runner.setup()
    runner.server.request_handler = phone_first(app, runner.server.request_handler)  # as http_server.run
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(https))
    await site.start()
    try:
        url = f"https://127.0.0.1:{runner.addresses[0][1]}{FILE}"
        res = app[keys.RESOLVER]
        client_tls = ssl.create_default_context(cafile=str(cert))
        connections = []
        trace = TraceConfig()

        async def connected(session, context, params):  # type: ignore[no-untyped-def]
            connections.append(params)

        trace.on_connection_create_end.append(connected)
        async with ClientSession(connector=TCPConnector(limit=1), trace_configs=[trace]) as client:
            bodies = []
            for _ in range(3):
                async with client.get(url, ssl=client_tls, headers={"User-Agent": UA}) as resp:
                    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
                    assert resp.headers["Server"] == SERVER_SOFTWARE and resp.headers["ETag"]
                    bodies.append(await resp.read())
        assert len(connections) == 1  # one kept connection served all three
        assert PASSWORD.encode() in bodies[0] and bodies[0] == bodies[1] == bodies[2]
        assert res.warm_hits == 2 and res.cache.warm[FILE[1:]].head is not None
    finally:
        await runner.cleanup()

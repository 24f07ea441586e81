"""Abusive clients against the real server: slowloris, floods of requests for unknown files,
TFTP amplification with forged sources, and malformed HTTP in the logs."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import http.client
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from provisioner import services
from provisioner.db import Store
from provisioner.settings import Settings
from tests.conftest import ACTOR, Running, add_customer, add_line
from tests.tftp_client import UdpSocket, fetch, rrq

ROOT = Path(__file__).resolve().parents[1]
MAC = "001565A1B2C3"
COMMON = "y000000000000.boot"  # Yealink common files: anyone may ask for them
COMMON_CFG = "y000000000028.cfg"


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _add_phone(data_dir: Path) -> None:
    db = Store.open(data_dir)
    try:
        add_customer(db)
        add_line(db, "ROSSI", "201", "Reception", "s3cret-Pw-201")
        services.add_device(db, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    finally:
        db.close()


class ServerProcess:
    """``python server.py`` in a child process, its stderr kept in a file."""

    def __init__(self, data_dir: Path, *args: str, nofile: int | None = None) -> None:
        self.http_port = _free_port(socket.SOCK_STREAM)
        self.tftp_port = _free_port(socket.SOCK_DGRAM)
        self.stderr_path = data_dir.parent / "server-stderr.log"
        self._stderr = self.stderr_path.open("wb")

        def lower_limit() -> None:
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        self.proc = subprocess.Popen(
            [
                sys.executable,
                "server.py",
                "--host",
                "127.0.0.1",
                "--http-port",
                str(self.http_port),
                "--tftp-port",
                str(self.tftp_port),
                "--data-dir",
                str(data_dir),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=self._stderr,
            preexec_fn=lower_limit,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        deadline = time.monotonic() + 30
        while True:
            assert self.proc.poll() is None, self.stderr()
            try:
                if self.get("/healthz", timeout=1)[0] == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, self.stderr()
            time.sleep(0.1)

    def get(self, path: str, *, source: str = "127.0.0.1", timeout: float = 5) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=timeout, source_address=(source, 0))
        try:
            conn.request("GET", path, headers={"User-Agent": "Yealink SIP-T46U 108.86.0.45 00:15:65:a1:b2:c3"})
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def stop(self) -> str:
        if self._stderr.closed:
            return self.stderr()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._stderr.close()
        return self.stderr()

    def stderr(self) -> str:
        if not self._stderr.closed:
            self._stderr.flush()
        return self.stderr_path.read_text(errors="replace")


@pytest.fixture
def start_process(data_dir: Path):
    started: list[ServerProcess] = []

    def start(*args: str, nofile: int | None = None) -> ServerProcess:
        process = ServerProcess(data_dir, *args, nofile=nofile)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


# --- issue 12 item 7: slowloris ------------------------------------------------------------


def _closed_by_peer(sock: socket.socket) -> bool:
    try:
        return sock.recv(4096) == b""
    except ConnectionResetError:
        return True
    except (BlockingIOError, TimeoutError):
        return False


def test_slowloris_cannot_starve_phones(start_process, data_dir: Path) -> None:
    """With 256 descriptors, 600 half-open connections from one address take 64 at most; every
    phone fetch from another address succeeds, and the held connections are closed after the
    head timeout."""
    _add_phone(data_dir)
    server = start_process("--http-head-timeout", "3", nofile=256)
    attackers: list[socket.socket] = []
    try:
        for _ in range(600):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.66", 0))
            sock.settimeout(5)
            sock.connect(("127.0.0.1", server.http_port))
            sock.sendall(b"GET /y000000000000.boot HTTP/1.1\r\nHost: prov\r\nX-Slow: ")  # never finished
            attackers.append(sock)
        time.sleep(0.5)  # let the server take them all
        outcomes = []
        for n in range(19):
            path = f"/{MAC}.cfg" if n % 2 else f"/{COMMON}"
            status, body = server.get(path, source=f"127.0.1.{n + 1}", timeout=2.5)
            outcomes.append((status, len(body) > 0))
        assert outcomes == [(200, True)] * 19
        # Every half-open connection is closed by the server: at once past the per-address cap,
        # after the head timeout otherwise.
        for sock in attackers:
            sock.setblocking(False)
        deadline = time.monotonic() + 30
        open_ = list(attackers)
        while open_ and time.monotonic() < deadline:
            open_ = [sock for sock in open_ if not _closed_by_peer(sock)]
            time.sleep(0.2)
        assert open_ == []
    finally:
        for sock in attackers:
            sock.close()
    logs = [json.loads(line) for line in server.stop().splitlines()]
    fd = next(entry for entry in logs if entry["event"] == "fd_limit")
    assert fd["hard"] == 256 and fd["soft"] == 256
    dropped = [entry for entry in logs if entry["event"] == "http_connections_dropped"]
    assert dropped and dropped[0]["max_per_ip"] == 64


def test_serve_flags_reach_settings(start_process) -> None:
    server = start_process("--http-max-connections-per-ip", "2", "--http-head-timeout", "30")
    held = []
    for _ in range(2):
        sock = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
        sock.sendall(b"GET / HTTP/1.1\r\n")
        held.append(sock)
    try:
        time.sleep(0.3)
        third = socket.create_connection(("127.0.0.1", server.http_port), timeout=5)
        third.sendall(b"GET /healthz HTTP/1.0\r\n\r\n")
        with pytest.raises((ConnectionResetError, AssertionError)):
            assert third.recv(100) != b""  # refused: closed without an answer
        third.close()
        assert server.get("/healthz", source="127.0.0.2")[0] == 200  # another address is served
    finally:
        for sock in held:
            sock.close()


# --- issue 12 item 9: logs stay JSON ---------------------------------------------------------

ATTACK = [
    b"GET /\x01\x1b[31m" + b"Z" * 3000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"Z" * 20000 + b"\r\n\r\n",
    b"Z" * 10000 + b"\r\n\r\n",
    b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: Z\x1bZZ\r\n\r\n",
    b"GET / HTTP/1.1\r\n" + b"".join(b"X-%d: ZZZZ\r\n" % i for i in range(200)) + b"\r\n",
    b"\x16\x03\x01\x00\xa5\x01\x00" + b"Z" * 300 + b"\r\n\r\n",
]


def test_malformed_requests_log_one_clipped_json_line_each(start_process) -> None:
    server = start_process()
    for payload in ATTACK:
        with socket.create_connection(("127.0.0.1", server.http_port), timeout=5) as sock:
            sock.sendall(payload)
            sock.settimeout(5)
            with contextlib.suppress(ConnectionResetError):
                assert sock.recv(100).startswith(b"HTTP/1.")  # answered 400
    stderr = server.stop()
    lines = stderr.splitlines()
    assert lines
    for line in lines:
        assert isinstance(json.loads(line), dict), line
        longest = max((len(run) for run in re.findall(r"Z+", line)), default=0)
        assert longest <= 200, line[:300]
        assert "\x1b" not in line
    foreign = [json.loads(line) for line in lines if json.loads(line).get("logger", "").startswith("aiohttp")]
    assert foreign, "the malformed requests were not logged"
    assert all("error" in entry and "frames" in entry for entry in foreign)


# --- issue 12 item 8: floods of unknown names ------------------------------------------------


@pytest.fixture
def small_settings(settings: Settings) -> Settings:
    return dataclasses.replace(settings, tftp_max_sessions=64)


async def test_unknown_file_flood_does_not_starve_a_phone(
    aiohttp_client, small_settings: Settings, store: Store
) -> None:
    """2,000 requests for files nobody has, from 2,000 addresses, with 64 session slots: all are
    refused with 'file not found', none with 'busy', and a real phone gets its file meanwhile."""
    from provisioner.web import create_app

    add_customer(store)
    add_line(store, "ROSSI", "201", "Reception", "s3cret-Pw-201")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    app = create_app(small_settings)
    client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
    server = Running(client, app)
    addr = ("127.0.0.1", server.tftp_port)

    count = 2000
    flood = [await UdpSocket.open(f"127.2.{i // 250}.{i % 250 + 1}") for i in range(count)]
    names = [f"0015650{i:05X}.cfg" if i % 2 else f"nothing-{i}.bin" for i in range(count)]
    for sock, name in zip(flood, names, strict=True):
        sock.send(rrq(name), addr)  # all at once, before the phone asks
    phone = asyncio.create_task(fetch(addr, f"{MAC}.cfg", timeout=2.0, retries=5))
    answers = []
    for sock in flood:
        try:
            packet, source = await sock.recv_packet(10)
            answers.append((packet.errorcode, source[1] == addr[1]))
        except TimeoutError:
            answers.append(None)
        sock.close()
    result = await phone
    assert result.error is None and b"s3cret-Pw-201" in result.data
    assert answers.count((1, True)) == count  # file not found, from the listening socket: no busy


# --- issue 13 item 6: TFTP amplification -----------------------------------------------------


@pytest.mark.parametrize("options", [None, {"blksize": 1468, "tsize": 0}])
async def test_unacknowledged_requests_are_not_amplified(server: Running, options) -> None:
    """Forged requests (never acknowledged) for a common file from one address: what the server
    sends back, measured on the wire, stays under ten times what was sent."""
    addr = ("127.0.0.1", server.tftp_port)
    victims = [await UdpSocket.open("127.0.0.77") for _ in range(200)]  # one address, many ports
    sent = received = packets = 0
    for sock in victims:
        request = rrq(COMMON_CFG, options=options)
        sock.send(request, addr)
        sent += len(request)
    await asyncio.sleep(0)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 4.0  # the server's timeout is 1 s: every transfer has given up
    kinds = set()
    while loop.time() < deadline:
        for sock in victims:
            while sock.pending():
                data, _ = await sock.recv(0)
                received += len(data)
                packets += 1
                kinds.add(data[:2])
        await asyncio.sleep(0.1)
    for sock in victims:
        sock.close()
    ratio = received / sent
    print(f"amplification {options}: sent {sent} B, received {received} B in {packets} packets: {ratio:.1f}x")
    assert kinds == ({b"\0\6"} if options else {b"\0\3"})  # it does answer: OACK, or DATA 1
    assert ratio < 10

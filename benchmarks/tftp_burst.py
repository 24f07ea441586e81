"""Burst benchmark for provisioner.tftp: N phones asking for their config at once.

Writes N ~2 KB configs (different per file) to a temporary folder, starts our TftpServer
serving them in a separate process on a free port and, in the same run, tftpd-hpa
(``/usr/sbin/in.tftpd -L -s DIR``, foreground) on another; for each, opens N client sockets,
sends all N read requests in one go, verifies every transfer's bytes and prints
completed/lost, wall time, transfers/s and p50/p99 latency, then the ratio ours / tftpd-hpa.
The client is C by default (benchmarks/tftp_burst_client.c, built here with gcc: it costs the
shared cores little), or ``--client python`` (tests/tftp_client.py); both servers get the same one.
Ours runs as ``--server-workers`` processes on one port (SO_REUSEPORT, as ``serve --workers``;
default: one per core).

    .venv/bin/python benchmarks/tftp_burst.py [--count 1100] [--size 2048] [--blksize N] [--no-tftpd]
        [--client c|python] [--server-workers N]
    .venv/bin/python benchmarks/tftp_burst.py --in-process   # the old in-process measurement
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from provisioner.tftp import TftpError, TftpServer
from tests.tftp_client import UdpSocket, fetch


class _QuietLog:
    """Drops the server's per-transfer log lines; they are not what is measured."""

    def info(self, event: str, **kw: object) -> None:
        pass

    warning = info

    def error(self, event: str, **kw: object) -> None:
        print("server error:", event, kw, file=sys.stderr)


def _config(name: str, size: int) -> bytes:
    line = f"# {name}\naccount.1.sip_server.1.address = pbx.example.test\n".encode()
    return (line * (size // len(line) + 1))[:size]


TFTPD = "/usr/sbin/in.tftpd"
ROOT = Path(__file__).resolve().parents[1]

# Our server in its own process, serving the folder's files from memory (as its cache would).
_SERVE = """
import asyncio, sys
from pathlib import Path
sys.path.insert(0, sys.argv[3])
from provisioner.tftp import TftpError, TftpServer
files = {p.name: p.read_bytes() for p in Path(sys.argv[1]).iterdir()}
class Quiet:
    def __getattr__(self, name):
        return lambda *a, **k: None
async def handler(filename, client_ip):
    try:
        return files[filename]
    except KeyError:
        raise TftpError(1, "file not found") from None
async def main():
    # One client address stands for a fleet: let all its requests in (phones are many addresses).
    server = TftpServer(handler, max_sessions=max(4096, len(files)), max_unacked_per_ip=len(files),
                        max_lookups=max(4096, len(files)), log=Quiet())
    await server.start("127.0.0.1", int(sys.argv[2]), reuse_port=True)
    print("ready", flush=True)
    await asyncio.Event().wait()
asyncio.run(main())
"""


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def burst(
    label: str, address: tuple[str, int], expected: dict[str, bytes], blksize: int | None, timeout: float, retries: int
) -> tuple[float, int]:
    """All requests at once against ``address``: prints the figures, returns (transfers/s, lost)."""
    options = {"blksize": blksize} if blksize else None
    sockets = [await UdpSocket.open() for _ in expected]

    async def one(name: str, sock: UdpSocket) -> tuple[bool, float, int]:
        started = time.perf_counter()
        try:
            result = await fetch(address, name, options=options, timeout=timeout, retries=retries, sock=sock)
        except TimeoutError:
            return False, time.perf_counter() - started, retries
        ok = result.error is None and result.data == expected[name]
        return ok, time.perf_counter() - started, result.resends

    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(name, sock) for name, sock in zip(expected, sockets, strict=True)))
    wall = time.perf_counter() - started
    done = [latency for ok, latency, _ in outcomes if ok]
    lost = len(expected) - len(done)
    resends = sum(r for _, _, r in outcomes)
    cuts = statistics.quantiles(done, n=100) if len(done) > 1 else [done[0] if done else 0.0] * 99
    rate = len(done) / wall
    print(
        f"{label:<10} {len(expected)} requested, {len(done)} completed, {lost} lost, {wall:.3f} s, "
        f"{rate:.0f} transfers/s, p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
        f"client resends {resends}"
    )
    return rate, lost


CLIENT_C = Path(__file__).resolve().parent / "tftp_burst_client.c"


def build_client(folder: str) -> str:
    """gcc -O2 the C client into ``folder``; its path."""
    binary = str(Path(folder) / "tftp_burst_client")
    subprocess.run(["gcc", "-O2", "-o", binary, str(CLIENT_C)], check=True)
    return binary


def burst_c(
    client: str,
    label: str,
    address: tuple[str, int],
    folder: str,
    names: list[str],
    blksize: int | None,
    timeout: float,
    retries: int,
) -> tuple[float, int]:
    """The same burst through the C client: prints the figures, returns (transfers/s, lost)."""
    out = subprocess.run(
        [client, address[0], str(address[1]), folder, str(blksize or 0), str(int(timeout * 1000)), str(retries)],
        input="".join(name + "\n" for name in names),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    r = dict(zip(out[::2], out[1::2], strict=True))
    print(
        f"{label:<10} {r['requested']} requested, {r['completed']} completed, {r['lost']} lost, {r['wall_s']} s, "
        f"{r['rate']} transfers/s, p50 {r['p50_ms']} ms, p99 {r['p99_ms']} ms, client resends {r['resends']}"
    )
    return float(r["rate"]), int(r["lost"])


async def compare(
    count: int,
    size: int,
    blksize: int | None,
    timeout: float,
    retries: int,
    tftpd: bool,
    client: str = "python",
    server_workers: int = 1,
) -> int:
    names = [f"y{i:012x}.cfg" for i in range(count)]
    expected = {name: _config(name, size) for name in names}
    with tempfile.TemporaryDirectory() as folder, tempfile.TemporaryDirectory() as build:
        os.chmod(folder, 0o755)  # tftpd-hpa reads as its --user
        for name, data in expected.items():
            Path(folder, name).write_bytes(data)
        binary = build_client(build) if client == "c" else ""

        async def run_burst(label: str, address: tuple[str, int]) -> tuple[float, int]:
            if binary:
                return burst_c(binary, label, address, folder, names, blksize, timeout, retries)
            return await burst(label, address, expected, blksize, timeout, retries)

        print(
            f"{count} transfers at once, {size} bytes each, blksize {blksize or 512}, {client} client, "
            f"ours in {server_workers} process(es), {os.cpu_count()} cores shared by client and server"
        )
        port = _free_udp_port()
        ours = [
            subprocess.Popen(
                [sys.executable, "-c", _SERVE, folder, str(port), str(ROOT)], stdout=subprocess.PIPE, text=True
            )
            for _ in range(server_workers)
        ]
        try:
            for proc in ours:
                assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
            rate, lost = await run_burst("ours", ("127.0.0.1", port))
        finally:
            for proc in ours:
                proc.terminate()
                proc.wait()
        if not tftpd:
            return 0 if lost == 0 else 1
        if not os.access(TFTPD, os.X_OK) or shutil.which("in.tftpd", path="/usr/sbin") is None:
            print(f"{TFTPD} not found (apt-get install -y tftpd-hpa): no comparison")
            return 0 if lost == 0 else 1
        port = _free_udp_port()
        other = subprocess.Popen([TFTPD, "-L", "-s", folder, "-a", f"127.0.0.1:{port}", "-u", _tftpd_user()])
        try:
            time.sleep(0.3)
            their_rate, their_lost = await run_burst("tftpd-hpa", ("127.0.0.1", port))
        finally:
            other.terminate()
            other.wait()
        print(
            f"ours / tftpd-hpa = {rate / max(their_rate, 1e-9):.2f}x transfers/s (target >= 1.3x), lost {lost} vs "
            f"{their_lost}"
        )
        return 0 if lost == 0 else 1


def _tftpd_user() -> str:
    """tftpd-hpa drops to this user (it must exist); as a plain user it stays who it is."""
    import pwd

    return pwd.getpwuid(os.getuid()).pw_name if os.getuid() else "nobody"


async def run(count: int, size: int, blksize: int | None, timeout: float, retries: int) -> int:
    names = [f"y{i:012x}.cfg" for i in range(count)]
    expected = {name: _config(name, size) for name in names}

    async def handler(filename: str, client_ip: str) -> bytes:
        try:
            return expected[filename]
        except KeyError:
            raise TftpError(1, "file not found") from None

    server = TftpServer(
        handler, max_sessions=max(4096, count), max_unacked_per_ip=count, max_lookups=max(4096, count), log=_QuietLog()
    )
    port = await server.start("127.0.0.1", 0)
    address = ("127.0.0.1", port)
    options = {"blksize": blksize} if blksize else None
    sockets = [await UdpSocket.open() for _ in names]
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, server.active_sessions)
            await asyncio.sleep(0.005)

    async def one(name: str, sock: UdpSocket) -> tuple[bool, float, int]:
        started = time.perf_counter()
        try:
            result = await fetch(address, name, options=options, timeout=timeout, retries=retries, sock=sock)
        except TimeoutError:
            return False, time.perf_counter() - started, retries
        ok = result.error is None and result.data == expected[name]
        return ok, time.perf_counter() - started, result.resends

    watcher = asyncio.create_task(watch())
    started = time.perf_counter()
    outcomes = await asyncio.gather(*(one(name, sock) for name, sock in zip(names, sockets, strict=True)))
    wall = time.perf_counter() - started
    watcher.cancel()
    await server.stop()

    done = [latency for ok, latency, _ in outcomes if ok]
    lost = count - len(done)
    resends = sum(r for _, _, r in outcomes)
    print(f"transfers: {count} requested, {len(done)} completed, {lost} lost")
    print(f"file size: {size} bytes, blksize: {blksize or 512}")
    print(f"wall time: {wall:.3f} s, {len(done) / wall:.0f} transfers/s")
    if done:
        cuts = statistics.quantiles(done, n=100) if len(done) > 1 else [done[0]] * 99
        print(f"latency: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, max {max(done) * 1000:.1f} ms")
    print(f"peak concurrent sessions: {peak}, client resends: {resends}")
    return 0 if lost == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1100, help="concurrent transfers")
    parser.add_argument("--size", type=int, default=2048, help="bytes per config")
    parser.add_argument("--blksize", type=int, default=None, help="ask for this blksize (default: no options)")
    parser.add_argument("--timeout", type=float, default=5.0, help="client timeout, seconds")
    parser.add_argument("--retries", type=int, default=10, help="client resends before giving up")
    parser.add_argument("--no-tftpd", action="store_true", help="skip the tftpd-hpa comparison")
    parser.add_argument("--client", choices=("c", "python"), default="c", help="the burst client (C: built with gcc)")
    parser.add_argument(
        "--server-workers", type=int, default=os.cpu_count() or 1, help="our server processes on the one port"
    )
    parser.add_argument("--in-process", action="store_true", help="server and client in one process and loop")
    args = parser.parse_args()
    if args.in_process:
        return asyncio.run(run(args.count, args.size, args.blksize, args.timeout, args.retries))
    return asyncio.run(
        compare(
            args.count,
            args.size,
            args.blksize,
            args.timeout,
            args.retries,
            not args.no_tftpd,
            args.client,
            args.server_workers,
        )
    )


if __name__ == "__main__":
    sys.exit(main())

"""Burst benchmark for provisioner.tftp: N phones asking for their config at once.

Starts a TftpServer in-process on a free port whose handler returns a ~2 KB
config (different per file), opens N client sockets, sends all N read
requests in one go, verifies every transfer's bytes and prints completed/lost,
wall time, transfers/s and p50/p99 latency.

    .venv/bin/python benchmarks/tftp_burst.py [--count 1100] [--size 2048] [--blksize N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
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


async def run(count: int, size: int, blksize: int | None, timeout: float, retries: int) -> int:
    names = [f"y{i:012x}.cfg" for i in range(count)]
    expected = {name: _config(name, size) for name in names}

    async def handler(filename: str, client_ip: str) -> bytes:
        try:
            return expected[filename]
        except KeyError:
            raise TftpError(1, "file not found") from None

    server = TftpServer(handler, max_sessions=max(4096, count), log=_QuietLog())
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
        print(f"latency: p50 {cuts[49] * 1000:.1f} ms, p99 {cuts[98] * 1000:.1f} ms, "
              f"max {max(done) * 1000:.1f} ms")
    print(f"peak concurrent sessions: {peak}, client resends: {resends}")
    return 0 if lost == 0 else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1100, help="concurrent transfers")
    parser.add_argument("--size", type=int, default=2048, help="bytes per config")
    parser.add_argument("--blksize", type=int, default=None, help="ask for this blksize (default: no options)")
    parser.add_argument("--timeout", type=float, default=5.0, help="client timeout, seconds")
    parser.add_argument("--retries", type=int, default=10, help="client resends before giving up")
    args = parser.parse_args()
    return asyncio.run(run(args.count, args.size, args.blksize, args.timeout, args.retries))


if __name__ == "__main__":
    sys.exit(main())

"""Change propagation between server nodes: polling vs PostgreSQL LISTEN/NOTIFY.

Starts its own PostgreSQL (initdb + pg_ctl on a free port, as tests/test_postgres.py does) unless
``--database-url`` is given, seeds one phone, and starts two server nodes (the real app, in this
process, each on its own port). Then ``--changes`` times: a third store commits a change of the
phone's line (as the CLI or the API of another node would), and the time until each node serves
the new file is measured (the file is fetched every 2 ms over HTTP). Done twice: nodes polling every
``--interval`` seconds only (``pg_listen`` off), and nodes listening (polling kept as a fallback).
Prints p50 / p90 / p99 / max per mode.

    python benchmarks/propagation.py [--changes 50] [--interval 0.5] [--database-url postgresql://...]

Not a test: figures depend on the machine; read them, compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import glob
import os
import pwd
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner import services  # noqa: E402
from provisioner.db import Store  # noqa: E402
from provisioner.sealing import generate_key  # noqa: E402
from provisioner.settings import Settings  # noqa: E402
from provisioner.web import create_app  # noqa: E402

MAC = "001565a1b2c3"


def _pg_bin(name: str) -> str:
    found = shutil.which(name) or (sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}")) or [None])[-1]
    if not found:
        raise SystemExit(f"{name} not found: install PostgreSQL or give --database-url")
    return found


@contextmanager
def postgres() -> Iterator[str]:
    root = Path(tempfile.mkdtemp(prefix="provisioner-bench-pg-"))
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    data = root / "data"
    subprocess.run(
        [*run_as, _pg_bin("initdb"), "-D", str(data), "-U", "prov", "--auth=trust"], check=True, capture_output=True
    )
    pg_ctl = _pg_bin("pg_ctl")
    options = f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off"
    subprocess.run(
        [*run_as, pg_ctl, "-D", str(data), "-l", str(root / "log"), "-w", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [*run_as, _pg_bin("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "prov", "provisioner"],
            check=True,
            capture_output=True,
        )
        yield f"postgresql://prov@127.0.0.1:{port}/provisioner"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


async def measure(url: str, data_dir: Path, *, listen: bool, interval: float, changes: int) -> list[float]:
    settings = Settings(
        data_dir=data_dir,
        database_url=url,
        host="127.0.0.1",
        http_port=0,
        tftp_port=None,
        public_url="http://prov.test:8080/",
        sync_interval=interval,
        pg_listen=listen,
    )
    runners, ports = [], []
    for _ in range(2):
        runner = web.AppRunner(create_app(dataclasses.replace(settings)), access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        ports.append(site._server.sockets[0].getsockname()[1])  # type: ignore[union-attr]
    writer = Store.open(data_dir, url)
    latencies: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:

            async def serves(port: int, text: str) -> bool:
                async with http.get(f"http://127.0.0.1:{port}/{MAC}.cfg") as resp:
                    return text in await resp.text()

            for port in ports:  # both caches warm
                assert await serves(port, "display_name")
            for n in range(changes):
                name = f"Desk {'L' if listen else 'P'}{n}"
                await asyncio.to_thread(services.update_line, writer, "bench", "BENCH", "201", display_name=name)
                committed = time.perf_counter()
                pending = set(ports)
                while pending:
                    for port in list(pending):
                        if await serves(port, f"display_name = {name}"):
                            latencies.append(time.perf_counter() - committed)
                            pending.discard(port)
                    await asyncio.sleep(0.002)
                await asyncio.sleep(0.05 + (n % 7) * interval / 7)  # changes land at varied points of the poll
    finally:
        writer.close()
        for runner in runners:
            await runner.cleanup()
    return latencies


def summary(label: str, values: list[float]) -> str:
    cuts = statistics.quantiles(values, n=100)
    return (
        f"{label:<28} n={len(values):<4} p50 {cuts[49] * 1000:7.1f} ms   p90 {cuts[89] * 1000:7.1f} ms   "
        f"p99 {cuts[98] * 1000:7.1f} ms   max {max(values) * 1000:7.1f} ms"
    )


async def run(url: str, args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp)
        store = Store.open(data_dir, url)
        try:
            services.add_customer(store, "bench", "BENCH", name="Bench", sip_server="pbx.bench.example.net")
            services.add_line(store, "bench", "BENCH", "201", display_name="Reception", password="Pw-201-secret")
            services.add_device(store, "bench", MAC, model="T46U", customer="BENCH", lines=["201"])
        finally:
            store.close()
        polling = await measure(url, data_dir, listen=False, interval=args.interval, changes=args.changes)
        notify = await measure(url, data_dir, listen=True, interval=args.interval, changes=args.changes)
    print(f"\n{args.changes} changes, 2 nodes over one PostgreSQL, {os.cpu_count()} cores; latency commit -> served")
    print(summary(f"polling every {args.interval:g} s", polling))
    print(summary("LISTEN/NOTIFY", notify))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=50)
    parser.add_argument("--interval", type=float, default=0.5, help="the nodes' polling interval (seconds)")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database (default: start one)")
    args = parser.parse_args()
    os.environ.setdefault("PROVISIONER_SECRET_KEY", generate_key())
    if args.database_url:
        asyncio.run(run(args.database_url, args))
        return
    with postgres() as url:
        asyncio.run(run(url, args))


if __name__ == "__main__":
    main()

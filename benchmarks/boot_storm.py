"""Boot storm: N phones of mixed vendors fetch their config at once.

Starts the real server (``python server.py``) in a subprocess on an SQLite file
seeded with N devices, then C concurrent HTTP clients fetch every device's main
config file twice: the cold pass (every fetch renders) and the warm pass (every
fetch is a cache hit). As a baseline it starts, in another subprocess, a bare
aiohttp handler that returns a body of the same size for any path, and runs the
same warm load against it. Prints req/s, p50 and p99 for each and the ratios.

    python benchmarks/boot_storm.py [--devices 10000] [--concurrency 200]

Not a test: figures depend on the machine; read them, compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from provisioner import fields, services  # noqa: E402
from provisioner.db import Store  # noqa: E402

# (model, vendor prefix, main file of the device, a User-Agent of that model)
FLEET = [
    ("T46U", "001565", "{mac_l}.cfg", "Yealink SIP-T46U 108.86.0.20 {mac_colon}"),
    ("T54W", "805EC0", "{mac_l}.cfg", "Yealink SIP-T54W 96.86.0.20 {mac_colon}"),
    ("D785", "000413", "{mac_u}.xml", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12 {mac_u})"),
    ("D735", "000413", "{mac_u}.xml", "Mozilla/4.0 (compatible; snomD735-SIP 10.1.169.16 2010.12 {mac_u})"),
    ("VVX450", "64167F", "{mac_l}-settings.cfg",
     "FileTransport PolycomVVX-VVX_450-UA/6.4.6.0123 Type/Application"),
    ("GRP2614", "C074AD", "cfg{mac_l}.xml", "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId {mac_l}"),
    ("GXP2170", "000B82", "cfg{mac_l}.xml", "Grandstream Model HW GXP2170 SW 1.0.11.3 DevId {mac_l}"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(data_dir: Path, count: int) -> list[tuple[str, str]]:
    """N devices with two lines each, in one transaction per 1,000; returns (path, user agent)."""
    store = Store.open(data_dir)
    services.add_customer(store, "bench", "BENCH", name="Bench & Co <test>", sip_server="pbx.bench.example.net")
    requests = []
    from provisioner.fields import line_values

    with store.reading() as tx:
        customer_id = tx.customer_by_code("BENCH")["id"]
    for start in range(0, count, 1000):
        with store.transaction() as tx:
            for i in range(start, min(start + 1000, count)):
                model, prefix, path, ua = FLEET[i % len(FLEET)]
                vendor, model_key = fields.model(model)
                mac = f"{prefix}{i:06X}"
                line_ids = []
                for n in (1, 2):
                    ext = f"{100000 + i * 2 + n}"
                    values = line_values({"display_name": f"Niccolò Università {ext}",
                                          "password": f"pw-{i}-{n}-Xy!"}, ext)
                    line_ids.append(tx.insert_line({"customer_id": customer_id, **values}))
                device_id = tx.insert_device({"mac": mac, "vendor": vendor, "model": model_key,
                                              "customer_id": customer_id, "state": "deployed", "settings": {}})
                tx.set_device_lines(device_id, line_ids)
                tx.add_event(actor="bench", action="device.created", device_mac=mac, customer_id=customer_id,
                             summary=f"device {mac} created")
                colon = ":".join(mac[j:j + 2] for j in range(0, 12, 2)).lower()
                requests.append(("/" + path.format(mac_l=mac.lower(), mac_u=mac),
                                 ua.format(mac_l=mac.lower(), mac_u=mac, mac_colon=colon)))
    store.close()
    return requests


async def wait_ready(url: str, proc: subprocess.Popen) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            if proc.poll() is not None:
                raise SystemExit(f"server exited with {proc.returncode}")
            try:
                async with session.get(url) as resp:
                    if resp.status in (200, 404):
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"server at {url} did not start")


async def load(base: str, requests: list[tuple[str, str]], concurrency: int) -> dict[str, float]:
    latencies: list[float] = []
    sizes: list[int] = []
    errors = 0
    queue = iter(requests)
    connector = aiohttp.TCPConnector(limit=concurrency)

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal errors
        for path, ua in queue:
            t0 = time.perf_counter()
            async with session.get(base + path, headers={"User-Agent": ua}) as resp:
                body = await resp.read()
            latencies.append(time.perf_counter() - t0)
            if resp.status != 200:
                errors += 1
            sizes.append(len(body))

    async with aiohttp.ClientSession(connector=connector) as session:
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        wall = time.perf_counter() - t0
    latencies.sort()
    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / wall,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "mean_size": sum(sizes) / len(sizes),
    }


async def resolve_in_process(data_dir: Path, requests: list[tuple[str, str]], concurrency: int) -> float:
    """Cold resolves per second with no HTTP and no client on the CPU: store load + render only."""
    from provisioner.activity import Activity
    from provisioner.cache import ConfigCache
    from provisioner.rendering import Renderer
    from provisioner.resolver import Request, Resolver

    store = Store.open(data_dir)
    cache = ConfigCache(store, Renderer(), provisioning_url="http://prov.example.net/", ntp_server="pool.ntp.org")
    resolver = Resolver(store, cache, Activity(store))

    async def one(path: str, ua: str) -> None:
        reply = await resolver.resolve(Request(path, "127.0.0.1", ua))
        assert reply.status == 200, (path, reply.reason)

    t0 = time.perf_counter()
    for start in range(0, len(requests), concurrency):
        await asyncio.gather(*(one(p, ua) for p, ua in requests[start:start + concurrency]))
    rate = len(requests) / (time.perf_counter() - t0)
    store.close()
    return rate


BARE = textwrap.dedent("""
    import sys
    from aiohttp import web
    body = b"x" * int(sys.argv[2])

    async def handler(request):
        return web.Response(body=body, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/{path:.*}", handler)
    web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=None)
""")


def line(name: str, r: dict[str, float]) -> str:
    return (f"{name:<28} {r['requests']:>7.0f} req  {r['rps']:>8.0f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
            f"p99 {r['p99_ms']:>7.2f} ms  errors {r['errors']:.0f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=200)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        requests = seed(data_dir, args.devices)
        print(f"seeded {args.devices} devices (2 lines each) in {time.perf_counter() - t0:.1f} s")

        port = free_port()
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        server = subprocess.Popen([sys.executable, str(ROOT / "server.py"), "--host", "127.0.0.1",
                                   "--http-port", str(port), "--tftp-port", "off", "--data-dir",
                                   str(data_dir), "--log-level", "warning"], env=env)
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base + "/healthz", server)
            cold = await load(base, requests, args.concurrency)
            warm = await load(base, requests, args.concurrency)
        finally:
            server.terminate()
            server.wait(timeout=30)

        in_process = await resolve_in_process(data_dir, requests, args.concurrency)

        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port), str(int(warm["mean_size"]))])
        try:
            await wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
            baseline = await load(f"http://127.0.0.1:{bare_port}", requests, args.concurrency)
        finally:
            bare.terminate()
            bare.wait(timeout=30)

    print(f"\n{args.devices} devices, {args.concurrency} concurrent clients, "
          f"mean body {warm['mean_size']:.0f} bytes, {os.cpu_count()} cores shared by client and server")
    print(line("cold pass (render + store)", cold))
    print(line("warm pass (cache hit)", warm))
    print(line("bare aiohttp, same size", baseline))
    print(f"\nwarm / bare  = {warm['rps'] / baseline['rps']:.2f}  (target >= 0.7)")
    print(f"cold renders = {cold['rps']:.0f}/s over HTTP on one server process, "
          f"{in_process:.0f}/s resolved in process without HTTP (one core; target >= 2,000/s per core)")


if __name__ == "__main__":
    asyncio.run(main())

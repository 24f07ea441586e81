"""Boot storm: N phones of mixed vendors fetch their config at once, driven by wrk.

Starts the real server (``python server.py``) in a subprocess on an SQLite file (or
``--database-url``) seeded with N devices of 4 vendors. wrk (``apt-get install -y wrk``) then
runs ``boot_storm.lua``: one request per device, each the device's own file with its real
User-Agent, the threads starting at different offsets.

- cold pass: each thread walks its share of devices once (first fetches: load + render; the
  server runs with ``--prewarm off`` so that they are misses);
- fill: every device fetched at least once (checked through /healthz);
- bare: in the same run, a bare aiohttp handler returning a body of the same size, right before
  each warm pass (``--rounds N``: N such pairs, and the medians of their ratios);
- warm pass: every request a cache hit;

- pre-warm: a second server, pre-warm on, timed until every device is rendered.

Prints req/s, p50, p99 and non-2xx for each, the ratios, the server's event-loop lag
(``provisioner_loop_lag_seconds`` from /metrics) during the cold and warm passes, the cache's
bytes per device (``provisioner_cache_bytes`` / ``provisioner_cache_devices``) and the pre-warm rate.

    python benchmarks/boot_storm.py [--devices 10000] [--workers N] [--database-url URL]
    python benchmarks/boot_storm.py --rounds 6 --against 3571c21   # per round: bare, 3571c21 and this code
    python benchmarks/boot_storm.py --python-client   # fallback without wrk (client-bound)

Not a test: figures depend on the machine; read them, compare them.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request
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
    ("VVX450", "64167F", "{mac_l}-settings.cfg", "FileTransport PolycomVVX-VVX_450-UA/6.4.6.0123 Type/Application"),
    ("GRP2614", "C074AD", "cfg{mac_l}.xml", "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId {mac_l}"),
    ("GXP2170", "000B82", "cfg{mac_l}.xml", "Grandstream Model HW GXP2170 SW 1.0.11.3 DevId {mac_l}"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def seed(data_dir: Path, count: int, database_url: str | None = None) -> list[tuple[str, str]]:
    """N devices with two lines each, in one transaction per 1,000; returns (path, user agent)."""
    store = Store.open(data_dir, database_url)
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
                    values = line_values(
                        {"display_name": f"Niccolò Università {ext}", "password": f"pw-{i}-{n}-Xy!"}, ext
                    )
                    line_ids.append(tx.insert_line({"customer_id": customer_id, **values}))
                device_id = tx.insert_device(
                    {
                        "mac": mac,
                        "vendor": vendor,
                        "model": model_key,
                        "customer_id": customer_id,
                        "state": "deployed",
                        "settings": {},
                    }
                )
                tx.set_device_lines(device_id, line_ids)
                tx.add_event(
                    actor="bench",
                    action="device.created",
                    device_mac=mac,
                    customer_id=customer_id,
                    summary=f"device {mac} created",
                )
                colon = ":".join(mac[j : j + 2] for j in range(0, 12, 2)).lower()
                requests.append(
                    (
                        "/" + path.format(mac_l=mac.lower(), mac_u=mac),
                        ua.format(mac_l=mac.lower(), mac_u=mac, mac_colon=colon),
                    )
                )
    store.close()
    return requests


async def wait_ready(url: str, proc: subprocess.Popen, tries: int = 300) -> None:
    """Until ``url`` answers (``tries`` times, 0.1 s apart); exits if the server does."""
    async with aiohttp.ClientSession() as session:
        for _ in range(tries):
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
        await asyncio.gather(*(one(p, ua) for p, ua in requests[start : start + concurrency]))
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

LUA = Path(__file__).with_suffix(".lua")

# --ablate: the server started through this, with the named parts of the warm path taken out
# (monkeypatched in the server process; the product has no switch for them). Measures, per part,
# what it costs a warm request; "all" takes out every one of them.
ABLATE = textwrap.dedent("""
    import runpy, sys
    off = set(sys.argv.pop(1).split("+")) - {"none"}
    if "all" in off:
        off |= {"activity", "guard", "headers", "resolver"}
    from aiohttp import web
    from provisioner import activity, connections, resolver
    from provisioner import web as pweb
    if "activity" in off:  # no last-seen, no download rows, no flush
        activity.Activity.fetched = lambda self, fetch, *, download: None
        activity.Activity.repeat = lambda self, r, ip, transport: None
    if "gc" in off:  # no cyclic garbage collection (full ones walk every cached object)
        import gc
        gc.disable()
    if "write" in off:  # recorded in memory per request as usual, but the flush writes nothing
        activity.Activity._write = lambda self, *args: None
    if "guard" in off:  # aiohttp's protocol straight on the socket
        connections.ConnectionGuard.factory = lambda self, server: server
    if "warm" in off:  # no warm replies: every request goes the whole way through Resolver.resolve
        resolver.Resolver.warm = lambda self, *args: None
    if "dispatch" in off:  # phones' requests through aiohttp's router and middlewares, as before
        pweb.phone_first = lambda app, handler: handler
    if "resolver" in off:  # the first reply of each path, answered again without resolving or recording
        resolve, seen = resolver.Resolver.resolve, {}
        async def remembered(self, req):
            reply = seen.get(req.path)
            if reply is None:
                reply = seen[req.path] = await resolve(self, req)
            return reply
        resolver.Resolver.resolve = remembered
        resolver.Resolver.warm = lambda self, *args: None
    if "headers" in off:  # the bare handler's response: body and Content-Type only, built by aiohttp
        pweb._file_response = lambda request, reply: web.Response(body=reply.body, content_type="text/plain")
        pweb.wire.Prebuilt = lambda request, head, body: web.Response(body=body, content_type="text/plain")
    sys.argv = sys.argv[1:]
    runpy.run_path(sys.argv[0], run_name="__main__")
""")


def line(name: str, r: dict[str, float]) -> str:
    return (
        f"{name:<28} {r['requests']:>7.0f} req  {r['rps']:>8.0f} req/s  p50 {r['p50_ms']:>7.2f} ms  "
        f"p99 {r['p99_ms']:>7.2f} ms  non-2xx {r['errors']:.0f}"
    )


def wrk(
    url: str, requests_file: Path, *, seconds: float, threads: int, connections: int, once: bool = False
) -> dict[str, float]:
    """One wrk run over the request list; ``once``: each thread walks its share once and stops."""
    env = {**os.environ, "BOOT_STORM_REQUESTS": str(requests_file), "BOOT_STORM_ONCE": "1" if once else "0"}
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(
        [
            "wrk",
            "-t",
            str(threads),
            "-c",
            str(connections),
            "-d",
            f"{max(1, round(seconds))}s",  # wrk takes whole seconds only
            "--timeout",
            "10s",
            "-s",
            str(LUA),
            url,
            "--",
            str(threads),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = json.loads(out.strip().splitlines()[-1])
    return {
        "wrk_cpu": (after.ru_utime - used.ru_utime) + (after.ru_stime - used.ru_stime),
        "seconds": r["duration_us"] / 1e6,
        "requests": r["requests"],
        "errors": r["non2xx"] + r["socket_errors"],
        "rps": r["requests"] / (r["duration_us"] / 1e6),
        "p50_ms": r["p50_us"] / 1000,
        "p99_ms": r["p99_us"] / 1000,
        "mean_size": r["bytes"] / max(1, r["requests"]),
    }


def metrics(base: str) -> dict[str, float]:
    """The server's loop-lag histogram (cumulative bucket counts by upper bound) and its max."""
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for row in text.splitlines():
        m = re.match(r'provisioner_loop_lag_seconds_bucket\{le="([^"]+)"\} (\S+)', row)
        if m:
            out[m.group(1)] = float(m.group(2))
    return out


def gauge(base: str, name: str) -> float:
    with urllib.request.urlopen(base + "/metrics", timeout=10) as resp:
        m = re.search(rf"^{name} (\S+)$", resp.read().decode(), re.M)
    return float(m.group(1)) if m else 0.0


def prewarm_rate(command: list[str], base: str, devices: int) -> tuple[float, float]:
    """Start a server with pre-warm on; devices rendered per second from its start until all are."""
    t0 = time.perf_counter()
    server = start(command, base)
    try:
        while gauge(base, "provisioner_prewarm_devices_total") < devices:
            if time.perf_counter() - t0 > 300:
                break
            time.sleep(0.05)
        done = gauge(base, "provisioner_prewarm_devices_total")
        return done / (time.perf_counter() - t0), gauge(base, "provisioner_cache_bytes")
    finally:
        server.terminate()
        server.wait(timeout=30)


def lag_line(before: dict[str, float], after: dict[str, float]) -> str:
    if not after:
        return "loop lag: not exported by this server"
    diff = {k: after[k] - before.get(k, 0.0) for k in after}
    total = diff.get("+Inf", 0.0)
    if not total:
        return "loop lag: no ticks"
    over = {b: total - diff[b] for b in ("0.01", "0.025", "0.05", "0.1") if b in diff}
    return f"loop lag over {total:.0f} ticks of 20 ms: " + ", ".join(
        f">{float(b) * 1000:.0f} ms {n:.0f}" for b, n in over.items()
    )


def cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and every process below it (workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rpartition(")")[2].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        todo += children.get(current, [])
    return total


def _each(values: list[float]) -> str:
    return "[" + " ".join(f"{v:.2f}" for v in values) + "]" if len(values) > 1 else ""


def cpu_line(name: str, r: dict[str, float], server_cpu: float) -> str:
    """Server CPU per request, and how much of the machine wrk itself took during the pass."""
    cores = os.cpu_count() or 1
    return (
        f"{name:<28} server {server_cpu / max(1, r['requests']) * 1e6:6.1f} us CPU per request, "
        f"{server_cpu / r['seconds'] / cores:4.0%} of the {cores} cores; wrk {r['wrk_cpu'] / r['seconds'] / cores:4.0%}"
    )


def cached(base: str, tries: int = 12) -> int:
    """Files cached, in the least warm worker (``--workers``: each new connection may reach another)."""
    counts = []
    for _ in range(tries):
        with urllib.request.urlopen(base + "/healthz", timeout=10) as resp:
            counts.append(int(json.loads(resp.read())["cached_files"]))
    return min(counts)


def start(args: list[str], base: str, root: Path = ROOT) -> subprocess.Popen:
    proc = subprocess.Popen(args, env={**os.environ, "PYTHONPATH": str(root)})
    asyncio.run(wait_ready(base + "/healthz" if "server.py" in args[1] else base + "/", proc))
    return proc


def fill(base: str, requests_file: Path, devices: int, wrk_args: dict) -> int:
    """Every device fetched at least once (its files cached); how many files are cached."""
    deadline = time.monotonic() + 300
    while cached(base) < devices and time.monotonic() < deadline:
        wrk(base, requests_file, seconds=max(2.0, devices / 2000), **wrk_args)
    return cached(base)


def server_command(root: Path, data_dir: Path, port: int, connections: int) -> list[str]:
    """The server of the checkout at ``root`` on ``data_dir``, HTTP only, on 127.0.0.1:``port``."""
    return [
        sys.executable,
        str(root / "server.py"),
        "--host",
        "127.0.0.1",
        "--http-port",
        str(port),
        "--tftp-port",
        "off",
        "--data-dir",
        str(data_dir),
        "--log-level",
        "warning",
        # wrk is one address: let all its connections in (a phone fleet is many addresses).
        "--http-max-connections-per-ip",
        str(max(64, connections * 2)),
    ]


def timed_pass(base: str, pid: int, requests_file: Path, seconds: float, wrk_args: dict) -> dict[str, float]:
    """A wrk pass against the server, with the server's CPU seconds (workers included) during it."""
    cpu = cpu_seconds(pid)
    result = wrk(base, requests_file, seconds=seconds, **wrk_args)
    result["server_cpu"] = cpu_seconds(pid) - cpu
    return result


def add_worktree(rev: str, where: Path) -> None:
    """A checkout of git revision ``rev`` of this repository at ``where`` (a temporary worktree)."""
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(where), rev], check=True)


def remove_worktree(where: Path) -> None:
    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(where)], check=False)


class Against:
    """--against REV: the server of another git revision (a temporary worktree of this repository)
    on the same data, pre-warm off, on a port of its own."""

    def __init__(self, rev: str, where: Path, command: list[str]):
        self.where = where
        add_worktree(rev, where)
        other_port = free_port()
        self.base = f"http://127.0.0.1:{other_port}"
        args = [str(where / "server.py") if a == str(ROOT / "server.py") else a for a in command]
        args[args.index("--http-port") + 1] = str(other_port)
        try:
            self.server = start([*args, "--prewarm", "off"], self.base, root=where)
        except BaseException:
            self._remove()
            raise

    def stop(self) -> None:
        self.server.terminate()
        self.server.wait(timeout=30)
        self._remove()

    def _remove(self) -> None:
        remove_worktree(self.where)


def bare_pass(size: int, requests_file: Path, seconds: float, wrk_args: dict) -> dict[str, float]:
    """The baseline: wrk against a bare aiohttp handler returning a body of ``size`` bytes."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    bare = start([sys.executable, "-c", BARE, str(port), str(size)], base)
    try:
        cpu = cpu_seconds(bare.pid)
        result = wrk(base, requests_file, seconds=seconds, **wrk_args)
        result["server_cpu"] = cpu_seconds(bare.pid) - cpu
        return result
    finally:
        bare.terminate()
        bare.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--connections", type=int, default=100, help="wrk connections")
    parser.add_argument("--seconds", type=float, default=10, help="length of the warm and bare passes")
    parser.add_argument(
        "--cold-seconds",
        type=float,
        default=3,
        help="length of the cold pass: short enough that no thread runs out of new devices",
    )
    parser.add_argument("--workers", type=int, default=None, help="server --workers (default: the server's)")
    parser.add_argument("--database-url", default=None, help="PostgreSQL URL instead of an SQLite file")
    parser.add_argument(
        "--python-client",
        action="store_true",
        help="fallback without wrk: the aiohttp client (bound by the client, not the server)",
    )
    parser.add_argument(
        "--ablate",
        default=None,
        help="warm pass only, once per variant, each a '+'-joined set of parts taken out of the server "
        "(none, activity, write, gc, guard, warm, dispatch, headers, resolver, all), e.g. none,warm,activity,all; "
        "one bare pass per round; one worker",
    )
    parser.add_argument(
        "--against",
        metavar="REV",
        default=None,
        help="also the server of git revision REV (a temporary worktree, the same data): its warm pass in "
        "each round right after bare's or after this one's (alternately), so a change is measured within one run",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="rounds of (bare pass, warm pass), each pair back to back; with --ablate: rounds of every variant",
    )
    args = parser.parse_args()
    if args.ablate:
        ablate_main(args)
        return
    if args.python_client or shutil.which("wrk") is None:
        if not args.python_client:
            print("wrk not found (apt-get install -y wrk): falling back to the Python client")
        asyncio.run(python_client_main(args))
        return

    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        t0 = time.perf_counter()
        requests = seed(data_dir, args.devices, args.database_url)
        print(f"seeded {args.devices} devices (2 lines each) in {time.perf_counter() - t0:.1f} s")
        requests_file = Path(tmp) / "requests.tsv"
        requests_file.write_text("".join(f"{p}\t{ua}\n" for p, ua in requests))
        size = 0
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        command = server_command(ROOT, data_dir, port, args.connections)
        if args.workers is not None:
            command += ["--workers", str(args.workers)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        wrk_args = dict(threads=args.threads, connections=args.connections)
        server = start([*command, "--prewarm", "off"], base)
        other = None
        try:
            lag0 = metrics(base)
            cold = timed_pass(base, server.pid, requests_file, args.cold_seconds, {**wrk_args, "once": True})
            lag1 = metrics(base)
            # Every device fetched once before the warm pass (the cold pass covers only part of them).
            warmed = fill(base, requests_file, args.devices, wrk_args)
            if args.against:
                other = Against(args.against, Path(tmp) / "against", command)
                fill(other.base, requests_file, args.devices, wrk_args)
            # The bare handler's pass right before each warm pass (the server idle meanwhile): the
            # host's speed drifts by up to 30% within a minute, so a ratio is only read within a pair.
            size = int(wrk(base, requests_file, seconds=2, **wrk_args)["mean_size"])
            pairs, others = [], []
            for n in range(args.rounds):
                baseline = bare_pass(size, requests_file, args.seconds, wrk_args)
                if other is not None and n % 2 == 0:  # --against: first in even rounds, last in odd ones
                    others.append(timed_pass(other.base, other.server.pid, requests_file, args.seconds, wrk_args))
                lag2 = metrics(base)
                warm = timed_pass(base, server.pid, requests_file, args.seconds, wrk_args)
                lag3 = metrics(base)
                pairs.append((warm, baseline, lag2, lag3))
                if other is not None and n % 2 == 1:
                    others.append(timed_pass(other.base, other.server.pid, requests_file, args.seconds, wrk_args))
            per_device = gauge(base, "provisioner_cache_bytes_per_device")
        finally:
            server.terminate()
            server.wait(timeout=30)
            if other is not None:
                other.stop()

        warmed_rate, warmed_bytes = prewarm_rate(command, base, args.devices)

    store = "PostgreSQL" if args.database_url else "SQLite"
    print(
        f"\n{args.devices} devices on {store}, wrk -t{args.threads} -c{args.connections}, "
        f"server workers {args.workers or 'default'}, mean body {size} bytes, "
        f"{os.cpu_count()} cores shared by wrk and server; {warmed} files cached before the warm pass"
    )
    print(
        line("cold pass (first fetches)", cold)
        + ("  (ran out of new devices: a lower bound)" if cold["requests"] >= args.devices * 0.95 else "")
    )
    print(cpu_line("cold pass CPU", cold, cold["server_cpu"]))
    for n, (warm, baseline, lag2, lag3) in enumerate(pairs, 1):
        if len(pairs) > 1:
            print(f"round {n}")
        if others:
            print(line(f"warm pass at {args.against}"[:28], others[n - 1]))
            print(cpu_line(f"warm CPU at {args.against}"[:28], others[n - 1], others[n - 1]["server_cpu"]))
        print(line("warm pass (cache hit)", warm))
        print(line("bare aiohttp, same size", baseline))
        print(cpu_line("warm pass CPU", warm, warm["server_cpu"]))
        print(cpu_line("bare aiohttp CPU", baseline, baseline["server_cpu"]))
        if args.workers == 1:
            if n == 1:
                print(f"cold  {lag_line(lag0, lag1)}")
            print(f"warm  {lag_line(lag2, lag3)}")
        elif n == 1:  # each /metrics scrape reaches one worker or another: before and after would not match
            print("loop lag: printed with --workers 1 only")
    ratios = [w["rps"] / b["rps"] for w, b, *_ in pairs]
    p99s = [w["p99_ms"] / max(b["p99_ms"], 1e-6) for w, b, *_ in pairs]
    cpus = [
        (w["server_cpu"] / w["requests"]) / (b["server_cpu"] / b["requests"]) for w, b, *_ in pairs if b["server_cpu"]
    ]
    what = f"median of {len(pairs)} rounds; " if len(pairs) > 1 else ""
    print(f"\nwarm / bare      = {statistics.median(ratios):.2f}x req/s  ({what}target >= 0.8)  {_each(ratios)}")
    print(f"warm p99 / bare  = {statistics.median(p99s):.2f}x  (target <= 2)  {_each(p99s)}")
    print(
        f"CPU per request  = {statistics.median(cpus):.2f}x bare's (the server's own cost, whatever wrk leaves it "
        f"of the cores)  {_each(cpus)}"
    )
    if others:
        before = [o["rps"] / b["rps"] for o, (_, b, *_) in zip(others, pairs, strict=True)]
        before_cpu = [
            (o["server_cpu"] / o["requests"]) / (b["server_cpu"] / b["requests"])
            for o, (_, b, *_) in zip(others, pairs, strict=True)
        ]
        print(f"at {args.against}: warm / bare = {statistics.median(before):.2f}x req/s  {_each(before)}")
        print(f"at {args.against}: CPU per request = {statistics.median(before_cpu):.2f}x bare's  {_each(before_cpu)}")
    baseline = pairs[0][1]
    print(
        f"cold / bare      = {cold['rps'] / baseline['rps']:.2f}x req/s  (cold {cold['rps']:.0f} renders/s; "
        f"{cold['requests'] / cold['server_cpu']:.0f} per second of the server's CPU)"
    )
    print(f"pre-warm         = {warmed_rate:.0f} devices/s from the server's start (all their files but phonebooks)")
    print(
        f"cache            = {per_device:.0f} bytes per cached device after the warm pass "
        f"(files asked + overhead); {per_device * 1e6 / 2**30:.1f} GiB for 1,000,000 devices; "
        f"pre-warmed: {warmed_bytes / args.devices:.0f} bytes per device"
    )


def ablate_main(args: argparse.Namespace) -> None:
    """--ablate: the warm pass of each variant and a bare pass, per round, in one run."""
    variants = args.ablate.split(",")
    wrk_args = dict(threads=args.threads, connections=args.connections)
    rows: list[tuple[int, str, dict[str, float], dict[str, float]]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        requests = seed(data_dir, args.devices, args.database_url)
        requests_file = Path(tmp) / "requests.tsv"
        requests_file.write_text("".join(f"{p}\t{ua}\n" for p, ua in requests))
        for round_ in range(args.rounds):
            results: dict[str, dict[str, float]] = {}
            size = 0
            for variant in variants:
                port = free_port()
                base = f"http://127.0.0.1:{port}"
                command = [sys.executable, "-c", ABLATE, variant, str(ROOT / "server.py"), "--host", "127.0.0.1"]
                command += ["--http-port", str(port), "--tftp-port", "off", "--data-dir", str(data_dir)]
                command += ["--log-level", "warning", "--workers", "1", "--prewarm", "off"]
                command += ["--http-max-connections-per-ip", str(max(64, args.connections * 2))]
                if args.database_url:
                    command += ["--database-url", args.database_url]
                server = start(command, base)
                try:
                    deadline = time.monotonic() + 300
                    while cached(base, tries=1) < args.devices and time.monotonic() < deadline:
                        wrk(base, requests_file, seconds=max(2.0, args.devices / 2000), **wrk_args)
                    cpu = cpu_seconds(server.pid)
                    results[variant] = wrk(base, requests_file, seconds=args.seconds, **wrk_args)
                    results[variant]["server_cpu"] = cpu_seconds(server.pid) - cpu
                    size = int(results[variant]["mean_size"])
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                print(line(f"round {round_ + 1} {variant}", results[variant]), flush=True)
            baseline = bare_pass(size, requests_file, args.seconds, wrk_args)
            print(line(f"round {round_ + 1} bare", baseline), flush=True)
            rows += [(round_ + 1, v, r, baseline) for v, r in results.items()]
    print(
        f"\n{args.devices} devices, wrk -t{args.threads} -c{args.connections}, one worker, {args.seconds:.0f} s passes"
    )
    print(
        "| round | taken out | warm req/s (p99) | bare req/s (p99) | warm / bare | p99 / bare p99 "
        "| server CPU per request (bare) |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for round_, variant, r, b in rows:
        print(
            f"| {round_} | {variant} | {r['rps']:,.0f} ({r['p99_ms']:.1f} ms) | {b['rps']:,.0f} ({b['p99_ms']:.1f} ms) "
            f"| {r['rps'] / b['rps']:.2f}x | {r['p99_ms'] / max(b['p99_ms'], 1e-6):.1f}x "
            f"| {r['server_cpu'] / r['requests'] * 1e6:.0f} us ({b['server_cpu'] / b['requests'] * 1e6:.0f} us) |"
        )


async def python_client_main(args: argparse.Namespace) -> None:
    """The old measurement, kept as a fallback: an aiohttp client on the same cores (client-bound)."""
    concurrency = args.connections
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        requests = seed(data_dir, args.devices, args.database_url)
        port = free_port()
        server = subprocess.Popen(
            server_command(ROOT, data_dir, port, concurrency), env={**os.environ, "PYTHONPATH": str(ROOT)}
        )
        try:
            base = f"http://127.0.0.1:{port}"
            await wait_ready(base + "/healthz", server)
            cold = await load(base, requests, concurrency)
            warm = await load(base, requests, concurrency)
        finally:
            server.terminate()
            server.wait(timeout=30)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, "-c", BARE, str(bare_port), str(int(warm["mean_size"]))])
        try:
            await wait_ready(f"http://127.0.0.1:{bare_port}/", bare)
            baseline = await load(f"http://127.0.0.1:{bare_port}", requests, concurrency)
        finally:
            bare.terminate()
            bare.wait(timeout=30)
    print(line("cold pass (render + store)", cold))
    print(line("warm pass (cache hit)", warm))
    print(line("bare aiohttp, same size", baseline))
    print(f"\nwarm / bare  = {warm['rps'] / baseline['rps']:.2f}  (Python client: bound by the client)")


if __name__ == "__main__":
    main()

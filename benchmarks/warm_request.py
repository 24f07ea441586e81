"""The warm phone path in-process: how long ``Resolver.resolve`` takes for a cache hit, per vendor.

Builds the real objects the server builds (an SQLite store seeded as ``boot_storm.py`` seeds it,
the config cache, the activity recorder, the scan guard, the resolver), fetches every device once
(renders: the cache is warm), then times ``resolver.resolve(Request(...))`` of each device's own
file with its real User-Agent, vendor by vendor, and prints microseconds per request. No HTTP, no
flush (the activity's pending rows are emptied between rounds, outside the timing).

    python benchmarks/warm_request.py [--devices 10000] [--rounds 5] [--profile]

Not a test: figures depend on the machine; compare runs of the same session.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from boot_storm import FLEET, seed  # noqa: E402

from provisioner.access import ScanGuard  # noqa: E402
from provisioner.activity import Activity  # noqa: E402
from provisioner.cache import ConfigCache  # noqa: E402
from provisioner.db import Store  # noqa: E402
from provisioner.phone_reply import Request  # noqa: E402
from provisioner.rendering import SHIPPED_TEMPLATES, Renderer  # noqa: E402
from provisioner.resolver import Resolver  # noqa: E402


async def seeded_resolver(
    data: Path, devices: int
) -> tuple[list[tuple[str, str]], Store, ConfigCache, Activity, Resolver]:
    """``devices`` seeded in ``data`` as boot_storm.py seeds them, and the server's objects over them
    (the cache synced, nothing fetched yet): (path, User-Agent) pairs, store, cache, activity, resolver."""
    started = time.perf_counter()
    requests = seed(data, devices)
    print(f"seeded {devices} devices in {time.perf_counter() - started:.1f} s")
    store = Store.open(data)
    cache = ConfigCache(
        store,
        Renderer(),
        provisioning_url="http://prov.example.net/",
        ntp_server="pool.ntp.org",
        template_dirs=(SHIPPED_TEMPLATES,),
    )
    await cache.sync()
    activity = Activity(store)
    return requests, store, cache, activity, Resolver(store, cache, activity, guard=ScanGuard())


async def run(devices: int, rounds: int, profile: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        requests, store, _cache, activity, resolver = await seeded_resolver(data, devices)
        # Per model of the fleet (the seed cycles through FLEET): its devices' (path, User-Agent).
        by_model: dict[str, list[tuple[str, str]]] = {model: [] for model, *_ in FLEET}
        for i, pair in enumerate(requests):
            by_model[FLEET[i % len(FLEET)][0]].append(pair)
        started = time.perf_counter()
        for path, ua in requests:
            reply = await resolver.resolve(Request(path.lstrip("/"), "10.0.0.7", ua))
            assert reply.status == 200, (path, reply.reason)
        print(f"warmed {len(requests)} devices in {time.perf_counter() - started:.1f} s (renders)")
        reset_recorded(activity)
        profiler = cProfile.Profile() if profile else None
        results: dict[str, list[float]] = {model: [] for model in by_model}
        for _ in range(rounds):
            for model, pairs in by_model.items():
                made = [Request(path.lstrip("/"), "10.0.0.7", ua) for path, ua in pairs]
                if profiler:
                    profiler.enable()
                t0 = time.perf_counter()
                for req in made:
                    await resolver.resolve(req)
                elapsed = time.perf_counter() - t0
                if profiler:
                    profiler.disable()
                results[model].append(elapsed / len(made) * 1e6)
                reset_recorded(activity)
        # The Request is built per request by the HTTP handler too: timed on its own.
        path, ua = requests[0]
        t0 = time.perf_counter()
        for _ in range(100_000):
            Request(path, "10.0.0.7", ua, "http", "GET", None, None, False, False, None)
        build = (time.perf_counter() - t0) / 100_000 * 1e6
        print(f"\n{'model':<10} {'us/request (best of rounds)':>28} {'median':>8}")
        for model, times in results.items():
            print(f"{model:<10} {min(times):>28.2f} {statistics.median(times):>8.2f}")
        every = [t for times in results.values() for t in times]
        print(f"{'all':<10} {min(every):>28.2f} {statistics.median(every):>8.2f}")
        print(f"building a Request: {build:.2f} us")
        store.close()
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(20)


def reset_recorded(activity: Activity) -> None:
    """Drop what the fetches recorded (no flush): every round records into empty structures
    (warm_handler.py uses it too)."""
    activity._seen.clear()
    activity._downloads.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="cProfile the timed rounds (slower)")
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.rounds, args.profile))


if __name__ == "__main__":
    main()

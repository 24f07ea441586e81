"""Recording phone activity in a storm: rows written and flush CPU, resolution 60 s against 0.

Simulates a storm of ``--fetches`` phone fetches spread over ``--devices`` known devices and
``--seconds`` seconds (every device fetching its own file again and again: a boot loop, a storm
after a power cut) through the real ``Activity.fetched`` and the real periodic flush
(``flush(due=True)`` once per simulated second, then the final flush) on an SQLite file seeded as
``boot_storm.py`` seeds it. The storm's clock is simulated (``activity._now``/``_clock``), the
flush's writes are real. Both resolutions run alternately in the same process, ``--rounds`` times
each, and the script prints rows written (devices UPDATEd, downloads INSERTed, downloads UPDATEd),
the flush's CPU seconds per second of storm (process CPU, the writer thread included), the
per-fetch cost of ``fetched``, and the ratios.

    python benchmarks/activity_flush.py [--devices 10000] [--fetches 600000] [--seconds 120] [--rounds 2]

Not a test: figures depend on the machine; compare runs of the same session.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from boot_storm import seed  # noqa: E402

from provisioner import activity as activity_module  # noqa: E402
from provisioner.activity import Activity, Fetch  # noqa: E402
from provisioner.db import Store  # noqa: E402

UA = "Yealink SIP-T46U 108.86.0.20"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def storm(store: Store, macs: list[str], resolution: float, fetches: int, seconds: int) -> dict[str, float]:
    clock = Clock()
    activity_module._now = activity_module._clock = clock
    activity = Activity(store, resolution=resolution)
    written = {"seen": 0, "inserts": 0, "updates": 0}
    real_write = activity._write

    def counting(seen, downloads, unknown, windows=None, repeats=None):  # type: ignore[no-untyped-def]
        written["seen"] += len(seen)
        written["inserts"] += len(downloads)
        written["updates"] += len(repeats or ())
        real_write(seen, downloads, unknown, windows, repeats)

    activity._write = counting  # type: ignore[method-assign]
    fetch_list = [
        Fetch(mac, f"{mac.lower()}.cfg", f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}", UA, "108.86.0.20", "http")
        for i, mac in enumerate(macs)
    ]
    per_second = fetches // seconds
    fetch_cpu = flush_cpu = 0.0
    n = 0
    start = clock.now
    for second in range(seconds):
        started = time.process_time()
        for _ in range(per_second):
            clock.now = start + second + (n % per_second) / per_second
            activity.fetched(fetch_list[n % len(fetch_list)], download=True)
            n += 1
        fetch_cpu += time.process_time() - started
        clock.now = start + second + 1
        started = time.process_time()
        assert await activity.flush(due=True)
        flush_cpu += time.process_time() - started
    started = time.process_time()
    assert await activity.flush()  # the final flush (shutdown)
    flush_cpu += time.process_time() - started
    assert activity.pending == 0
    with store.reading() as tx:
        rows, counted = tx.conn.exec_driver_sql("SELECT COUNT(*), COALESCE(SUM(count), 0) FROM downloads").one()
    with store.transaction() as tx:
        tx.conn.exec_driver_sql("DELETE FROM downloads")
    assert counted == n, (counted, n)  # nothing lost: every fetch counted
    return {
        **written,
        "rows": rows,
        "flush_cpu_per_s": flush_cpu / seconds,
        "fetch_us": fetch_cpu / n * 1e6,
    }


async def run(devices: int, fetches: int, seconds: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        seed(data, devices)
        store = Store.open(data)
        with store.reading() as tx:
            macs = [r[0] for r in tx.conn.exec_driver_sql("SELECT mac FROM devices ORDER BY mac")]
        print(f"{len(macs)} devices, {fetches} fetches over {seconds} s ({fetches // seconds}/s), flush every second")
        results: dict[float, list[dict[str, float]]] = {60.0: [], 0.0: []}
        for _ in range(rounds):
            for resolution in (60.0, 0.0):  # alternately, in the same process
                results[resolution].append(await storm(store, macs, resolution, fetches, seconds))
        store.close()
    print(f"{'resolution':>10} {'seen UPD':>9} {'dl INS':>9} {'dl UPD':>9} {'flush CPU s/s':>14} {'fetched us':>11}")
    med: dict[float, dict[str, float]] = {}
    for resolution, runs in results.items():
        med[resolution] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
        m = med[resolution]
        print(
            f"{resolution:>10.0f} {m['seen']:>9.0f} {m['inserts']:>9.0f} {m['updates']:>9.0f} "
            f"{m['flush_cpu_per_s']:>14.4f} {m['fetch_us']:>11.2f}"
        )
    new, old = med[60.0], med[0.0]
    rows_new = new["seen"] + new["inserts"] + new["updates"]
    rows_old = old["seen"] + old["inserts"] + old["updates"]
    print(
        f"rows written: {rows_new:.0f} vs {rows_old:.0f} ({rows_old / rows_new:.0f}x fewer); "
        f"flush CPU: {new['flush_cpu_per_s']:.4f} vs {old['flush_cpu_per_s']:.4f} s per s of storm "
        f"({old['flush_cpu_per_s'] / new['flush_cpu_per_s']:.1f}x less); "
        f"fetched(): {new['fetch_us']:.2f} vs {old['fetch_us']:.2f} us ({new['fetch_us'] / old['fetch_us']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--fetches", type=int, default=600_000)
    parser.add_argument("--seconds", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.fetches, args.seconds, args.rounds))


if __name__ == "__main__":
    main()

"""Cold-path throughput without HTTP: how many devices per second the config cache loads and renders.

Seeds N devices of 4 vendors (the boot storm's fleet, all of one customer, so every render carries
a phonebook of 2N extensions), then, in one process and on one core, for each batch of ``--batch``
MACs: one store read (:func:`render_data.devices_data`, in the calling thread) and the render of
each device's main file. Prints loads/s, renders/s and both together (the cold path per core).

    python benchmarks/render_throughput.py [--devices 10000] [--batch 500]

Not a test: figures depend on the machine; read them, compare them.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from boot_storm import FLEET, seed  # noqa: E402

from provisioner import fields, render_data, vendors  # noqa: E402
from provisioner.cache import ConfigCache  # noqa: E402
from provisioner.db import Store  # noqa: E402
from provisioner.rendering import Renderer  # noqa: E402


def vendors_of(count: int) -> list[str]:
    """Each seeded device's vendor, in the order seed() made them."""
    return [fields.model(FLEET[i % len(FLEET)][0])[0] for i in range(count)]


def memory(store: Store, cache: ConfigCache, wanted: list) -> tuple[float, float]:
    """Bytes per cached device as Python allocates them (tracemalloc), and as the cache counts them:
    the devices' entries and rendered files, the customer's shared phonebook left out."""
    import tracemalloc

    books: dict = {}
    with store.reading() as tx:  # the phonebook read first: shared, not per device
        render_data.devices_data(tx, [wanted[0][0]], ntp_server=cache.ntp_server, books=books)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    with store.reading() as tx:
        found = render_data.devices_data(tx, [m for m, _s, _n in wanted], ntp_server=cache.ntp_server, books=books)
    for mac, spec, name in wanted:
        entry = cache._entry(found.pop(mac))
        cache.put(mac, entry)
        cache.device_file(entry, spec, name)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / len(wanted), cache.bytes / len(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500, help="MACs per store read")
    parser.add_argument("--memory-sample", type=int, default=2000, help="devices measured with tracemalloc")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "data"
        requests = seed(data_dir, args.devices)
        store = Store.open(data_dir)
        cache = ConfigCache(store, Renderer(), provisioning_url="http://prov.example.net/", ntp_server="pool.ntp.org")
        # (mac, main file name) of each device, as a phone names it
        wanted = []
        for (path, _ua), vendor_name in zip(requests, vendors_of(len(requests)), strict=True):
            name = path.lstrip("/")
            hit = vendors.get(vendor_name).match_file(name)
            assert hit is not None, name
            spec, match = hit
            wanted.append((match.group("mac").upper(), spec, name))
        books: dict = {}  # the cache keeps each customer's phonebook between batches
        load_s = render_s = 0.0
        size = 0
        for start in range(0, len(wanted), args.batch):
            batch = wanted[start : start + args.batch]
            t0 = time.perf_counter()
            with store.reading() as tx:
                cache._read_secret(tx)
                found = render_data.devices_data(
                    tx, [m for m, _s, _n in batch], ntp_server=cache.ntp_server, books=books
                )
            t1 = time.perf_counter()
            for mac, spec, name in batch:
                size += len(cache.device_file(cache._entry(found[mac]), spec, name).body)
            render_s += time.perf_counter() - t1
            load_s += t1 - t0
        per_device, counted = memory(store, cache, wanted[: args.memory_sample])
        store.close()
    n = len(wanted)
    print(f"{n} devices, batches of {args.batch}, mean file {size // n} bytes, one core")
    print(f"load   {n / load_s:>8.0f} devices/s  ({load_s:.2f} s)")
    print(f"render {n / render_s:>8.0f} files/s    ({render_s:.2f} s)")
    print(f"both   {n / (load_s + render_s):>8.0f} devices/s  (the cold path per core, without HTTP)")
    print(
        f"memory {per_device:>8.0f} bytes per cached device, measured (tracemalloc, {args.memory_sample} devices); "
        f"the cache counts {counted:.0f} toward --cache-max-bytes"
    )
    print(f"       1,000,000 devices: {per_device * 1e6 / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()

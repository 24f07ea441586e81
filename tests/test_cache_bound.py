"""The config cache under a boot storm: filled before phones ask (pre-warm), bounded by bytes (LRU).

Real server on a free port, real SQLite file, real HTTP; counts, never timings."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from datetime import timedelta

import pytest

from provisioner import keys, rendering, services
from provisioner.cache import APPLY_CHUNK
from provisioner.db import utcnow
from provisioner.db.phonebook import PhonebookQueries
from provisioner.settings import Settings
from provisioner.web import create_app
from tests.conftest import ACTOR, Running, add_customer, add_line, key_path

YEALINK = "Yealink SIP-T46U 108.86.0.20 {colon}"


def macs(count: int) -> list[str]:
    return [f"001565{n:06X}" for n in range(1, count + 1)]


def seed(store, count: int) -> list[str]:  # type: ignore[no-untyped-def]
    add_customer(store)
    for n, mac in enumerate(macs(count)):
        add_line(store, "ROSSI", str(201 + n), f"Reception {n}", f"pw-{n}-secret")
        services.add_device(store, ACTOR, mac, model="T46U", customer="ROSSI", lines=[str(201 + n)])
    return macs(count)


async def start(aiohttp_client, settings: Settings) -> Running:  # type: ignore[no-untyped-def]
    app = create_app(settings)
    client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
    return Running(client, app)


async def fetch(server: Running, store, mac: str) -> str:  # type: ignore[no-untyped-def]
    colon = ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()
    resp = await server.client.get(
        f"/{key_path(store, mac)}{mac.lower()}.cfg", headers={"User-Agent": YEALINK.format(colon=colon)}
    )
    assert resp.status == 200, (mac, resp.status)
    return await resp.text()


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name} (\S+)$", text, re.M)
    assert m, name
    return float(m.group(1))


async def test_bounded_cache_keeps_at_most_what_fits_and_serves_an_evicted_device_its_own_file(
    aiohttp_client, settings: Settings, store
) -> None:
    devices = seed(store, 10)
    server = await start(aiohttp_client, dataclasses.replace(settings, prewarm=False))
    cache = server.app[keys.CACHE]
    first = await fetch(server, store, devices[0])
    one = cache._devices[devices[0]].size  # what one device counts toward the bound
    cache.max_bytes = 3 * one + one // 2  # room for three devices
    bodies = {devices[0]: first}
    for mac in devices[1:]:
        bodies[mac] = await fetch(server, store, mac)
        assert len(cache._devices) <= 3
        assert cache.bytes <= cache.max_bytes
    assert list(cache._devices) == devices[-3:]  # the least recently asked went first
    assert cache.evictions == 7
    for n, mac in enumerate(devices):
        assert f"account.1.password = pw-{n}-secret" in bodies[mac]
        assert f"account.1.user_name = {201 + n}" in bodies[mac]
    # The first device was evicted: asked again, it is loaded again and gets its own file.
    loads = cache.loads
    assert await fetch(server, store, devices[0]) == first
    assert cache.loads == loads + 1
    assert len(cache._devices) == 3
    text = await (await server.client.get("/metrics")).text()
    assert metric(text, "provisioner_cache_devices") == 3
    assert metric(text, "provisioner_cache_evictions_total") == 8


async def test_prewarm_renders_every_device_before_its_phone_asks(aiohttp_client, settings: Settings, store) -> None:
    devices = seed(store, 12)
    server = await start(aiohttp_client, settings)
    cache, prewarm = server.app[keys.CACHE], server.app[keys.PREWARM]
    await prewarm.idle.wait()
    assert prewarm.rendered == 12
    renders, loads = cache.renders, cache.loads
    for n, mac in enumerate(devices):
        assert f"account.1.password = pw-{n}-secret" in await fetch(server, store, mac)
    # Every first fetch was a cache hit: nothing loaded from the store, nothing rendered.
    assert (cache.renders, cache.loads) == (renders, loads)
    text = await (await server.client.get("/metrics")).text()
    assert metric(text, "provisioner_prewarm_devices_total") == 12
    assert metric(text, "provisioner_cache_devices") == 12

    # A change drops the device; the pre-warm renders it again before the phone asks.
    services.update_line(store, ACTOR, "ROSSI", "201", display_name="Front desk")
    await server.sync()
    await prewarm.idle.wait()
    assert devices[0] in cache._devices
    renders, loads = cache.renders, cache.loads
    assert "account.1.display_name = Front desk" in await fetch(server, store, devices[0])
    assert (cache.renders, cache.loads) == (renders, loads)


async def test_prewarm_stops_at_the_bound(aiohttp_client, settings: Settings, store) -> None:
    seed(store, 10)
    server = await start(aiohttp_client, dataclasses.replace(settings, cache_max_bytes=4 * 8_000))
    cache, prewarm = server.app[keys.CACHE], server.app[keys.PREWARM]
    await prewarm.idle.wait()
    assert 0 < prewarm.rendered < 10
    assert cache.evictions == 0  # a pre-warm never pushes out what is there
    assert cache.bytes <= cache.max_bytes


@pytest.mark.parametrize("value", ["12x", "100", "-5M", ""])
def test_cache_max_bytes_must_be_a_size(run_cli, value: str) -> None:
    result = run_cli("serve", "--cache-max-bytes", value, ok=False)
    assert result.exit_code == 2
    assert "--cache-max-bytes" in result.output
    assert f"{value!r} is not a size" in result.output


async def test_a_large_sync_yields_to_phones_between_chunks_and_forgets_old_ids(server: Running) -> None:
    cache = server.app[keys.CACHE]
    ticks = 0

    async def ticker() -> None:  # a phone's request, as far as the event loop is concerned
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    before = ticks
    first = (cache._last_event_id or 0) + 1
    events = [{"id": first + n, "device_mac": f"001565{n:06X}", "customer_id": None} for n in range(10_000)]
    then = utcnow()
    seen = await cache._apply_changes(cache._template_stamp, cache.secret, 0, events, {}, then)
    task.cancel()
    assert seen == 10_000
    assert ticks - before >= 10_000 // APPLY_CHUNK - 1  # other tasks ran while the events were applied
    assert len(cache._recent_ids) == 10_000
    # A later sync forgets the ids older than the late-commit horizon, and only those.
    later = [{"id": first + 10_000, "device_mac": None, "customer_id": None}]
    await cache._apply_changes(cache._template_stamp, cache.secret, 0, later, {}, then + timedelta(minutes=5))
    assert list(cache._recent_ids) == [first + 10_000]


async def test_a_customers_phonebook_is_read_and_grouped_once_for_all_its_phones(
    aiohttp_client, settings: Settings, store, monkeypatch: pytest.MonkeyPatch
) -> None:
    devices = seed(store, 6)
    reads: list[set[int]] = []
    grouped: list[int] = []
    read, group = PhonebookQueries.phonebooks, rendering._group

    def counting_read(self, ids):  # type: ignore[no-untyped-def]
        reads.append(set(ids))
        return read(self, ids)

    def counting_group(contacts):  # type: ignore[no-untyped-def]
        grouped.append(len(contacts))
        return group(contacts)

    monkeypatch.setattr(PhonebookQueries, "phonebooks", counting_read)
    monkeypatch.setattr(rendering, "_group", counting_group)
    server = await start(aiohttp_client, dataclasses.replace(settings, prewarm=False))
    for n, mac in enumerate(devices):  # one after the other: six loads, six renders
        assert f"account.1.password = pw-{n}-secret" in await fetch(server, store, mac)
    assert server.app[keys.CACHE].loads == 6
    assert len(reads) == 1  # the customer's phonebook read by the first load, kept for the others
    assert grouped == [6]  # and grouped once: six extensions


async def test_a_storm_of_misses_is_read_on_the_loop_64_at_a_time_and_every_phone_gets_its_own_file(
    aiohttp_client, settings: Settings, store, monkeypatch
) -> None:
    """SQLite: the first miss is read in a worker thread (the customer's phonebook is not cached: a
    large one would hold the loop); then 150 phones asking at once are read in batches of
    INLINE_LOAD on the event loop's own thread (a worker thread's read traded the GIL with the loop
    at every row), a yield between two batches; each phone gets its own file."""
    import threading

    from provisioner import cache as cache_module

    wanted = seed(store, 150)
    server = await start(aiohttp_client, dataclasses.replace(settings, prewarm=False))
    await server.sync()
    cache = server.app[keys.CACHE]
    assert cache.size == 0
    reads: list[tuple[int, bool]] = []
    load = cache._load

    def counted(batch, books):  # type: ignore[no-untyped-def]
        reads.append((len(batch), threading.current_thread() is threading.main_thread()))
        return load(batch, books)

    monkeypatch.setattr(cache, "_load", counted)
    first = await fetch(server, store, wanted[-1])
    assert "pw-149-secret" in first and reads == [(1, False)]  # the phonebook read off the loop
    reads.clear()
    bodies = await asyncio.gather(*(fetch(server, store, mac) for mac in wanted[:-1]))
    for n, body in enumerate(bodies):
        assert f"pw-{n}-secret" in body and f"Reception {n}" in body, wanted[n]
    assert sum(size for size, _ in reads) == 149
    assert max(size for size, _ in reads) == cache_module.INLINE_LOAD == 64
    assert len(reads) >= 3 and all(on_loop for _, on_loop in reads)

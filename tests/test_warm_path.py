"""The warm phone path's bookkeeping: what a fetch records, written exactly, for less per request."""

from __future__ import annotations

import gc
import random
from datetime import UTC, datetime

from provisioner import activity, keys, lifecycle, resolver, security_services, services
from provisioner import cache as cache_module
from provisioner.activity import Fetch
from provisioner.db.activity import sqlite_stamp
from provisioner.phone_reply import Reply, Request
from tests.conftest import ACTOR, add_customer, add_line

MAC = "001565A1B2C3"
UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"


def test_sqlite_stamp_is_the_datetime_text_of_the_float():
    """Formatted once per second, a fetch time must still come out as the datetime would write it,
    microsecond rounding and carry into the next second included."""
    prefixes: dict[int, str] = {}
    rng = random.Random(19)
    times = [1767225599.9999996, 1767225599.9999994, 1767225600.0, 1767225600.5000005, 1700000000.123456]
    times += [rng.uniform(1.6e9, 2.0e9) for _ in range(5000)]
    for at in times:
        expected = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        assert sqlite_stamp(at, prefixes) == expected, at
    aware = datetime(2026, 1, 31, 12, 0, 0, 250000, tzinfo=UTC)
    assert sqlite_stamp(aware, prefixes) == "2026-01-31 12:00:00.250000"


def test_fetch_is_a_plain_tuple():
    fetch = Fetch(MAC, "001565a1b2c3.cfg", "10.0.0.7", UA, "108.86.0.20", "http")
    assert isinstance(fetch, tuple)
    assert (fetch.mac, fetch.file, fetch.ip, fetch.firmware, fetch.transport) == (
        MAC,
        "001565a1b2c3.cfg",
        "10.0.0.7",
        "108.86.0.20",
        "http",
    )


async def test_fetch_times_reach_the_store_exactly(server, store, monkeypatch):
    """Three fetches over real HTTP, one flush: one download row of count 3 and the device's last
    seen, at the times recorded (the last one rounding into the next second)."""
    add_customer(store)
    add_line(store, "ROSSI", "201", "Rossi & Figli <Reception>", "p9MrgPW*UfhMg+&<x>")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    await server.sync()
    clock = iter([1767225598.25, 1767225599.5, 1767225599.9999996])
    monkeypatch.setattr(activity, "_now", lambda: next(clock))
    for _ in range(3):
        resp = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": UA})
        assert resp.status == 200
        assert b"p9MrgPW" in await resp.read()
    await server.flush()
    with store.reading() as tx:
        downloads = tx.downloads_of_device(MAC)
    # The same fetch three times within the activity resolution: one row, first and last time, count.
    assert [(d["at"], d["last_at"], d["count"]) for d in downloads] == [
        (
            datetime(2025, 12, 31, 23, 59, 58, 250000, tzinfo=UTC),
            datetime(2026, 1, 1, 0, 0, 0, tzinfo=UTC),
            3,
        )
    ]
    assert {(d["file"], d["ip"], d["transport"]) for d in downloads} == {("001565a1b2c3.cfg", "127.0.0.1", "http")}
    shown = services.show_device(store, MAC)
    assert shown["last_seen_at"] == "2026-01-01T00:00:00+00:00"
    assert (shown["last_seen_ip"], shown["firmware"]) == ("127.0.0.1", "108.86.0.20")


async def test_cache_freezes_what_it_holds_at_each_doubling(server, store, monkeypatch):
    """The cached devices are moved out of the cyclic collector's reach (its full passes walked
    them all during a boot storm: the warm p99) at 2, 4, 8... devices here, not at every one."""
    gc_freezes = []
    monkeypatch.setattr(cache_module.gc, "freeze", lambda: gc_freezes.append(1))
    add_customer(store)
    macs = [f"001565A1B2{i:02X}" for i in range(9)]
    for mac in macs:
        services.add_device(store, ACTOR, mac, model="T46U", customer="ROSSI")
    await server.sync()
    config_cache = server.app[keys.CACHE]
    config_cache._freeze_at = 2
    monkeypatch.setattr(cache_module, "FREEZE_FIRST", 2)
    for mac in macs:
        colon = ":".join(mac[j : j + 2] for j in range(0, 12, 2)).lower()
        resp = await server.client.get(f"/{mac.lower()}.cfg", headers={"User-Agent": f"Yealink SIP-T46U 1 {colon}"})
        assert resp.status == 200
    assert config_cache.size >= 9
    assert (config_cache.freezes, len(gc_freezes)) == (3, 3)  # at 2, 4 and 8 devices
    assert config_cache._freeze_at == 16
    # Emptied (a template changed), it freezes the devices it loads again from the first doubling.
    config_cache.clear()
    for mac in macs[:2]:
        colon = ":".join(mac[j : j + 2] for j in range(0, 12, 2)).lower()
        resp = await server.client.get(f"/{mac.lower()}.cfg", headers={"User-Agent": f"Yealink SIP-T46U 1 {colon}"})
        assert resp.status == 200
    assert config_cache.freezes == 4


def test_request_and_reply_are_plain_tuples():
    """One of each per phone request: NamedTuples, not frozen dataclasses (their ``__init__`` set
    each field with ``object.__setattr__``, more than the warm lookup itself)."""
    req = Request("001565a1b2c3.cfg", "10.0.0.7", UA)
    reply = Reply(200, "served", b"x", mac=MAC)
    assert isinstance(req, tuple) and isinstance(reply, tuple)
    assert (req.transport, req.method, req.trusted, req.peer_cert) == ("http", "GET", False, None)
    assert (reply.content_type, reply.etag, reply.file) == ("text/plain; charset=utf-8", None, None)


async def test_a_warm_fetch_splits_its_path_once_and_long_paths_are_not_kept(server, store):
    """The path is split and checked once per distinct path (a bounded LRU); a path longer than a
    phone's is worked out each time and never kept, so a scanner's long paths cannot fill memory."""
    add_customer(store)
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI")
    await server.sync()
    resolver._route_cached.cache_clear()
    for _ in range(4):
        resp = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": UA})
        assert resp.status == 200
    # Split once; the repeats come from the warm replies (provisioner.warm_replies), which do not split it.
    assert resolver._route_cached.cache_info().misses == 1 and resolver._route_cached.cache_info().hits <= 1
    assert server.app[keys.RESOLVER].warm_hits >= 2
    assert resolver._route_cached.cache_info().maxsize == 100_000
    long_path = "/" + "a" * (resolver.MAX_ROUTE_PATH + 10) + ".cfg"
    for _ in range(2):
        assert (await server.client.get(long_path, headers={"User-Agent": UA})).status == 404
    assert resolver._route_cached.cache_info().currsize == 1
    # What is kept per name is the same answer a fresh parse gives, and the MAC is the name's.
    match = resolver._candidates("001565a1b2c3.cfg")
    assert match.mac == MAC and match.common == () and match.specs["yealink"].template is not None


async def test_a_rule_change_applies_to_the_next_request_after_a_sync(server, store):
    """Nothing the warm path keeps per path or name carries an access decision: a path key set on
    the customer refuses the next keyless request after the sync, and the key is then required."""
    add_customer(store)
    add_line(store, "ROSSI", "201", "Rossi", "p9MrgPW*UfhMg+&<x>")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    await server.sync()
    headers = {"User-Agent": UA}
    for _ in range(2):
        resp = await server.client.get("/001565a1b2c3.cfg", headers=headers)
        assert resp.status == 200 and b"p9MrgPW" in await resp.read()
    made = security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="new")
    key = made["new_secrets"]["path_key"]
    await server.sync()
    assert (await server.client.get("/001565a1b2c3.cfg", headers=headers)).status == 403
    resp = await server.client.get(f"/p/{key}/001565a1b2c3.cfg", headers=headers)
    assert resp.status == 200 and b"p9MrgPW" in await resp.read()
    # And taken off again: the keyless path serves at once after the next sync.
    security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="none")
    await server.sync()
    assert (await server.client.get("/001565a1b2c3.cfg", headers=headers)).status == 200


async def test_a_warm_boot_storm_runs_few_young_collections(server, store):
    """While serving, the cyclic collector runs its young pass every 50,000 allocations, not
    CPython's 700 (which made ~55 collections a second in a warm boot storm): counted with
    gc.callbacks over 1,000 warm fetches (the test's own client allocates in this process too)."""
    assert gc.get_threshold() == lifecycle.GC_THRESHOLDS
    add_customer(store)
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI")
    await server.sync()
    assert (await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": UA})).status == 200
    young = []

    def count(phase: str, info: dict) -> None:
        if phase == "start" and info["generation"] == 0:
            young.append(1)

    gc.callbacks.append(count)
    try:
        for _ in range(1_000):
            resp = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": UA})
            assert resp.status == 200
            await resp.read()
    finally:
        gc.callbacks.remove(count)
    assert len(young) <= 2, len(young)

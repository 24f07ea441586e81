"""Warm replies and the phone-first dispatch (issue 19): a repeat request is answered from memory,
past aiohttp's router and middlewares, and never where the whole resolve would have answered
otherwise."""

from __future__ import annotations

import dataclasses

import pytest
from aiohttp import web

from provisioner import cache as cache_module
from provisioner import keys, services
from provisioner.errors import Unavailable
from provisioner.web import claimed_segments, create_app
from tests.conftest import ACTOR, add_customer, add_line
from tests.test_cache_bound import start
from tests.tftp_client import fetch as tftp_fetch

MAC = "001565A1B2C3"
FILE = "/001565a1b2c3.cfg"
UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"
PASSWORD = "Pw-201!xq"


def _phone(store) -> None:
    add_customer(store)
    add_line(store, "ROSSI", "201", "Front desk", PASSWORD)
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])


def _served() -> int:
    return keys._counts.get(("http", 200, "served"), 0)


async def test_repeats_are_answered_from_memory_with_the_same_bytes_and_recorded(server, store):
    _phone(store)
    await server.sync()
    resolver = server.app[keys.RESOLVER]
    before_hits, before_served = resolver.warm_hits, _served()
    first = await server.client.get(FILE, headers={"User-Agent": UA})
    body = await first.read()
    assert first.status == 200 and PASSWORD.encode() in body
    for _ in range(5):
        again = await server.client.get(FILE, headers={"User-Agent": UA})
        assert again.status == 200 and await again.read() == body
        assert again.headers["ETag"] == first.headers["ETag"] and again.headers["Cache-Control"] == "no-store"
        assert again.headers["Content-Type"] == first.headers["Content-Type"]
    assert resolver.warm_hits - before_hits >= 4
    assert _served() - before_served == 6  # each one counted in /metrics
    # An ETag the phone already holds: 304 from the warm path too, no body.
    cached = await server.client.get(FILE, headers={"User-Agent": UA, "If-None-Match": first.headers["ETag"]})
    assert cached.status == 304 and await cached.read() == b""
    # HEAD: the headers of the GET, no body.
    head = await server.client.head(FILE, headers={"User-Agent": UA})
    assert head.status == 200 and head.headers["ETag"] == first.headers["ETag"] and await head.read() == b""
    # Recorded like any fetch: last seen from this address with this User-Agent.
    await server.flush()
    with store.reading() as tx:
        device = tx.device(MAC)
    assert device["last_seen_ip"] == "127.0.0.1" and device["last_seen_user_agent"] == UA
    assert device["firmware"] == "108.86.0.20"


async def test_a_change_is_served_at_the_next_request_after_the_sync(server, store):
    _phone(store)
    await server.sync()
    for _ in range(3):
        assert "Front desk" in await (await server.client.get(FILE, headers={"User-Agent": UA})).text()
    services.update_line(store, ACTOR, "ROSSI", "201", display_name="Back office")
    await server.sync()
    text = await (await server.client.get(FILE, headers={"User-Agent": UA})).text()
    assert "Back office" in text and "Front desk" not in text


async def test_another_user_agent_goes_the_whole_way(server, store):
    """The same path with a User-Agent naming another phone is refused, as without warm replies."""
    _phone(store)
    await server.sync()
    for _ in range(3):
        assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
    other = await server.client.get(FILE, headers={"User-Agent": "Yealink SIP-T46U 108.86.0.20 00:15:65:00:00:01"})
    assert other.status == 403 and PASSWORD.encode() not in await other.read()


async def test_a_banned_address_gets_no_warm_reply_over_http_or_tftp(server, store):
    _phone(store)
    await server.sync()
    for _ in range(3):
        assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
        transfer = await tftp_fetch(("127.0.0.1", server.tftp_port), FILE[1:])
        assert transfer.error is None and PASSWORD.encode() in transfer.data
    guard = server.app[keys.RESOLVER].guard
    for n in range(12):  # now the address scans: other phones' MACs in the User-Agent
        await server.client.get(FILE, headers={"User-Agent": f"Yealink SIP-T46U 108.86.0.20 001565{n:06x}"})
    assert guard.banned("127.0.0.1")
    refused = await server.client.get(FILE, headers={"User-Agent": UA})
    assert refused.status == 403 and PASSWORD.encode() not in await refused.read()
    transfer = await tftp_fetch(("127.0.0.1", server.tftp_port), FILE[1:])
    assert transfer.error is not None and transfer.error[0] == 2 and transfer.data == b""
    guard.unban("127.0.0.1")
    assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200


async def test_the_rest_of_the_application_is_routed_as_before(server, store):
    _phone(store)
    await server.sync()
    assert (await server.client.get("/healthz")).status == 200
    assert "provisioner_phone_requests" in await (await server.client.get("/metrics")).text()
    root = await server.client.get("/", allow_redirects=False)
    assert root.status in (302, 303) and root.headers["Location"].endswith("/console/")
    assert (await server.client.get("/api/v1/devices")).status == 401  # the API's own auth middleware
    assert (await server.client.get("/console/", allow_redirects=False)).status in (302, 303)
    assert (await server.client.delete(FILE)).status == 405  # not a phone method: the router says so
    assert (await server.client.get("/no-such-thing.bin")).status == 404


def test_claimed_segments_are_every_other_route_s_first_segment(settings):
    app = create_app(settings)
    claimed = claimed_segments(app)
    assert {"", "healthz", "metrics", "api", "console"} <= claimed
    assert not claimed & {"001565a1b2c3.cfg", "p", "d", "firmware", "000000000000.cfg"}

    async def status(request: web.Request) -> web.Response:
        return web.Response()

    app.router.add_get("/{tenant}/status", status)
    with pytest.raises(RuntimeError, match=r"/\{tenant\}/status starts with a variable"):
        claimed_segments(app)


async def test_a_database_that_cannot_answer_gives_503_past_the_router_too(server, store, monkeypatch):
    """An uncached device with the database down: 503 with Retry-After, as the middleware answers."""
    _phone(store)
    await server.sync()
    cache = server.app[keys.CACHE]

    def down(*args, **kwargs):
        raise Unavailable("the database is not reachable", reason="unreachable", retry_after=7)

    monkeypatch.setattr(cache, "_load", down)
    response = await server.client.get(FILE, headers={"User-Agent": UA})
    assert response.status == 503 and response.headers["Retry-After"] == "7"
    assert (await response.json())["reason"] == "unreachable"


async def test_a_kept_reply_counts_toward_the_cache_bound_once_per_path(server, store):
    from provisioner.warm_replies import WARM_BYTES

    _phone(store)
    await server.sync()
    cache = server.app[keys.CACHE]
    assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
    entry = cache._devices.get(MAC)
    assert entry is not None and [w.path for w in entry.warm] == [FILE[1:]]
    assert cache.warm == {FILE[1:]: entry.warm[0]}  # the path map finds it
    with_reply = cache.bytes
    files = sum(len(r.body) for r in entry.files.values())
    assert entry.size == cache_module.ENTRY_OVERHEAD + files + WARM_BYTES
    for _ in range(3):  # repeats, and another User-Agent for the same path: still one kept reply
        assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
    upgraded = UA.replace("108.86.0.20", "108.86.0.21")  # the phone came back on new firmware
    assert (await server.client.get(FILE, headers={"User-Agent": upgraded})).status == 200
    assert cache.bytes == with_reply and [w.path for w in entry.warm] == [FILE[1:]]
    assert entry.warm[0].user_agent == upgraded and entry.warm[0].firmware == "108.86.0.21"
    assert cache.warm[FILE[1:]] is entry.warm[0]


def _ua_of(mac: str) -> str:
    return "Yealink SIP-T46U 108.86.0.20 " + ":".join(mac[i : i + 2] for i in range(0, 12, 2)).lower()


async def test_a_warm_hit_keeps_its_device_cached_and_a_dropped_device_leaves_no_warm_reply(
    aiohttp_client, settings, store
):
    """The cache is bounded with the least recently asked out first; a warm reply marks its device
    asked (no reordering per request), so at the front it gets a second chance and the device
    behind it goes. A device leaving the cache (pushed out, or changed) takes its warm replies out
    of the path map with it: the next request goes the whole way and gets the file as it is now."""
    add_customer(store)
    macs = ["001565000001", "001565000002", "001565000003"]
    for n, mac in enumerate(macs):
        add_line(store, "ROSSI", str(201 + n), f"Desk {n}", f"pw-{n}-secret")
        services.add_device(store, ACTOR, mac, model="T46U", customer="ROSSI", lines=[str(201 + n)])
    server = await start(aiohttp_client, dataclasses.replace(settings, prewarm=False))  # cached as asked
    await server.sync()
    cache, resolver = server.app[keys.CACHE], server.app[keys.RESOLVER]
    paths = [f"{mac.lower()}.cfg" for mac in macs]

    async def get(n: int) -> bytes:
        resp = await server.client.get("/" + paths[n], headers={"User-Agent": _ua_of(macs[n])})
        assert resp.status == 200
        return await resp.read()

    first, second = await get(0), await get(1)
    assert list(cache._devices) == macs[:2] and set(cache.warm) == set(paths[:2])
    hits = resolver.warm_hits
    assert await get(0) == first and resolver.warm_hits == hits + 1
    assert list(cache._devices) == macs[:2]  # not moved: marked
    assert cache._devices[macs[0]].used
    cache.max_bytes = cache.bytes * 5 // 4  # room for two devices, not three
    await get(2)
    assert list(cache._devices) == [macs[2], macs[0]]  # the first had its second chance, the second went
    assert not cache._devices[macs[0]].used
    assert set(cache.warm) == {paths[0], paths[2]}
    hits = resolver.warm_hits
    assert await get(1) == second and resolver.warm_hits == hits  # the whole way, the same file
    # A change drops the device and its warm reply: the next fetch has the new name.
    services.update_line(store, ACTOR, "ROSSI", "201", display_name="Front office")
    await server.sync()
    assert paths[0] not in cache.warm
    hits = resolver.warm_hits
    changed = await get(0)
    assert resolver.warm_hits == hits and b"Front office" in changed and b"Front office" not in first
    assert cache.warm[paths[0]].reply.body == changed  # kept again, as it is now


async def test_a_device_keeps_warm_replies_for_at_most_max_paths_paths(server, store, monkeypatch):
    """A device asked under more paths than MAX_PATHS: the first ones are kept (and counted once
    each), a further path is served the whole way every time and never kept; a kept path's new
    User-Agent still replaces its reply."""
    from provisioner import warm_replies

    monkeypatch.setattr(warm_replies, "MAX_PATHS", 1)
    _phone(store)
    await server.sync()
    cache, resolver = server.app[keys.CACHE], server.app[keys.RESOLVER]
    other = "/001565A1B2C3.cfg"  # the same file, its name in capitals
    first = await server.client.get(FILE, headers={"User-Agent": UA})
    assert first.status == 200
    entry = cache._devices[MAC]
    size = entry.size
    hits = resolver.warm_hits
    for _ in range(2):
        resp = await server.client.get(other, headers={"User-Agent": UA})
        assert resp.status == 200 and await resp.read() == await first.read()
    assert resolver.warm_hits == hits  # the whole way, both times
    assert [w.path for w in entry.warm] == [FILE[1:]] and set(cache.warm) == {FILE[1:]} and entry.size == size
    upgraded = UA.replace("108.86.0.20", "108.86.0.21")
    assert (await server.client.get(FILE, headers={"User-Agent": upgraded})).status == 200
    assert entry.warm[0].user_agent == upgraded and entry.size == size

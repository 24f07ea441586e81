"""The warm path's cheaper steps (issue 19) record, remember and send exactly what the steps they
replaced did: ``Activity.repeat`` writes what ``Activity.fetched`` writes, a remembered fetch lags
by at most ``REMEMBER_PRECISION`` (uploads never accepted longer or from another address), and a
warm reply's response built inline puts the same bytes on the wire."""

from __future__ import annotations

import asyncio
import random

from structlog.testing import capture_logs

from provisioner import activity, keys, resolver, services
from provisioner.activity import Activity, Fetch
from tests.conftest import ACTOR, add_customer, add_line

MAC = "001565A1B2C3"
FILE = "/001565a1b2c3.cfg"
UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"
PASSWORD = "Pw-201!xq"


class _Written:
    """An Activity whose flushes are kept as the arguments of its one write (what the store gets)."""

    def __init__(self, resolution: float):
        self.activity = Activity(None, resolution=resolution)  # type: ignore[arg-type]
        self.writes: list[tuple] = []
        self.activity._write = self._write  # type: ignore[method-assign]

    def _write(self, seen, inserts, unknown, windows, updates) -> None:  # type: ignore[no-untyped-def]
        self.writes.append((list(seen.values()), list(inserts), list(updates)))


STEPS = (0.01, 0.5, 2.0, 5.0, 30.0, 59.99, 61.0, 700.0, 3601.0)  # seconds between two fetches


def _fetches(rng: random.Random, count: int) -> list[tuple[float, tuple, str]]:
    """(time, fetch values, then what: a flush, due or all, or "upload": the fetch is not a download),
    with what a warm path repeats most and all it may not."""
    macs = ["001565A1B2C3", "000413AABBCC", "0004F2112233"]
    files = ["001565a1b2c3.cfg", "y000000000108.cfg"]
    ips = ["10.0.0.7", "10.0.0.7", "10.0.0.7", "10.0.0.8"]
    agents = [UA, UA, UA, "Yealink SIP-T46U 108.86.0.21", None, "", "x" * 450]
    firmwares = ["108.86.0.20", "108.86.0.20", "108.86.0.21", None]
    at, out = 1767225600.0, []
    for _ in range(count):
        at += rng.choices(STEPS, weights=(6, 6, 4, 3, 2, 1, 1, 1, 1))[0]
        if out and rng.random() < 0.75:  # a boot storm: the same fetch again
            out.append((at, out[-1][1], rng.choice(["", "", "", "", "due", "all"])))
            continue
        fetch = (
            rng.choice(macs),
            rng.choice(files),
            rng.choice(ips),
            rng.choice(agents),
            rng.choice(firmwares),
            rng.choice(["http", "http", "tftp"]),
        )
        out.append((at, fetch, rng.choice(["", "", "", "", "due", "all", "upload"])))
    return out


async def _drive(side: _Written, sequence, fast: bool, monkeypatch) -> list:
    logs = []
    with capture_logs() as captured:
        for at, fetch, then in sequence:
            monkeypatch.setattr(activity, "_now", lambda at=at: at)
            monkeypatch.setattr(activity, "_clock", lambda at=at: at)
            if then == "upload":  # not a download (a phone's upload): both sides record it so
                side.activity.fetched(Fetch(*fetch), download=False)
            elif fast:
                side.activity.repeat(*fetch)
            else:
                side.activity.fetched(Fetch(*fetch), download=True)
            if then in ("due", "all"):
                await side.activity.flush(due=then == "due")
        await side.activity.flush()
        logs = [dict(e) for e in captured]
    return logs


async def test_repeat_writes_what_fetched_writes(monkeypatch):
    """The same fetches through ``fetched()`` and through ``repeat()``, flushed at the same moments:
    every flush writes the same last-seen rows, download rows (counts, first and last time) and
    count updates, and the same two-address warnings are logged; at each resolution."""
    for resolution in (60.0, 0.0, 5.0):
        for seed in range(12):
            sequence = _fetches(random.Random(seed), 400)
            slow, fast = _Written(resolution), _Written(resolution)
            slow_logs = await _drive(slow, sequence, False, monkeypatch)
            fast_logs = await _drive(fast, sequence, True, monkeypatch)
            assert fast.writes == slow.writes, (resolution, seed)
            assert fast_logs == slow_logs, (resolution, seed)
            assert sum(len(w[1]) for w in slow.writes) > 1  # rows were written at all
            assert any(e["event"] == "device_fetched_from_two_ips" for e in slow_logs)


async def test_boot_storm_repeats_join_one_row(monkeypatch):
    """What the fast path is for: 1,000 repeats of one device's file from one address within the
    resolution are one download row of count 1,000 and one last seen, the newest."""
    side = _Written(60.0)
    fetch = (MAC, "001565a1b2c3.cfg", "10.0.0.7", UA, "108.86.0.20", "http")
    for i in range(1000):
        monkeypatch.setattr(activity, "_now", lambda i=i: 1767225600.0 + i * 0.05)
        side.activity.repeat(*fetch)
    await side.activity.flush()
    (seen, inserts, updates), *rest = side.writes
    assert rest == [] and updates == []
    assert inserts == [(1767225600.0, *fetch[:4], "http", 1000, 1767225600.0 + 999 * 0.05)]
    assert seen == [(1767225600.0 + 999 * 0.05, "10.0.0.7", UA, "108.86.0.20", MAC)]


def _phone(store) -> None:
    add_customer(store)
    add_line(store, "ROSSI", "201", "Front desk", PASSWORD)
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])


async def test_a_remembered_fetch_lags_by_at_most_the_precision(server, store):
    """Warm repeats from the same address within REMEMBER_PRECISION store nothing: an upload is then
    accepted at most UPLOAD_AFTER_FETCH after the remembered fetch (earlier than after the last one
    by less than the precision, never later); another address is remembered at once."""
    _phone(store)
    await server.sync()
    res = server.app[keys.RESOLVER]
    now = [1000.0]
    res.clock = lambda: now[0]
    for step in (0.0, 1.0, resolver.REMEMBER_PRECISION - 1):
        now[0] = 1000.0 + step
        resp = await server.client.get(FILE, headers={"User-Agent": UA})
        assert resp.status == 200
    assert res.warm_hits >= 2
    assert res._fetched[MAC] == ("127.0.0.1", 1000.0)
    now[0] = 1000.0 + resolver.REMEMBER_PRECISION  # the precision has passed: stored again
    assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
    assert res._fetched[MAC] == ("127.0.0.1", now[0])
    # Another address within the precision is stored at once (the upload rule follows the newest).
    res._remember_fetch(MAC, "127.0.0.9")
    assert res._fetched[MAC] == ("127.0.0.9", now[0])
    now[0] += 1.0
    res._remember_fetch(MAC, "127.0.0.1")
    assert res._fetched[MAC] == ("127.0.0.1", now[0])


async def _raw_get(port: int, path: str, extra: str = "") -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: prov.test\r\nUser-Agent: {UA}\r\n{extra}Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    raw = await reader.read()
    writer.close()
    return raw


def _without_date(raw: bytes) -> bytes:
    return b"\r\n".join(line for line in raw.split(b"\r\n") if not line.startswith(b"Date: "))


async def test_a_warm_reply_sends_the_bytes_the_cold_one_sent(server, store):
    """The first fetch (the whole resolve) and its repeats (the warm reply's response built inline)
    put the same status line, headers in the same order and body on the wire; If-None-Match still
    gets 304, with no body."""
    _phone(store)
    await server.sync()
    res = server.app[keys.RESOLVER]
    hits = res.warm_hits
    cold = await _raw_get(server.http_port, FILE)
    warm = [await _raw_get(server.http_port, FILE) for _ in range(3)]
    assert res.warm_hits == hits + 3
    head = cold.split(b"\r\n\r\n", 1)[0].split(b"\r\n")
    assert head[0] == b"HTTP/1.1 200 OK"
    names = [line.split(b":", 1)[0] for line in head[1:]]
    assert names[:3] == [b"Cache-Control", b"ETag", b"Content-Type"]
    assert b"Cache-Control: no-store" in head and b"Content-Type: text/plain; charset=utf-8" in head
    assert PASSWORD.encode() in cold
    for raw in warm:
        assert _without_date(raw) == _without_date(cold)
    etag = next(line for line in head if line.startswith(b"ETag: "))[6:].decode()
    not_modified = await _raw_get(server.http_port, FILE, f"If-None-Match: {etag}\r\n")
    assert not_modified.startswith(b"HTTP/1.1 304 Not Modified\r\n")
    assert f"ETag: {etag}".encode() in not_modified and b"Cache-Control: no-store" in not_modified
    assert PASSWORD.encode() not in not_modified

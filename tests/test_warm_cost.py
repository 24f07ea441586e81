"""The warm path's cheaper steps (issue 19) record, remember and send exactly what the steps they
replaced did: ``Activity.repeat`` writes what ``Activity.fetched`` writes, a remembered fetch lags
by at most ``REMEMBER_PRECISION`` (uploads never accepted longer or from another address), and a
warm reply's response built inline puts the same bytes on the wire."""

from __future__ import annotations

import asyncio
import random

import pytest
from structlog.testing import capture_logs

from provisioner import activity, keys, resolver, services, upload_route
from provisioner.activity import Activity, Fetch, Repeat
from tests.conftest import ACTOR, add_customer, add_line
from tests.test_phones import PHONES, provision

POLYCOM = PHONES["polycom"][0]

MAC = "001565A1B2C3"
FILE = "/001565a1b2c3.cfg"
UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"
PASSWORD = "Pw-201!xq"


class _Written:
    """An Activity whose flushes are kept as the arguments of its one write (what the store gets)."""

    def __init__(self, resolution: float):
        self.activity = Activity(None, resolution=resolution)  # type: ignore[arg-type]
        self.writes: list[tuple] = []
        self.down = False  # the store is down: the next flush fails (and keeps its batch)
        self.activity._write = self._write  # type: ignore[method-assign]

    def _write(self, seen, inserts, unknown, windows, updates) -> None:  # type: ignore[no-untyped-def]
        if self.down:
            raise OSError("the store is down in this test")
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
        out.append((at, fetch, rng.choice(["", "", "", "", "due", "all", "upload", "fail"])))
    return out


async def _drive(side: _Written, sequence, fast: bool, monkeypatch) -> list:
    logs = []
    kept: dict[tuple, Repeat] = {}  # one per (mac, file, User-Agent, firmware), as warm replies keep them
    with capture_logs() as captured:
        for at, fetch, then in sequence:
            monkeypatch.setattr(activity, "_now", lambda at=at: at)
            monkeypatch.setattr(activity, "_clock", lambda at=at: at)
            if then == "upload":  # not a download (a phone's upload): both sides record it so
                side.activity.fetched(Fetch(*fetch), download=False)
            elif fast:
                mac, file, ip, user_agent, firmware, transport = fetch
                handle = kept.setdefault((mac, file, user_agent, firmware), Repeat(mac, file, user_agent, firmware))
                side.activity.repeat(handle, ip, transport)
            else:
                side.activity.fetched(Fetch(*fetch), download=True)
            if then in ("due", "all"):
                await side.activity.flush(due=then == "due")
            elif then == "fail":
                side.down = True
                assert not await side.activity.flush()
                side.down = False
                side.activity._retry_at = 0.0  # no backoff (real time) between the two sides' runs
        await side.activity.flush()
        logs = [{**e, "exc_info": repr(e["exc_info"])} if "exc_info" in e else dict(e) for e in captured]
    return logs


@pytest.mark.parametrize("bounded", [False, True])
async def test_repeat_writes_what_fetched_writes(monkeypatch, bounded):
    """The same fetches through ``fetched()`` and through ``repeat()``, flushed at the same moments
    (some flushes failing: the store down): every flush writes the same last-seen rows, download
    rows (counts, first and last time) and count updates, and the same two-address warnings are
    logged; at each resolution. ``bounded``: room for 2 devices' records and 5 pending rows, so the
    records and open rows a repeat holds are pushed out, replaced and dropped under it (it must
    notice, and record what fetched() records)."""
    if bounded:
        monkeypatch.setattr(activity, "_MAX_DEVICES", 2)
        monkeypatch.setattr(activity, "MAX_PENDING", 5)
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


async def test_a_repeat_whose_open_row_was_pushed_out_opens_a_new_one(monkeypatch):
    """A repeat holds the open download row it joined last; once the bound on open rows pushed that
    row out (still within its resolution), the next repeat opens a new row, as fetched() does,
    instead of counting into the one pushed out."""
    monkeypatch.setattr(activity, "MAX_PENDING", 3)
    t0 = 1767225600.0
    mine = (MAC, "001565a1b2c3.cfg", "10.0.0.7", UA, "108.86.0.20", "http")
    others = [
        (
            f"00156500000{n}",
            f"00156500000{n}.cfg",
            f"10.0.0.{n}",
            f"Yealink SIP-T46U 108.86.0.20 {n}",
            "108.86.0.20",
            "http",
        )
        for n in (1, 2, 3)
    ]
    sequence = [(t0, mine, "all")] + [(t0 + n, f, "all" if n == 3 else "") for n, f in enumerate(others, 1)]
    sequence.append((t0 + 10, mine, "all"))
    slow, fast = _Written(60.0), _Written(60.0)
    await _drive(slow, sequence, False, monkeypatch)
    await _drive(fast, sequence, True, monkeypatch)
    assert fast.writes == slow.writes
    (_, first, _), _, (_, then, updates) = slow.writes
    assert [r[1] for r in first] == [MAC] and updates == []  # no count added to the row pushed out
    assert [(r[0], r[1], r[6]) for r in then] == [(t0 + 10, MAC, 1)]  # a new row of its own


async def test_boot_storm_repeats_join_one_row(monkeypatch):
    """What the fast path is for: 1,000 repeats of one device's file from one address within the
    resolution are one download row of count 1,000 and one last seen, the newest."""
    side = _Written(60.0)
    fetch = (MAC, "001565a1b2c3.cfg", "10.0.0.7", UA, "108.86.0.20", "http")
    handle = Repeat(MAC, "001565a1b2c3.cfg", UA, "108.86.0.20")
    record, recorded = side.activity._record, []
    side.activity._record = lambda *a: recorded.append(a) or record(*a)  # type: ignore[method-assign]
    for i in range(1000):
        monkeypatch.setattr(activity, "_now", lambda i=i: 1767225600.0 + i * 0.05)
        side.activity.repeat(handle, "10.0.0.7", "http")
    assert len(recorded) == 1  # the first went fetched()'s way; the others found what it left on the handle
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
    assert res._fetched[MAC] == ["127.0.0.1", 1000.0]
    now[0] = 1000.0 + resolver.REMEMBER_PRECISION  # the precision has passed: stored again
    assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
    assert res._fetched[MAC] == ["127.0.0.1", now[0]]
    # Another address within the precision is stored at once (the upload rule follows the newest).
    res._remember_fetch(MAC, "127.0.0.9")
    assert res._fetched[MAC] == ["127.0.0.9", now[0]]
    now[0] += 1.0
    res._remember_fetch(MAC, "127.0.0.1")
    assert res._fetched[MAC] == ["127.0.0.1", now[0]]


async def test_a_warm_reply_notices_its_remembered_fetch_was_forgotten(server, store, monkeypatch):
    """A warm reply holds the upload rule's record of the device's last fetch instead of looking it
    up; once the bound pushed that record out, the next repeat remembers the fetch again, and the
    phone's upload from that address is accepted."""
    add_customer(store)
    provision(store, POLYCOM, 200)
    add_line(store, "ROSSI", "300", "Back office", "pw-300-secret")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["300"])
    await server.sync()
    monkeypatch.setattr(upload_route, "MAX_REMEMBERED_FETCHES", 1)
    res, cache = server.app[keys.RESOLVER], server.app[keys.CACHE]
    headers = {"User-Agent": POLYCOM.user_agent}
    for name in POLYCOM.files:  # the boot
        assert (await server.client.get(f"/{name}", headers=headers)).status == 200, name
    kept = [w for w in cache.warm.values() if w.mac == POLYCOM.mac]
    assert kept and all(w.fetched is res._fetched[POLYCOM.mac] for w in kept)
    assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200  # another device
    assert list(res._fetched) == [MAC] and kept[0].fetched[0] is None  # pushed out, and it says so
    hits = res.warm_hits
    assert (await server.client.get(f"/{kept[0].file}", headers=headers)).status == 200
    assert res.warm_hits == hits + 1 and res._fetched[POLYCOM.mac][0] == "127.0.0.1"
    assert kept[0].fetched is res._fetched[POLYCOM.mac]
    override = b'<?xml version="1.0"?><PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1"/></PHONE_CONFIG>'
    put = await server.client.put(f"/{POLYCOM.mac.lower()}-phone.cfg", data=override, headers=headers)
    assert put.status == 201


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


async def test_a_fleet_due_at_once_is_written_over_a_few_flushes_and_a_late_one_catches_up(monkeypatch):
    """A boot storm makes every device's held last seen and download count due in the same second a
    minute later: a periodic flush writes at most DUE_PER_FLUSH of each (the loop never stalls on
    the whole fleet), the next ones the rest; a flush a resolution late writes all that is due, and
    nothing is lost or written twice."""
    side = _Written(60.0)
    t0 = 1767225600.0
    macs = [f"0015650{n:05X}" for n in range(5000)]

    def fetch_all(at: float) -> None:
        monkeypatch.setattr(activity, "_now", lambda: at)
        for mac in macs:
            fetch = Fetch(mac, f"{mac.lower()}.cfg", "10.0.0.7", UA, "108.86.0.20", "http")
            side.activity.fetched(fetch, download=True)

    fetch_all(t0)
    monkeypatch.setattr(activity, "_clock", lambda: t0 + 1)
    assert await side.activity.flush()  # everything: 5,000 last seen, 5,000 rows
    fetch_all(t0 + 10)  # again within the resolution: held, counts grown
    sizes = []
    for at in (t0 + 62, t0 + 63):
        monkeypatch.setattr(activity, "_clock", lambda at=at: at)
        assert await side.activity.flush(due=True)
        seen, inserts, updates = side.writes[-1]
        sizes.append((len(seen), len(inserts), len(updates)))
    assert sizes == [(activity.DUE_PER_FLUSH, 0, activity.DUE_PER_FLUSH)] * 2
    monkeypatch.setattr(activity, "_clock", lambda: t0 + 200)  # a resolution behind: all the rest
    assert await side.activity.flush(due=True)
    seen, _, updates = side.writes[-1]
    assert len(seen) == len(updates) == 5000 - 2 * activity.DUE_PER_FLUSH
    written = [row[4] for w in side.writes[1:] for row in w[0]]
    assert sorted(written) == sorted(macs)  # each device's held last seen once
    assert {row[0] for w in side.writes[1:] for row in w[0]} == {t0 + 10}
    assert {u[0] for w in side.writes[1:] for u in w[2]} == {2}  # each row's count, 2
    assert side.activity.pending == 0


async def test_a_count_update_reaches_its_own_row_only_when_two_share_a_first_time(server, store, monkeypatch):
    """Two download rows of one device that differ only in User-Agent, opened at the same time (a
    coarse clock): the count written later for one of them is that row's alone (the UPDATE finds a
    row by its whole key, User-Agent included)."""
    _phone(store)
    await server.sync()
    t0 = 1767225600.0
    upgraded = UA.replace("108.86.0.20", "108.86.0.21")
    monkeypatch.setattr(activity, "_now", lambda: t0)
    for agent in (UA, upgraded):
        assert (await server.client.get(FILE, headers={"User-Agent": agent})).status == 200
    await server.flush()  # both rows in the store, count 1, the same first time
    monkeypatch.setattr(activity, "_now", lambda: t0 + 5)
    for _ in range(3):
        assert (await server.client.get(FILE, headers={"User-Agent": UA})).status == 200
    await server.flush()
    with store.reading() as tx:
        rows = tx.conn.exec_driver_sql("SELECT user_agent, count FROM downloads ORDER BY id").fetchall()
    assert [tuple(r) for r in rows] == [(UA, 4), (upgraded, 1)]

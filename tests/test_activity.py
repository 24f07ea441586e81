"""Recording phone activity costs O(devices per resolution), not O(requests), and loses nothing.

The real server over HTTP on free ports, a real SQLite file (PostgreSQL for the INSERT/UPDATE
paths at the end), fetch and flush times given by a clock the test moves: ``activity._now`` (a
fetch's time) and ``activity._clock`` (a flush's). ``flush(due=True)`` is what the periodic flush
calls; ``flush()`` what shutdown and the API call.
"""

from __future__ import annotations

import dataclasses
import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from provisioner import activity, keys, services
from provisioner.db import Store
from provisioner.web import create_app
from tests.conftest import ACTOR, Running, add_customer, add_line
from tests.test_postgres import pg_store, postgres_url  # noqa: F401 (fixtures)
from tests.test_reliability_postgres import _free_port, _wait_for

MAC = "001565A1B2C3"
FILE = "/001565a1b2c3.cfg"
UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"
T0 = 1767225600.0  # 2026-01-01 00:00:00 UTC
ROOT = Path(__file__).resolve().parent.parent


def utc(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class Clock:
    def __init__(self, now: float):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    c = Clock(T0)
    monkeypatch.setattr(activity, "_now", c)
    monkeypatch.setattr(activity, "_clock", c)
    return c


def _phone(store: Store) -> None:
    add_customer(store)
    add_line(store, "ROSSI", "201", "Reception", "Pw-201!")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])


async def _fetch(server: Running, ip: str = "127.0.0.1", ua: str = UA) -> None:
    connector = aiohttp.TCPConnector(local_addr=(ip, 0), force_close=True)
    async with aiohttp.ClientSession(connector=connector) as client:
        resp = await client.get(f"http://127.0.0.1:{server.http_port}{FILE}", headers={"User-Agent": ua})
        assert resp.status == 200 and b"Pw-201!" in await resp.read()


def _rows(store: Store) -> list[tuple]:
    with store.reading() as tx:
        return [(d["ip"], d["count"], d["at"], d["last_at"]) for d in tx.downloads_of_device(MAC)]


def _seen(store: Store) -> tuple:
    with store.reading() as tx:
        device = tx.device(MAC)
    return device["last_seen_at"], device["last_seen_ip"]


async def test_repeats_of_a_fetch_are_one_row_counted_and_its_count_written_once_per_resolution(server, store, clock):
    _phone(store)
    await server.sync()
    act = server.app[keys.ACTIVITY]
    await _fetch(server)
    assert await act.flush(due=True)
    assert _rows(store) == [("127.0.0.1", 1, utc(T0), None)]  # inserted by the first flush after it
    for i in range(1, 5):
        clock.now = T0 + i
        await _fetch(server)
    clock.now = T0 + 30
    assert await act.flush(due=True)
    assert _rows(store) == [("127.0.0.1", 1, utc(T0), None)]  # not yet: the resolution has not passed
    clock.now = T0 + 61
    assert await act.flush(due=True)  # no new fetch: written because it is due
    assert _rows(store) == [("127.0.0.1", 5, utc(T0), utc(T0 + 4))]
    # Another address is a row of its own; the repeats of the first keep joining theirs.
    clock.now = T0 + 62
    await _fetch(server, "127.0.0.2")
    await _fetch(server, "127.0.0.2")
    await _fetch(server)
    await server.flush()
    assert _rows(store) == [
        ("127.0.0.1", 6, utc(T0), utc(T0 + 62)),
        ("127.0.0.2", 2, utc(T0 + 62), utc(T0 + 62)),
    ]
    shown = services.show_device(store, MAC)["downloads"]
    assert (shown["count"], shown["last_at"], shown["flagged_ips"]) == (
        8,
        utc(T0 + 62).isoformat(),
        [
            "127.0.0.1",
            "127.0.0.2",
        ],
    )


async def test_a_row_spans_at_most_an_hour_and_a_pause_longer_than_the_resolution_starts_another(server, store, clock):
    _phone(store)
    await server.sync()
    for i in range(74):  # every 50 s for an hour and a bit: a boot loop
        clock.now = T0 + 50 * i
        await _fetch(server)
    clock.now = T0 + 3650 + 61  # more than the resolution after the last
    await _fetch(server)
    await server.flush()
    assert _rows(store) == [
        ("127.0.0.1", 72, utc(T0), utc(T0 + 3550)),
        ("127.0.0.1", 2, utc(T0 + 3600), utc(T0 + 3650)),
        ("127.0.0.1", 1, utc(T0 + 3711), None),
    ]


async def test_last_seen_is_written_at_once_when_new_or_changed_and_else_once_per_resolution(server, store, clock):
    _phone(store)
    await server.sync()
    act = server.app[keys.ACTIVITY]
    await _fetch(server)
    assert await act.flush(due=True)
    assert _seen(store) == (utc(T0), "127.0.0.1")  # first fetch: at once
    clock.now = T0 + 10
    await _fetch(server)
    assert await act.flush(due=True)
    assert _seen(store) == (utc(T0), "127.0.0.1")  # the same phone again within the resolution: not re-written
    clock.now = T0 + 20
    await _fetch(server, "127.0.0.2")
    assert await act.flush(due=True)
    assert _seen(store) == (utc(T0 + 20), "127.0.0.2")  # another address: at once
    clock.now = T0 + 30
    await _fetch(server, "127.0.0.2")
    clock.now = T0 + 40
    await _fetch(server, "127.0.0.2", ua=UA.replace("108.86.0.20", "108.86.0.45"))
    assert await act.flush(due=True)
    with store.reading() as tx:
        assert tx.device(MAC)["firmware"] == "108.86.0.45"  # a new firmware: at once
    clock.now = T0 + 50
    await _fetch(server, "127.0.0.2", ua=UA.replace("108.86.0.20", "108.86.0.45"))
    assert await act.flush(due=True)
    assert _seen(store) == (utc(T0 + 40), "127.0.0.2")
    assert [s.mac for s in act._devices.values() if s.held_at is not None] == [MAC]  # the fetch at +50, held
    clock.now = T0 + 100  # the resolution after the last write (+40), and no new fetch
    assert await act.flush(due=True)
    assert _seen(store) == (utc(T0 + 50), "127.0.0.2")
    assert act.pending == 0


async def test_a_failed_flush_keeps_the_counts_and_a_later_one_writes_them_merged(server, store, clock):
    _phone(store)
    await server.sync()
    act = server.app[keys.ACTIVITY]

    def database_down(*_args, **_kwargs):
        raise OSError("the store is not written in this test")

    act._write = database_down
    for i in range(3):
        clock.now = T0 + i
        await _fetch(server)
    assert await act.flush() is False
    for i in range(3, 5):
        clock.now = T0 + i
        await _fetch(server)
    assert await act.flush() is False  # the row, not yet inserted, keeps counting
    del act._write
    clock.now = T0 + 5
    await _fetch(server)
    assert await act.flush() is True
    assert _rows(store) == [("127.0.0.1", 6, utc(T0), utc(T0 + 5))]
    assert _seen(store) == (utc(T0 + 5), "127.0.0.1")
    # The row in the store, its next count failing: kept, written once the store is back.
    act._write = database_down
    clock.now = T0 + 6
    await _fetch(server)
    assert await act.flush() is False
    del act._write
    assert await act.flush() is True
    assert _rows(store) == [("127.0.0.1", 7, utc(T0), utc(T0 + 6))]
    assert act.pending == 0 and act.failures == 0


async def test_resolution_0_writes_every_fetch(aiohttp_client, settings, store, clock):
    _phone(store)
    app = create_app(dataclasses.replace(settings, activity_resolution=0))
    server = Running(await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"}), app)
    for i in range(3):
        clock.now = T0 + i
        await _fetch(server)
        assert await app[keys.ACTIVITY].flush(due=True)
        assert _seen(store) == (utc(T0 + i), "127.0.0.1")
    assert _rows(store) == [("127.0.0.1", 1, utc(T0 + i), None) for i in range(3)]


def test_sigterm_writes_what_was_held(data_dir, tmp_path):
    store = Store.open(data_dir)
    _phone(store)
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "server.py",
            *("--data-dir", str(data_dir), "--http-port", str(port), "--tftp-port", "off", "--host", "127.0.0.1"),
            *("--public-url", "http://prov.test/", "--activity-resolution", "3600"),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        _wait_for(proc, "http_listening")
        import urllib.request

        def get() -> None:
            request = urllib.request.Request(f"http://127.0.0.1:{port}{FILE}", headers={"User-Agent": UA})
            with urllib.request.urlopen(request, timeout=10) as resp:
                assert resp.status == 200

        get()
        deadline = time.monotonic() + 30
        while _seen(store)[0] is None:  # the first fetch: written by the next periodic flush
            assert time.monotonic() < deadline
            time.sleep(0.1)
        first = _seen(store)[0]
        time.sleep(0.05)
        get()
        get()
        time.sleep(1.5)  # periodic flushes (every second) come and go: nothing due for an hour
        assert _seen(store)[0] == first and [r[1] for r in _rows(store)] == [1]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    (_ip, count, at, last_at) = _rows(store)[0]
    assert count == 3 and at == first and last_at > first
    assert _seen(store)[0] == last_at  # the last fetch's, held in memory until the final flush
    store.close()


async def test_on_postgresql_a_row_is_inserted_then_its_count_updated_in_place(
    pg_store,  # noqa: F811
    postgres_url,  # noqa: F811
    aiohttp_client,
    settings,
    clock,
):
    _phone(pg_store)
    app = create_app(dataclasses.replace(settings, database_url=postgres_url, tftp_port=None))
    server = Running(await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"}), app)
    await server.sync()
    act = app[keys.ACTIVITY]
    clock.now = T0 + 0.123456
    await _fetch(server)
    assert await act.flush(due=True)
    assert _rows(pg_store) == [("127.0.0.1", 1, utc(T0 + 0.123456), None)]
    assert _seen(pg_store) == (utc(T0 + 0.123456), "127.0.0.1")
    for i in range(1, 4):
        clock.now = T0 + i + 0.5
        await _fetch(server)
    clock.now = T0 + 61
    assert await act.flush(due=True)  # the UPDATE, found by (device_mac, at, file, ip, transport)
    assert _rows(pg_store) == [("127.0.0.1", 4, utc(T0 + 0.123456), utc(T0 + 3.5))]
    clock.now = T0 + 62
    await _fetch(server, "127.0.0.2")
    await _fetch(server)
    await server.flush()
    assert _rows(pg_store) == [
        ("127.0.0.1", 5, utc(T0 + 0.123456), utc(T0 + 62)),
        ("127.0.0.2", 1, utc(T0 + 62), None),
    ]
    assert _seen(pg_store) == (utc(T0 + 62), "127.0.0.1")


async def test_cli_api_and_console_show_the_count_and_the_last_time(server, store, clock, run_cli, api):
    from tests.test_console import add_user, sign_in

    _phone(store)
    await server.sync()
    for i in range(4):
        clock.now = T0 + 10 * i
        await _fetch(server)
    clock.now = T0 + 40
    await _fetch(server, "127.0.0.2")
    await server.flush()

    rows = json.loads(run_cli("device", "downloads", MAC, "--json").output)
    assert [(r["ip"], r["count"], r["at"], r["last_at"], r["flagged"]) for r in rows] == [
        ("127.0.0.1", 4, "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:30+00:00", True),
        ("127.0.0.2", 1, "2026-01-01T00:00:40+00:00", None, True),
    ]
    table = run_cli("device", "downloads", MAC).output.splitlines()
    assert "x 4, 00:00:30" in table[1] and "127.0.0.1" in table[1]
    assert "127.0.0.2" in table[2] and "x " not in table[2]
    assert "config downloads 5, last 2026-01-01T00:00:40+00:00 from 127.0.0.2" in run_cli("device", "show", MAC).output

    items = (await api.as_("viewer").get(f"/devices/{MAC}/downloads"))["items"]
    assert [(i["ip"], i["count"], i["last_at"]) for i in items] == [
        ("127.0.0.1", 4, "2026-01-01T00:00:30+00:00"),
        ("127.0.0.2", 1, None),
    ]

    add_user(store, "alice", "admin")
    await sign_in(server.client, "alice")
    for lang, title, warning in (
        ("it", "Scaricamenti della configurazione", "Scaricata da indirizzi diversi entro un&#39;ora"),
        ("en", "Config downloads", "Fetched from different addresses within an hour"),
    ):
        server.client.session.cookie_jar.update_cookies({"provisioner_lang": lang})
        page = await (await server.client.get(f"/console/devices/{MAC}")).text()
        card = page.split('id="downloads"')[1].split("</section>")[0]
        assert title in card and warning in card
        rows_html = card.split("<tbody>")[1].split("</tbody>")[0].split("</tr>")
        # Newest first: the other address's single fetch, then the four repeats with their last time (CET).
        assert '<td class="count">1</td><td class="last">-</td>' in rows_html[0]
        assert '<td class="count">4</td><td class="last">2026-01-01 01:00 CET</td>' in rows_html[1]


def test_two_addresses_are_flagged_by_the_gap_between_merged_rows_not_their_first_times():
    t = utc(T0)
    rows = [
        {"at": t, "last_at": t + timedelta(minutes=50), "ip": "a", "count": 40},
        {"at": t + timedelta(minutes=100), "last_at": None, "ip": "b", "count": 1},  # 50 min after a's last
        {"at": t + timedelta(minutes=200), "last_at": None, "ip": "c", "count": 1},  # 100 min after b
    ]
    assert [r["flagged"] for r in activity.flag_downloads(rows)] == [True, True, False]


def test_serve_refuses_a_resolution_out_of_range_naming_the_option(run_cli, monkeypatch):
    for bad in ("-1", "3601", "soon"):
        result = run_cli("serve", "--activity-resolution", bad, ok=False)
        assert result.exit_code == 2 and "--activity-resolution" in result.output, result.output
    monkeypatch.setenv("PROVISIONER_ACTIVITY_RESOLUTION", "-1")  # the environment variable is the same setting
    result = run_cli("serve", ok=False)
    assert result.exit_code == 2 and "--activity-resolution" in result.output, result.output

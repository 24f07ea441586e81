"""Nothing lost: the database locked, read-only or down (issue 12).

Real causes only: another connection holding SQLite's write lock (``BEGIN IMMEDIATE``, with the
busy timeout lowered by its setting), an immutable database file; PostgreSQL stopped with
``pg_ctl`` is in tests/test_reliability_postgres.py.
"""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import threading
from pathlib import Path

import pytest

from provisioner import activity as activity_module
from provisioner import importing, keys, services
from provisioner.db import Store
from provisioner.importing import planning
from provisioner.web import create_app
from tests.conftest import ACTOR, Running, add_customer, add_line
from tests.test_import_loading import write_phones

MAC = "001565A1B2C3"
FILE = "/001565a1b2c3.cfg"


@pytest.fixture
def short_busy_timeout(monkeypatch):
    # SQLite waits this long for another writer's lock before "database is locked" (default 10 s).
    monkeypatch.setenv("PROVISIONER_SQLITE_BUSY_TIMEOUT_MS", "200")


class Locked:
    """Another connection holding the SQLite write lock until ``release()``."""

    def __init__(self, data_dir: Path):
        self.conn = sqlite3.connect(data_dir / "provisioner.sqlite3", isolation_level=None)
        self.conn.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        self.conn.execute("ROLLBACK")
        self.conn.close()


def _phone(store: Store) -> None:
    add_customer(store)
    add_line(store, "ROSSI", "201", "Reception", "Pw-201!")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])


def _downloads(store: Store) -> list[int]:
    """The count of each downloads row of the phone (repeats of one fetch are one row)."""
    with store.reading() as tx:
        return [d["count"] for d in tx.downloads_of_device(MAC)]


# --- item 2: a failed flush keeps its batch ---------------------------------------------------------


async def test_downloads_served_while_the_database_is_locked_are_all_stored_once_it_is_free(
    short_busy_timeout, server, store, data_dir
):
    _phone(store)
    assert (await server.client.get(FILE)).status == 200  # warm: the file is cached from now on
    await server.flush()
    assert _downloads(store) == [1]
    activity = server.app[keys.ACTIVITY]
    lock = Locked(data_dir)
    try:
        for _ in range(30):
            assert (await server.client.get(FILE)).status == 200
        assert await activity.flush() is False  # the write met the lock: kept, not dropped
        assert len(activity._repeats) == 1 and activity.failures >= 1  # the row's new count, to write
        for _ in range(20):
            assert (await server.client.get(FILE)).status == 200
    finally:
        lock.release()
    assert await activity.flush() is True
    assert _downloads(store) == [1 + 50]  # the same fetch repeated: one row, every fetch counted
    assert activity.failures == 0 and activity.pending == 0
    with store.reading() as tx:
        assert tx.device(MAC)["last_seen_at"] is not None


async def test_beyond_the_pending_bound_downloads_are_dropped_and_counted(
    short_busy_timeout, aiohttp_client, settings, store, data_dir, monkeypatch
):
    # --activity-resolution 0: a row per fetch, as a scanner varying what it sends would make.
    app = create_app(dataclasses.replace(settings, activity_resolution=0))
    server = Running(await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"}), app)
    monkeypatch.setattr(activity_module, "MAX_PENDING", 40)
    _phone(store)
    assert (await server.client.get(FILE)).status == 200
    await server.flush()
    activity = server.app[keys.ACTIVITY]
    dropped = []
    real_log = activity_module.log.warning
    monkeypatch.setattr(
        activity_module.log,
        "warning",
        lambda event, **kw: (
            dropped.append(kw["count"]) if event == "activity_dropped" else None,
            real_log(event, **kw),
        ),
    )
    lock = Locked(data_dir)
    try:
        for _ in range(30):
            await server.client.get(FILE)
        assert await activity.flush() is False
        for _ in range(30):
            await server.client.get(FILE)
        assert await activity.flush() is False
    finally:
        lock.release()
    assert await activity.flush() is True
    assert _downloads(store) == [1] * (1 + 40)  # the oldest 40 kept, 20 dropped and said so
    assert sum(dropped) == 20


# --- item 3: one cache sync at a time ---------------------------------------------------------------


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, sync_interval=3600.0)  # only the syncs a test starts


async def test_concurrent_syncs_read_each_event_once(server, store):
    cache = server.app[keys.CACHE]
    await cache.sync()
    with store.transaction() as tx:
        for i in range(3000):
            tx.add_event(actor=ACTOR, action="test.event", summary=f"event {i}", device_mac=f"00156500{i:04X}")
    counts = await asyncio.gather(*(cache.sync() for _ in range(8)))
    assert sum(counts) == 3000
    with store.reading() as tx:
        assert cache._last_event_id == tx.last_event_id()


async def test_a_sync_called_after_a_write_sees_it_even_while_another_sync_runs(server, store):
    _phone(store)
    cache = server.app[keys.CACHE]
    assert (await server.client.get(FILE)).status == 200
    first = asyncio.ensure_future(cache.sync())  # running (or about to) before the write
    await asyncio.sleep(0)
    services.update_line(store, ACTOR, "ROSSI", "201", display_name="Front desk")
    await cache.sync()
    await first
    assert "Front desk" in await (await server.client.get(FILE)).text()


# --- items 4 and 5: a busy database answers 503 + Retry-After, never 500 -------------------------


async def test_writes_meeting_a_locked_database_get_503_with_retry_after(short_busy_timeout, api, server, data_dir):
    lock = Locked(data_dir)
    try:
        response = await server.client.post(
            "/api/v1/customers",
            headers=api.users.headers("admin"),
            json={"code": "ROSSI", "name": "Rossi", "sip_server": "pbx.example.net"},
        )
        assert response.status == 503
        assert int(response.headers["Retry-After"]) > 0
        body = await response.json()
        assert body["error"] == "unavailable" and body["reason"] == "locked"
        health = await server.client.get("/healthz")  # reads work, writes do not: unhealthy
        assert health.status == 503 and (await health.json())["database"] == "locked"
    finally:
        lock.release()
    assert (await server.client.get("/healthz")).status == 200
    await api.post("/customers", {"code": "ROSSI", "name": "Rossi", "sip_server": "pbx.example.net"}, expect=201)


def test_the_import_plans_before_taking_the_write_lock(store, data_dir, tmp_path, short_busy_timeout, monkeypatch):
    """A write made while the import plans is not blocked by it (the lock is for the apply alone),
    and the import, seeing the change, plans again under the lock: nothing is lost or doubled."""
    path = write_phones(tmp_path / "phones.csv", 50)
    checked = importing.check(importing.read_path(path))
    other = Store.open(data_dir)
    real_plan = planning.plan
    written = []

    def plan_and_write_meanwhile(*args, **kw):
        if not written:  # another writer during the first planning: it must not meet a lock
            written.append(services.add_customer(other, ACTOR, "VERDI", name="Verdi", sip_server="pbx.v.test"))
        return real_plan(*args, **kw)

    monkeypatch.setattr(planning, "plan", plan_and_write_meanwhile)
    try:
        _plan, applied = importing.run(store, checked, actor=ACTOR)
    finally:
        other.close()
    assert applied and written
    with store.reading() as tx:
        assert tx.count_devices() == 50 and tx.customer_by_code("VERDI") is not None


@pytest.fixture
def very_short_busy_timeout(monkeypatch):
    monkeypatch.setenv("PROVISIONER_SQLITE_BUSY_TIMEOUT_MS", "20")  # the server gives up soon: 503s likely


async def test_api_writes_during_a_large_cli_import_never_get_500(
    very_short_busy_timeout, api, server, run_cli, tmp_path
):
    path = write_phones(tmp_path / "phones.csv", 20_000)
    done = threading.Event()

    def import_it():
        try:
            return run_cli("import", str(path), "--max-rows", "100000")
        finally:
            done.set()

    imported = asyncio.ensure_future(asyncio.to_thread(import_it))
    statuses = []
    i = 0
    while not done.is_set() or i < 5:
        i += 1
        response = await server.client.post(
            "/api/v1/customers",
            headers=api.users.headers("admin"),
            json={"code": f"C{i}", "name": f"Customer {i}", "sip_server": "pbx.example.net"},
        )
        statuses.append(response.status)
        if response.status == 503:
            assert int(response.headers["Retry-After"]) > 0
            assert (await response.json())["reason"] == "locked"
        await asyncio.sleep(0.01)
    result = await imported
    assert "applying" in result.output
    assert set(statuses) <= {201, 503}, statuses
    assert statuses.count(201) >= 1


# --- item 6: the CLI on a locked or read-only database ----------------------------------------------


def test_cli_on_a_locked_database_says_so_in_one_line(run_cli, store, data_dir, short_busy_timeout):
    lock = Locked(data_dir)
    try:
        result = run_cli("customer", "add", "ROSSI", "--name", "Rossi", "--sip-server", "pbx.example.net", ok=False)
    finally:
        lock.release()
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "is locked by another writer" in lines[0] and "run the command again" in lines[0]
    assert "Traceback" not in result.output and "sqlalchemy" not in result.output.lower()
    with store.reading() as tx:
        assert tx.customer_by_code("ROSSI") is None


def test_cli_on_a_read_only_database_file_says_so_in_one_line(run_cli, data_dir):
    Store.open(data_dir).close()
    db = data_dir / "provisioner.sqlite3"
    for leftover in (Path(f"{db}-wal"), Path(f"{db}-shm")):
        leftover.unlink(missing_ok=True)
    # Immutable: not even root (which these tests may run as) can write it.
    if subprocess.run(["chattr", "+i", str(db)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i is not supported on this file system")
    try:
        result = run_cli("customer", "add", "ROSSI", "--name", "Rossi", "--sip-server", "pbx.example.net", ok=False)
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=True)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "read-only" in lines[0], result.output
    assert "Traceback" not in result.output

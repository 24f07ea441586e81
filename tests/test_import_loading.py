"""Bulk inserts of a large SQLite transaction copied into their tables in the background (db.bulk._Loader).

A large import writes each table's rows into a batch database of its own and a worker thread copies
it into the table while the import builds the next one. What must hold: the rows land as a direct
insert would put them (ids in row order, every value), in the same one transaction (a failure
leaves nothing), a statement in between sees the rows queued before it, and the connection goes
back to the pool with nothing attached.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from provisioner.db.bulk import _Loader
from provisioner.errors import Conflict
from tests.conftest import add_customer, key_path
from tests.test_import_samples import config_name, yealink_account

COUNT = _Loader.MIN_ROWS + 500  # large enough to be loaded in the background
BIG = 2 * _Loader.MIN_ROWS + 501  # large enough for two batches (of 2,250 and 2,251 rows: not whole 16-row groups)


def attached(tx) -> list[str]:
    return [row[1] for row in tx.conn.exec_driver_sql("PRAGMA database_list") if row[1] not in ("main", "temp")]


def line_rows(n: int, first_ext: int = 5000) -> list[dict]:
    return [
        {
            "extension": str(first_ext + i),
            "display_name": f"User {i}",
            "sip_username": f"u{first_ext + i}",
            "auth_id": f"u{first_ext + i}",
            "password": f"secret-{i}",
        }
        for i in range(n)
    ]


class SlowCopies:
    """The transaction's connection, as the loader's worker sees it: each copy starts late."""

    def __init__(self, raw):
        self.raw = raw

    def execute(self, sql, *args):
        if sql.startswith("INSERT"):
            time.sleep(0.2)
        return self.raw.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self.raw, name)


def test_a_large_transaction_loads_its_bulk_inserts_in_the_background_with_every_value_in_row_order(store, monkeypatch):
    original = _Loader.__init__
    monkeypatch.setattr(_Loader, "__init__", lambda self, raw, *a: original(self, SlowCopies(raw), *a))
    customer = add_customer(store)
    with store.reading() as tx:
        events_before = tx.last_event_id()
    with store.transaction(large=True) as tx:
        with tx.loading("lines", "devices", "device_lines", "events"):
            line_ids = tx.insert_lines(line_rows(BIG), customer_ids=[customer["id"]] * BIG)
            # A statement in the block waits for the batches queued before it.
            assert tx.conn.exec_driver_sql("SELECT count(*) FROM lines").scalar() == BIG
            macs = [f"805EC0{i:06X}" for i in range(BIG)]
            device_ids = tx.insert_devices(
                [{"vendor": "yealink", "model": "T54W", "state": "deployed"}] * BIG,
                columns={"mac": macs, "customer_id": [customer["id"]] * BIG, "settings": [{}] * BIG},
            )
            tx.replace_device_lines({d: [line] for d, line in zip(device_ids, line_ids, strict=True)}, new=device_ids)
            tx.add_events(
                [{}] * BIG,
                actor="loader-test",
                columns={
                    "action": ["device.created"] * BIG,
                    "summary": [f"device {m} created" for m in macs],
                    "device_mac": macs,
                    "customer_id": [None] * BIG,
                    "before": [None] * BIG,
                    "after": [{"mac": m, "lines": [str(5000 + i)]} for i, m in enumerate(macs)],
                },
            )
        assert len(attached(tx)) == 8  # two batches a table, each copied from a database of its own
    assert line_ids == list(range(line_ids[0], line_ids[0] + BIG))
    assert device_ids == list(range(device_ids[0], device_ids[0] + BIG))

    with store.reading() as tx:
        assert attached(tx) == []
        # Every row, with every value, as written (either side of the seam between two batches too).
        got = sorted(
            (ln["id"], ln["extension"], ln["display_name"], ln["sip_username"], ln["auth_id"], ln["password"])
            for ln in tx.lines_of_customer(customer["id"])
        )
        assert got == [
            (line_ids[i], str(5000 + i), f"User {i}", f"u{5000 + i}", f"u{5000 + i}", f"secret-{i}") for i in range(BIG)
        ]  # passwords sealed on the way in, opened on the way out
        devices = tx.devices_by_mac(macs)
        assert [
            (devices[m]["id"], devices[m]["line_ids"], devices[m]["customer_id"], devices[m]["model"]) for m in macs
        ] == [(device_ids[i], [line_ids[i]], customer["id"], "T54W") for i in range(BIG)]
        events = tx.conn.exec_driver_sql(
            "SELECT id, actor, action, device_mac, summary, after FROM events WHERE id > ? ORDER BY id",
            (events_before,),
        ).fetchall()
        assert [(e[0], e[1], e[2], e[3], e[4], json.loads(e[5])) for e in events] == [
            (
                events_before + 1 + i,
                "loader-test",
                "device.created",
                m,
                f"device {m} created",
                {"mac": m, "lines": [str(5000 + i)]},
            )
            for i, m in enumerate(macs)
        ]
        seam = BIG // 2
        assert tx.events_of_device(macs[seam])[0]["after"] == {"mac": macs[seam], "lines": [str(5000 + seam)]}
        stored = tx.conn.exec_driver_sql("SELECT password FROM lines WHERE id = ?", (line_ids[7],)).scalar()
        assert "secret-7" not in stored  # the batch held the sealed value, as a direct insert does
    with store.transaction(large=True) as tx:  # the connection came back to the pool with nothing attached
        assert attached(tx) == []


def test_small_batches_and_ordinary_transactions_insert_directly(store):
    customer = add_customer(store)
    with store.transaction(large=True) as tx, tx.loading("lines"):
        tx.insert_lines(line_rows(10), customer_ids=[customer["id"]] * 10)
        assert attached(tx) == []
    with store.transaction() as tx, tx.loading("lines"):
        tx.insert_lines(line_rows(COUNT, 20000), customer_ids=[customer["id"]] * COUNT)
        assert attached(tx) == []
    with store.reading() as tx:
        assert len(tx.lines_of_customer(customer["id"])) == 10 + COUNT


def test_a_copy_that_fails_rolls_the_whole_transaction_back_and_names_no_value(store):
    customer = add_customer(store)
    rows = line_rows(COUNT)
    rows[-1] = {**rows[-1], "extension": rows[0]["extension"]}  # the same extension twice: a unique key broken
    with pytest.raises(Conflict) as failed, store.transaction(large=True) as tx:
        tx.insert_customer({"code": "GONE", "name": "Gone", "sip_server": "pbx.gone.test"})
        with tx.loading("lines", "events"):
            tx.insert_lines(rows, customer_ids=[customer["id"]] * COUNT)
            tx.add_events([{}] * COUNT, actor="t", columns={"action": ["x"] * COUNT, "summary": ["x"] * COUNT})
    assert "secret" not in str(failed.value) and "5000" not in str(failed.value)
    with store.reading() as tx:
        assert tx.customer_by_code("GONE") is None and tx.lines_of_customer(customer["id"]) == []
        assert tx.last_event_id() == 1  # the customer's own event only
    # The connection is usable again, with nothing left attached.
    with store.transaction(large=True) as tx:
        with tx.loading("lines"):
            tx.insert_lines(line_rows(COUNT), customer_ids=[customer["id"]] * COUNT)
        assert len(attached(tx)) == 1
    with store.reading() as tx:
        assert len(tx.lines_of_customer(customer["id"])) == COUNT


def test_an_error_in_the_block_stops_the_copies_and_leaves_nothing(store):
    customer = add_customer(store)
    with pytest.raises(RuntimeError, match="stopped"), store.transaction(large=True) as tx, tx.loading("lines"):
        tx.insert_lines(line_rows(COUNT), customer_ids=[customer["id"]] * COUNT)
        raise RuntimeError("stopped")
    with store.reading() as tx:
        assert tx.lines_of_customer(customer["id"]) == []


def write_phones(path: Path, phones: int) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Customer", "MAC", "Model", "Extension", "Name", "SIP password", "SIP server", "Line"])
        for i in range(phones):
            mac = f"805EC0{i:06X}"
            writer.writerow(
                ["Studio Nuovo", mac, "T54W", str(3000 + 2 * i), f"User {i}", f"pw-{i}", "pbx.nuovo.test", "1"]
            )
            if i % 10 == 0:  # every tenth phone has a second line
                writer.writerow(
                    ["Studio Nuovo", mac, "T54W", str(3001 + 2 * i), f"Desk {i}", f"pw2-{i}", "pbx.nuovo.test", "2"]
                )
    return path


async def test_a_large_import_loaded_in_the_background_serves_every_phone_and_reimports_as_nothing(
    server, store, run_cli, tmp_path, monkeypatch
):
    loaded: list[str] = []
    load = _Loader.load
    monkeypatch.setattr(
        _Loader, "load", lambda self, table, *a, **kw: (loaded.append(table), load(self, table, *a, **kw))
    )
    phones = COUNT
    path = write_phones(tmp_path / "phones.csv", phones)
    result = await asyncio.to_thread(run_cli, "import", str(path), "--json")
    assert loaded == ["lines", "devices", "device_lines", "events"]  # the import's own path, in the background
    report = json.loads(result.stdout)
    assert report["applied"] and report["counts"]["device"]["create"] == phones
    assert report["counts"]["line"]["create"] == phones + phones // 10
    await server.sync()
    for i in (0, 10, phones - 1):
        mac = f"805EC0{i:06X}"
        response = await server.client.get("/" + key_path(store, mac) + config_name("yealink", mac))
        assert response.status == 200, mac
        body = await response.read()
        assert yealink_account(body, 1) == {
            "display_name": f"User {i}",
            "user": str(3000 + 2 * i),
            "password": f"pw-{i}",
            "server": "pbx.nuovo.test",
        }
        assert yealink_account(body, 2) == (
            {"display_name": f"Desk {i}", "user": str(3001 + 2 * i), "password": f"pw2-{i}", "server": "pbx.nuovo.test"}
            if i % 10 == 0
            else {}
        )
        with store.reading() as tx:
            events = tx.events_of_device(mac)
        assert [e["action"] for e in events] == ["device.created"]
        assert events[0]["after"]["lines"] == [str(3000 + 2 * i)] + ([str(3001 + 2 * i)] if i % 10 == 0 else [])

    again = json.loads((await asyncio.to_thread(run_cli, "import", str(path), "--json")).stdout)
    assert sum(v["create"] + v["update"] for v in again["counts"].values()) == 0


def test_a_batch_that_cannot_be_written_fails_the_import_whole_naming_no_value(store):
    customer = add_customer(store)
    rows = line_rows(COUNT)
    rows[COUNT - 3] = {**rows[COUNT - 3], "label": object()}  # no value SQLite can store
    rows = [{**row, "label": row.get("label")} for row in rows]
    with (
        pytest.raises(sqlite3.ProgrammingError) as failed,
        store.transaction(large=True) as tx,
        tx.loading("lines", "events"),
    ):
        tx.add_events([{}] * COUNT, actor="t", columns={"action": ["x"] * COUNT, "summary": ["x"] * COUNT})
        tx.insert_lines(rows, customer_ids=[customer["id"]] * COUNT)  # fails while written, after a batch queued
    assert "secret" not in str(failed.value)
    assert not [t for t in threading.enumerate() if t.name == "import-loader"]
    with store.reading() as tx:
        assert tx.lines_of_customer(customer["id"]) == [] and tx.last_event_id() == 1  # the customer's own


def test_a_large_batch_is_copied_in_two_and_batches_beyond_what_sqlite_can_attach_are_inserted_directly(store):
    big = 2 * _Loader.MIN_ROWS
    sizes = [big] + [_Loader.MIN_ROWS] * 7  # 2 + 7 batches: one more than may be attached
    with store.transaction(large=True) as tx:
        with tx.loading("events"):
            for n, size in enumerate(sizes):
                tx.add_events(
                    [{}] * size,
                    actor="t",
                    columns={"action": ["x"] * size, "summary": [f"{n}/{i}" for i in range(size)]},
                )
        assert len(attached(tx)) == _Loader.MAX_ATTACHED
    with store.reading() as tx:
        rows = tx.conn.exec_driver_sql("SELECT id, summary FROM events ORDER BY id").fetchall()
    expected = [f"{n}/{i}" for n, size in enumerate(sizes) for i in range(size)]
    assert [summary for _, summary in rows] == expected  # every row, in the order given
    assert [row_id for row_id, _ in rows] == list(range(1, len(expected) + 1))


async def test_after_a_large_import_the_server_reads_each_event_once(server, store, run_cli, tmp_path, monkeypatch):
    """On SQLite event ids follow the commits: a sync reads the events after the last it saw, not the
    last 10 s again (a 100,000-phone import's 91,000 events took 1 s to read, every half second)."""
    from provisioner.db import Tx

    read: list[int] = []
    events_since = Tx.events_since

    def counted(self, after_id, **kw):
        rows = events_since(self, after_id, **kw)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(Tx, "events_since", counted)
    await server.sync()
    path = write_phones(tmp_path / "phones.csv", COUNT)
    read.clear()
    await asyncio.to_thread(run_cli, "import", str(path))  # the server syncs on its own meanwhile, too
    for _ in range(3):
        await server.sync()
    # The import's events (one per phone, one for its customer, in one commit) read once; every other
    # sync read nothing.
    assert sorted(read)[-1] == COUNT + 1 and sum(read) == COUNT + 1 and len(read) >= 3
    response = await server.client.get("/" + key_path(store, "805EC0000001") + config_name("yealink", "805EC0000001"))
    assert response.status == 200 and yealink_account(await response.read(), 1)["display_name"] == "User 1"


def test_a_connection_that_may_attach_fewer_databases_loads_fewer_batches(store):
    with store.transaction(large=True) as tx:
        raw = tx.conn.connection.dbapi_connection
        limit = raw.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 3)  # returns the limit it had
        try:
            with tx.loading("events"):
                for n in range(5):
                    tx.add_events(
                        [{}] * COUNT, actor="t", columns={"action": ["x"] * COUNT, "summary": [f"{n}"] * COUNT}
                    )
            assert len(attached(tx)) == 3  # the other two batches inserted directly
        finally:
            raw.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, limit)
    with store.reading() as tx:
        assert tx.last_event_id() == 5 * COUNT


class CtrlC:
    """Ctrl-C, as the terminal sends it, ``count`` times while a large transaction waits for its copies,
    each sent once the test's thread is seen waiting: the first in :meth:`_Loader.wait`, the others
    in the cancel that follows (which must absorb them). Meanwhile the copies are held (``hold``,
    in the worker thread) until the last interrupt has been handled, so every one lands while the
    copies are pending, however fast or slow the machine is. Waits are generous and only waits:
    nothing here depends on how long anything takes."""

    TIMEOUT = 60.0

    def __init__(self, monkeypatch, count: int):
        self.count = count
        self.handled = 0
        self.armed = threading.Event()  # interrupts wanted from now on
        self.released = threading.Event()  # every interrupt handled: the copies may go on
        self._waiting = threading.Semaphore(0)
        self._handled = threading.Semaphore(0)
        self._main = threading.main_thread().ident
        self._wanted = 0  # interrupts to raise so far: a signal beyond them is a resend, ignored
        self._error: str | None = None
        original = _Loader._until_idle

        def until_idle(loader):  # the test's thread is about to wait for the copies
            if self.armed.is_set() and not self.released.is_set() and loader._queued:
                self._waiting.release()
            return original(loader)

        def on_sigint(_signum, _frame):
            if self.handled >= self._wanted:
                return
            self.handled += 1
            self._handled.release()
            raise KeyboardInterrupt

        monkeypatch.setattr(_Loader, "_until_idle", until_idle)
        previous = signal.signal(signal.SIGINT, on_sigint)
        self._restore = lambda: signal.signal(signal.SIGINT, previous)
        self._sender = threading.Thread(target=self._send, name="ctrl-c", daemon=True)

    def hold(self) -> None:
        """In the worker: wait until every interrupt has been handled (the copy stays pending)."""
        if threading.current_thread().name == "import-loader" and not self.released.wait(self.TIMEOUT):
            self._error = "the interrupts were never all handled"

    def arm(self) -> None:
        self.armed.set()
        self._sender.start()

    def _send(self) -> None:
        try:
            for n in range(self.count):
                if not self._waiting.acquire(timeout=self.TIMEOUT):
                    self._error = f"interrupt {n + 1}: the test's thread never waited for the copies"
                    return
                # A signal that lands just before the thread blocks in a lock is only handled once it
                # wakes (CPython checks for signals, then blocks): sent again until handled, it wakes it.
                self._wanted = n + 1
                deadline = time.monotonic() + self.TIMEOUT
                while True:
                    signal.pthread_kill(self._main, signal.SIGINT)
                    if self._handled.acquire(timeout=0.1):
                        break
                    if time.monotonic() > deadline:
                        self._error = f"interrupt {n + 1} was never handled"
                        return
        finally:
            self.released.set()

    def finish(self) -> None:
        self._sender.join(self.TIMEOUT)
        self._restore()
        assert self._error is None, self._error
        assert self.handled == self.count


class HeldCopies(SlowCopies):
    """Each copy starts only once every interrupt has been handled."""

    def __init__(self, raw, ctrl_c: CtrlC):
        super().__init__(raw)
        self.ctrl_c = ctrl_c

    def execute(self, sql, *args):
        if sql.startswith("INSERT"):
            self.ctrl_c.hold()
        return self.raw.execute(sql, *args)


@pytest.mark.parametrize("slow,where", [(True, "statement"), (True, "end"), (False, "end")])
def test_ctrl_c_while_copies_run_stops_them_commits_nothing_and_leaves_the_store_usable(
    store, monkeypatch, slow, where
):
    """Ctrl-C while a statement waits for the copies (inside SQLAlchemy, which then closes the
    connection), or at the end of the block, several times: nothing committed, no copy left running
    on a closed connection or outside the transaction, the interrupt itself raised.

    ``slow``: the copies are held before they start; otherwise each is held inside SQLite, while it
    runs (a progress handler), so cancelling it interrupts a running statement."""
    ctrl_c = CtrlC(monkeypatch, 1 if where == "statement" else 3)
    if slow:
        original = _Loader.__init__
        monkeypatch.setattr(_Loader, "__init__", lambda self, raw, *a: original(self, HeldCopies(raw, ctrl_c), *a))
    size = COUNT if slow else 20_000
    raw = None
    try:
        with pytest.raises(KeyboardInterrupt), store.transaction(large=True) as tx:
            raw = tx.conn.connection.dbapi_connection
            if not slow:
                raw.set_progress_handler(ctrl_c.hold, 1000)  # returns None: the copy goes on
            with tx.loading("events"):
                for n in range(4):
                    tx.add_events([{}] * size, actor="t", columns={"action": ["x"] * size, "summary": [str(n)] * size})
                ctrl_c.arm()
                if where == "statement":
                    tx.conn.exec_driver_sql("SELECT 1")  # waits for the copies in the hook
    finally:
        ctrl_c.finish()
        if raw is not None and not slow:
            with contextlib.suppress(sqlite3.ProgrammingError):  # closed by the interrupt
                raw.set_progress_handler(None, 0)
    assert not [t for t in threading.enumerate() if t.name == "import-loader"]
    with store.reading() as tx:
        assert tx.last_event_id() == 0
    with store.transaction(large=True) as tx, tx.loading("events"):
        tx.add_events([{}] * COUNT, actor="t", columns={"action": ["x"] * COUNT, "summary": ["after"] * COUNT})
    with store.reading() as tx:
        assert tx.last_event_id() == COUNT

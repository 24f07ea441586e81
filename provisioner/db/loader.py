"""Bulk inserts of one large SQLite transaction copied into their tables in the background
(:class:`_Loader`), for :meth:`BulkQueries.loading <provisioner.db.bulk.BulkQueries.loading>`."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa


class _Loader:
    """The bulk inserts of one large SQLite transaction, copied into their tables in the background
    (:meth:`Tx.loading`).

    ``executemany`` does a table's index and foreign-key work row by row, taking the GIL back for each:
    a thread running it overlaps nothing. So a batch is first written by the calling thread into a
    database of its own, in memory (SQLite's ``memdb``: one table, no index, no journal, 16 rows a
    statement: about a third of the cost), and a worker thread then attaches it to the transaction's
    connection and copies it into its table with one ``INSERT ... SELECT``, which SQLite runs without
    the GIL, while the caller builds the next batch (a large insert goes in two batches, so the first
    half is copied while the second is built). Batches are copied one at a time, in the order given
    (lines before the devices that hold them, before their slots), inside the caller's transaction:
    a rollback or a crash takes them back with the rest. They stay attached until the transaction
    is over (SQLite detaches nothing inside one): :meth:`Tx.detach_loaded`.
    """

    MIN_ROWS = 2000  # smaller batches are inserted directly: a batch database costs about a millisecond
    MAX_ATTACHED = 8  # batches a transaction may attach (SQLite's limit is 10, unless built or set lower)

    _supported: bool | None = None  # per process: one SQLite library

    @classmethod
    def supported(cls, raw: sqlite3.Connection) -> bool:
        """Whether this SQLite can attach a batch: ``memdb`` (3.36) and URI names in ATTACH (Debian's and
        Python's own builds have both)."""
        if cls._supported is None:
            options = {row[0] for row in raw.execute("PRAGMA compile_options")}
            cls._supported = (
                sqlite3.sqlite_version_info >= (3, 36) and "USE_URI" in options and "OMIT_DESERIALIZE" not in options
            )
        return cls._supported

    def __init__(self, raw: sqlite3.Connection, next_ids: dict[str, int], attached: list[str]):
        self.raw = raw
        self.next_ids = next_ids  # table -> the first id not taken
        self.attached = attached  # the transaction's batch schemas, to detach when it is over
        self._error: BaseException | None = None
        self._batches = len(attached)  # attached to the connection, or to be: each stays until the transaction ends
        self._max_batches = min(self.MAX_ATTACHED, raw.getlimit(sqlite3.SQLITE_LIMIT_ATTACHED))
        self._queued = 0
        self._jobs: list[tuple[sqlite3.Connection, str, str, tuple[Any, ...]] | None] = []
        self._changed = threading.Condition()
        self._worker = threading.Thread(target=self._work, name="import-loader", daemon=True)
        self._worker.start()

    def take_ids(self, table: str, count: int) -> int:
        first = self.next_ids[table]
        self.next_ids[table] = first + count
        return first

    def can_load(self, count: int, *, batches: int = 1) -> bool:
        """Whether ``count`` rows may go in ``batches`` batches (each of at least :attr:`MIN_ROWS`)."""
        return count >= self.MIN_ROWS * batches and self._batches + batches <= self._max_batches

    def load(
        self,
        table: str,
        columns: list[str],
        values: list[Sequence[Any]],
        *,
        first_id: int | None = None,
        constants: Mapping[str, Any] | None = None,
    ) -> None:
        """Queue rows for ``table``: ``values`` holds each of ``columns`` (quoted names) for every row,
        plus ``constants`` (quoted name -> the value every row has) and, from ``first_id``, consecutive
        ids in row order. Neither is written into the batch: the copy adds them."""
        name = f"file:/provisioner-batch-{secrets.token_hex(8)}?vfs=memdb"  # shared in this process while open
        batch = sqlite3.connect(name, uri=True, isolation_level=None, check_same_thread=False)
        try:
            batch.execute("PRAGMA journal_mode=OFF")
            batch.execute(f"CREATE TABLE batch ({', '.join(columns)})")
            # 16 rows a statement: a third of the cost of one (the statement's own work, once per 16).
            values = [v if isinstance(v, (list, tuple)) else list(v) for v in values]
            count, row = len(values[0]), f"({', '.join('?' * len(columns))})"
            per = max(1, min(16, 500 // len(columns)))
            whole = count - count % per
            batch.execute("BEGIN")
            batch.executemany(
                f"INSERT INTO batch VALUES {', '.join([row] * per)}",
                # row by row, in order
                zip(*[v[i:whole:per] for i in range(per) for v in values], strict=True),
            )
            batch.executemany(f"INSERT INTO batch VALUES {row}", zip(*[v[whole:] for v in values], strict=True))
            batch.execute("COMMIT")
        except BaseException:
            batch.close()
            raise
        # The batch's rowids are 1, 2, ... in row order (a new table, nothing deleted).
        constants = constants or {}
        targets, selected = [*columns, *constants], [*columns, *"?" * len(constants)]
        if first_id is not None:
            targets, selected = ['"id"', *targets], [f"rowid + {int(first_id) - 1}", *selected]
        copy = (
            f'INSERT INTO main."{table}" ({", ".join(targets)}) SELECT {", ".join(selected)} '
            f"FROM {{schema}}.batch ORDER BY rowid"
        )
        self._batches += 1
        with self._changed:
            self._queued += 1
            self._jobs.append((batch, name, copy, tuple(constants.values())))
            self._changed.notify_all()

    def _work(self) -> None:
        while True:
            with self._changed:
                while not self._jobs:
                    self._changed.wait()
                job = self._jobs.pop(0)
            if job is None:
                return
            batch, name, copy, constants = job
            statement = copy
            try:  # whatever happens, the job is counted done below: wait() must not wait forever
                if self._error is None:  # after a failed copy the transaction is rolled back: skip the rest
                    schema = f"batch{len(self.attached)}"
                    statement = copy.format(schema=schema)
                    self.raw.execute(f"ATTACH ? AS {schema}", (name,))
                    self.attached.append(schema)
                    self.raw.execute(statement, constants)
            except sqlite3.Error as exc:  # as SQLAlchemy would raise it; the message names no value
                self._error = sa.exc.DBAPIError.instance(statement, None, exc, sqlite3.Error)
            except BaseException as exc:
                self._error = exc
            finally:
                # The copy's outcome is what counts; the thread must go on.
                with contextlib.suppress(Exception):
                    batch.close()  # its attachment keeps the batch database alive
                with self._changed:
                    self._queued -= 1
                    self._changed.notify_all()

    def wait(self) -> None:
        """Return once every queued batch is in its table; raise what a copy raised (every time: after a
        failed copy nothing more is copied, and the transaction can only be rolled back). Interrupted
        (Ctrl-C), it cancels the copies before letting the interrupt through."""
        try:
            self._until_idle()
        except BaseException:
            self.cancel()
            raise
        if self._error is not None:
            raise self._error

    def cancel(self) -> None:
        """Copy nothing more: drop the batches not started and interrupt the copy running (SQLite then
        rolls the transaction back), and return once the worker is idle, through further interrupts
        (SQLite stops a copy within milliseconds). After this no statement of the worker's runs: one
        left running on the connection would run outside any transaction, or on a closed connection."""
        with self._changed:
            if self._error is None:
                self._error = RuntimeError("the import's copies were cancelled")
            dropped = [job for job in self._jobs if job is not None]
            self._jobs = [job for job in self._jobs if job is None]
            self._queued -= len(dropped)
            running = self._queued > 0
        for batch, *_ in dropped:
            batch.close()
        if running:
            self.raw.interrupt()  # the one call SQLite takes from another thread; a no-op once it is done
        while True:
            try:
                return self._until_idle()
            except BaseException:  # another Ctrl-C: the caller re-raises the first one
                continue

    def _until_idle(self) -> None:
        with self._changed:
            while self._queued:
                self._changed.wait()

    def stop(self) -> None:
        """End the worker (idle: after :meth:`wait` or :meth:`cancel`), through interrupts, which are
        raised once it has ended."""
        with self._changed:
            self._jobs.append(None)
            self._changed.notify_all()
        interrupted: BaseException | None = None
        while self._worker.is_alive():
            try:
                self._worker.join()
            except BaseException as exc:
                interrupted = interrupted or exc
        if interrupted is not None:
            raise interrupted

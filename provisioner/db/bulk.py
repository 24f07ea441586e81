"""Bulk inserts for the import: many rows per statement, copied in the background on SQLite
(:class:`_Loader`), inside the import's one transaction."""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
import structlog

from .rows import Queries
from .schema import (
    Sealed,
    _sealer,
    customers,
    device_lines,
    devices,
    events,
    lines,
    metadata,
    utcnow,
)

_log = structlog.get_logger("provisioner.store")

# An import reads the whole devices table when its MACs are at least this share of it (1/4).
_WHOLE_TABLE_SHARE = 4
# JSON columns in bulk inserts: msgspec is about six times faster than ``json.dumps`` on audit events;
# the text differs only in spacing and in not escaping non-ASCII.
_json_encoder = msgspec.json.Encoder()


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


class BulkQueries(Queries):
    """Many rows per statement, for spreadsheet imports (:mod:`provisioner.importing`)."""

    if TYPE_CHECKING:  # from DeviceQueries, which Tx composes with this

        def count_devices(self) -> int: ...

    _raw: sqlite3.Connection | None
    _loader: _Loader | None
    _attached: list[str]

    @contextlib.contextmanager
    def loading(self, *tables: str) -> Iterator[None]:
        """Bulk inserts into ``tables`` (by name) in this block may be copied into their tables in the
        background (:class:`_Loader`), in a large SQLite transaction; elsewhere they are made as usual.
        Any other statement in the block first waits for them; at its end every row is in its table.

        The ids of these tables are counted from here: in the block, rows of them are inserted by the
        bulk inserts only."""
        raw = self._raw
        if raw is None or self._loader is not None or not _Loader.supported(raw):
            yield
            return
        next_ids = {
            name: int(raw.execute(f'SELECT coalesce(max(id), 0) + 1 FROM "{name}"').fetchone()[0])
            for name in tables
            if "id" in metadata.tables[name].c
        }
        loader = self._loader = _Loader(raw, next_ids, self._attached)

        def wait_first(*_args: Any) -> None:
            loader.wait()

        try:
            sa.event.listen(self.conn, "before_cursor_execute", wait_first)
            yield
            loader.wait()
        except BaseException:
            loader.cancel()  # no copy may run once the block is left this way: a rollback follows
            raise
        finally:
            if sa.event.contains(self.conn, "before_cursor_execute", wait_first):
                sa.event.remove(self.conn, "before_cursor_execute", wait_first)
            self._loader = None
            loader.stop()

    def detach_loaded(self) -> None:
        """Detach the batches of :meth:`loading`, once the transaction is over."""
        if self.conn.invalidated:  # closed (an interrupt inside a statement): its batches went with it
            self._attached.clear()
            return
        try:
            while self._attached:
                self._raw.execute(f"DETACH {self._attached[-1]}")  # type: ignore[union-attr]
                self._attached.pop()
        except sqlite3.Error:
            _log.warning("import_batch_detach_failed", exc_info=True)
            self.conn.invalidate()  # not back to the pool with batches attached: closed instead

    # --- spreadsheet imports (provisioner.importing): many rows per statement ---------

    def devices_by_mac(self, macs: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The devices among ``macs`` (what an import compares), each with ``line_ids``: its lines'
        ids in slot order, and ``settings_json``: its settings as stored (JSON text).

        When ``macs`` are a fair share of all devices, every device is read in one query and the
        others dropped here: cheaper than looking 100,000 MACs up by name."""
        found: dict[str, dict[str, Any]] = {}
        c = devices.c
        q = sa.select(
            c.id,
            c.mac,
            c.vendor,
            c.model,
            c.serial,
            c.ownership,
            c.state,
            c.customer_id,
            sa.cast(c.settings, sa.Text).label("settings_json"),
        )
        slots = sa.select(device_lines.c.device_id, device_lines.c.line_id).order_by(
            device_lines.c.device_id, device_lines.c.position
        )
        whole = len(macs) * _WHOLE_TABLE_SHARE >= self.count_devices()
        if whole:
            wanted = set(macs)
            found = {row["mac"]: row for row in self._dicts(q) if row["mac"] in wanted}
        else:
            for chunk in self._chunks(macs, 2000):
                found.update((row["mac"], row) for row in self._dicts(q.where(c.mac.in_(chunk))))
        by_id = {}
        for row in found.values():
            row["line_ids"] = []
            by_id[row["id"]] = row
        if not by_id:
            return found
        chunks: Iterable[list[Any] | None] = [None] if whole else self._chunks(list(by_id), 2000)
        for part in chunks:
            query = slots if part is None else slots.where(device_lines.c.device_id.in_(part))
            for device_id, line_id in self.conn.execute(query).fetchall():
                device = by_id.get(device_id)
                if device is not None:
                    device["line_ids"].append(line_id)
        return found

    def lines_with_holders(
        self, *, customer_ids: Sequence[int] = (), line_ids: Sequence[int] = ()
    ) -> list[dict[str, Any]]:
        """Every line of ``customer_ids`` and the lines ``line_ids``, each with ``holder``: the MAC
        of the device it is on, or None."""
        c = lines.c
        base = sa.select(
            c.id,
            c.customer_id,
            c.extension,
            c.display_name,
            c.sip_username,
            c.auth_id,
            c.password,
            c.label,
            c.sip_server,
            c.sip_port,
            c.sip_transport,
            devices.c.mac.label("holder"),
        ).select_from(
            lines.outerjoin(device_lines, device_lines.c.line_id == lines.c.id).outerjoin(
                devices, devices.c.id == device_lines.c.device_id
            )
        )
        found: dict[int, dict[str, Any]] = {}
        for chunk in self._chunks(customer_ids, 2000):
            found.update((r["id"], r) for r in self._dicts(base.where(lines.c.customer_id.in_(chunk))))
        missing = [i for i in line_ids if i not in found]
        for chunk in self._chunks(missing, 2000):
            found.update((r["id"], r) for r in self._dicts(base.where(lines.c.id.in_(chunk))))
        return list(found.values())

    def insert_lines(
        self, rows: Sequence[Mapping[str, Any]], *, customer_ids: Sequence[int | None] | None = None
    ) -> list[int]:
        """Insert many lines; their ids, in row order. ``customer_ids``: each row's customer, when
        the rows do not hold it."""
        now = utcnow()
        given = {"customer_id": customer_ids} if customer_ids is not None else None
        same: dict[str, Any] = {"created_at": now, "updated_at": now}
        if rows and "voicemail" not in rows[0]:
            same["voicemail"] = None  # imports do not set it (rows all have the same keys)
        return self._insert_many(lines, rows, same, ids=True, columns=given)

    def insert_devices(
        self, rows: Sequence[Mapping[str, Any]], *, columns: Mapping[str, Sequence[Any]] | None = None
    ) -> list[int]:
        """Insert many devices; their ids, in row order. ``columns``: values given per row apart
        (``mac``, ``customer_id``, ...), over the rows' own."""
        now = utcnow()
        # A device given to a customer starts its first-contact window now (provisioner.access).
        holders = (
            columns["customer_id"] if columns and "customer_id" in columns else [r.get("customer_id") for r in rows]
        )
        columns = {**(columns or {}), "assigned_at": [None if c is None else now for c in holders]}
        return self._insert_many(devices, rows, {"created_at": now, "updated_at": now}, ids=True, columns=columns)

    def replace_device_lines(self, assignments: Mapping[int, Sequence[int]], *, new: Iterable[int] = ()) -> None:
        """Give each device (id) exactly these lines (ids, by slot), taking them off any other device.
        ``new``: devices just inserted, which have no lines to take off."""
        fresh = set(new)
        old = [did for did in assignments if did not in fresh]
        for chunk in self._chunks(old):
            self.conn.execute(device_lines.delete().where(device_lines.c.device_id.in_(chunk)))
        for chunk in self._chunks([lid for did in old for lid in assignments[did]]):
            self.conn.execute(device_lines.delete().where(device_lines.c.line_id.in_(chunk)))
        device_ids: list[int] = []
        positions: list[int] = []
        line_ids: list[int] = []
        for did, ids in assignments.items():
            device_ids += [did] * len(ids)
            positions += range(1, len(ids) + 1)
            line_ids += ids
        self._insert_many(
            device_lines,
            [{}] * len(line_ids),
            columns={"device_id": device_ids, "position": positions, "line_id": line_ids},
        )

    def add_events(
        self, rows: Sequence[Mapping[str, Any]], *, actor: str, columns: Mapping[str, Sequence[Any]] | None = None
    ) -> None:
        """Append many audit events by ``actor`` at once; each row holds what :meth:`add_event` takes
        (``action``, ``summary``, ``device_mac``, ``customer_id``, ``before``, ``after``), or
        ``columns`` holds them, one list per field (``rows`` then being empty mappings)."""
        self._insert_many(events, rows, {"at": utcnow(), "actor": actor}, columns=columns)

    def _insert_many(
        self,
        table: sa.Table,
        rows: Sequence[Mapping[str, Any]],
        same: Mapping[str, Any] | None = None,
        *,
        ids: bool = False,
        columns: Mapping[str, Sequence[Any]] | None = None,
        halved: bool = False,
    ) -> list[int]:
        """Insert ``rows`` (all with the same keys) plus the values ``same`` for every row, in one
        statement; the new ids, in order, when ``ids``. ``columns``: more values, one per row by
        column name, over the rows' own.

        On SQLite the parameters are converted by the columns' own SQLAlchemy bind processors
        (values are stored as by ``insert()``; JSON by msgspec: the same values) and handed to the
        driver's executemany, without SQLAlchemy's per-row work. The caller holds the write
        transaction, so the ids after the table's current maximum are free and are given explicitly.
        """
        if not rows:
            return []
        same = dict(same or {})
        apart = dict(columns or {})
        dialect = self.conn.dialect
        if dialect.name != "sqlite":
            params = [{**r, **same} for r in rows]
            for name, values in apart.items():
                for param, value in zip(params, values, strict=True):
                    param[name] = value
            if ids:
                q = table.insert().returning(table.c.id, sort_by_parameter_order=True)
                return [r[0] for r in self.conn.execute(q, params)]
            self.conn.execute(table.insert(), params)
            return []
        loader = self._loader
        if loader is not None and not halved and loader.can_load(len(rows), batches=2):
            # Two batches, each converted, written and queued in turn: the first is copied while the
            # second is converted (passwords sealed, JSON encoded) and written, and the copy waited for
            # at the end is half as long.
            half = len(rows) // 2
            return [
                *self._insert_many(
                    table, rows[:half], same, ids=ids, halved=True, columns={k: v[:half] for k, v in apart.items()}
                ),
                *self._insert_many(
                    table, rows[half:], same, ids=ids, halved=True, columns={k: v[half:] for k, v in apart.items()}
                ),
            ]
        from itertools import repeat
        from operator import (
            itemgetter,  # here, not at the top: this block is the import feature's alone
        )

        count = len(rows)
        given = [name for name in rows[0] if name not in apart]
        picked = (
            []
            if not given
            else [(r[given[0]],) for r in rows]
            if len(given) == 1
            else list(map(itemgetter(*given), rows))
        )
        names: list[str] = []
        values_of: list[Any] = []
        for name, values in [*zip(given, zip(*picked, strict=True), strict=True), *apart.items()]:
            column = table.c[name]
            nones = values.count(None)
            if (
                nones == count
                and column.nullable
                and column.default is None
                and (column.server_default is None and not isinstance(column.type, sa.JSON))
            ):
                continue  # NULL in every row: left out (binding 100,000 NULLs is not free)
            if isinstance(column.type, sa.JSON):
                # msgspec (the same JSON as the bind processor's, ~6x faster), one call for the column:
                # JSON text never holds a raw newline, so the lines are the values, None being "null".
                values = _json_encoder.encode_lines(values).decode().split("\n", count)[:count]
            elif isinstance(column.type, Sealed):  # sealed in bulk: the same values as its bind processor gives
                sealed: list[str | None] = [*_sealer(dialect).seal_many([str(v) for v in values if v is not None])]
                if nones:
                    each = iter(sealed)
                    sealed = [None if v is None else next(each) for v in values]
                values = sealed
            elif (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
                # None and a value shared by every row (a device's assigned_at) are converted once.
                first, none = values[0], process(None)
                if nones == count:
                    names.append(name)
                    values_of.append(repeat(none, count))
                    continue
                done = process(first) if first is not None else none
                values = [none if v is None else done if v is first else process(v) for v in values]
            names.append(name)
            values_of.append(values)
        constants = {}  # the same for every row (created_at, actor, ...): converted once
        for name, value in same.items():
            process = table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
            constants[name] = process(value) if process is not None else value
        new_ids: list[int] = []
        if ids:
            if loader is not None and table.name in loader.next_ids:
                first = loader.take_ids(table.name, count)
            else:
                first = int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()) + 1
            new_ids = list(range(first, first + count))
        quote = dialect.identifier_preparer.quote
        if loader is not None and names and loader.can_load(count):
            loader.load(
                table.name,
                [quote(n) for n in names],
                values_of,
                first_id=new_ids[0] if ids else None,
                constants={quote(n): v for n, v in constants.items()},
            )
            return new_ids
        names += constants
        values_of += [repeat(value, count) for value in constants.values()]
        if ids:
            names, values_of = ["id", *names], [new_ids, *values_of]
        self.conn.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) VALUES ({', '.join('?' * len(names))})",
            list(zip(*values_of, strict=True)),
        )
        return new_ids

    def export_rows(self, customer_id: int | None = None) -> list[dict[str, Any]]:
        """Devices with their customer's code and name and each line (one row per line, in slot
        order; one row with no line for a device without any), by customer and MAC."""
        q = (
            sa.select(
                devices.c.mac,
                devices.c.vendor,
                devices.c.model,
                devices.c.serial,
                devices.c.ownership,
                devices.c.state,
                customers.c.code.label("customer_code"),
                customers.c.name.label("customer_name"),
                customers.c.sip_server.label("customer_server"),
                device_lines.c.position,
                lines.c.extension,
                lines.c.display_name,
                lines.c.sip_username,
                lines.c.auth_id,
                lines.c.password,
                lines.c.label,
                lines.c.sip_server,
            )
            .select_from(
                devices.outerjoin(customers, customers.c.id == devices.c.customer_id)
                .outerjoin(device_lines, device_lines.c.device_id == devices.c.id)
                .outerjoin(lines, lines.c.id == device_lines.c.line_id)
            )
            .order_by(customers.c.code, devices.c.mac, device_lines.c.position)
        )
        if customer_id is not None:
            q = q.where(devices.c.customer_id == customer_id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

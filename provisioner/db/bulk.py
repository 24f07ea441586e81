"""Bulk inserts for the import: many rows per statement, copied in the background on SQLite
(:class:`_Loader`), inside the import's one transaction."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec
import sqlalchemy as sa
import structlog

from .loader import _Loader
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

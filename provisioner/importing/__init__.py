"""Bulk import from technicians' spreadsheets: read -> check -> plan -> apply.

::

    table   = read_path(path)            # reading: CSV/XLSX/XLS/ODS -> rows as the sheet shows them
    checked = check(table)               # validation: each row on its own (pure)
    plan, applied = run(store, checked,  # planning against the database, then applying,
                        actor=...)       # in one transaction; nothing when any row is bad

Pure steps (:mod:`.columns`, :mod:`.cells`, :mod:`.validation`, :mod:`.planning`) do no
I/O; :mod:`.reading`, :mod:`.applying`, :mod:`.reports` and :mod:`.exporting` do. A file
that cannot be used at all raises :class:`SheetError`; a bad row is a :class:`Problem`
naming the row as the spreadsheet shows it, the column as written in the header, the
value and the fix.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ..db import Store
from ..errors import Conflict
from . import applying, planning, reading, validation
from .exporting import export
from .planning import Plan
from .problems import FileTooLarge, Problem, SheetError
from .reading import Limits, Table
from .reports import error_report, plan_dict, text_lines
from .validation import Checked

_gc_lock = threading.Lock()
_gc_users = 0
_gc_was_enabled = False


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while an import runs.

    An import of 100,000 rows holds about a million containers; every full collection walks
    them all, which made each step about twice as slow. Memory is still freed as usual
    (reference counting); the collector is back on when the last import ends.

    What the import allocated is then moved to the oldest generation without a collection
    (``gc.freeze()`` and ``gc.unfreeze()``: two list splices). Otherwise the first allocation
    after ``gc.enable()`` walks it all as young objects, ~0.1 s after a 100,000-phone apply, to
    find what is still in use: the plan and rows the caller holds. The next full collection
    looks at them, if they are still there.
    """
    global _gc_users, _gc_was_enabled
    with _gc_lock:
        if _gc_users == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0 and _gc_was_enabled:
                if gc.get_freeze_count():  # someone froze objects for good: leave them frozen
                    gc.enable()
                else:
                    gc.freeze()
                    gc.enable()
                    gc.unfreeze()


def read(data: bytes, name: str, **options: Any) -> Table:
    """The sheet of ``data`` (the file's bytes) with the header row: see :func:`.reading.read`."""
    with paused_gc():
        return reading.read(data, name, **options)


def read_path(path: Path, **options: Any) -> Table:
    with paused_gc():
        return reading.read_path(path, **options)


def check(table: Table, **options: Any) -> Checked:
    """Every row checked on its own: see :func:`.validation.check`."""
    with paused_gc():
        return validation.check(table, **options)


__all__ = [
    "Checked",
    "FileTooLarge",
    "Limits",
    "Plan",
    "PlanChanged",
    "Problem",
    "SheetError",
    "Table",
    "check",
    "error_report",
    "export",
    "paused_gc",
    "plan_dict",
    "preview",
    "read",
    "read_path",
    "run",
    "text_lines",
]


class PlanChanged(Conflict):
    """The database changed since the plan was shown: ``plan`` is the new one."""

    key = "plan_changed"

    def __init__(self, plan: Plan):
        super().__init__("the database changed since this plan was made: review the new plan and apply again")
        self.plan = plan


def preview(store: Store, checked: Checked, *, skip_invalid: bool = False) -> Plan:
    """The plan against the database as it is now; changes nothing."""
    with paused_gc(), store.reading() as tx:
        return planning.plan(checked, applying.snapshot(tx, checked), skip_invalid=skip_invalid)


def run(
    store: Store,
    checked: Checked,
    *,
    actor: str,
    skip_invalid: bool = False,
    dry_run: bool = False,
    expect: str | None = None,
    on_apply: Callable[[int], None] | None = None,
    progress: Callable[[int], None] | None = None,
) -> tuple[Plan, bool]:
    """Plan and, unless rejected or ``dry_run``, apply in one transaction: (plan, applied).

    What is applied is exactly what was planned. On SQLite (one writer at a time) the plan is
    made before the write transaction, with the id of the newest event read in the same
    snapshot; inside the write transaction that id is checked again (every write appends an
    event), and only if the database changed meanwhile is the plan made again there. So a
    large import holds the write lock for its apply alone, not for its planning, and other
    writers do not time out behind it. On PostgreSQL (row locks, no global write lock) the
    plan is made inside the write transaction. ``expect``: the fingerprint of a plan shown
    earlier; if the plan differs now, :class:`PlanChanged` is raised and nothing is written.
    ``on_apply(n)`` is called when writing ``n`` changes begins.
    """
    if dry_run:
        return preview(store, checked, skip_invalid=skip_invalid), False
    actor = f"{actor} import:{checked.table.name}"[:100]
    with paused_gc():
        plan: Plan | None = None
        mark: int | None = None
        if store.is_sqlite:
            with store.reading() as tx:
                mark = tx.last_event_id()
                plan = planning.plan(checked, applying.snapshot(tx, checked), skip_invalid=skip_invalid)
            if expect is not None and plan.fingerprint != expect:
                raise PlanChanged(plan)
            if plan.rejected:
                return plan, False
        with store.transaction(large=True) as tx:
            if plan is None or tx.last_event_id() != mark:  # changed since: plan again, under the lock
                plan = planning.plan(checked, applying.snapshot(tx, checked), skip_invalid=skip_invalid)
                if expect is not None and plan.fingerprint != expect:
                    raise PlanChanged(plan)
                if plan.rejected:
                    return plan, False
            if plan.changes:
                if on_apply is not None:
                    on_apply(len(plan.changes))
                applying.apply(tx, plan, actor=actor, source=checked.table.name, progress=progress)
    return plan, True

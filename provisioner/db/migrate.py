"""Schema revisions: which one a database is at, upgrading it, and backing it up first.

Migrations are Alembic scripts in ``provisioner/db/migrations/versions``. On SQLite a migration
that changes a column rebuilds its table (Alembic's "batch" mode: copy, drop the old, rename).
With foreign keys enforced, dropping the old table would delete, by ``ON DELETE CASCADE``,
every row that points at it (a phone's lines, say). So SQLite migrations run with foreign keys
off, set before the transaction begins (SQLite ignores the pragma inside one), and every
reference is checked before the commit: a migration that breaks one is refused whole.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from ..errors import ProvisionerError
from .engine import MIGRATIONS

if TYPE_CHECKING:
    from .engine import Store


class MigrationError(ProvisionerError):
    """A migration would have left the database inconsistent; it was rolled back."""

    status = 500
    key = "migration_failed"


def _config(**attributes: Any) -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes.update(attributes)
    return cfg


def head() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(_config()).get_current_head() or ""


def revisions() -> list[str]:
    """Every revision, oldest first."""
    from alembic.script import ScriptDirectory

    return [s.revision for s in reversed(list(ScriptDirectory.from_config(_config()).walk_revisions()))]


def current(store: Store) -> str | None:
    """The revision the database is at (None: empty, never migrated)."""
    from alembic.migration import MigrationContext

    with store.engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(store: Store, target: str = "head") -> tuple[str | None, str | None]:
    """Migrate to ``target`` in one transaction; return the revisions before and after."""
    if not store.is_sqlite:
        with store.write_engine.begin() as conn:
            before = _revision(conn)
            _upgrade_to(conn, _config(connection=conn, sealer=store.sealer), target)
            return before, _revision(conn)
    with store.write_engine.connect() as conn:
        raw = cast("sqlite3.Connection", conn.connection.dbapi_connection)  # SQLite's own
        raw.execute("PRAGMA foreign_keys=OFF")  # before BEGIN: inside a transaction it is a no-op
        try:
            with conn.begin():
                before = _revision(conn)
                _upgrade_to(conn, _config(connection=conn, sealer=store.sealer), target)
                check_references(conn)  # before the commit: a broken reference rolls it all back
                after = _revision(conn)
        finally:
            if not conn.invalidated:
                raw.execute("PRAGMA foreign_keys=ON")  # the connection goes back to the pool
    return before, after


def _upgrade_to(conn: Any, cfg: Any, target: str) -> None:
    from alembic import command

    command.upgrade(cfg, target)


def check_references(conn: Any) -> None:
    """Raise :class:`MigrationError` if a row points at a row that is not there (SQLite)."""
    broken: dict[tuple[str, str], int] = {}
    for table, _rowid, parent, _fk in conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall():
        broken[(table, parent)] = broken.get((table, parent), 0) + 1
    if broken:
        found = "; ".join(
            f"{n} row(s) of {table} point at no row of {parent}" for (table, parent), n in sorted(broken.items())
        )
        raise MigrationError(
            f"the upgrade would break references ({found}): it was rolled back, the database is unchanged"
        )


def _revision(conn: Any) -> str | None:
    from alembic.migration import MigrationContext

    return MigrationContext.configure(conn).get_current_revision()


def backup(store: Store, path: Path) -> int:
    """Copy a SQLite database to ``path`` while it is in use (SQLite's online backup: a consistent
    snapshot, readers and writers carry on); return its size in bytes. PostgreSQL: pg_dump."""
    if not store.is_sqlite:
        raise ProvisionerError(
            "backup copies the embedded SQLite database; for PostgreSQL use pg_dump", field="database_url"
        )
    path = Path(path)
    if path.exists():
        raise ProvisionerError(f"{path} exists: give a new file name, nothing was written", field="path")
    if not path.parent.is_dir():
        raise ProvisionerError(f"{path.parent} is not a folder: nothing was written", field="path")
    source = store.engine.raw_connection()
    partial = path.with_name(path.name + ".partial")
    try:
        target = sqlite3.connect(partial)
        try:
            source.driver_connection.backup(target)  # type: ignore[union-attr]
        finally:
            target.close()
        partial.rename(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        source.close()
    return path.stat().st_size

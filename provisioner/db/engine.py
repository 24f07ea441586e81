"""The engine: opening a database (SQLite pragmas, file modes, PostgreSQL pool), migrating it,
transactions and the background checkpoint, and what a database error means to the caller."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, cast

import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from ..errors import Conflict, Unavailable
from ..sealing import Sealer, SealError
from .tx import Tx

_log = structlog.get_logger("provisioner.store")

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


SQLITE_FILE = "provisioner.sqlite3"


def database_url(data_dir: Path, url: str | None) -> str:
    if url:
        if url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
            return "postgresql+psycopg://" + url[len("postgresql://") :]
        return url
    return f"sqlite:///{(data_dir / SQLITE_FILE).resolve()}"


def _private_files(data_dir: Path) -> None:
    """The data directory (0700) and the SQLite file with its WAL and SHM (0600) for the owner alone:
    they hold the events, the download records and sealed secrets. SQLite gives the WAL and SHM files
    the database file's mode, so the file is made 0600 before SQLite first opens it; a directory and
    files an older version left readable by others are tightened."""
    if not data_dir.exists():
        old = os.umask(0o077)
        try:
            data_dir.mkdir(parents=True, mode=0o700, exist_ok=True)
        finally:
            os.umask(old)
    elif data_dir.stat().st_mode & 0o077 and data_dir.stat().st_uid == os.getuid():
        with contextlib.suppress(PermissionError):
            os.chmod(data_dir, 0o700)
    db = data_dir / SQLITE_FILE
    if not db.exists():
        os.close(os.open(db, os.O_WRONLY | os.O_CREAT, 0o600))
    for path in (db, db.with_name(SQLITE_FILE + "-wal"), db.with_name(SQLITE_FILE + "-shm")):
        with contextlib.suppress(FileNotFoundError, PermissionError):
            if path.stat().st_mode & 0o077:
                os.chmod(path, 0o600)


def busy_timeout_ms() -> int:
    """How long a SQLite statement waits for another writer's lock before it fails (ms):
    PROVISIONER_SQLITE_BUSY_TIMEOUT_MS, 10,000 by default."""
    try:
        return max(0, int(os.environ.get("PROVISIONER_SQLITE_BUSY_TIMEOUT_MS", "10000")))
    except ValueError:
        return 10000


# What a database error means for the caller, from the driver's text (never repeated: it may hold values).
_REASONS = (
    (("database is locked", "database table is locked", "database is busy"), "locked"),
    (("readonly", "read-only", "read only"), "read_only"),
    (("disk is full", "no space left", "could not extend file", "could not write"), "disk_full"),
    (("disk i/o error",), "io_error"),
    (
        (
            "unable to open database",
            "connection",
            "could not connect",
            "server closed",
            "terminating",
            "timeout expired",
            "shutting down",
            "starting up",
        ),
        "unreachable",
    ),
)
_MESSAGES = {
    "locked": "the database is locked by another writer (a large import?): nothing was changed; try again",
    "read_only": "the database is read-only (file permissions, a read-only disk or a standby server): "
    "nothing was changed",
    "disk_full": "the database's disk is full: nothing was changed; free some space",
    "io_error": "the database's disk failed to read or write (full, removed or failing): nothing was changed",
    "unreachable": "the database cannot be reached: nothing was changed; try again when it is back",
}


def unavailable(exc: BaseException) -> Unavailable | None:
    """The :class:`Unavailable` a database error means (locked, unreachable, read-only, disk full),
    or None for any other error (a bug, a constraint)."""
    if isinstance(exc, Unavailable):
        return exc
    if isinstance(exc, sa.exc.DBAPIError):
        orig: BaseException | None = exc.orig
        if exc.connection_invalidated:
            return Unavailable(_MESSAGES["unreachable"], reason="unreachable")
    elif isinstance(exc, (sqlite3.OperationalError, sqlite3.DatabaseError)):
        orig = exc
    else:
        return None
    text = str(orig or exc).lower()
    for needles, reason in _REASONS:
        if any(n in text for n in needles):
            return Unavailable(_MESSAGES[reason], reason=reason)
    module = type(orig).__module__ if orig is not None else ""
    if module.startswith("psycopg") and type(orig).__name__ == "OperationalError":
        return Unavailable(_MESSAGES["unreachable"], reason="unreachable")
    return None


@contextlib.contextmanager
def _available() -> Iterator[None]:
    """A database that cannot take the work now is :class:`Unavailable` (503), not a crash (500)."""
    try:
        yield
    except (sa.exc.DBAPIError, sqlite3.Error) as exc:
        mapped = unavailable(exc)
        if mapped is None:
            raise
        raise mapped from None


def database_exists(data_dir: Path, url: str | None) -> bool:
    """Whether there is a provisioner database to open (opening one creates it).

    SQLite: the file exists (connecting would create it). A server database: it holds the
    migrations' table.
    """
    full = sa.engine.make_url(database_url(data_dir, url))
    if full.get_backend_name() == "sqlite":
        database = full.database
        return database is not None and database not in ("", ":memory:") and Path(database).is_file()
    engine = sa.create_engine(full)
    try:
        return sa.inspect(engine).has_table("alembic_version")
    finally:
        engine.dispose()


def describe(data_dir: Path, url: str | None) -> str:
    """Where the database is, for messages: a path, or the URL without its password."""
    full = sa.engine.make_url(url or database_url(data_dir, url))  # as the user gave it
    if full.get_backend_name() == "sqlite" and full.database:
        return full.database
    return full.render_as_string(hide_password=True)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute(f"PRAGMA busy_timeout={busy_timeout_ms()}")
    # Deleted and overwritten content is zeroed: an old plaintext row (from before migration 0003)
    # does not linger in free pages of a copied file.
    cur.execute("PRAGMA secure_delete=ON")
    cur.close()


def _sqlite_engine(url: str, begin: str) -> Engine:
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        _sqlite_pragmas(dbapi_conn, record)

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql(begin)

    return engine


_WAL_AUTOCHECKPOINT = 1000  # SQLite's default: pages of write-ahead log that make a commit checkpoint


@contextlib.contextmanager
def _races() -> Iterator[None]:
    """A uniqueness the services checked but another transaction took first (two nodes swapping into
    the same new MAC at once, say): a conflict to retry, not a crash. The driver's message is not
    repeated: it may hold the statement's values, passwords among them."""
    try:
        yield
    except sa.exc.IntegrityError as exc:
        _log.info("write_conflict", error=type(exc.orig).__name__)
        raise Conflict("another change to the same record landed first: nothing was changed; try again") from None


# The write transactions committed in the current context, when someone counts them (:func:`counting_commits`).
_commits: ContextVar[list[int] | None] = ContextVar("provisioner_commits", default=None)


@contextlib.contextmanager
def counting_commits() -> Iterator[list[int]]:
    """Count the write transactions (:meth:`Store.transaction`) committed in this block: ``[n]``.

    Code the block runs in worker threads with ``asyncio.to_thread`` counts too (the thread runs in a
    copy of this context, which holds the same counter). The web app counts a request's commits to
    sync the config cache once, before answering, only when it wrote (``provisioner.web``)."""
    counter = [0]
    token = _commits.set(counter)
    try:
        yield counter
    finally:
        _commits.reset(token)


def _committed() -> None:
    counter = _commits.get()
    if counter is not None:
        counter[0] += 1


class Store:
    """An engine plus migrations. One per process."""

    def __init__(self, url: str, sealer: Sealer):
        self.url = url
        self.sealer = sealer
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            # Two engines on one file: readers begin deferred; writers BEGIN IMMEDIATE so a
            # read-then-write transaction cannot lose its snapshot to another process.
            self.engine: Engine = _sqlite_engine(url, "BEGIN")
            self.write_engine: Engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
        else:
            self.engine = sa.create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)
            self.write_engine = self.engine
        for engine in {self.engine, self.write_engine}:
            engine.dialect.provisioner_sealer = sealer  # type: ignore[attr-defined]  # read by Sealed
        # SQLite allows one writer at a time; serialising this process's writes avoids busy waits.
        self._write_lock = threading.Lock() if self.is_sqlite else contextlib.nullcontext()
        self._checkpoint_lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._checkpoint_again = False

    @classmethod
    def open(
        cls, data_dir: Path, url: str | None = None, *, migrate: bool = True, sealer: Sealer | None = None
    ) -> Store:
        if not url:
            _private_files(data_dir)
        store = cls(database_url(data_dir, url), sealer or Sealer.for_data_dir(data_dir))
        if migrate:
            try:
                store.migrate()
                store.check_key()
            except BaseException:
                store.close()
                raise
        return store

    def check_key(self) -> None:
        """Fail at start, with a clear message, when our key does not open this database's secrets."""
        with self.reading() as tx:
            try:
                tx.server_secret("canary")
            except SealError:
                raise SealError(
                    "the secret key does not open this database's secrets: give the key it was "
                    "sealed with (PROVISIONER_SECRET_KEY, the same on every node, or "
                    "secret.key in the data directory)"
                ) from None

    def migrate(self, target: str = "head") -> tuple[str | None, str | None]:
        """Upgrade the schema to ``target`` (:mod:`provisioner.db.migrate`); the revisions before and after."""
        from . import migrate as migrating

        with self._write_lock:
            return migrating.upgrade(self, target)

    def close(self) -> None:
        self.wait_for_checkpoint()
        self.engine.dispose()
        self.write_engine.dispose()

    @contextlib.contextmanager
    def transaction(self, *, large: bool = False) -> Iterator[Tx]:
        """A read-write transaction: everything in it lands, or nothing.

        ``large``: one that writes a great many rows (an import). On SQLite, the commit that grows
        the write-ahead log past 1,000 pages also copies the log into the database file (a
        checkpoint: ~0.5 s after a 100,000-phone import). For a large transaction that copy is
        made right after the commit by a background thread (:meth:`checkpoint`), so the caller
        has its answer once its changes are committed. Committed is committed either way: a
        crash before the copy loses nothing (SQLite replays the log).

        Once committed, it is counted by :func:`counting_commits` (a request that wrote syncs the
        config cache before it answers).
        """
        if not (large and self.is_sqlite):
            with _available(), _races(), self._write_lock, self.write_engine.begin() as conn:
                yield Tx(conn)
            _committed()
            return
        with _available(), _races(), self._write_lock, self.write_engine.connect() as conn:
            raw = cast("sqlite3.Connection", conn.connection.dbapi_connection)  # SQLite's own
            raw.execute("PRAGMA wal_autocheckpoint=0")
            tx = Tx(conn, raw=raw)
            try:
                with conn.begin():
                    yield tx
            finally:
                tx.detach_loaded()  # after the commit or rollback: SQLite detaches nothing in a transaction
                if not conn.invalidated:  # closed by an interrupt: nothing to reset, nothing to mask it with
                    raw.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT}")
        _committed()
        self._checkpoint_soon()

    def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file now (PASSIVE: it waits for no
        reader or writer, and leaves what they still need for a later checkpoint)."""
        if self.is_sqlite:
            with self.write_engine.connect() as conn:
                raw = cast("sqlite3.Connection", conn.connection.dbapi_connection)
                raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpoint_soon(self) -> None:
        with self._checkpoint_lock:
            if self._checkpointer is not None and self._checkpointer.is_alive():
                self._checkpoint_again = True  # the running one may have started before this commit
                return
            self._checkpointer = threading.Thread(target=self._checkpoints, name="sqlite-checkpoint", daemon=True)
            self._checkpointer.start()

    def _checkpoints(self) -> None:
        while True:
            try:
                self.checkpoint()
            except Exception:  # the next commit's automatic checkpoint does it instead
                _log.warning("sqlite_checkpoint_failed", exc_info=True)  # logs no data: the DB path at most
            with self._checkpoint_lock:
                if not self._checkpoint_again:
                    return
                self._checkpoint_again = False

    def wait_for_checkpoint(self) -> None:
        """Return once a background checkpoint (see :meth:`transaction`) is done."""
        thread = self._checkpointer
        if thread is not None:
            thread.join()

    @contextlib.contextmanager
    def reading(self) -> Iterator[Tx]:
        with _available(), self.engine.connect() as conn:
            yield Tx(conn)

    def check_writable(self) -> None:
        """Raise :class:`Unavailable` unless the database takes a write now (the health check).

        SQLite: a committed rewrite of the header's ``user_version`` (one page of write-ahead log; it
        fails on a lock held too long, a read-only file or a full disk). PostgreSQL: a transaction id
        is assigned (fails on a read-only server or transaction). Neither needs a table of its own.
        Not behind this process's write lock: a health check does not queue behind an import.
        """
        with _available(), self.write_engine.begin() as conn:
            if self.is_sqlite:
                version = int(conn.exec_driver_sql("PRAGMA user_version").scalar() or 0)
                conn.exec_driver_sql(f"PRAGMA user_version = {version}")
            else:
                conn.exec_driver_sql("SELECT txid_current()")

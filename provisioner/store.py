"""The store: SQLAlchemy Core tables and the queries the services need.

This is the only module that imports SQLAlchemy. SQLite (WAL) in the data
directory is the embedded default; a PostgreSQL URL lets several server nodes
share one database. The schema is created and upgraded by Alembic migrations
(``provisioner/migrations``) when a store is opened.

Every change goes through :meth:`Store.transaction`, and the services write an
audit event in the same transaction (:meth:`Tx.add_event`).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import sqlalchemy as sa
import structlog
from sqlalchemy.engine import Connection, Engine

from .errors import Conflict, Unavailable
from .sealing import Sealer, SealError

_log = structlog.get_logger("provisioner.store")

metadata = sa.MetaData()


class Sealed(sa.types.TypeDecorator):
    """Text sealed with the store's :class:`~provisioner.sealing.Sealer` on the way in and opened on
    the way out: the database holds no plaintext, every caller of the store sees plaintext."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else _sealer(dialect).seal(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else _sealer(dialect).open(value)


def _sealer(dialect: Any) -> Sealer:
    sealer = getattr(dialect, "provisioner_sealer", None)
    if sealer is None:
        raise SealError("this engine has no key to seal or open secrets with")
    return sealer

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("sip_server", sa.String(255)),
    sa.Column("sip_port", sa.Integer, nullable=False, server_default="5060"),
    sa.Column("sip_transport", sa.String(8), nullable=False, server_default="udp"),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="Europe/Rome"),
    sa.Column("language", sa.String(16), nullable=False, server_default="it"),
    sa.Column("ntp_server", sa.String(255)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The rental contract (provisioner.rentals): lines stop from contract_end on; NULL terms follow
    # the provider's default return policy.
    sa.Column("contract_end", sa.Date),
    sa.Column("return_window_days", sa.Integer),
    sa.Column("late_charge", sa.String(16)),
    sa.Column("penalty_per_day_cents", sa.Integer),
    # NOTIFY the phones after every change: NULL follows the server's --resync-after-change.
    sa.Column("resync_after_change", sa.Boolean),
)

lines = sa.Table(
    "lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("extension", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("sip_username", sa.String(128), nullable=False),
    sa.Column("auth_id", sa.String(128), nullable=False),
    sa.Column("password", Sealed, nullable=False),
    sa.Column("label", sa.String(100)),
    sa.Column("sip_server", sa.String(255)),  # None: the customer's default applies
    sa.Column("sip_port", sa.Integer),
    sa.Column("sip_transport", sa.String(8)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("customer_id", "extension", name="uq_lines_customer_extension"),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mac", sa.String(12), nullable=False, unique=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("serial", sa.String(64)),
    sa.Column("ownership", sa.String(16), nullable=False, server_default="rental"),
    sa.Column("state", sa.String(16), nullable=False, server_default="in_stock"),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="RESTRICT"), index=True),
    sa.Column("settings", sa.JSON, nullable=False, default=dict),
    sa.Column("last_seen_at", sa.DateTime(timezone=True)),
    sa.Column("last_seen_ip", sa.String(64)),
    sa.Column("last_seen_user_agent", sa.String(400)),
    sa.Column("firmware", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # A rented device awaiting return (provisioner.rentals): since when, why, and what was billed.
    sa.Column("due_from", sa.Date),
    sa.Column("due_reason", sa.String(16)),
    sa.Column("charged_cents", sa.Integer),
    sa.Column("charged_on", sa.Date),
    # Phone-facing security (provisioner.access): when the device was last given to a customer (its
    # first-contact window starts there) and when that window was closed by its first download.
    sa.Column("assigned_at", sa.DateTime(timezone=True)),
    sa.Column("window_closed_at", sa.DateTime(timezone=True)),
)

device_lines = sa.Table(
    "device_lines",
    metadata,
    sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.Integer, sa.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False, unique=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("device_mac", sa.String(12), index=True),
    sa.Column("customer_id", sa.Integer),
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    # Only customer events name a customer (device and line events name their phone): the index
    # leaves the others out (every device event, 100,000 rows of index per large import).
    sa.Index("ix_events_customer_id", "customer_id", sqlite_where=sa.text("customer_id IS NOT NULL"),
             postgresql_where=sa.text("customer_id IS NOT NULL")),
)

unknown_devices = sa.Table(
    "unknown_devices",
    metadata,
    sa.Column("mac", sa.String(12), primary_key=True),
    sa.Column("vendor", sa.String(32)),
    sa.Column("model", sa.String(32)),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(400)),
    sa.Column("last_file", sa.String(128)),
    sa.Column("requests", sa.Integer, nullable=False, server_default="1"),
)

downloads = sa.Table(
    "downloads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("device_mac", sa.String(12), nullable=False, index=True),
    sa.Column("file", sa.String(128), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(400)),
    sa.Column("transport", sa.String(8), nullable=False),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("device_mac", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sealed_body", Sealed, nullable=False),  # the bytes, base64, sealed (migration 0006_uploads)
)

# The provider's default return policy: one row (id 1); none means the built-in default.
rental_defaults = sa.Table(
    "rental_defaults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("window_days", sa.Integer, nullable=False),
    sa.Column("late_charge", sa.String(16), nullable=False),
    sa.Column("penalty_per_day_cents", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# What a device not returned costs, per model; vendor and model "*" is the fallback for any other.
replacement_costs = sa.Table(
    "replacement_costs",
    metadata,
    sa.Column("vendor", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(32), primary_key=True),
    sa.Column("cost_cents", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# How a customer's phones must prove themselves (provisioner.access); no row: no requirement.
customer_security = sa.Table(
    "customer_security",
    metadata,
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("auth", sa.String(8), nullable=False, server_default="none"),  # none | digest
    sa.Column("username", sa.String(64)),
    sa.Column("password", Sealed),
    sa.Column("path_key", Sealed),  # the secret in /p/<key>/...
    sa.Column("window_hours", sa.Integer),  # per-device tokens with a first-contact window; NULL: off
    sa.Column("allow", sa.JSON),  # CIDR list; NULL or empty: any address
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Secrets the server nodes share (sealed): "hmac" keys device tokens and digest nonces; "canary"
# tells at start whether our key opens this database.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", Sealed, nullable=False),
)

# People who sign in to the console and the admin API (provisioner.accounts). Passwords are
# argon2 hashes; tokens and sessions are stored as SHA-256 digests of what the holder keeps.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_login_at", sa.DateTime(timezone=True)),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(400)),
)

# (device, its customer or None, its lines in slot order)
RenderRows = tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]
# Tables whose Sealed columns `provisioner secrets rotate` re-seals: (table, key columns, sealed columns).
SEALED_COLUMNS = ((lines, ("id",), ("password",)),
                  (customer_security, ("customer_id",), ("password", "path_key")),
                  (server_secrets, ("name",), ("value",)),
                  (uploads, ("device_mac", "name"), ("sealed_body",)))

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def utcnow() -> datetime:
    return datetime.now(UTC)


SQLITE_FILE = "provisioner.sqlite3"


def database_url(data_dir: Path, url: str | None) -> str:
    if url:
        if url.startswith("postgresql://"):
            # psycopg 3 is the driver we ship; plain postgresql:// would pick psycopg2.
            return "postgresql+psycopg://" + url[len("postgresql://"):]
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
    (("unable to open database", "connection", "could not connect", "server closed", "terminating",
      "timeout expired", "shutting down", "starting up"), "unreachable"),
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
        return bool(full.database) and full.database != ":memory:" and Path(full.database).is_file()
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
# An import reads the whole devices table when its MACs are at least this share of it (1/4).
_WHOLE_TABLE_SHARE = 4
# JSON columns in bulk inserts: msgspec is about six times faster than ``json.dumps`` on audit events;
# the text differs only in spacing and in not escaping non-ASCII.
_json_encoder = msgspec.json.Encoder()


def _row(row: sa.Row | None) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


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
    def open(cls, data_dir: Path, url: str | None = None, *, migrate: bool = True,
             sealer: Sealer | None = None) -> Store:
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
                raise SealError("the secret key does not open this database's secrets: give the key it was "
                                "sealed with (PROVISIONER_SECRET_KEY, the same on every node, or "
                                "secret.key in the data directory)") from None

    def migrate(self, target: str = "head") -> tuple[str | None, str | None]:
        """Upgrade the schema to ``target`` (:mod:`provisioner.migrating`); the revisions before and after."""
        from . import migrating

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
        """
        if not (large and self.is_sqlite):
            with _available(), _races(), self._write_lock, self.write_engine.begin() as conn:
                yield Tx(conn)
            return
        with _available(), _races(), self._write_lock, self.write_engine.connect() as conn:
            raw = conn.connection.dbapi_connection
            raw.execute("PRAGMA wal_autocheckpoint=0")
            tx = Tx(conn, raw=raw)
            try:
                with conn.begin():
                    yield tx
            finally:
                tx.detach_loaded()  # after the commit or rollback: SQLite detaches nothing in a transaction
                if not conn.invalidated:  # closed by an interrupt: nothing to reset, nothing to mask it with
                    raw.execute(f"PRAGMA wal_autocheckpoint={_WAL_AUTOCHECKPOINT}")
        self._checkpoint_soon()

    def checkpoint(self) -> None:
        """Copy SQLite's write-ahead log into the database file now (PASSIVE: it waits for no
        reader or writer, and leaves what they still need for a later checkpoint)."""
        if self.is_sqlite:
            with self.write_engine.connect() as conn:
                conn.connection.dbapi_connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

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
            cls._supported = (sqlite3.sqlite_version_info >= (3, 36) and "USE_URI" in options
                              and "OMIT_DESERIALIZE" not in options)
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

    def load(self, table: str, columns: list[str], values: list[Sequence[Any]], *, first_id: int | None = None,
             constants: Mapping[str, Any] | None = None) -> None:
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
            batch.executemany(f"INSERT INTO batch VALUES {', '.join([row] * per)}",
                              zip(*[v[i:whole:per] for i in range(per) for v in values]))  # row by row, in order
            batch.executemany(f"INSERT INTO batch VALUES {row}", zip(*[v[whole:] for v in values]))
            batch.execute("COMMIT")
        except BaseException:
            batch.close()
            raise
        # The batch's rowids are 1, 2, ... in row order (a new table, nothing deleted).
        constants = constants or {}
        targets, selected = [*columns, *constants], [*columns, *"?" * len(constants)]
        if first_id is not None:
            targets, selected = ['"id"', *targets], [f"rowid + {int(first_id) - 1}", *selected]
        copy = (f'INSERT INTO main."{table}" ({", ".join(targets)}) SELECT {", ".join(selected)} '
                f"FROM {{schema}}.batch ORDER BY rowid")
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
                try:
                    batch.close()  # its attachment keeps the batch database alive
                except Exception:  # noqa: S110  (the copy's outcome is what counts; the thread must go on)
                    pass
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


class Tx:
    """The queries, on one connection. Rows come back as plain dicts."""

    def __init__(self, conn: Connection, *, raw: sqlite3.Connection | None = None):
        self.conn = conn
        self._raw = raw  # a large SQLite transaction's own connection: bulk inserts may load in the background
        self._loader: _Loader | None = None
        self._attached: list[str] = []

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
        next_ids = {name: int(raw.execute(f'SELECT coalesce(max(id), 0) + 1 FROM "{name}"').fetchone()[0])
                    for name in tables if "id" in metadata.tables[name].c}
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

    # --- customers ---------------------------------------------------------------

    def customer_by_code(self, code: str) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(customers).where(customers.c.code == code)).first())

    def customer_by_id(self, customer_id: int) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(customers).where(customers.c.id == customer_id)).first())

    def list_customers(self) -> list[dict[str, Any]]:
        return [dict(r._mapping) for r in self.conn.execute(sa.select(customers).order_by(customers.c.code))]

    def insert_customer(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        result = self.conn.execute(customers.insert().values(**values, created_at=now, updated_at=now))
        return int(result.inserted_primary_key[0])

    def update_customer(self, customer_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(customers.update().where(customers.c.id == customer_id)
                          .values(**values, updated_at=utcnow()))

    # --- lines -------------------------------------------------------------------

    def line(self, customer_id: int, extension: str) -> dict[str, Any] | None:
        q = sa.select(lines).where(lines.c.customer_id == customer_id, lines.c.extension == extension)
        return _row(self.conn.execute(q).first())

    def lines_of_customer(self, customer_id: int) -> list[dict[str, Any]]:
        q = sa.select(lines).where(lines.c.customer_id == customer_id).order_by(lines.c.extension)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def insert_line(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        result = self.conn.execute(lines.insert().values(**values, created_at=now, updated_at=now))
        return int(result.inserted_primary_key[0])

    def update_line(self, line_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(lines.update().where(lines.c.id == line_id).values(**values, updated_at=utcnow()))

    def device_of_line(self, line_id: int) -> dict[str, Any] | None:
        q = (sa.select(devices.c.mac, device_lines.c.position)
             .join(device_lines, device_lines.c.device_id == devices.c.id)
             .where(device_lines.c.line_id == line_id))
        return _row(self.conn.execute(q).first())

    # --- devices -----------------------------------------------------------------

    def device(self, mac: str) -> dict[str, Any] | None:
        row = _row(self.conn.execute(sa.select(devices).where(devices.c.mac == mac)).first())
        if row:
            row["last_seen_at"] = _as_utc(row["last_seen_at"])
        return row

    def insert_device(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        assigned = now if values.get("customer_id") is not None else None
        result = self.conn.execute(devices.insert().values(**values, created_at=now, updated_at=now,
                                                           assigned_at=assigned))
        return int(result.inserted_primary_key[0])

    def update_device(self, device_id: int, values: Mapping[str, Any]) -> None:
        now = utcnow()
        extra: dict[str, Any] = {}
        if "customer_id" in values:
            # A device given to another customer starts a new first-contact window; the same one does not.
            new = values["customer_id"]
            extra["assigned_at"] = (None if new is None else
                                    sa.case((devices.c.customer_id.is_distinct_from(new), now),
                                            else_=devices.c.assigned_at))
        self.conn.execute(devices.update().where(devices.c.id == device_id)
                          .values(**values, **extra, updated_at=now))

    def device_lines(self, device_id: int) -> list[dict[str, Any]]:
        """The device's lines in slot order, each with its position."""
        q = (sa.select(lines, device_lines.c.position)
             .join(device_lines, device_lines.c.line_id == lines.c.id)
             .where(device_lines.c.device_id == device_id)
             .order_by(device_lines.c.position))
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_device_lines(self, device_id: int, line_ids: Sequence[int]) -> None:
        self.conn.execute(device_lines.delete().where(device_lines.c.device_id == device_id))
        if line_ids:
            self.conn.execute(device_lines.insert(), [
                {"device_id": device_id, "position": i, "line_id": lid} for i, lid in enumerate(line_ids, 1)
            ])

    def devices_of_customer(self, customer_id: int) -> list[dict[str, Any]]:
        q = sa.select(devices).where(devices.c.customer_id == customer_id).order_by(devices.c.mac)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def count_devices(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.count()).select_from(devices)).scalar_one())

    def render_rows(self, macs: Sequence[str]) -> dict[str, RenderRows]:
        """Device, customer and lines (in slot order) of each known MAC: what a render needs.

        Three queries for any number of MACs: a boot storm's cache misses load together.
        """
        found: dict[str, RenderRows] = {}
        for start in range(0, len(macs), 500):
            chunk = list(macs[start:start + 500])
            rows = [dict(r._mapping) for r in self.conn.execute(sa.select(devices).where(devices.c.mac.in_(chunk)))]
            if not rows:
                continue
            customer_ids = {r["customer_id"] for r in rows if r["customer_id"] is not None}
            by_customer = {
                r.id: dict(r._mapping)
                for r in self.conn.execute(sa.select(customers).where(customers.c.id.in_(customer_ids)))
            } if customer_ids else {}
            # Each customer's phone-facing security rules travel with it, under "security".
            for r in self._dicts(sa.select(customer_security)
                                 .where(customer_security.c.customer_id.in_(list(by_customer)))):
                by_customer[r["customer_id"]]["security"] = r
            by_device: dict[int, list[dict[str, Any]]] = {r["id"]: [] for r in rows}
            q = (sa.select(lines, device_lines.c.position, device_lines.c.device_id)
                 .join(device_lines, device_lines.c.line_id == lines.c.id)
                 .where(device_lines.c.device_id.in_(list(by_device)))
                 .order_by(device_lines.c.device_id, device_lines.c.position))
            for r in self.conn.execute(q):
                by_device[r.device_id].append(dict(r._mapping))
            for r in rows:
                found[r["mac"]] = (r, by_customer.get(r["customer_id"]), by_device[r["id"]])
        return found

    # --- phone-facing security (provisioner.access) ----------------------------------

    def customer_security(self, customer_id: int) -> dict[str, Any] | None:
        q = sa.select(customer_security).where(customer_security.c.customer_id == customer_id)
        return _row(self.conn.execute(q).first())

    def save_customer_security(self, customer_id: int, values: Mapping[str, Any]) -> None:
        if self.customer_security(customer_id) is None:
            self.conn.execute(customer_security.insert().values(customer_id=customer_id, **values,
                                                                updated_at=utcnow()))
        else:
            self.conn.execute(customer_security.update().where(customer_security.c.customer_id == customer_id)
                              .values(**values, updated_at=utcnow()))

    def server_secret(self, name: str) -> str | None:
        row = self.conn.execute(sa.select(server_secrets.c.value).where(server_secrets.c.name == name)).first()
        return row.value if row else None

    def close_windows(self, closed: Mapping[str, datetime]) -> list[dict[str, Any]]:
        """Close the first-contact window of each MAC (at its time) still open; the devices closed."""
        done = []
        for mac_, at in closed.items():
            row = self.conn.execute(sa.select(devices.c.mac, devices.c.customer_id, devices.c.assigned_at,
                                              devices.c.window_closed_at).where(devices.c.mac == mac_)).first()
            if row is None:
                continue
            assigned, was = _as_utc(row.assigned_at), _as_utc(row.window_closed_at)
            if was is not None and (assigned is None or was >= assigned):
                continue
            self.conn.execute(devices.update().where(devices.c.mac == mac_).values(window_closed_at=at))
            done.append({"mac": mac_, "customer_id": row.customer_id, "at": at})
        return done

    def open_windows(self, *, customer_id: int | None = None, device_id: int | None = None) -> int:
        """Start a new first-contact window (and so a new token) for a customer's devices or one
        device; how many devices."""
        q = devices.update().values(assigned_at=utcnow(), window_closed_at=None)
        if device_id is not None:
            q = q.where(devices.c.id == device_id)
        else:
            q = q.where(devices.c.customer_id == customer_id)
        return int(self.conn.execute(q).rowcount or 0)

    def reseal_all(self, reseal: Any) -> int:
        """Pass every sealed value, as stored, through ``reseal`` (raw text -> raw text); how many."""
        count = 0
        for table, key_names, names in SEALED_COLUMNS:
            keys = [table.c[k] for k in key_names]
            raw = [sa.cast(table.c[n], sa.Text).label(n) for n in names]  # as stored: not opened
            for row in self.conn.execute(sa.select(*keys, *raw)).fetchall():
                values = {n: reseal(getattr(row, n)) for n in names if getattr(row, n) is not None}
                if not values:
                    continue
                where = [table.c[k] == getattr(row, k) for k in key_names]
                self.conn.execute(table.update().where(*where).values(
                    **{n: sa.literal(v, sa.Text) for n, v in values.items()}))
                count += len(values)
        return count

    # --- events ------------------------------------------------------------------

    def add_event(self, *, actor: str, action: str, summary: str, device_mac: str | None = None,
                  customer_id: int | None = None, before: Any = None, after: Any = None) -> int:
        result = self.conn.execute(events.insert().values(
            at=utcnow(), actor=actor, action=action, summary=summary[:500], device_mac=device_mac,
            customer_id=customer_id, before=before, after=after))
        return int(result.inserted_primary_key[0])

    def events_of_device(self, mac: str) -> list[dict[str, Any]]:
        q = sa.select(events).where(events.c.device_mac == mac).order_by(events.c.id)
        return [dict(r._mapping) | {"at": _as_utc(r.at)} for r in self.conn.execute(q)]

    def last_event_id(self) -> int:
        return int(self.conn.execute(sa.select(sa.func.coalesce(sa.func.max(events.c.id), 0))).scalar_one())

    def events_since(self, after_id: int, *, since: datetime | None = None) -> list[dict[str, Any]]:
        """Events with id > after_id, plus (``since``) every event newer than that time."""
        cond = events.c.id > after_id
        if since is not None:
            cond = sa.or_(cond, events.c.at >= since)
        q = sa.select(events.c.id, events.c.device_mac, events.c.customer_id, events.c.action).where(cond)
        return self._dicts(q.order_by(events.c.id))  # a large import's 91,000: 0.25 s, not 1 s row by row

    # --- accounts (provisioner.accounts) -------------------------------------------

    def user_by_name(self, name: str) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(users).where(users.c.name == name)).first())

    def user_by_id(self, user_id: int) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(users).where(users.c.id == user_id)).first())

    def list_users(self) -> list[dict[str, Any]]:
        return self._dicts(sa.select(users).order_by(users.c.name))

    def count_users(self, *, role: str | None = None, enabled_only: bool = False) -> int:
        q = sa.select(sa.func.count()).select_from(users)
        if role is not None:
            q = q.where(users.c.role == role)
        if enabled_only:
            q = q.where(users.c.disabled == sa.false())
        return int(self.conn.execute(q).scalar_one())

    def insert_user(self, values: Mapping[str, Any]) -> int:
        now = utcnow()
        result = self.conn.execute(users.insert().values(**values, created_at=now, updated_at=now))
        return int(result.inserted_primary_key[0])

    def update_user(self, user_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(users.update().where(users.c.id == user_id).values(**values, updated_at=utcnow()))

    def touch_login(self, user_id: int) -> None:
        self.conn.execute(users.update().where(users.c.id == user_id).values(last_login_at=utcnow()))

    def insert_token(self, user_id: int, label: str, digest: str) -> int:
        result = self.conn.execute(api_tokens.insert().values(
            user_id=user_id, label=label, digest=digest, created_at=utcnow()))
        return int(result.inserted_primary_key[0])

    def token_by_digest(self, digest: str) -> dict[str, Any] | None:
        q = (sa.select(api_tokens, users.c.name.label("user_name"))
             .join(users, users.c.id == api_tokens.c.user_id).where(api_tokens.c.digest == digest))
        row = _row(self.conn.execute(q).first())
        if row is not None:
            row["last_used_at"] = _as_utc(row["last_used_at"])
        return row

    def tokens_of_user(self, user_id: int) -> list[dict[str, Any]]:
        q = (sa.select(api_tokens.c.id, api_tokens.c.label, api_tokens.c.created_at, api_tokens.c.last_used_at,
                       api_tokens.c.revoked_at).where(api_tokens.c.user_id == user_id).order_by(api_tokens.c.id))
        return self._dicts(q)

    def touch_token(self, token_id: int) -> None:
        self.conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=utcnow()))

    def revoke_token(self, token_id: int) -> None:
        self.conn.execute(api_tokens.update().where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
                          .values(revoked_at=utcnow()))

    def insert_session(self, values: Mapping[str, Any]) -> int:
        result = self.conn.execute(sessions.insert().values(**values, created_at=utcnow()))
        return int(result.inserted_primary_key[0])

    def session_by_digest(self, digest: str) -> dict[str, Any] | None:
        row = _row(self.conn.execute(sa.select(sessions).where(sessions.c.digest == digest)).first())
        if row is not None:
            row["expires_at"] = _as_utc(row["expires_at"])
        return row

    def delete_session(self, digest: str) -> None:
        self.conn.execute(sessions.delete().where(sessions.c.digest == digest))

    def delete_sessions_of_user(self, user_id: int) -> None:
        self.conn.execute(sessions.delete().where(sessions.c.user_id == user_id))

    def delete_expired_sessions(self, now: datetime) -> int:
        return int(self.conn.execute(sessions.delete().where(sessions.c.expires_at < now)).rowcount or 0)

    # --- finding (provisioner.queries) ---------------------------------------------

    def search_devices(self, *, text: str | None = None, mac_part: str | None = None, customer_id: int | None = None,
                       states: Sequence[str] = (), today: Any = None, limit: int = 50,
                       offset: int = 0) -> tuple[list[dict[str, Any]], int]:
        """Devices matching every filter given, newest change first, and how many match in all.

        ``text`` matches an extension exactly, or a display name, label, serial, customer code
        or name in part (case-insensitive); ``mac_part`` is hex digits found anywhere in the MAC.
        ``states`` are effective states: a deployed rental of a customer whose contract ended by
        ``today`` counts as ``return_due``.
        """
        holder = customers.alias("holder")
        ended = sa.and_(devices.c.state == "deployed", devices.c.ownership == "rental",
                        holder.c.contract_end.is_not(None), holder.c.contract_end <= today)
        effective = sa.case((ended, sa.literal("return_due")), else_=devices.c.state)
        conds = []
        if customer_id is not None:
            conds.append(devices.c.customer_id == customer_id)
        if states:
            conds.append(effective.in_(list(states)))
        matches = []
        if mac_part:
            matches.append(devices.c.mac.contains(mac_part.upper(), autoescape=True))
        if text:
            like = f"%{text.casefold()}%"
            in_line = (sa.select(device_lines.c.device_id).join(lines, lines.c.id == device_lines.c.line_id)
                       .where(sa.or_(lines.c.extension == text, sa.func.lower(lines.c.display_name).like(like),
                                     sa.func.lower(sa.func.coalesce(lines.c.label, "")).like(like))))
            matches += [devices.c.id.in_(in_line), sa.func.lower(sa.func.coalesce(devices.c.serial, "")).like(like),
                        sa.func.lower(holder.c.code).like(like), sa.func.lower(holder.c.name).like(like)]
        if matches:
            conds.append(sa.or_(*matches))
        source = devices.outerjoin(holder, holder.c.id == devices.c.customer_id)
        where = sa.and_(sa.true(), *conds)
        total = int(self.conn.execute(sa.select(sa.func.count()).select_from(source).where(where)).scalar_one())
        q = (sa.select(devices.c.id, devices.c.mac, devices.c.vendor, devices.c.model, devices.c.serial,
                       devices.c.ownership, effective.label("state"), devices.c.last_seen_at, devices.c.last_seen_ip,
                       devices.c.updated_at, holder.c.code.label("customer"), holder.c.name.label("customer_name"))
             .select_from(source).where(where).order_by(devices.c.updated_at.desc(), devices.c.id.desc())
             .limit(limit).offset(offset))
        rows = self._dicts(q)
        ids = [r["id"] for r in rows]
        extensions: dict[int, list[str]] = {i: [] for i in ids}
        if ids:
            q = (sa.select(device_lines.c.device_id, lines.c.extension).join(lines, lines.c.id == device_lines.c.line_id)
                 .where(device_lines.c.device_id.in_(ids)).order_by(device_lines.c.device_id, device_lines.c.position))
            for device_id, extension in self.conn.execute(q):
                extensions[device_id].append(extension)
        for row in rows:
            row["extensions"] = extensions[row.pop("id")]
            row["last_seen_at"] = _as_utc(row["last_seen_at"])
            row["updated_at"] = _as_utc(row["updated_at"])
        return rows, total

    def count_devices_by_state(self, today: Any) -> dict[str, int]:
        holder = customers.alias("holder")
        ended = sa.and_(devices.c.state == "deployed", devices.c.ownership == "rental",
                        holder.c.contract_end.is_not(None), holder.c.contract_end <= today)
        effective = sa.case((ended, sa.literal("return_due")), else_=devices.c.state).label("state")
        q = (sa.select(effective, sa.func.count()).select_from(
            devices.outerjoin(holder, holder.c.id == devices.c.customer_id)).group_by(effective))
        return {state: int(n) for state, n in self.conn.execute(q)}

    def events_page(self, *, device_mac: str | None = None, customer_id: int | None = None,
                    actor: str | None = None, action: str | None = None, before_id: int | None = None,
                    limit: int = 50) -> list[dict[str, Any]]:
        """Events newest first, ``limit`` of them, older than ``before_id`` (keyset paging)."""
        conds = []
        if device_mac is not None:
            conds.append(events.c.device_mac == device_mac)
        if customer_id is not None:
            conds.append(events.c.customer_id == customer_id)
        if actor is not None:
            conds.append(events.c.actor == actor)
        if action is not None:
            conds.append(sa.or_(events.c.action == action, events.c.action.startswith(action + ".", autoescape=True)))
        if before_id is not None:
            conds.append(events.c.id < before_id)
        q = sa.select(events).where(sa.and_(sa.true(), *conds)).order_by(events.c.id.desc()).limit(limit)
        return [row | {"at": _as_utc(row["at"])} for row in self._dicts(q)]

    # --- rentals (provisioner.rental_services) -------------------------------------

    def device_for_update(self, mac: str) -> dict[str, Any] | None:
        """The device row, locked until the transaction ends (PostgreSQL; SQLite writers are serial)."""
        return _row(self.conn.execute(sa.select(devices).where(devices.c.mac == mac).with_for_update()).first())

    def rental_defaults(self) -> dict[str, Any] | None:
        return _row(self.conn.execute(sa.select(rental_defaults).where(rental_defaults.c.id == 1)).first())

    def save_rental_defaults(self, values: Mapping[str, Any]) -> None:
        if self.rental_defaults() is None:
            self.conn.execute(rental_defaults.insert().values(id=1, **values, updated_at=utcnow()))
        else:
            self.conn.execute(rental_defaults.update().where(rental_defaults.c.id == 1)
                              .values(**values, updated_at=utcnow()))

    def replacement_costs(self) -> list[dict[str, Any]]:
        q = sa.select(replacement_costs).order_by(replacement_costs.c.vendor, replacement_costs.c.model)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    def set_replacement_cost(self, vendor: str, model: str, cents: int) -> None:
        where = (replacement_costs.c.vendor == vendor, replacement_costs.c.model == model)
        if self.conn.execute(sa.select(replacement_costs.c.model).where(*where)).first() is None:
            self.conn.execute(replacement_costs.insert().values(vendor=vendor, model=model, cost_cents=cents,
                                                                updated_at=utcnow()))
        else:
            self.conn.execute(replacement_costs.update().where(*where).values(cost_cents=cents,
                                                                              updated_at=utcnow()))

    def rented_out(self, customer_id: int | None = None) -> list[dict[str, Any]]:
        """Rented devices a customer holds (deployed, return_due, charged), each with its customer's
        ``customer_code``, ``customer_name``, ``contract_end`` and policy terms."""
        q = (sa.select(devices, customers.c.code.label("customer_code"), customers.c.name.label("customer_name"),
                       customers.c.contract_end, customers.c.return_window_days, customers.c.late_charge,
                       customers.c.penalty_per_day_cents)
             .join(customers, customers.c.id == devices.c.customer_id)
             .where(devices.c.ownership == "rental", devices.c.state.in_(("deployed", "return_due", "charged")))
             .order_by(customers.c.code, devices.c.mac))
        if customer_id is not None:
            q = q.where(devices.c.customer_id == customer_id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    # --- what the phone-facing side records ---------------------------------------

    def record_seen(self, seen: Iterable[Mapping[str, Any]]) -> None:
        rows = list(seen)
        if rows:
            self.conn.execute(
                devices.update().where(devices.c.mac == sa.bindparam("b_mac")).values(
                    last_seen_at=sa.bindparam("b_at"), last_seen_ip=sa.bindparam("b_ip"),
                    last_seen_user_agent=sa.func.coalesce(sa.bindparam("b_ua"), devices.c.last_seen_user_agent),
                    firmware=sa.func.coalesce(sa.bindparam("b_fw"), devices.c.firmware)),
                [{"b_mac": r["mac"], "b_at": r["at"], "b_ip": r["ip"], "b_ua": r["user_agent"],
                  "b_fw": r["firmware"]} for r in rows])

    def record_downloads(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if rows:
            self.conn.execute(downloads.insert(), list(rows))

    def record_activity(self, seen: Sequence[tuple], downloads: Sequence[tuple]) -> None:
        """The phone-facing flush in the driver's own ``executemany``: ``seen`` rows are
        (at, ip, user_agent, firmware, mac), ``downloads`` rows (at, mac, file, ip, user_agent,
        transport). SQLAlchemy's per-row binding held the GIL for the serving loop's thread."""
        mark = "?" if self.conn.dialect.paramstyle == "qmark" else "%s"
        if self.conn.dialect.name == "sqlite":  # SQLAlchemy's SQLite DATETIME text form
            seen = [(r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:]) for r in seen]
            downloads = [(r[0].strftime("%Y-%m-%d %H:%M:%S.%f"), *r[1:]) for r in downloads]
        if seen:
            self.conn.exec_driver_sql(
                f"UPDATE devices SET last_seen_at = {mark}, last_seen_ip = {mark}, "
                f"last_seen_user_agent = COALESCE({mark}, last_seen_user_agent), "
                f"firmware = COALESCE({mark}, firmware) WHERE mac = {mark}", list(seen))
        if downloads:
            self.conn.exec_driver_sql(
                f"INSERT INTO downloads (at, device_mac, file, ip, user_agent, transport) "
                f"VALUES ({mark}, {mark}, {mark}, {mark}, {mark}, {mark})", list(downloads))

    def record_unknown(self, seen: Iterable[Mapping[str, Any]]) -> None:
        for r in seen:
            existing = self.conn.execute(
                sa.select(unknown_devices.c.requests).where(unknown_devices.c.mac == r["mac"])).first()
            values = {k: r[k] for k in ("vendor", "model", "ip", "user_agent", "last_file")}
            if existing is None:
                self.conn.execute(unknown_devices.insert().values(
                    mac=r["mac"], first_seen_at=r["first_at"], last_seen_at=r["at"], requests=r["count"], **values))
            else:
                self.conn.execute(unknown_devices.update().where(unknown_devices.c.mac == r["mac"]).values(
                    last_seen_at=r["at"], requests=unknown_devices.c.requests + r["count"],
                    **{k: v for k, v in values.items() if v is not None}))

    def list_unknown(self, *, since: datetime | None = None, known_excluded: bool = True) -> list[dict[str, Any]]:
        q = sa.select(unknown_devices).order_by(unknown_devices.c.last_seen_at.desc())
        if since is not None:
            q = q.where(unknown_devices.c.last_seen_at >= since)
        if known_excluded:
            q = q.where(~sa.exists().where(devices.c.mac == unknown_devices.c.mac))
        out = []
        for r in self.conn.execute(q):
            row = dict(r._mapping)
            row["first_seen_at"] = _as_utc(row["first_seen_at"])
            row["last_seen_at"] = _as_utc(row["last_seen_at"])
            out.append(row)
        return out

    def downloads_of_device(self, mac: str) -> list[dict[str, Any]]:
        q = sa.select(downloads).where(downloads.c.device_mac == mac).order_by(downloads.c.id)
        return [dict(r._mapping) | {"at": _as_utc(r.at)} for r in self.conn.execute(q)]

    def save_upload(self, mac: str, name: str, body: bytes) -> None:
        self.conn.execute(uploads.delete().where(uploads.c.device_mac == mac, uploads.c.name == name))
        self.conn.execute(uploads.insert().values(device_mac=mac, name=name, at=utcnow(),
                                                  sealed_body=base64.b64encode(body).decode("ascii")))

    def upload(self, mac: str, name: str) -> bytes | None:
        q = sa.select(uploads.c.sealed_body).where(uploads.c.device_mac == mac, uploads.c.name == name)
        row = self.conn.execute(q).first()
        return base64.b64decode(row.sealed_body) if row else None

    # --- spreadsheet imports (provisioner.importing): many rows per statement ---------

    def devices_by_mac(self, macs: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The devices among ``macs`` (what an import compares), each with ``line_ids``: its lines'
        ids in slot order, and ``settings_json``: its settings as stored (JSON text).

        When ``macs`` are a fair share of all devices, every device is read in one query and the
        others dropped here: cheaper than looking 100,000 MACs up by name."""
        found: dict[str, dict[str, Any]] = {}
        c = devices.c
        q = sa.select(c.id, c.mac, c.vendor, c.model, c.serial, c.ownership, c.state, c.customer_id,
                      sa.cast(c.settings, sa.Text).label("settings_json"))
        slots = sa.select(device_lines.c.device_id, device_lines.c.line_id).order_by(
            device_lines.c.device_id, device_lines.c.position)
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
        chunks = [None] if whole else self._chunks(list(by_id), 2000)
        for chunk in chunks:
            query = slots if chunk is None else slots.where(device_lines.c.device_id.in_(chunk))
            for device_id, line_id in self.conn.execute(query).fetchall():
                row = by_id.get(device_id)
                if row is not None:
                    row["line_ids"].append(line_id)
        return found

    def lines_with_holders(self, *, customer_ids: Sequence[int] = (),
                           line_ids: Sequence[int] = ()) -> list[dict[str, Any]]:
        """Every line of ``customer_ids`` and the lines ``line_ids``, each with ``holder``: the MAC
        of the device it is on, or None."""
        c = lines.c
        base = (sa.select(c.id, c.customer_id, c.extension, c.display_name, c.sip_username, c.auth_id, c.password,
                          c.label, c.sip_server, c.sip_port, c.sip_transport, devices.c.mac.label("holder"))
                .select_from(lines.outerjoin(device_lines, device_lines.c.line_id == lines.c.id)
                             .outerjoin(devices, devices.c.id == device_lines.c.device_id)))
        found: dict[int, dict[str, Any]] = {}
        for chunk in self._chunks(customer_ids, 2000):
            found.update((r["id"], r) for r in self._dicts(base.where(lines.c.customer_id.in_(chunk))))
        missing = [i for i in line_ids if i not in found]
        for chunk in self._chunks(missing, 2000):
            found.update((r["id"], r) for r in self._dicts(base.where(lines.c.id.in_(chunk))))
        return list(found.values())

    def _dicts(self, query: Any) -> list[dict[str, Any]]:
        result = self.conn.execute(query)
        keys = list(result.keys())
        return [dict(zip(keys, row)) for row in result.fetchall()]

    def insert_lines(self, rows: Sequence[Mapping[str, Any]], *,
                     customer_ids: Sequence[int] | None = None) -> list[int]:
        """Insert many lines; their ids, in row order. ``customer_ids``: each row's customer, when
        the rows do not hold it."""
        now = utcnow()
        given = {"customer_id": customer_ids} if customer_ids is not None else None
        return self._insert_many(lines, rows, {"created_at": now, "updated_at": now}, ids=True, columns=given)

    def insert_devices(self, rows: Sequence[Mapping[str, Any]], *,
                       columns: Mapping[str, Sequence[Any]] | None = None) -> list[int]:
        """Insert many devices; their ids, in row order. ``columns``: values given per row apart
        (``mac``, ``customer_id``, ...), over the rows' own."""
        now = utcnow()
        # A device given to a customer starts its first-contact window now (provisioner.access).
        holders = columns["customer_id"] if columns and "customer_id" in columns else [
            r.get("customer_id") for r in rows]
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
        device_ids, positions, line_ids = [], [], []
        for did, ids in assignments.items():
            device_ids += [did] * len(ids)
            positions += range(1, len(ids) + 1)
            line_ids += ids
        self._insert_many(device_lines, [{}] * len(line_ids),
                          columns={"device_id": device_ids, "position": positions, "line_id": line_ids})

    def add_events(self, rows: Sequence[Mapping[str, Any]], *, actor: str,
                   columns: Mapping[str, Sequence[Any]] | None = None) -> None:
        """Append many audit events by ``actor`` at once; each row holds what :meth:`add_event` takes
        (``action``, ``summary``, ``device_mac``, ``customer_id``, ``before``, ``after``), or
        ``columns`` holds them, one list per field (``rows`` then being empty mappings)."""
        self._insert_many(events, rows, {"at": utcnow(), "actor": actor}, columns=columns)

    def _insert_many(self, table: sa.Table, rows: Sequence[Mapping[str, Any]], same: Mapping[str, Any] | None = None,
                     *, ids: bool = False, columns: Mapping[str, Sequence[Any]] | None = None,
                     halved: bool = False) -> list[int]:
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
                for param, value in zip(params, values):
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
            return [*self._insert_many(table, rows[:half], same, ids=ids, halved=True,
                                       columns={k: v[:half] for k, v in apart.items()}),
                    *self._insert_many(table, rows[half:], same, ids=ids, halved=True,
                                       columns={k: v[half:] for k, v in apart.items()})]
        from itertools import repeat
        from operator import itemgetter  # here, not at the top: this block is the import feature's alone

        count = len(rows)
        given = [name for name in rows[0] if name not in apart]
        picked = ([] if not given else [(r[given[0]],) for r in rows] if len(given) == 1
                  else list(map(itemgetter(*given), rows)))
        names: list[str] = []
        values_of: list[Any] = []
        for name, values in [*zip(given, zip(*picked)), *apart.items()]:
            column = table.c[name]
            nones = values.count(None)
            if nones == count and column.nullable and column.default is None and (
                    column.server_default is None and not isinstance(column.type, sa.JSON)):
                continue  # NULL in every row: left out (binding 100,000 NULLs is not free)
            if isinstance(column.type, sa.JSON):
                # msgspec (the same JSON as the bind processor's, ~6x faster), one call for the column:
                # JSON text never holds a raw newline, so the lines are the values, None being "null".
                values = _json_encoder.encode_lines(values).decode().split("\n", count)[:count]
            elif isinstance(column.type, Sealed):  # sealed in bulk: the same values as its bind processor gives
                sealed = _sealer(dialect).seal_many([str(v) for v in values if v is not None])
                if nones:
                    each = iter(sealed)
                    sealed = [None if v is None else next(each) for v in values]
                values = sealed
            elif (process := column.type.dialect_impl(dialect).bind_processor(dialect)) is not None:
                # None and a value shared by every row (a device's assigned_at) are converted once.
                first, none = values[0], process(None)
                if nones == count:
                    values = repeat(none, count)
                else:
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
                first = int(self.conn.execute(
                    sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()) + 1
            new_ids = list(range(first, first + count))
        quote = dialect.identifier_preparer.quote
        if loader is not None and names and loader.can_load(count):
            loader.load(table.name, [quote(n) for n in names], values_of,
                        first_id=new_ids[0] if ids else None, constants={quote(n): v for n, v in constants.items()})
            return new_ids
        names += constants
        values_of += [repeat(value, count) for value in constants.values()]
        if ids:
            names, values_of = ["id", *names], [new_ids, *values_of]
        self.conn.exec_driver_sql(
            f"INSERT INTO {quote(table.name)} ({', '.join(map(quote, names))}) VALUES ({', '.join('?' * len(names))})",
            list(zip(*values_of)))
        return new_ids

    def export_rows(self, customer_id: int | None = None) -> list[dict[str, Any]]:
        """Devices with their customer's code and name and each line (one row per line, in slot
        order; one row with no line for a device without any), by customer and MAC."""
        q = (sa.select(devices.c.mac, devices.c.vendor, devices.c.model, devices.c.serial, devices.c.ownership,
                       devices.c.state, customers.c.code.label("customer_code"),
                       customers.c.name.label("customer_name"), customers.c.sip_server.label("customer_server"),
                       device_lines.c.position, lines.c.extension, lines.c.display_name, lines.c.sip_username,
                       lines.c.auth_id, lines.c.password, lines.c.label, lines.c.sip_server)
             .select_from(devices.outerjoin(customers, customers.c.id == devices.c.customer_id)
                          .outerjoin(device_lines, device_lines.c.device_id == devices.c.id)
                          .outerjoin(lines, lines.c.id == device_lines.c.line_id))
             .order_by(customers.c.code, devices.c.mac, device_lines.c.position))
        if customer_id is not None:
            q = q.where(devices.c.customer_id == customer_id)
        return [dict(r._mapping) for r in self.conn.execute(q)]

    @staticmethod
    def _chunks(items: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
        items = list(items)
        for start in range(0, len(items), size):
            yield items[start:start + size]


# The redirect feature keeps its tables beside it; imported here so ``metadata`` holds the whole schema.
from .redirect import tables as _redirect_tables  # noqa: E402

SEALED_COLUMNS += (_redirect_tables.SEALED,)

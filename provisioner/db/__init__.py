"""The store: SQLAlchemy Core over SQLite (WAL, the embedded default) or PostgreSQL (several nodes).

Only this package imports SQLAlchemy. Read it top-down:

- :mod:`.schema`: the tables (``metadata``) and the :class:`~.schema.Sealed` column type;
- :mod:`.engine`: :class:`Store`, opening a database, its transactions, what an error means;
- :mod:`.migrate` and ``migrations/``: the Alembic revisions, run when a store is opened;
- :mod:`.tx`: :class:`Tx`, the queries of one transaction, composed of one module per aggregate
  (:mod:`.customers`, :mod:`.lines`, :mod:`.devices`, :mod:`.security`, :mod:`.events`,
  :mod:`.accounts`, :mod:`.rentals`, :mod:`.activity`, :mod:`.uploads`), plus :mod:`.bulk`, the
  import's many-rows-per-statement inserts, and :mod:`.redirect`, the redirect feature's queries.

Every change goes through :meth:`Store.transaction`, and the services write an audit event in the
same transaction (:meth:`Tx.add_event`).
"""

from .engine import (
    MIGRATIONS,
    SQLITE_FILE,
    Store,
    busy_timeout_ms,
    counting_commits,
    database_exists,
    database_url,
    describe,
    unavailable,
)
from .schema import (
    SEALED_COLUMNS,
    RenderRows,
    Sealed,
    api_tokens,
    customer_security,
    customers,
    device_lines,
    devices,
    downloads,
    events,
    lines,
    metadata,
    rental_defaults,
    replacement_costs,
    server_secrets,
    sessions,
    unknown_devices,
    uploads,
    users,
    utcnow,
)
from .tx import Tx

__all__ = [
    "MIGRATIONS",
    "SEALED_COLUMNS",
    "SQLITE_FILE",
    "RenderRows",
    "Sealed",
    "Store",
    "Tx",
    "api_tokens",
    "busy_timeout_ms",
    "counting_commits",
    "customer_security",
    "customers",
    "database_exists",
    "database_url",
    "describe",
    "device_lines",
    "devices",
    "downloads",
    "events",
    "lines",
    "metadata",
    "rental_defaults",
    "replacement_costs",
    "server_secrets",
    "sessions",
    "unavailable",
    "unknown_devices",
    "uploads",
    "users",
    "utcnow",
]

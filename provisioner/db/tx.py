"""The transaction's queries: :class:`Tx` composes one query mixin per aggregate."""

from __future__ import annotations

import sqlite3

from sqlalchemy.engine import Connection

from .accounts import AccountQueries
from .activity import ActivityQueries
from .bans import BanQueries
from .bulk import BulkQueries, _Loader
from .customers import CustomerQueries
from .devices import DeviceQueries
from .events import EventQueries
from .function_keys import KeyQueries
from .lines import LineQueries
from .phonebook import FirmwareQueries, PhonebookQueries
from .rentals import RentalQueries
from .security import SecurityQueries
from .uploads import UploadQueries


class Tx(
    CustomerQueries,
    LineQueries,
    DeviceQueries,
    SecurityQueries,
    EventQueries,
    AccountQueries,
    RentalQueries,
    ActivityQueries,
    UploadQueries,
    BulkQueries,
    PhonebookQueries,
    FirmwareQueries,
    KeyQueries,
    BanQueries,
):
    """The queries, on one connection. Rows come back as plain dicts."""

    def __init__(self, conn: Connection, *, raw: sqlite3.Connection | None = None):
        self.conn = conn
        self._raw = raw  # a large SQLite transaction's own connection: bulk inserts may load in the background
        self._loader: _Loader | None = None
        self._attached: list[str] = []

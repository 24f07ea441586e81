"""What every query module shares: rows as dicts, in chunks."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection


def among(column: Any) -> Any:
    """``column IN (:ids)``, the list given at each execution (``{"ids": [...]}``: one bound
    parameter, expanded): a statement built once instead of an ``IN`` of N literals and its cache
    key built per call."""
    return column.in_(sa.bindparam("ids", expanding=True))


def _row(row: sa.Row | None) -> dict[str, Any] | None:
    return dict(row._mapping) if row is not None else None


class Queries:
    """Base of the query mixins :class:`~provisioner.db.Tx` composes: they run on ``self.conn``."""

    conn: Connection

    def _dicts(self, query: Any, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        result = self.conn.execute(query, params)
        keys = list(result.keys())
        return [dict(zip(keys, row, strict=True)) for row in result.fetchall()]

    @staticmethod
    def _inserted_id(result: sa.CursorResult[Any]) -> int:
        """The id an INSERT of one row made."""
        key = result.inserted_primary_key
        assert key is not None, "not the result of an INSERT"
        return int(key[0])

    @staticmethod
    def _chunks(items: Iterable[Any], size: int = 500) -> Iterator[list[Any]]:
        items = list(items)
        for start in range(0, len(items), size):
            yield items[start : start + size]

"""Console and API accounts: users, API tokens, sessions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from .rows import Queries, _row
from .schema import (
    _as_utc,
    api_tokens,
    sessions,
    users,
    utcnow,
)


class AccountQueries(Queries):
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
        return self._inserted_id(result)

    def update_user(self, user_id: int, values: Mapping[str, Any]) -> None:
        self.conn.execute(users.update().where(users.c.id == user_id).values(**values, updated_at=utcnow()))

    def touch_login(self, user_id: int) -> None:
        self.conn.execute(users.update().where(users.c.id == user_id).values(last_login_at=utcnow()))

    def insert_token(self, user_id: int, label: str, digest: str, expires_at: datetime | None = None) -> int:
        result = self.conn.execute(
            api_tokens.insert().values(
                user_id=user_id, label=label, digest=digest, created_at=utcnow(), expires_at=expires_at
            )
        )
        return self._inserted_id(result)

    def token_by_digest(self, digest: str) -> dict[str, Any] | None:
        q = (
            sa.select(api_tokens, users.c.name.label("user_name"))
            .join(users, users.c.id == api_tokens.c.user_id)
            .where(api_tokens.c.digest == digest)
        )
        row = _row(self.conn.execute(q).first())
        if row is not None:
            row["last_used_at"] = _as_utc(row["last_used_at"])
            row["expires_at"] = _as_utc(row["expires_at"])
        return row

    def tokens_of_user(self, user_id: int) -> list[dict[str, Any]]:
        q = (
            sa.select(
                api_tokens.c.id,
                api_tokens.c.label,
                api_tokens.c.created_at,
                api_tokens.c.last_used_at,
                api_tokens.c.revoked_at,
                api_tokens.c.expires_at,
            )
            .where(api_tokens.c.user_id == user_id)
            .order_by(api_tokens.c.id)
        )
        rows = self._dicts(q)
        for row in rows:
            row["expires_at"] = _as_utc(row["expires_at"])
        return rows

    def touch_token(self, token_id: int) -> None:
        self.conn.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=utcnow()))

    def revoke_token(self, token_id: int) -> None:
        self.conn.execute(
            api_tokens.update()
            .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def insert_session(self, values: Mapping[str, Any]) -> int:
        result = self.conn.execute(sessions.insert().values(**values, created_at=utcnow()))
        return self._inserted_id(result)

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

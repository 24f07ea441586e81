"""Files phones upload (sealed)."""

from __future__ import annotations

import base64

import sqlalchemy as sa

from .rows import Queries
from .schema import (
    uploads,
    utcnow,
)


class UploadQueries(Queries):
    def save_upload(self, mac: str, name: str, body: bytes) -> None:
        self.conn.execute(uploads.delete().where(uploads.c.device_mac == mac, uploads.c.name == name))
        self.conn.execute(
            uploads.insert().values(
                device_mac=mac, name=name, at=utcnow(), sealed_body=base64.b64encode(body).decode("ascii")
            )
        )

    def upload(self, mac: str, name: str) -> bytes | None:
        q = sa.select(uploads.c.sealed_body).where(uploads.c.device_mac == mac, uploads.c.name == name)
        row = self.conn.execute(q).first()
        return base64.b64decode(row.sealed_body) if row else None

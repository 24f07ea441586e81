"""Uploads sealed at rest: what phones PUT (their own override files, logs) is sealed like a password.

A Polycom ``<mac>-phone.cfg`` or a Yealink ``<mac>-local.cfg`` may hold what the phone's user typed,
credentials included. The bytes are kept base64-encoded and sealed (AES-256-GCM, the store's key)
in ``sealed_body``; the plaintext ``body`` column goes.

Revision ID: 0006_uploads
Revises: 0005
Create Date: 2026-11-30
"""

import base64

import sqlalchemy as sa
from alembic import op

revision = "0006_uploads"
down_revision = "0005"
branch_labels = None
depends_on = None


def _sealer():  # type: ignore[no-untyped-def]
    sealer = op.get_context().config.attributes.get("sealer")
    if sealer is None:
        raise RuntimeError(
            "migration 0006_uploads seals uploads: run it through provisioner (Store.open), which holds the secret key"
        )
    return sealer


def _table(*columns):  # type: ignore[no-untyped-def]
    return sa.table("uploads", sa.column("device_mac", sa.String), sa.column("name", sa.String), *columns)


def upgrade() -> None:
    sealer = _sealer()
    conn = op.get_bind()
    op.add_column("uploads", sa.Column("sealed_body", sa.Text))
    t = _table(sa.column("body", sa.LargeBinary), sa.column("sealed_body", sa.Text))
    rows = conn.execute(sa.select(t.c.device_mac, t.c.name, t.c.body)).fetchall()
    for row in rows:
        sealed = sealer.seal(base64.b64encode(bytes(row.body)).decode("ascii"))
        conn.execute(
            t.update().where(t.c.device_mac == row.device_mac, t.c.name == row.name).values(sealed_body=sealed)
        )
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("body")
        batch.alter_column("sealed_body", existing_type=sa.Text, nullable=False)


def downgrade() -> None:
    sealer = _sealer()
    conn = op.get_bind()
    op.add_column("uploads", sa.Column("body", sa.LargeBinary))
    t = _table(sa.column("body", sa.LargeBinary), sa.column("sealed_body", sa.Text))
    rows = conn.execute(sa.select(t.c.device_mac, t.c.name, t.c.sealed_body)).fetchall()
    for row in rows:
        body = base64.b64decode(sealer.open(row.sealed_body))
        conn.execute(t.update().where(t.c.device_mac == row.device_mac, t.c.name == row.name).values(body=body))
    with op.batch_alter_table("uploads") as batch:
        batch.drop_column("sealed_body")
        batch.alter_column("body", existing_type=sa.LargeBinary, nullable=False)

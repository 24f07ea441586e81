"""Phone-facing security: per-customer provisioning rules, first-contact windows, the secrets the
nodes share, and SIP passwords sealed at rest (the plaintext rows are sealed here).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def _sealer():  # type: ignore[no-untyped-def]
    sealer = op.get_context().config.attributes.get("sealer")
    if sealer is None:
        raise RuntimeError(
            "migration 0003 seals passwords: run it through provisioner (Store.open), which holds the secret key"
        )
    return sealer


def _passwords(conn, change) -> None:  # type: ignore[no-untyped-def]
    """Every line's SIP password replaced by ``change(password)``: sealed, or opened again."""
    lines = sa.table("lines", sa.column("id", sa.Integer), sa.column("password", sa.Text))
    rows = conn.execute(sa.select(lines.c.id, lines.c.password)).fetchall()
    if rows:
        conn.execute(
            lines.update().where(lines.c.id == sa.bindparam("b_id")).values(password=sa.bindparam("b_password")),
            [{"b_id": r.id, "b_password": change(r.password)} for r in rows],
        )


def upgrade() -> None:
    sealer = _sealer()
    conn = op.get_bind()
    op.add_column("devices", sa.Column("assigned_at", TS))
    op.add_column("devices", sa.Column("window_closed_at", TS))
    # Devices already out start their window at their last change: long past for most.
    op.execute("UPDATE devices SET assigned_at = updated_at WHERE customer_id IS NOT NULL")
    op.create_table(
        "customer_security",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("auth", sa.String(8), nullable=False, server_default="none"),
        sa.Column("username", sa.String(64)),
        sa.Column("password", sa.Text),
        sa.Column("path_key", sa.Text),
        sa.Column("window_hours", sa.Integer),
        sa.Column("allow", sa.JSON),
        sa.Column("updated_at", TS, nullable=False),
    )
    server_secrets = op.create_table(
        "server_secrets",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    with op.batch_alter_table("lines") as batch:  # a sealed password is longer than 255 characters
        batch.alter_column("password", type_=sa.Text, existing_type=sa.String(255), existing_nullable=False)
    _passwords(conn, sealer.seal)
    op.bulk_insert(
        server_secrets,
        [
            {"name": "canary", "value": sealer.seal("provisioner")},
            {"name": "hmac", "value": sealer.seal(secrets.token_urlsafe(32))},
        ],
    )


def downgrade() -> None:
    sealer = _sealer()
    conn = op.get_bind()
    _passwords(conn, sealer.open)
    with op.batch_alter_table("lines") as batch:
        batch.alter_column("password", type_=sa.String(255), existing_type=sa.Text, existing_nullable=False)
    op.drop_table("server_secrets")
    op.drop_table("customer_security")
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("window_closed_at")
        batch.drop_column("assigned_at")

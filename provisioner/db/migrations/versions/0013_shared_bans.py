"""Scan-defence bans shared by every server process and node, and (PostgreSQL) a NOTIFY per change.

One new table, ``bans`` (provisioner.db.schema): a ban one worker decides is read by the others
within a sync interval. On PostgreSQL, statement triggers on ``events`` and ``bans`` send
``NOTIFY provisioner_changes`` in the writing transaction (delivered at its commit, once per
transaction), so listening nodes sync at once instead of at their next poll. Nothing existing is
rebuilt.

Revision ID: 0013_shared_bans
Revises: 0012_token_expiry
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_shared_bans"
down_revision = "0012_token_expiry"
branch_labels = None
depends_on = None

_CHANNEL = "provisioner_changes"  # provisioner.db.notify.CHANNEL


def upgrade() -> None:
    op.create_table(
        "bans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("ip", sa.String(64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(60), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION provisioner_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$ "
            f"BEGIN PERFORM pg_notify('{_CHANNEL}', TG_TABLE_NAME); RETURN NULL; END $$"
        )
        for table in ("events", "bans"):
            op.execute(
                f"CREATE TRIGGER {table}_notify AFTER INSERT ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION provisioner_notify_change()"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS events_notify ON events")
        op.execute("DROP TRIGGER IF EXISTS bans_notify ON bans")
        op.execute("DROP FUNCTION IF EXISTS provisioner_notify_change()")
    op.drop_table("bans")

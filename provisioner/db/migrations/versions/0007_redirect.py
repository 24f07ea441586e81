"""Redirect services: the provider's vendor accounts, the outbox of changes to tell them, each
device's redirect state, and the per-customer public URL.

Revision ID: 0007_redirect
Revises: 0006_uploads
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_redirect"
down_revision = "0006_uploads"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "redirect_accounts",
        sa.Column("vendor", sa.String(32), primary_key=True),
        sa.Column("rpc_url", sa.String(400), nullable=False),
        sa.Column("username", sa.String(128), nullable=False),
        sa.Column("password", sa.Text, nullable=False),  # sealed
        sa.Column("server_name", sa.String(128)),
        sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
        sa.Column("broken_at", TS),
        sa.Column("broken_reason", sa.String(500)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "redirect_outbox",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mac", sa.String(12), nullable=False),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("op", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.Integer),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", TS),
        sa.Column("claimed_until", TS),
        sa.Column("last_error", sa.String(500)),
    )
    op.create_index("ix_redirect_outbox_mac", "redirect_outbox", ["mac"])
    op.create_table(
        "redirect_devices",
        sa.Column("mac", sa.String(12), primary_key=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("desired", sa.String(16), nullable=False),
        sa.Column("customer_id", sa.Integer),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("url", sa.String(500)),
        sa.Column("message", sa.String(500)),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "redirect_settings",
        sa.Column("name", sa.String(32), primary_key=True),
        sa.Column("value", sa.String(500), nullable=False),
    )
    op.create_table(
        "redirect_customer_urls",
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("public_url", sa.String(400), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("redirect_customer_urls")
    op.drop_table("redirect_settings")
    op.drop_table("redirect_devices")
    op.drop_index("ix_redirect_outbox_mac", table_name="redirect_outbox")
    op.drop_table("redirect_outbox")
    op.drop_table("redirect_accounts")

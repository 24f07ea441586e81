"""Programmable keys: a device's own and its customer's key profile.

One new table, ``function_keys`` (provisioner.db.schema): nothing existing is rebuilt.

Revision ID: 0011_keys
Revises: 0010_phonebook_firmware
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_keys"
down_revision = "0010_phonebook_firmware"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "function_keys",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id", ondelete="CASCADE"), index=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True),
        sa.Column("module", sa.Integer, nullable=False, server_default="0"),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("value", sa.String(255), nullable=False, server_default=""),
        sa.Column("label", sa.String(100)),
        sa.Column("line", sa.Integer, nullable=False, server_default="1"),
        sa.UniqueConstraint("device_id", "module", "position", name="uq_function_keys_device"),
        sa.UniqueConstraint("customer_id", "module", "position", name="uq_function_keys_customer"),
    )


def downgrade() -> None:
    op.drop_table("function_keys")

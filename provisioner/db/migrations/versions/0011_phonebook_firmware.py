"""What the peers put on the phone: each customer's phonebook contacts.

``phonebook_entries``: contacts a customer's phones show besides its own extensions (which are read
from ``lines``, not copied here): name, number, an optional group. Deleting a customer deletes them.

Plain ``op.create_table``: nothing existing is altered (no batch on customers/lines).

Revision ID: 0011_phonebook_firmware
Revises: 0009_phone_baseline
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_phonebook_firmware"
down_revision = "0009_phone_baseline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "phonebook_entries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("number", sa.String(64), nullable=False),
        sa.Column("group_name", sa.String(100)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("customer_id", "name", "number", name="uq_phonebook_customer_name_number"),
    )
    op.create_index("ix_phonebook_entries_customer_id", "phonebook_entries", ["customer_id"])


def downgrade() -> None:
    op.drop_index("ix_phonebook_entries_customer_id", "phonebook_entries")
    op.drop_table("phonebook_entries")

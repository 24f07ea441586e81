"""What the peers put on the phone: each customer's phonebook contacts, firmware images and targets.

``phonebook_entries``: contacts a customer's phones show besides its own extensions (which are read
from ``lines``, not copied here): name, number, an optional group. Deleting a customer deletes them.

``firmware_images``: an image stored in the firmware folder (vendor, the models it is for, version,
file name, SHA-256, size). ``firmware_targets``: the version a model's phones should run, for every
customer (``customer_id`` NULL) or one customer (wins).

Plain ``op.create_table``: nothing existing is altered (no batch on customers/lines).

Revision ID: 0010_phonebook_firmware
Revises: 0009_phone_baseline
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_phonebook_firmware"
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
    op.create_table(
        "firmware_images",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("models", sa.String(500), nullable=False),  # comma-separated model keys
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("file_name", sa.String(200), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("vendor", "version", "file_name", name="uq_firmware_images_vendor_version_file"),
    )
    op.create_table(
        "firmware_targets",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE")),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("firmware_targets")
    op.drop_table("firmware_images")
    op.drop_index("ix_phonebook_entries_customer_id", "phonebook_entries")
    op.drop_table("phonebook_entries")

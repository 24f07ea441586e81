"""Repeated config downloads merged into one row: ``downloads.count`` and ``downloads.last_at``.

A phone fetching the same file from the same address with the same User-Agent again and again (a
boot loop, a storm after a power cut, a scanner repeating a known phone's file) is one row per
activity resolution and hour, not one per request: ``at`` the first fetch, ``last_at`` the last
(NULL: the same as ``at``), ``count`` how many. Rows written before keep count 1. The index on
(device_mac, at) finds the row a later flush updates without a SELECT. Nothing existing is rebuilt.

Revision ID: 0014_download_count
Revises: 0013_shared_bans
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_download_count"
down_revision = "0013_shared_bans"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("downloads", sa.Column("count", sa.Integer, nullable=False, server_default="1"))
    op.add_column("downloads", sa.Column("last_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_downloads_device_mac_at", "downloads", ["device_mac", "at"])


def downgrade() -> None:
    op.drop_index("ix_downloads_device_mac_at", table_name="downloads")
    op.drop_column("downloads", "last_at")
    op.drop_column("downloads", "count")

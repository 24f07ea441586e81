"""Phones follow every change: a customer may override the server's --resync-after-change.

``customers.resync_after_change``: NULL follows the server flag, true/false overrides it.

Self-contained (it touches only this column) so it can be re-chained after other 0006s.

Revision ID: 0008_resync_after_change
Revises: 0007_redirect
Create Date: 2026-12-01
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_resync_after_change"
down_revision = "0007_redirect"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, no batch: a batch recreates ``customers`` on SQLite, and dropping the old table
# would cascade to every line and device of every customer. SQLite 3.35+ drops a column in place.


def upgrade() -> None:
    op.add_column("customers", sa.Column("resync_after_change", sa.Boolean, nullable=True))


def downgrade() -> None:
    op.drop_column("customers", "resync_after_change")

"""Events: the customer index covers customer events only.

Device and line events name their phone and leave customer_id NULL; indexing those NULLs
cost every device event an index insert (0.05 s per 100,000 imported phones) for lookups
that never ask for NULL.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NOT_NULL = sa.text("customer_id IS NOT NULL")


def upgrade() -> None:
    op.drop_index("ix_events_customer_id", table_name="events")
    op.create_index(
        "ix_events_customer_id", "events", ["customer_id"], sqlite_where=NOT_NULL, postgresql_where=NOT_NULL
    )


def downgrade() -> None:
    op.drop_index("ix_events_customer_id", table_name="events")
    op.create_index("ix_events_customer_id", "events", ["customer_id"])

"""Rented-device lifecycle: contract end and return policy per customer, return state per device,
the provider's default policy and replacement costs per model.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column("customers", sa.Column("contract_end", sa.Date))
    op.add_column("customers", sa.Column("return_window_days", sa.Integer))
    op.add_column("customers", sa.Column("late_charge", sa.String(16)))
    op.add_column("customers", sa.Column("penalty_per_day_cents", sa.Integer))
    op.add_column("devices", sa.Column("due_from", sa.Date))
    op.add_column("devices", sa.Column("due_reason", sa.String(16)))
    op.add_column("devices", sa.Column("charged_cents", sa.Integer))
    op.add_column("devices", sa.Column("charged_on", sa.Date))
    op.create_table(
        "rental_defaults",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("window_days", sa.Integer, nullable=False),
        sa.Column("late_charge", sa.String(16), nullable=False),
        sa.Column("penalty_per_day_cents", sa.Integer),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "replacement_costs",
        sa.Column("vendor", sa.String(32), primary_key=True),
        sa.Column("model", sa.String(32), primary_key=True),
        sa.Column("cost_cents", sa.Integer, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("replacement_costs")
    op.drop_table("rental_defaults")
    with op.batch_alter_table("devices") as batch:
        for column in ("charged_on", "charged_cents", "due_reason", "due_from"):
            batch.drop_column(column)
    with op.batch_alter_table("customers") as batch:
        for column in ("penalty_per_day_cents", "late_charge", "return_window_days", "contract_end"):
            batch.drop_column(column)

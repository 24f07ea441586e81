"""API tokens may expire: ``api_tokens.expires_at`` (NULL: never).

One new nullable column added in place: nothing existing is rebuilt, every token
keeps working as before (it never expires until an admin makes a new one).

Revision ID: 0012_token_expiry
Revises: 0011_keys
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_token_expiry"
down_revision = "0011_keys"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_tokens", sa.Column("expires_at", sa.DateTime(timezone=True)))


def downgrade() -> None:
    op.drop_column("api_tokens", "expires_at")

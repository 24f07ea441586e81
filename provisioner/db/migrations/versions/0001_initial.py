"""Customers, lines, devices, their assignments, audit events and what phones report.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "customers",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sip_server", sa.String(255)),
        sa.Column("sip_port", sa.Integer, nullable=False, server_default="5060"),
        sa.Column("sip_transport", sa.String(8), nullable=False, server_default="udp"),
        sa.Column("timezone", sa.String(64), nullable=False, server_default="Europe/Rome"),
        sa.Column("language", sa.String(16), nullable=False, server_default="it"),
        sa.Column("ntp_server", sa.String(255)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "lines",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("extension", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("sip_username", sa.String(128), nullable=False),
        sa.Column("auth_id", sa.String(128), nullable=False),
        sa.Column("password", sa.String(255), nullable=False),
        sa.Column("label", sa.String(100)),
        sa.Column("sip_server", sa.String(255)),
        sa.Column("sip_port", sa.Integer),
        sa.Column("sip_transport", sa.String(8)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("customer_id", "extension", name="uq_lines_customer_extension"),
    )
    op.create_table(
        "devices",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("mac", sa.String(12), nullable=False, unique=True),
        sa.Column("vendor", sa.String(32), nullable=False),
        sa.Column("model", sa.String(32), nullable=False),
        sa.Column("serial", sa.String(64)),
        sa.Column("ownership", sa.String(16), nullable=False, server_default="rental"),
        sa.Column("state", sa.String(16), nullable=False, server_default="in_stock"),
        sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="RESTRICT")),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("last_seen_at", TS),
        sa.Column("last_seen_ip", sa.String(64)),
        sa.Column("last_seen_user_agent", sa.String(400)),
        sa.Column("firmware", sa.String(64)),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_devices_customer_id", "devices", ["customer_id"])
    op.create_table(
        "device_lines",
        sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("position", sa.Integer, primary_key=True),
        sa.Column("line_id", sa.Integer, sa.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False, unique=True),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("device_mac", sa.String(12)),
        sa.Column("customer_id", sa.Integer),
        sa.Column("summary", sa.String(500), nullable=False),
        sa.Column("before", sa.JSON),
        sa.Column("after", sa.JSON),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_device_mac", "events", ["device_mac"])
    op.create_index("ix_events_customer_id", "events", ["customer_id"])
    op.create_table(
        "unknown_devices",
        sa.Column("mac", sa.String(12), primary_key=True),
        sa.Column("vendor", sa.String(32)),
        sa.Column("model", sa.String(32)),
        sa.Column("first_seen_at", TS, nullable=False),
        sa.Column("last_seen_at", TS, nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(400)),
        sa.Column("last_file", sa.String(128)),
        sa.Column("requests", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("ix_unknown_devices_last_seen_at", "unknown_devices", ["last_seen_at"])
    op.create_table(
        "downloads",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("device_mac", sa.String(12), nullable=False),
        sa.Column("file", sa.String(128), nullable=False),
        sa.Column("ip", sa.String(64)),
        sa.Column("user_agent", sa.String(400)),
        sa.Column("transport", sa.String(8), nullable=False),
    )
    op.create_index("ix_downloads_device_mac", "downloads", ["device_mac"])
    op.create_table(
        "uploads",
        sa.Column("device_mac", sa.String(12), primary_key=True),
        sa.Column("name", sa.String(128), primary_key=True),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("at", TS, nullable=False),
    )


def downgrade() -> None:
    for table in ("uploads", "downloads", "unknown_devices", "events", "device_lines", "devices", "lines", "customers"):
        op.drop_table(table)

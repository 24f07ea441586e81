"""A hardened baseline in every config: the phones' admin password, tones, voicemail, codecs, check time.

``customers``: ``admin_password`` (sealed, like SIP passwords: the phones' web UI and menu), ``country``
(call-progress tones; NULL: IT), ``codecs`` (order, e.g. "g722,pcma,pcmu"; NULL: the phone's own),
``check_hour`` / ``check_interval_hours`` (when its phones check for new files; NULL: the server's
default; a device setting wins). ``lines.voicemail``: the number the message key dials, and MWI on.

Every existing customer gets a generated admin password here, sealed with the store's key: run it
through provisioner (Store.open / ``provisioner db upgrade``), which holds the key, as 0006_uploads.

Plain ALTER TABLE, no batch: a batch recreates ``customers`` on SQLite, and dropping the old table
would cascade to every line and device of every customer. SQLite 3.35+ drops a column in place.

Revision ID: 0009_phone_baseline
Revises: 0008_resync_after_change
Create Date: 2026-12-02
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0009_phone_baseline"
down_revision = "0008_resync_after_change"
branch_labels = None
depends_on = None

# Same alphabet and length as provisioner.services.new_admin_password: typed on a phone's keypad at
# worst, so no look-alikes (0/O, 1/l/I) and no ':' (Yealink writes "admin:<password>").
_ALPHABET = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_LENGTH = 12

CUSTOMER_COLUMNS = (
    ("admin_password", sa.Text),
    ("country", sa.String(2)),
    ("codecs", sa.String(100)),
    ("check_hour", sa.Integer),
    ("check_interval_hours", sa.Integer),
)


def upgrade() -> None:
    for name, type_ in CUSTOMER_COLUMNS:
        op.add_column("customers", sa.Column(name, type_, nullable=True))
    op.add_column("lines", sa.Column("voicemail", sa.String(32)))
    conn = op.get_bind()
    t = sa.table("customers", sa.column("id", sa.Integer), sa.column("admin_password", sa.Text))
    ids = conn.execute(sa.select(t.c.id)).scalars().all()
    if not ids:
        return
    config = op.get_context().config
    sealer = config.attributes.get("sealer") if config is not None else None
    if sealer is None:
        raise RuntimeError(
            "migration 0009_phone_baseline gives each customer a sealed admin password: run it "
            "through provisioner (Store.open, `provisioner db upgrade`), which holds the secret key"
        )
    for customer_id in ids:
        password = "".join(secrets.choice(_ALPHABET) for _ in range(_LENGTH))
        conn.execute(t.update().where(t.c.id == customer_id).values(admin_password=sealer.seal(password)))


def downgrade() -> None:
    op.drop_column("lines", "voicemail")
    for name, _ in reversed(CUSTOMER_COLUMNS):
        op.drop_column("customers", name)

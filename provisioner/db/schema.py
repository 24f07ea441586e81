"""The schema: SQLAlchemy Core tables (what the migrations are compared with) and the sealed column type."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from ..sealing import Sealer, SealError

metadata = sa.MetaData()


class Sealed(sa.types.TypeDecorator):
    """Text sealed with the store's :class:`~provisioner.sealing.Sealer` on the way in and opened on
    the way out: the database holds no plaintext, every caller of the store sees plaintext."""

    impl = sa.Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        return None if value is None else _sealer(dialect).seal(str(value))

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        return None if value is None else _sealer(dialect).open(value)


def _sealer(dialect: Any) -> Sealer:
    sealer = getattr(dialect, "provisioner_sealer", None)
    if sealer is None:
        raise SealError("this engine has no key to seal or open secrets with")
    return sealer


customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("code", sa.String(64), nullable=False, unique=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("sip_server", sa.String(255)),
    sa.Column("sip_port", sa.Integer, nullable=False, server_default="5060"),
    sa.Column("sip_transport", sa.String(8), nullable=False, server_default="udp"),
    sa.Column("timezone", sa.String(64), nullable=False, server_default="Europe/Rome"),
    sa.Column("language", sa.String(16), nullable=False, server_default="it"),
    sa.Column("ntp_server", sa.String(255)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # The rental contract (provisioner.rentals): lines stop from contract_end on; NULL terms follow
    # the provider's default return policy.
    sa.Column("contract_end", sa.Date),
    sa.Column("return_window_days", sa.Integer),
    sa.Column("late_charge", sa.String(16)),
    sa.Column("penalty_per_day_cents", sa.Integer),
    # NOTIFY the phones after every change: NULL follows the server's --resync-after-change.
    sa.Column("resync_after_change", sa.Boolean),
    # The phone baseline (migration 0009_phone_baseline): admin password of the phones' web UI and
    # menu, tone country, codec order, when the phones check for new files (a device setting wins).
    sa.Column("admin_password", Sealed),
    sa.Column("country", sa.String(2)),
    sa.Column("codecs", sa.String(100)),
    sa.Column("check_hour", sa.Integer),
    sa.Column("check_interval_hours", sa.Integer),
)

lines = sa.Table(
    "lines",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False),
    sa.Column("extension", sa.String(64), nullable=False),
    sa.Column("display_name", sa.String(200), nullable=False),
    sa.Column("sip_username", sa.String(128), nullable=False),
    sa.Column("auth_id", sa.String(128), nullable=False),
    sa.Column("password", Sealed, nullable=False),
    sa.Column("label", sa.String(100)),
    sa.Column("sip_server", sa.String(255)),  # None: the customer's default applies
    sa.Column("sip_port", sa.Integer),
    sa.Column("sip_transport", sa.String(8)),
    sa.Column("voicemail", sa.String(32)),  # voicemail number, e.g. *97; NULL: no MWI (0009_phone_baseline)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("customer_id", "extension", name="uq_lines_customer_extension"),
)

phonebook_entries = sa.Table(
    "phonebook_entries",  # 0010_phonebook_firmware: contacts besides the customer's own extensions
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("number", sa.String(64), nullable=False),
    sa.Column("group_name", sa.String(100)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("customer_id", "name", "number", name="uq_phonebook_customer_name_number"),
)

firmware_images = sa.Table(
    "firmware_images",  # 0010_phonebook_firmware: images in the firmware folder
    metadata,
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

firmware_targets = sa.Table(
    "firmware_targets",  # 0010_phonebook_firmware: the version a model should run (per customer wins)
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("version", sa.String(64), nullable=False),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE")),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

devices = sa.Table(
    "devices",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mac", sa.String(12), nullable=False, unique=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("model", sa.String(32), nullable=False),
    sa.Column("serial", sa.String(64)),
    sa.Column("ownership", sa.String(16), nullable=False, server_default="rental"),
    sa.Column("state", sa.String(16), nullable=False, server_default="in_stock"),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="RESTRICT"), index=True),
    sa.Column("settings", sa.JSON, nullable=False, default=dict),
    sa.Column("last_seen_at", sa.DateTime(timezone=True)),
    sa.Column("last_seen_ip", sa.String(64)),
    sa.Column("last_seen_user_agent", sa.String(400)),
    sa.Column("firmware", sa.String(64)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    # A rented device awaiting return (provisioner.rentals): since when, why, and what was billed.
    sa.Column("due_from", sa.Date),
    sa.Column("due_reason", sa.String(16)),
    sa.Column("charged_cents", sa.Integer),
    sa.Column("charged_on", sa.Date),
    # Phone-facing security (provisioner.access): when the device was last given to a customer (its
    # first-contact window starts there) and when that window was closed by its first download.
    sa.Column("assigned_at", sa.DateTime(timezone=True)),
    sa.Column("window_closed_at", sa.DateTime(timezone=True)),
)

device_lines = sa.Table(
    "device_lines",
    metadata,
    sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("line_id", sa.Integer, sa.ForeignKey("lines.id", ondelete="CASCADE"), nullable=False, unique=True),
)

events = sa.Table(
    "events",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("actor", sa.String(100), nullable=False),
    sa.Column("action", sa.String(64), nullable=False),
    sa.Column("device_mac", sa.String(12), index=True),
    sa.Column("customer_id", sa.Integer),
    sa.Column("summary", sa.String(500), nullable=False),
    sa.Column("before", sa.JSON),
    sa.Column("after", sa.JSON),
    # Only customer events name a customer (device and line events name their phone): the index
    # leaves the others out (every device event, 100,000 rows of index per large import).
    sa.Index(
        "ix_events_customer_id",
        "customer_id",
        sqlite_where=sa.text("customer_id IS NOT NULL"),
        postgresql_where=sa.text("customer_id IS NOT NULL"),
    ),
)

unknown_devices = sa.Table(
    "unknown_devices",
    metadata,
    sa.Column("mac", sa.String(12), primary_key=True),
    sa.Column("vendor", sa.String(32)),
    sa.Column("model", sa.String(32)),
    sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(400)),
    sa.Column("last_file", sa.String(128)),
    sa.Column("requests", sa.Integer, nullable=False, server_default="1"),
)

downloads = sa.Table(
    "downloads",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("device_mac", sa.String(12), nullable=False, index=True),
    sa.Column("file", sa.String(128), nullable=False),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(400)),
    sa.Column("transport", sa.String(8), nullable=False),
    # Repeats of the same fetch (device, file, ip, user agent, transport) within the activity
    # resolution and the hour of ``at`` are one row (migration 0014_download_count): how many, and
    # the last one's time (NULL: the same as ``at``).
    sa.Column("count", sa.Integer, nullable=False, server_default="1"),
    sa.Column("last_at", sa.DateTime(timezone=True)),
    sa.Index("ix_downloads_device_mac_at", "device_mac", "at"),
)

uploads = sa.Table(
    "uploads",
    metadata,
    sa.Column("device_mac", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(128), primary_key=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sealed_body", Sealed, nullable=False),  # the bytes, base64, sealed (migration 0006_uploads)
)

# The provider's default return policy: one row (id 1); none means the built-in default.
rental_defaults = sa.Table(
    "rental_defaults",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("window_days", sa.Integer, nullable=False),
    sa.Column("late_charge", sa.String(16), nullable=False),
    sa.Column("penalty_per_day_cents", sa.Integer),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# What a device not returned costs, per model; vendor and model "*" is the fallback for any other.
replacement_costs = sa.Table(
    "replacement_costs",
    metadata,
    sa.Column("vendor", sa.String(32), primary_key=True),
    sa.Column("model", sa.String(32), primary_key=True),
    sa.Column("cost_cents", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# How a customer's phones must prove themselves (provisioner.access); no row: no requirement.
customer_security = sa.Table(
    "customer_security",
    metadata,
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("auth", sa.String(8), nullable=False, server_default="none"),  # none | digest
    sa.Column("username", sa.String(64)),
    sa.Column("password", Sealed),
    sa.Column("path_key", Sealed),  # the secret in /p/<key>/...
    sa.Column("window_hours", sa.Integer),  # per-device tokens with a first-contact window; NULL: off
    sa.Column("allow", sa.JSON),  # CIDR list; NULL or empty: any address
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Secrets the server nodes share (sealed): "hmac" keys device tokens and digest nonces; "canary"
# tells at start whether our key opens this database.
server_secrets = sa.Table(
    "server_secrets",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", Sealed, nullable=False),
)

# People who sign in to the console and the admin API (provisioner.accounts). Passwords are
# argon2 hashes; tokens and sessions are stored as SHA-256 digests of what the holder keeps.
users = sa.Table(
    "users",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("password_hash", sa.String(255), nullable=False),
    sa.Column("disabled", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_login_at", sa.DateTime(timezone=True)),
)

api_tokens = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("label", sa.String(100), nullable=False),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_used_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("expires_at", sa.DateTime(timezone=True)),  # the token opens nothing from then on; NULL: never
)

sessions = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    sa.Column("digest", sa.String(64), nullable=False, unique=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("ip", sa.String(64)),
    sa.Column("user_agent", sa.String(400)),
)

# (device, its customer or None, its lines in slot order)
RenderRows = tuple[dict[str, Any], dict[str, Any] | None, list[dict[str, Any]]]
# Tables whose Sealed columns `provisioner secrets rotate` re-seals: (table, key columns, sealed columns).
SEALED_COLUMNS: tuple[tuple[sa.Table, tuple[str, ...], tuple[str, ...]], ...] = (
    (lines, ("id",), ("password",)),
    (customers, ("id",), ("admin_password",)),
    (customer_security, ("customer_id",), ("password", "path_key")),
    (server_secrets, ("name",), ("value",)),
    (uploads, ("device_mac", "name"), ("sealed_body",)),
)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything stored is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


# The provider's account at each vendor's redirect service; at most one per vendor.
redirect_accounts = sa.Table(
    "redirect_accounts",
    metadata,
    sa.Column("vendor", sa.String(32), primary_key=True),
    sa.Column("rpc_url", sa.String(400), nullable=False),
    sa.Column("username", sa.String(128), nullable=False),
    sa.Column("password", Sealed, nullable=False),
    sa.Column("server_name", sa.String(128)),
    sa.Column("enabled", sa.Boolean, nullable=False, server_default=sa.true()),
    # Set when the vendor refused the credentials: deliveries wait until the account is set again.
    sa.Column("broken_at", sa.DateTime(timezone=True)),
    sa.Column("broken_reason", sa.String(500)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# What is still to tell a vendor, one row per change, delivered in id order per MAC.
redirect_outbox = sa.Table(
    "redirect_outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("mac", sa.String(12), nullable=False, index=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("op", sa.String(16), nullable=False),  # register | deregister
    sa.Column("customer_id", sa.Integer),  # whose URL a register carries (read at delivery)
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("next_attempt_at", sa.DateTime(timezone=True)),  # NULL: given up (failed) until a retry
    sa.Column("claimed_until", sa.DateTime(timezone=True)),  # a worker is delivering it
    sa.Column("last_error", sa.String(500)),
)

# Each device's redirect state as support staff see it.
redirect_devices = sa.Table(
    "redirect_devices",
    metadata,
    sa.Column("mac", sa.String(12), primary_key=True),
    sa.Column("vendor", sa.String(32), nullable=False),
    sa.Column("desired", sa.String(16), nullable=False),  # registered | deregistered
    sa.Column("customer_id", sa.Integer),  # whose URL the desired registration carries
    # pending | registered | deregistered | failed | conflict | rejected | held
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("url", sa.String(500)),  # the URL last registered
    sa.Column("message", sa.String(500)),  # the vendor's last word
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

# Server-wide values the CLI needs too (the public base URL the server runs with).
redirect_settings = sa.Table(
    "redirect_settings",
    metadata,
    sa.Column("name", sa.String(32), primary_key=True),
    sa.Column("value", sa.String(500), nullable=False),
)

# A customer with its own host name: its phones are sent there instead of the public URL.
redirect_customer_urls = sa.Table(
    "redirect_customer_urls",
    metadata,
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("public_url", sa.String(400), nullable=False),
)

REDIRECT_SEALED = (redirect_accounts, ("vendor",), ("password",))

SEALED_COLUMNS += (REDIRECT_SEALED,)

# Programmable keys (0011_keys): a device's own (device_id) or its customer's profile (customer_id), which
# every phone of the customer inherits, a device's own key at the same place winning. ``module`` 0 is the
# phone itself, 1.. its expansion modules; ``position`` counts from 1 on each.
function_keys = sa.Table(
    "function_keys",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("device_id", sa.Integer, sa.ForeignKey("devices.id", ondelete="CASCADE"), index=True),
    sa.Column("customer_id", sa.Integer, sa.ForeignKey("customers.id", ondelete="CASCADE"), index=True),
    sa.Column("module", sa.Integer, nullable=False, server_default="0"),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),  # line | blf | speed-dial | park | dtmf | url | none
    sa.Column("value", sa.String(255), nullable=False, server_default=""),
    sa.Column("label", sa.String(100)),  # None: BLF keys show the watched line's name
    sa.Column("line", sa.Integer, nullable=False, server_default="1"),  # the account it uses, from 1
    sa.UniqueConstraint("device_id", "module", "position", name="uq_function_keys_device"),
    sa.UniqueConstraint("customer_id", "module", "position", name="uq_function_keys_customer"),
)

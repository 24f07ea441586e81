"""Upgrading keeps every row: a database built at each earlier revision, filled with what that
revision can hold, comes out of the upgrade with every row and value, and its phone is served
its real config with its lines by the real server.

Generic over the migrations: the test walks Alembic's revisions. A new migration needs one entry
in ``WRITERS`` (rows for the tables it adds or changes) and, if it changes stored values on
purpose, one in ``CHANGED``; ``test_every_revision_has_a_data_writer`` says so when it is missing.

SQLite only (the cascade this guards against is SQLite's table rebuild); the PostgreSQL suite
runs the same migrations on an empty database (tests/test_postgres.py).
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from provisioner.db import Store
from provisioner.db import migrate as migrating
from provisioner.db.migrate import MigrationError
from provisioner.errors import ProvisionerError
from provisioner.sealing import Sealer
from provisioner.settings import Settings
from provisioner.web import create_app
from tests.test_phones import yealink_accounts

T0 = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
MAC = "001565A1B2C3"  # deployed, two lines
RETURNED_MAC = "001565A1B2C4"
UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"
PASSWORDS = ("p9MrgPW*UfhMg+&<x>", "gLSRthV5?FMb9*", "never-served-3")


def _put(conn: sa.Connection, table: str, *rows: dict[str, Any]) -> None:
    """Insert ``rows`` into ``table`` as it is at this revision (reflected: its columns, its types)."""
    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
    for row in rows:  # one by one: rows leave different columns to their defaults
        conn.execute(reflected.insert().values(**row))


def _set(conn: sa.Connection, table: str, where: dict[str, Any], **values: Any) -> None:
    reflected = sa.Table(table, sa.MetaData(), autoload_with=conn)
    conn.execute(reflected.update().where(*[reflected.c[k] == v for k, v in where.items()]).values(**values))


def _write_0001(conn: sa.Connection) -> None:
    stamps = {"created_at": T0, "updated_at": T0}
    _put(
        conn,
        "customers",
        {
            "id": 1,
            "code": "ROSSI",
            "name": "Rossi & Figli <Sede>",
            "sip_server": "pbx.rossi.example.net",
            "sip_port": 5062,
            "ntp_server": "ntp.rossi.example.net",
            **stamps,
        },
        {"id": 2, "code": "BIANCHI", "name": "Niccolò Università", "sip_server": "pbx.bianchi.example.net", **stamps},
    )
    _put(
        conn,
        "lines",
        {
            "id": 1,
            "customer_id": 1,
            "extension": "201",
            "display_name": "Reception",
            "sip_username": "rossi201",
            "auth_id": "a201",
            "password": PASSWORDS[0],
            "label": "Front",
            **stamps,
        },
        {
            "id": 2,
            "customer_id": 1,
            "extension": "202",
            "display_name": "Niccolò",
            "sip_username": "rossi202",
            "auth_id": "a202",
            "password": PASSWORDS[1],
            "sip_server": "pbx2.rossi.example.net",
            "sip_port": 5070,
            "sip_transport": "tcp",
            **stamps,
        },
        {
            "id": 3,
            "customer_id": 2,
            "extension": "300",
            "display_name": "Spare",
            "sip_username": "b300",
            "auth_id": "b300",
            "password": PASSWORDS[2],
            **stamps,
        },
    )
    _put(
        conn,
        "devices",
        {
            "id": 1,
            "mac": MAC,
            "vendor": "yealink",
            "model": "T46U",
            "serial": "SN1",
            "state": "deployed",
            "customer_id": 1,
            "settings": {"ringtone": "Ring3.wav"},
            "last_seen_at": T0,
            "last_seen_ip": "10.0.0.5",
            "last_seen_user_agent": UA,
            "firmware": "108.86.0.20",
            **stamps,
        },
        {
            "id": 2,
            "mac": RETURNED_MAC,
            "vendor": "yealink",
            "model": "T46U",
            "state": "returned",
            "settings": {},
            **stamps,
        },
        {
            "id": 3,
            "mac": "000413AABBCC",
            "vendor": "snom",
            "model": "D385",
            "ownership": "sold",
            "state": "in_stock",
            "settings": {},
            **stamps,
        },
    )
    _put(
        conn,
        "device_lines",
        {"device_id": 1, "position": 1, "line_id": 1},
        {"device_id": 1, "position": 2, "line_id": 2},
    )
    _put(
        conn,
        "events",
        {
            "id": 1,
            "at": T0,
            "actor": "cli:tech",
            "action": "device.assign",
            "device_mac": MAC,
            "summary": "assigned to ROSSI",
            "before": {"state": "in_stock"},
            "after": {"state": "deployed"},
        },
        {
            "id": 2,
            "at": T0,
            "actor": "api:support",
            "action": "customer.add",
            "customer_id": 2,
            "summary": "added BIANCHI",
            "after": {"code": "BIANCHI"},
        },
        {
            "id": 3,
            "at": T0,
            "actor": "cli:tech",
            "action": "device.return",
            "device_mac": RETURNED_MAC,
            "summary": "returned",
            "before": {"state": "return_due"},
            "after": {"state": "returned"},
        },
    )
    _put(
        conn,
        "unknown_devices",
        {
            "mac": "001565FFFFFF",
            "vendor": "yealink",
            "first_seen_at": T0,
            "last_seen_at": T0,
            "ip": "10.0.0.9",
            "requests": 4,
        },
    )
    _put(
        conn,
        "downloads",
        {"id": 1, "at": T0, "device_mac": MAC, "file": "001565a1b2c3.cfg", "ip": "10.0.0.5", "transport": "http"},
    )
    _put(conn, "uploads", {"device_mac": MAC, "name": "001565a1b2c3-calls.xml", "body": b"<calls/>", "at": T0})


def _write_0002(conn: sa.Connection) -> None:
    _set(
        conn,
        "customers",
        {"id": 2},
        contract_end=date(2026, 1, 31),
        return_window_days=45,
        late_charge="penalty",
        penalty_per_day_cents=150,
    )
    _set(conn, "devices", {"id": 2}, due_from=date(2026, 1, 31), due_reason="contract_end")
    _put(conn, "rental_defaults", {"id": 1, "window_days": 60, "late_charge": "replacement", "updated_at": T0})
    _put(conn, "replacement_costs", {"vendor": "yealink", "model": "T46U", "cost_cents": 18900, "updated_at": T0})


def _write_0003(conn: sa.Connection) -> None:
    _set(conn, "devices", {"id": 1}, assigned_at=T0)
    _put(conn, "customer_security", {"customer_id": 2, "auth": "none", "allow": ["10.0.0.0/8"], "updated_at": T0})


def _write_0004(conn: sa.Connection) -> None:
    _put(
        conn,
        "users",
        {
            "id": 1,
            "name": "anna",
            "role": "admin",
            "password_hash": "$argon2id$v=19$x",
            "created_at": T0,
            "updated_at": T0,
            "last_login_at": T0,
        },
        {
            "id": 2,
            "name": "gone",
            "role": "support",
            "password_hash": "$argon2id$v=19$y",
            "disabled": True,
            "created_at": T0,
            "updated_at": T0,
        },
    )
    _put(conn, "api_tokens", {"id": 1, "user_id": 1, "label": "billing", "digest": "d" * 64, "created_at": T0})
    _put(
        conn,
        "sessions",
        {
            "id": 1,
            "user_id": 1,
            "digest": "s" * 64,
            "csrf_token": "c" * 64,
            "created_at": T0,
            "expires_at": datetime(2027, 1, 1, tzinfo=UTC),
            "ip": "10.0.0.7",
        },
    )


def _write_0007_redirect(conn: sa.Connection) -> None:
    _put(
        conn,
        "redirect_accounts",
        {
            "vendor": "yealink",
            "rpc_url": "https://rps.example.net/xmlrpc",
            "username": "acme",
            "password": "g1.sealed-elsewhere",
            "server_name": "acme",
            "updated_at": T0,
        },
    )
    _put(
        conn,
        "redirect_outbox",
        {
            "id": 1,
            "mac": MAC,
            "vendor": "yealink",
            "op": "register",
            "customer_id": 1,
            "created_at": T0,
            "attempts": 2,
            "next_attempt_at": T0,
            "last_error": "HTTP 503",
        },
    )
    _put(
        conn,
        "redirect_devices",
        {
            "mac": RETURNED_MAC,
            "vendor": "yealink",
            "desired": "absent",
            "state": "registered",
            "url": "https://prov.example.net/",
            "updated_at": T0,
        },
    )
    _put(conn, "redirect_settings", {"name": "public_url", "value": "https://prov.example.net/"})
    _put(conn, "redirect_customer_urls", {"customer_id": 1, "public_url": "https://prov.rossi.example.net/"})


def _write_0008(conn: sa.Connection) -> None:
    _set(conn, "customers", {"id": 1}, resync_after_change=True)


def _write_0009(conn: sa.Connection) -> None:
    # (0009 itself gives every customer a sealed admin password: see the test below.)
    _set(conn, "customers", {"id": 1}, country="DE", codecs="g722,pcma", check_hour=4, check_interval_hours=12)
    _set(conn, "lines", {"id": 1}, voicemail="*97")


def _write_0010(conn: sa.Connection) -> None:
    _put(
        conn,
        "phonebook_entries",
        {
            "id": 1,
            "customer_id": 1,
            "name": "Fornitore & Co",
            "number": "+390612345",
            "group_name": "Fornitori",
            "created_at": T0,
        },
    )
    _put(
        conn,
        "firmware_images",
        {
            "id": 1,
            "vendor": "yealink",
            "models": "T46U,T48U",
            "version": "108.86.0.30",
            "file_name": "T46U-108.86.0.30.rom",
            "sha256": "ab" * 32,
            "size": 123456789,
            "created_at": T0,
        },
    )
    _put(
        conn,
        "firmware_targets",
        {"id": 1, "vendor": "yealink", "model": "T46U", "version": "108.86.0.30", "customer_id": 1, "updated_at": T0},
    )


def _write_0011_keys(conn: sa.Connection) -> None:
    _put(
        conn,
        "function_keys",
        {"id": 1, "device_id": 1, "module": 0, "position": 3, "type": "blf", "value": "202", "label": None, "line": 1},
        {
            "id": 2,
            "customer_id": 1,
            "module": 0,
            "position": 4,
            "type": "speed-dial",
            "value": "0612345678",
            "label": "Ufficio",
            "line": 1,
        },
    )


def _write_0013_shared_bans(conn: sa.Connection) -> None:
    _put(conn, "bans", {"id": 1, "ip": "198.51.100.7", "until": T0, "reason": "unknown_mac", "at": T0})


def _write_0013_downloads(conn: sa.Connection) -> None:
    """A download written at 0013 (one row per fetch): after 0014 it is a row of count 1, last_at NULL."""
    _put(
        conn,
        "downloads",
        {"id": 2, "at": T0, "device_mac": MAC, "file": "y000000000028.cfg", "ip": "10.0.0.6", "transport": "tftp"},
    )


def _write_0013(conn: sa.Connection) -> None:
    _write_0013_shared_bans(conn)
    _write_0013_downloads(conn)


def _write_0014_download_count(conn: sa.Connection) -> None:
    _put(
        conn,
        "downloads",
        {
            "id": 3,
            "at": T0,
            "device_mac": MAC,
            "file": "001565a1b2c3.cfg",
            "ip": "10.0.0.7",
            "user_agent": UA,
            "transport": "http",
            "count": 12,
            "last_at": datetime(2026, 3, 1, 9, 58, tzinfo=UTC),
        },
    )


def _write_nothing(conn: sa.Connection) -> None:
    """A migration that adds no table and no column (an index, say)."""


# Per revision: the rows a database at that revision holds beyond the earlier ones' (they run in order).
def _write_0012_token_expiry(conn: sa.Connection) -> None:
    _put(
        conn,
        "api_tokens",
        {"id": 2, "user_id": 1, "label": "quarter", "digest": "e" * 64, "created_at": T0, "expires_at": T0},
    )


WRITERS: dict[str, Callable[[sa.Connection], None]] = {
    "0001": _write_0001,
    "0002": _write_0002,
    "0003": _write_0003,
    "0004": _write_0004,
    "0005": _write_nothing,
    "0006_uploads": _write_nothing,  # seals the uploads 0001 wrote (CHANGED below)
    "0007_redirect": _write_0007_redirect,
    "0008_resync_after_change": _write_0008,
    "0009_phone_baseline": _write_0009,
    "0010_phonebook_firmware": _write_0010,
    "0011_keys": _write_0011_keys,
    "0012_token_expiry": _write_0012_token_expiry,
    "0013_shared_bans": _write_0013,
    "0014_download_count": _write_0014_download_count,
}

# Values a migration changes on purpose (or moves to another column): (revision, table, column) ->
# whether the upgraded row ``new`` holds the old value ``old`` as changed.
CHANGED: dict[tuple[str, str, str], Callable[[Any, dict[str, Any], Store], bool]] = {
    ("0003", "lines", "password"): lambda old, new, store: (
        new["password"] != old and store.sealer.open(new["password"]) == old
    ),
    ("0006_uploads", "uploads", "body"): lambda old, new, store: (
        "body" not in new and base64.b64decode(store.sealer.open(new["sealed_body"])) == old
    ),
}


def test_every_revision_has_a_data_writer():
    missing = [r for r in migrating.revisions() if r not in WRITERS]
    assert not missing, (
        f"migration(s) {', '.join(missing)} have no data writer in tests/test_migrations.py: add WRITERS[rev], "
        "a function inserting rows into the tables and columns the migration adds (or _write_nothing), and "
        "CHANGED entries for values it rewrites on purpose, so upgrades from every earlier revision are "
        "checked to keep every row"
    )


def _snapshot(conn: sa.Connection) -> dict[str, dict[tuple, dict[str, Any]]]:
    """Every row of every table, keyed by its primary key, as the driver returns it."""
    inspector = sa.inspect(conn)
    tables = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        key = inspector.get_pk_constraint(table)["constrained_columns"]
        rows = conn.exec_driver_sql(f'SELECT * FROM "{table}"').mappings().all()
        tables[table] = {tuple(row[k] for k in key): dict(row) for row in rows}
    return tables


def _build(data_dir, revision: str) -> dict[str, dict[tuple, dict[str, Any]]]:
    store = Store.open(data_dir, migrate=False)
    try:
        revisions = migrating.revisions()
        for rev in revisions[: revisions.index(revision) + 1]:
            store.migrate(rev)
            with store.write_engine.begin() as conn:
                WRITERS[rev](conn)
        with store.engine.connect() as conn:
            return _snapshot(conn)
    finally:
        store.close()


EARLIER = migrating.revisions()[:-1]


@pytest.mark.parametrize("start", EARLIER)
async def test_upgrading_from_an_earlier_revision_keeps_every_row_and_serves_the_phone(start, data_dir, aiohttp_client):
    before = _build(data_dir, start)
    assert before["device_lines"] and before["devices"]

    store = Store.open(data_dir)  # as the server does at start: upgrade to the newest revision
    try:
        assert migrating.current(store) == migrating.head()
        with store.engine.connect() as conn:
            after = _snapshot(conn)
        later = migrating.revisions()[migrating.revisions().index(start) + 1 :]
        for table, rows in before.items():
            assert set(after[table]) == set(rows), f"{table}: rows lost or added by the upgrade from {start}"
            for key, old in rows.items():
                new = after[table][key]
                for column, value in old.items():
                    changes = [CHANGED[(rev, table, column)] for rev in later if (rev, table, column) in CHANGED]
                    if changes:
                        assert all(ok(value, new, store) for ok in changes), (table, key, column)
                    else:
                        assert new[column] == value, f"{table} {key}.{column}: {value!r} became {new[column]!r}"
    finally:
        store.close()

    settings = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=0,
        public_url="http://prov.test:8080/",
        sync_interval=0.05,
        flush_interval=0.05,
    )
    client = await aiohttp_client(create_app(settings), server_kwargs={"host": "127.0.0.1"})
    resp = await client.get(f"/{MAC.lower()}.cfg", headers={"User-Agent": UA})
    assert resp.status == 200
    accounts = yealink_accounts(await resp.read())
    assert accounts[1] == {
        "enabled": "1",
        "display_name": "Reception",
        "user": "rossi201",
        "auth": "a201",
        "password": PASSWORDS[0],
        "server": "pbx.rossi.example.net",
        "port": "5062",
    }
    assert accounts[2] == {
        "enabled": "1",
        "display_name": "Niccolò",
        "user": "rossi202",
        "auth": "a202",
        "password": PASSWORDS[1],
        "server": "pbx2.rossi.example.net",
        "port": "5070",
    }


def test_0014_keeps_every_download_as_a_row_of_count_1_with_no_last_time(data_dir):
    _build(data_dir, "0013_shared_bans")
    store = Store.open(data_dir)
    try:
        with store.engine.connect() as conn:
            rows = conn.exec_driver_sql("SELECT id, file, count, last_at FROM downloads ORDER BY id").fetchall()
        assert [tuple(r) for r in rows] == [(1, "001565a1b2c3.cfg", 1, None), (2, "y000000000028.cfg", 1, None)]
        with store.reading() as tx:
            assert [(d["count"], d["last_at"]) for d in tx.downloads_of_device(MAC)] == [(1, None), (1, None)]
    finally:
        store.close()


async def test_0009_gives_every_existing_customer_a_sealed_admin_password_its_phones_get(data_dir, aiohttp_client):
    _build(data_dir, "0008_resync_after_change")
    store = Store.open(data_dir)
    try:
        with store.engine.connect() as conn:
            raw = dict(conn.exec_driver_sql("SELECT code, admin_password FROM customers").fetchall())
        assert set(raw) == {"ROSSI", "BIANCHI"}
        opened = {code: store.sealer.open(value) for code, value in raw.items()}
        assert all(len(p) == 12 and p.isalnum() and p not in raw[c] for c, p in opened.items()), "sealed, 12 chars"
        assert opened["ROSSI"] != opened["BIANCHI"]
    finally:
        store.close()
    settings = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=0,
        public_url="http://prov.test:8080/",
        sync_interval=0.05,
        flush_interval=0.05,
    )
    client = await aiohttp_client(create_app(settings), server_kwargs={"host": "127.0.0.1"})
    resp = await client.get(f"/{MAC.lower()}.cfg", headers={"User-Agent": UA})
    assert resp.status == 200
    body = (await resp.read()).decode()
    assert f"static.security.user_password = admin:{opened['ROSSI']}\n" in body
    assert "voice.tone.country = Italy\n" in body  # no country set: IT


def test_a_migration_that_breaks_a_reference_is_refused_and_changes_nothing(data_dir, monkeypatch):
    _build(data_dir, "0004")
    store = Store.open(data_dir, migrate=False)
    real_upgrade = migrating._upgrade_to

    def dangling(conn, cfg, target):  # a faulty migration: rows left pointing at a line that is gone
        real_upgrade(conn, cfg, target)
        conn.exec_driver_sql("DELETE FROM lines WHERE id = 2")

    monkeypatch.setattr(migrating, "_upgrade_to", dangling)
    try:
        with pytest.raises(MigrationError, match=r"1 row\(s\) of device_lines point at no row of lines.*unchanged"):
            store.migrate()
        assert migrating.current(store) == "0004"
        with store.write_engine.connect() as conn:
            assert conn.exec_driver_sql("SELECT line_id FROM device_lines ORDER BY position").scalars().all() == [1, 2]
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1  # back on for the pool
    finally:
        store.close()


def test_db_commands_back_up_upgrade_and_roll_back(data_dir, run_cli, tmp_path):
    import sqlite3

    _build(data_dir, "0001")
    head = migrating.head()
    assert run_cli("db", "current").output.strip() == (
        f"revision 0001: an upgrade to {head} is pending: back up, then `provisioner db upgrade`"
    )

    copy = tmp_path / "before-upgrade.sqlite3"
    assert f"backed up revision 0001 to {copy}" in run_cli("db", "backup", str(copy)).output
    again = run_cli("db", "backup", str(copy), ok=False)
    assert again.exit_code == 1 and f"{copy} exists: give a new file name, nothing was written" in again.output
    missing = run_cli("db", "backup", str(tmp_path / "no" / "such.sqlite3"), ok=False)
    assert missing.exit_code == 1 and "is not a folder" in missing.output

    assert run_cli("db", "upgrade").output.strip().endswith(f"upgraded from 0001 to {head}")
    assert run_cli("db", "current").output.strip() == f"revision {head} (the newest): up to date"
    assert run_cli("db", "upgrade").output.strip() == f"revision {head}: already the newest, nothing to do"

    # Rolling back is putting the copy back: a whole database at the old revision, with its rows.
    with sqlite3.connect(copy) as db:
        assert db.execute("SELECT version_num FROM alembic_version").fetchall() == [("0001",)]
        assert db.execute("SELECT device_id, position, line_id FROM device_lines ORDER BY position").fetchall() == [
            (1, 1, 1),
            (1, 2, 2),
        ]
        assert db.execute("SELECT password FROM lines WHERE id = 1").fetchone() == (PASSWORDS[0],)
    db_file = data_dir / "provisioner.sqlite3"
    for extra in (data_dir / "provisioner.sqlite3-wal", data_dir / "provisioner.sqlite3-shm"):
        extra.unlink(missing_ok=True)
    db_file.write_bytes(copy.read_bytes())
    assert run_cli("db", "current").output.startswith("revision 0001: an upgrade")


def test_db_current_on_an_empty_database_and_backup_on_postgresql_say_what_to_do(data_dir, run_cli):
    assert (
        "empty database (no revision): `provisioner db upgrade` creates the schema" in run_cli("db", "current").output
    )
    store = Store("postgresql+psycopg://nobody@127.0.0.1:1/none", Sealer.for_data_dir(data_dir))  # not connected
    with pytest.raises(ProvisionerError, match="for PostgreSQL use pg_dump"):
        migrating.backup(store, data_dir / "x.sqlite3")

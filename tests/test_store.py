"""The store: migrations build exactly the tables the code declares, SQLite runs in WAL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from provisioner.db import MIGRATIONS, Store, metadata


def test_migrations_match_the_declared_tables(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_file_in_the_data_dir_in_wal_mode(data_dir, store):
    assert (data_dir / "provisioner.sqlite3").is_file()
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_reopening_is_idempotent(data_dir, store):
    with store.transaction() as tx:
        tx.insert_customer({"code": "A", "name": "A", "sip_server": "pbx.example.net"})
    again = Store.open(data_dir)
    with again.reading() as tx:
        assert tx.customer_by_code("A")["name"] == "A"
        version = tx.conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    assert version == ScriptDirectory.from_config(cfg).get_current_head()
    again.close()


def test_a_failed_transaction_leaves_nothing(store):
    try:
        with store.transaction() as tx:
            tx.insert_customer({"code": "B", "name": "B"})
            tx.add_event(actor="t", action="x", summary="x")
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    with store.reading() as tx:
        assert tx.customer_by_code("B") is None
        assert tx.last_event_id() == 0


def test_a_uniqueness_lost_to_another_transaction_is_a_conflict_that_changes_nothing(store):
    from provisioner.errors import Conflict

    with store.transaction() as tx:
        tx.insert_customer({"code": "A", "name": "A", "sip_server": "pbx.example.net"})
    try:
        with store.transaction() as tx:
            tx.insert_customer({"code": "B", "name": "B", "sip_server": "pbx.example.net"})
            tx.insert_customer({"code": "A", "name": "A again", "sip_server": "s3cret-looking.example.net"})
    except Conflict as exc:
        assert "try again" in exc.message and "s3cret" not in exc.message and exc.__cause__ is None
    else:
        raise AssertionError("no conflict")
    with store.reading() as tx:
        assert [c["code"] for c in tx.list_customers()] == ["A"]


def test_data_dir_and_sqlite_files_are_the_owners_alone(tmp_path):
    import os
    import stat

    fresh = tmp_path / "fresh"
    old = os.umask(0o022)  # the usual umask: would give 0755 / 0644
    try:
        store = Store.open(fresh)
        with store.transaction() as tx:
            tx.insert_customer({"code": "A", "name": "A", "sip_server": "pbx.example.net"})
        modes = {p.name: stat.S_IMODE(p.stat().st_mode) for p in fresh.iterdir()}
        store.close()
    finally:
        os.umask(old)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700
    assert modes["provisioner.sqlite3"] == 0o600 and modes["secret.key"] == 0o600
    assert modes["provisioner.sqlite3-wal"] == 0o600 and modes["provisioner.sqlite3-shm"] == 0o600
    # A database an older version left readable by others is tightened at the next start.
    os.chmod(fresh / "provisioner.sqlite3", 0o644)
    os.chmod(fresh, 0o755)
    Store.open(fresh).close()
    assert stat.S_IMODE((fresh / "provisioner.sqlite3").stat().st_mode) == 0o600
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o700

"""The store: migrations build exactly the tables the code declares, SQLite runs in WAL."""

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alembic.config import Config
from alembic.script import ScriptDirectory

from provisioner.store import MIGRATIONS, Store, metadata


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

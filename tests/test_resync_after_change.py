"""--resync-after-change: a committed change makes the real server NOTIFY the fake phone itself,
once per phone within the dedup window, and only where the server flag or the customer says so."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import UTC, datetime

import pytest

from provisioner import lifecycle, services
from provisioner.db import migrate as migrating

from .conftest import ACTOR, add_customer, add_line
from .sip_phone import FakePhone


@pytest.fixture
def phone():
    with FakePhone("ok") as p:
        yield p


@pytest.fixture
def settings(settings, phone):
    return dataclasses.replace(settings, resync_after_change=True, resync_port=phone.port)


def _seen(store, mac: str) -> None:
    with store.transaction() as tx:
        tx.record_seen([{"mac": mac, "at": datetime.now(UTC), "ip": "127.0.0.1", "user_agent": None, "firmware": None}])


@pytest.fixture
def devices(store):
    add_customer(store, "ROSSI")
    add_customer(store, "BIANCHI")
    add_line(store, "ROSSI", "201", "Reception", "Pw-201-very-secret")
    add_line(store, "BIANCHI", "301", "Desk", "Pw-301-very-secret")
    services.add_device(store, ACTOR, "001565ABCDEF", model="T46U", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, "001565ABCDE0", model="T46U", customer="BIANCHI", lines=["301"])
    _seen(store, "001565ABCDEF")
    _seen(store, "001565ABCDE0")
    return store


async def _wait(pred, seconds: float = 6.0) -> None:
    for _ in range(int(seconds / 0.05)):
        if pred():
            return
        await asyncio.sleep(0.05)


async def test_a_change_notifies_the_phone_once(devices, server, phone):
    after = server.app[lifecycle.AFTER_CHANGE]
    after.settle = 0.2
    await server.sync()
    services.update_line(devices, ACTOR, "ROSSI", "201", display_name="Front desk")
    services.update_line(devices, ACTOR, "ROSSI", "201", display_name="Front desk 2")
    await server.sync()
    await _wait(lambda: len(phone.notifies) >= 1)
    await asyncio.sleep(0.5)
    [notify] = phone.notifies
    assert notify.get("Event") == "check-sync;reboot=false"
    assert notify.uri == f"sip:201@127.0.0.1:{phone.port}"
    assert after.sent == 1
    # Within the dedup window another change does not NOTIFY the same phone again...
    services.update_line(devices, ACTOR, "ROSSI", "201", display_name="Front desk 3")
    await server.sync()
    await asyncio.sleep(0.6)
    assert len(phone.notifies) == 1 and after.sent == 1
    # ... but it does once the window is over.
    after._last.clear()
    services.update_line(devices, ACTOR, "ROSSI", "201", display_name="Front desk 4")
    await server.sync()
    await _wait(lambda: len(phone.notifies) >= 2)
    assert len(phone.notifies) == 2


async def test_the_customer_override_wins(devices, server, phone, run_cli):
    after = server.app[lifecycle.AFTER_CHANGE]
    after.settle = 0.2
    run_cli("customer", "update", "ROSSI", "--resync-after-change", "off")
    await server.sync()
    await asyncio.sleep(0.5)
    sent_before = after.sent  # the override change itself is a ROSSI event: nobody to notify
    services.update_line(devices, ACTOR, "ROSSI", "201", display_name="Quiet")
    services.update_line(devices, ACTOR, "BIANCHI", "301", display_name="Loud")
    await server.sync()
    await _wait(lambda: len(phone.notifies) >= 1)
    await asyncio.sleep(0.5)
    assert [n.uri for n in phone.notifies] == [f"sip:301@127.0.0.1:{phone.port}"]
    assert after.sent == sent_before + 1
    # Server flag off, customer on: only that customer's phones.
    after.enabled = False
    after._last.clear()
    run_cli("customer", "update", "ROSSI", "--resync-after-change", "on")
    services.update_line(devices, ACTOR, "BIANCHI", "301", display_name="Loud again")
    await server.sync()
    await _wait(lambda: len(phone.notifies) >= 2)
    await asyncio.sleep(0.5)
    assert [n.uri for n in phone.notifies][1:] == [f"sip:201@127.0.0.1:{phone.port}"]


def test_bad_override_value_is_refused(devices):
    from provisioner.errors import Invalid

    with pytest.raises(Invalid, match="resync_after_change must be on, off or server"):
        services.update_customer(devices, ACTOR, "ROSSI", resync_after_change="sometimes")
    with devices.reading() as tx:
        assert tx.customer_by_code("ROSSI")["resync_after_change"] is None
    services.update_customer(devices, ACTOR, "ROSSI", resync_after_change="server")
    with devices.reading() as tx:
        assert tx.customer_by_code("ROSSI")["resync_after_change"] is None


def test_migration_0006_keeps_rows_written_at_0005(data_dir):
    from alembic import command
    from alembic.config import Config

    from provisioner.db import MIGRATIONS, Store

    store = Store.open(data_dir, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with store.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["sealer"] = store.sealer
        command.upgrade(cfg, "0007_redirect")  # the revision before this one
        conn.exec_driver_sql(
            "INSERT INTO customers (code, name, sip_server, sip_port, sip_transport, timezone, language, "
            "ntp_server, created_at, updated_at, contract_end, return_window_days, late_charge, "
            "penalty_per_day_cents) VALUES ('OLD', 'Old & Co', 'pbx.old.example.net', 5070, 'tls', "
            "'Europe/Rome', 'it', 'ntp.old.example.net', '2026-01-01 10:00:00', '2026-01-02 11:00:00', "
            "'2027-03-31', 15, 'daily', 250)"
        )
        conn.exec_driver_sql(
            "INSERT INTO lines (customer_id, extension, display_name, sip_username, auth_id, "
            "password, created_at, updated_at) VALUES (1, '10', 'Ten', '10', 'a10', "
            f"'{store.sealer.seal('Pw-10-secret')}', '2026-01-01', '2026-01-01')"
        )
        before = conn.exec_driver_sql("SELECT * FROM customers").mappings().one()
        lines_before = [dict(r) for r in conn.exec_driver_sql("SELECT * FROM lines").mappings()]
    store.migrate()
    store.close()
    store = Store.open(data_dir)
    try:
        with store.write_engine.begin() as conn:
            after = conn.exec_driver_sql("SELECT * FROM customers").mappings().one()
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar_one()
            lines_after = [dict(r) for r in conn.exec_driver_sql("SELECT * FROM lines").mappings()]
        assert [{k: r[k] for k in lines_before[0]} for r in lines_after] == lines_before  # later ones add columns
        assert version == migrating.head()
        assert {k: after[k] for k in before} == dict(before)
        assert after["resync_after_change"] is None  # follows the server flag
        services.update_customer(store, ACTOR, "OLD", resync_after_change="on")
        with store.reading() as tx:
            assert tx.customer_by_code("OLD")["resync_after_change"] is True
    finally:
        store.close()
    # And back down to 0007: the column goes, the row stays.
    store = Store.open(data_dir, migrate=False)
    with store.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007_redirect")
        row = conn.exec_driver_sql("SELECT * FROM customers").mappings().one()
        lines_down = [dict(r) for r in conn.exec_driver_sql("SELECT * FROM lines").mappings()]
    store.close()
    assert lines_down == lines_before  # no cascade from a recreated customers table
    assert "resync_after_change" not in row and row["sip_port"] == 5070 and row["name"] == "Old & Co"

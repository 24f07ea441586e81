"""Files phones upload (Polycom -phone.cfg, Yealink -local.cfg, logs) against the real server: taken and
given back only to the phone that was given the config, stripped of provisioning and SIP server keys,
sealed at rest, never served to a deprovisioned phone; and the migration that seals rows already stored.

Client addresses differ by binding the client socket to another loopback address (127.0.0.2, 127.0.0.3).
"""

from __future__ import annotations

import base64
import datetime as dt
import xml.etree.ElementTree as ET

import sqlalchemy as sa

from provisioner import keys, rental_services, uploads
from provisioner.db import Store
from tests.conftest import add_customer
from tests.test_phone_security import session
from tests.test_phones import PHONES, provision

POLYCOM = PHONES["polycom"][0]
YEALINK = PHONES["yealink"][0]
EVIL = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1" '
    b'reg.1.server.1.address="evil.example" device.prov.serverName="evil.example" '
    b'reg.1.auth.password="x" voIpProt.server.1.address="evil.example"/></PHONE_CONFIG>'
)


def db_bytes(data_dir) -> bytes:
    return b"".join(p.read_bytes() for p in data_dir.glob("provisioner.sqlite3*"))


async def test_polycom_boot_uploads_its_override_and_a_stranger_cannot(server, store, data_dir):
    add_customer(store)  # no rules: the default
    provision(store, POLYCOM, 200)
    await server.sync()
    mac = POLYCOM.mac.lower()
    base = f"http://127.0.0.1:{server.http_port}"
    headers = {"User-Agent": POLYCOM.user_agent}
    guard = server.app[keys.RESOLVER].guard
    phone_cfg = b'<?xml version="1.0"?><PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1"/></PHONE_CONFIG>'

    async with session("127.0.0.3") as stranger:
        # Before the phone boots nobody may plant an override, nor read one.
        resp = await stranger.put(f"{base}/{mac}-phone.cfg", data=EVIL, headers=headers)
        assert resp.status == 403
    assert guard.tracked == 1  # the refused PUT counts toward a ban of the stranger

    async with session("127.0.0.2") as phone:
        for name in POLYCOM.files:  # the boot: master files, then its settings
            assert (await phone.get(f"{base}/{name}", headers=headers)).status == 200, name
        assert (await phone.get(f"{base}/{mac}-phone.cfg", headers=headers)).status == 404  # none yet
        put = await phone.put(f"{base}/{mac}-phone.cfg", data=phone_cfg, headers=headers)
        assert put.status == 201
        back = await phone.get(f"{base}/{mac}-phone.cfg", headers=headers)
        assert back.status == 200 and await back.read() == phone_cfg

    async with session("127.0.0.3") as stranger:
        # Another address, even within the 10 minutes: neither PUT nor GET.
        assert (await stranger.put(f"{base}/{mac}-phone.cfg", data=EVIL, headers=headers)).status == 403
        assert (await stranger.get(f"{base}/{mac}-phone.cfg", headers=headers)).status == 403
        assert (await stranger.put(f"{base}/{mac}-web.cfg", data=EVIL, headers=headers)).status == 403
    assert guard.tracked == 1 and len(guard._failures["127.0.0.3"]) == 4
    with store.reading() as tx:
        assert tx.upload(POLYCOM.mac, f"{mac}-phone.cfg") == phone_cfg
        assert tx.upload(POLYCOM.mac, f"{mac}-web.cfg") is None

    # Sealed at rest: the override's bytes are nowhere in the database files.
    assert b"idleIntensity" not in db_bytes(data_dir)
    assert b"idleIntensity" not in base64.b64encode(db_bytes(data_dir))

    # Ten minutes after its last config fetch, even the phone's address is a stranger again.
    resolver = server.app[keys.RESOLVER]
    now = resolver.clock()
    resolver.clock = lambda: now + 601
    async with session("127.0.0.2") as phone:
        assert (await phone.get(f"{base}/{mac}-phone.cfg", headers=headers)).status == 403


async def test_server_and_provisioning_keys_are_stripped_from_overrides(server, store):
    add_customer(store)
    provision(store, POLYCOM, 200)
    provision(store, YEALINK, 210)
    await server.sync()
    base = f"http://127.0.0.1:{server.http_port}"
    async with session("127.0.0.2") as phone:
        mac = POLYCOM.mac.lower()
        headers = {"User-Agent": POLYCOM.user_agent}
        assert (await phone.get(f"{base}/{mac}.cfg", headers=headers)).status == 200
        assert (await phone.put(f"{base}/{mac}-phone.cfg", data=EVIL, headers=headers)).status == 201
        kept = await (await phone.get(f"{base}/{mac}-phone.cfg", headers=headers)).read()
        overrides = ET.fromstring(kept).find("OVERRIDES").attrib
        assert overrides == {"up.backlight.idleIntensity": "1"}
        assert b"evil.example" not in kept
        # A document with entity declarations is refused whole (and counts as a failure).
        bomb = b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><PHONE_CONFIG/>'
        assert (await phone.put(f"{base}/{mac}-web.cfg", data=bomb, headers=headers)).status == 400

        ymac = YEALINK.mac.lower()
        yheaders = {"User-Agent": YEALINK.user_agent}
        assert (await phone.get(f"{base}/{ymac}.cfg", headers=yheaders)).status == 200
        local = (
            b"#!version:1.0.0.1\nlcd_logo.mode = 1\nstatic.auto_provision.server.url = http://evil.example/\n"
            b"account.1.sip_server.1.address = evil.example\naccount.1.password = x\n"
            b"auto_provision.server.url = http://evil.example/\n"
        )
        assert (await phone.put(f"{base}/{ymac}-local.cfg", data=local, headers=yheaders)).status == 201
        kept = await (await phone.get(f"{base}/{ymac}-local.cfg", headers=yheaders)).read()
        assert kept == b"#!version:1.0.0.1\nlcd_logo.mode = 1\n"


def test_clean_keeps_logs_as_sent_and_names_what_it_drops():
    body, dropped = uploads.clean("polycom", "0004f2a1b2c7-boot.log", b"device.prov.serverName=x\n")
    assert body == b"device.prov.serverName=x\n" and dropped == []
    _, dropped = uploads.clean("polycom", "0004f2a1b2c7-phone.cfg", EVIL)
    assert sorted(dropped) == [
        "device.prov.serverName",
        "reg.1.auth.password",
        "reg.1.server.1.address",
        "voIpProt.server.1.address",
    ]


async def test_a_deprovisioned_phone_is_never_served_its_stored_override(server, store):
    add_customer(store)
    provision(store, POLYCOM, 200)
    await server.sync()
    mac = POLYCOM.mac.lower()
    base = f"http://127.0.0.1:{server.http_port}"
    headers = {"User-Agent": POLYCOM.user_agent}
    override = b'<?xml version="1.0"?><PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1"/></PHONE_CONFIG>'
    async with session("127.0.0.2") as phone:
        assert (await phone.get(f"{base}/{mac}.cfg", headers=headers)).status == 200
        assert (await phone.put(f"{base}/{mac}-phone.cfg", data=override, headers=headers)).status == 201
        rental_services.terminate(store, "test", "ROSSI", dt.date.today() - dt.timedelta(days=1))
        await server.sync()
        assert (await phone.get(f"{base}/{mac}.cfg", headers=headers)).status == 200  # the disabled config
        assert (await phone.get(f"{base}/{mac}-phone.cfg", headers=headers)).status == 403
        assert (await phone.put(f"{base}/{mac}-phone.cfg", data=override, headers=headers)).status == 403


def test_migration_seals_uploads_stored_before_it(data_dir):
    from alembic import command
    from alembic.config import Config

    from provisioner.db import MIGRATIONS

    store = Store.open(data_dir, migrate=False)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    body = b'<PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1"/></PHONE_CONFIG>\xff'
    with store.write_engine.begin() as conn:
        cfg.attributes["connection"] = conn
        cfg.attributes["sealer"] = store.sealer
        command.upgrade(cfg, "0005")
        conn.execute(
            sa.text(
                "INSERT INTO uploads (device_mac, name, body, at) VALUES "
                "('0004F2A1B2C7', '0004f2a1b2c7-phone.cfg', :b, '2026-01-01')"
            ),
            {"b": body},
        )
    store.close()
    store = Store.open(data_dir)  # migrates to head
    with store.reading() as tx:
        assert tx.upload("0004F2A1B2C7", "0004f2a1b2c7-phone.cfg") == body
        raw = tx.conn.execute(sa.text("SELECT sealed_body FROM uploads")).scalar_one()
    assert raw.startswith("g1.") and b"idleIntensity" not in raw.encode()
    store.close()
    assert b"idleIntensity" not in db_bytes(data_dir)


# --- scan defence: IPv6 /64 and a global budget of unknown-MAC answers (issue 13, item 5) -------------------


def test_ipv6_failures_are_counted_per_64():
    from provisioner.access import ScanGuard, ScanSettings

    guard = ScanGuard(ScanSettings(failures=10), clock=lambda: 1000.0)
    for i in range(9):
        assert not guard.failed(f"2001:db8:1:2::{i + 1:x}", "unknown-device")  # a new address each time
    assert guard.failed("2001:db8:1:2:ffff::9", "unknown-device")  # the tenth in the same /64: banned
    assert guard.banned("2001:db8:1:2::abcd") and not guard.banned("2001:db8:1:3::1")
    assert not guard.banned("192.0.2.1")


async def test_a_scan_spread_over_many_addresses_slows_down_and_known_phones_do_not(server, store):
    from provisioner.access import ScanGuard, ScanSettings

    add_customer(store)
    provision(store, YEALINK, 200)
    await server.sync()
    now = [1000.0]
    server.app[keys.RESOLVER].guard = guard = ScanGuard(
        ScanSettings(failures=100, unknown_rate=0.01, unknown_burst=3), clock=lambda: now[0]
    )
    base = f"http://127.0.0.1:{server.http_port}"
    statuses = []
    for i, ip in enumerate(("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6")):
        async with session(ip) as scanner:
            statuses.append((await scanner.get(f"{base}/001565{i:06x}.cfg")).status)
    assert statuses == [404] * 5  # each address's first probe: nothing tells it from a phone not yet added
    # The budget (3) is spent: every address that failed lately is refused whatever it asks.
    for ip in ("127.0.0.2", "127.0.0.6"):
        async with session(ip) as scanner:
            assert (await scanner.get(f"{base}/001565abcdef.cfg")).status == 403
    async with session("127.0.0.2") as scanner:
        assert (await scanner.get(f"{base}/{YEALINK.mac.lower()}.cfg")).status == 403  # even for a known MAC
    async with session("127.0.0.7") as phone:  # an address with no failure: the phone boots as ever
        assert (
            await phone.get(f"{base}/{YEALINK.mac.lower()}.cfg", headers={"User-Agent": YEALINK.user_agent})
        ).status == 200
    now[0] += 200  # the budget refills (0.01 per second): the scan may go on, slowly
    async with session("127.0.0.2") as scanner:
        assert (await scanner.get(f"{base}/001565fffff0.cfg")).status == 404
    assert guard.banned_count == 0

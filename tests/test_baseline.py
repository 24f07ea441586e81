"""The hardened baseline every phone gets (issue 14): its customer's admin password, SRTP on TLS lines,
tones from the customer's country, voicemail/MWI per line, the customer's codec order, the customer's
check time under the device's. Real server, real SQLite, real HTTP; each vendor's file parsed."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest

from provisioner import services
from provisioner.errors import Invalid
from tests.conftest import ACTOR, add_customer, add_line

PHONES = {  # vendor: (model, MAC, file, User-Agent)
    "yealink": ("T31G", "001565B1B2C3", "001565b1b2c3.cfg", "Yealink SIP-T31G 124.86.0.40 00:15:65:b1:b2:c3"),
    "snom": (
        "D785",
        "000413B1B2C4",
        "000413B1B2C4.xml",
        "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12-00001 000413B1B2C4)",
    ),
    "polycom": (
        "VVX450",
        "0004F2B1B2C5",
        "0004f2b1b2c5-settings.cfg",
        "FileTransport PolycomVVX-VVX_450-UA/6.4.6.0123 Type/Application",
    ),
    "grandstream": (
        "GRP2614",
        "C074ADB1B2C6",
        "cfgc074adb1b2c6.xml",
        "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074adb1b2c6",
    ),
}


def yealink(body: str) -> dict[str, str]:
    return dict(line.split(" = ", 1) for line in body.splitlines() if " = " in line)


def snom(body: str) -> dict[str, str]:
    root = ET.fromstring(body)
    return {
        el.tag + (f"[{el.get('idx')}]" if el.get("idx") else ""): el.text or "" for el in root.find("phone-settings")
    }


def polycom(body: str) -> dict[str, str]:
    return {k: v for el in ET.fromstring(body).iter() for k, v in el.attrib.items()}


def grandstream(body: str) -> dict[str, str]:
    return {el.tag: el.text or "" for el in ET.fromstring(body).find("config")}


PARSE = {"yealink": yealink, "snom": snom, "polycom": polycom, "grandstream": grandstream}


def provision(store, *, codecs="g722,pcma,pcmu", **customer):
    add_customer(store, codecs=codecs, check_hour=5, **customer)
    for n, vendor in enumerate(PHONES):
        model, mac, _, _ = PHONES[vendor]
        tls, plain = f"{n}01", f"{n}02"
        add_line(store, "ROSSI", tls, "Reception", "sip-secret-1", sip_transport="tls", sip_port=5061, voicemail="*97")
        add_line(store, "ROSSI", plain, "Back office", "sip-secret-2")
        services.add_device(store, ACTOR, mac, model=model, customer="ROSSI", lines=[tls, plain])


async def fetch_all(server) -> dict[str, dict[str, str]]:
    await server.sync()
    out = {}
    for vendor, (_, _, name, ua) in PHONES.items():
        resp = await server.client.get("/" + name, headers={"User-Agent": ua})
        assert resp.status == 200, (vendor, resp.status)
        out[vendor] = PARSE[vendor]((await resp.read()).decode("utf-8"))
    return out


async def test_every_vendor_writes_the_baseline(server, store):
    provision(store)
    password = services.admin_password(store, ACTOR, "ROSSI")
    assert password and len(password) == 12
    files = await fetch_all(server)

    y = files["yealink"]
    assert y["static.security.user_password"] == f"admin:{password}"
    assert y["voice.tone.country"] == "Italy"  # no country given: IT
    assert (y["account.1.srtp_encryption"], y["account.2.srtp_encryption"]) == ("2", "0")  # TLS line only
    assert (y["account.1.subscribe_mwi"], y["voice_mail.number.1"]) == ("1", "*97")
    assert (y["account.2.subscribe_mwi"], y["voice_mail.number.2"]) == ("0", "%NULL%")
    for n in (1, 2):
        assert [y[f"account.{n}.codec.{c}.priority"] for c in ("g722", "pcma", "pcmu", "g729", "opus")] == [
            "1",
            "2",
            "3",
            "0",
            "0",
        ]
        assert y[f"account.{n}.codec.g729.enable"] == "0" and y[f"account.{n}.codec.g722.enable"] == "1"
    # T31G: its two line keys
    assert [(y[f"linekey.{k}.type"], y[f"linekey.{k}.line"]) for k in (1, 2)] == [("15", "1"), ("15", "2")]
    assert y["static.auto_provision.weekly.begin_time"].startswith("05:")  # the customer's check hour

    s = files["snom"]
    assert s["admin_mode_password"] == password
    assert s["tone_scheme"] == "ITA"
    assert (s["user_srtp[1]"], s["user_srtp[2]"]) == ("on", "off")
    assert (s["user_mailbox[1]"], s["user_mailbox[2]"]) == ("*97", "")
    assert s["codec_priority_list[1]"] == s["codec_priority_list[2]"] == "g722,pcma,pcmu"

    p = files["polycom"]
    assert p["device.auth.localAdminPassword"] == password and p["device.auth.localAdminPassword.set"] == "1"
    assert p["device.set"] == "1"
    assert (p["sec.srtp.enable"], p["sec.srtp.offer"]) == ("1", "1")
    assert (p["msg.mwi.1.callBackMode"], p["msg.mwi.1.callBack"], p["msg.mwi.1.subscribe"]) == (
        "contact",
        "*97",
        "201",
    )  # its SIP user (polycom is the third phone)
    assert p["msg.mwi.2.callBackMode"] == "disabled"
    assert [p[f"voice.codecPref.{c}"] for c in ("G722", "G711_A", "G711_Mu", "G729_AB")] == ["1", "2", "3", "0"]

    g = files["grandstream"]
    assert g["P2"] == password
    assert (g["P183"], g["P33"]) == ("2", "*97")  # account 1 is the TLS line
    assert [g[p] for p in ("P57", "P58", "P59")] == ["9", "8", "0"]
    assert g["P285"] == "5"


async def test_plain_customer_gets_no_srtp_no_codecs_and_the_device_check_hour_wins(server, store):
    add_customer(store, check_hour=5, check_interval_hours=24)
    add_line(store, "ROSSI", "201", "Reception", "sip-secret-1")
    services.add_device(
        store, ACTOR, "001565B1B2C3", model="T31G", customer="ROSSI", lines=["201"], settings={"check_hour": "22"}
    )
    await server.sync()
    resp = await server.client.get("/001565b1b2c3.cfg", headers={"User-Agent": PHONES["yealink"][3]})
    y = yealink((await resp.read()).decode())
    assert y["account.1.srtp_encryption"] == "0"
    assert not any(".codec." in k for k in y)  # no order given: the phone keeps its own
    assert y["static.auto_provision.weekly.begin_time"].startswith("22:")  # the device wins


async def test_country_changes_the_tones(server, store):
    add_customer(store, country="de")
    add_line(store, "ROSSI", "201", "Reception", "sip-secret-1")
    add_line(store, "ROSSI", "202", "Back", "sip-secret-2")
    services.add_device(store, ACTOR, "001565B1B2C3", model="T31G", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, "000413B1B2C4", model="D785", customer="ROSSI", lines=["202"])
    await server.sync()
    y = await (await server.client.get("/001565b1b2c3.cfg", headers={"User-Agent": PHONES["yealink"][3]})).read()
    s = await (await server.client.get("/000413B1B2C4.xml", headers={"User-Agent": PHONES["snom"][3]})).read()
    assert yealink(y.decode())["voice.tone.country"] == "Germany"
    assert snom(s.decode())["tone_scheme"] == "GER"


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("country", "XX", r"country 'XX' must be one of: IT, DE"),
        ("codecs", "g722,speex", r"codecs: unknown codec 'speex'"),
        ("codecs", "pcma,pcma", r"codecs: a codec is listed twice"),
        ("check_hour", "25", r"check_hour '25' must be a whole number from 0 to 23"),
        ("check_interval_hours", "0", r"check_interval_hours '0' must be a whole number from 1 to 168"),
    ],
)
def test_bad_customer_baseline_is_refused_and_changes_nothing(store, field, value, message):
    add_customer(store)
    with pytest.raises(Invalid, match=message) as caught:
        services.update_customer(store, ACTOR, "ROSSI", **{field: value})
    assert caught.value.field == field
    row = services.get_customer(store, "ROSSI")
    assert row[field] is None


def test_bad_voicemail_is_refused(store):
    add_customer(store)
    with pytest.raises(Invalid, match=r"voicemail '\*97; x' may only hold digits"):
        add_line(store, "ROSSI", "201", "Reception", "pw", voicemail="*97; x")
    assert services.lines_of_customer(store, "ROSSI") == []


def test_admin_password_cli_reveals_only_when_asked_and_never_logs(run_cli, store, caplog):
    add_customer(store)
    first = services.admin_password(store, ACTOR, "ROSSI")
    shown = run_cli("customer", "show", "ROSSI").output
    assert first not in shown and "admin password set" in shown
    assert first not in run_cli("customer", "show", "ROSSI", "--json").output
    assert first not in run_cli("customer", "admin-password", "ROSSI").output
    assert first in run_cli("customer", "admin-password", "ROSSI", "--reveal").output
    assert first in run_cli("customer", "show", "ROSSI", "--reveal").output
    renewed = run_cli("customer", "admin-password", "ROSSI", "--new").output
    second = services.admin_password(store, ACTOR, "ROSSI")
    assert second != first and second not in renewed
    with store.reading() as tx:
        raw = tx.conn.exec_driver_sql("SELECT admin_password FROM customers").scalar()
        events = tx.conn.exec_driver_sql("SELECT summary, after FROM events").fetchall()
    assert raw and second not in raw  # sealed at rest
    assert not any(second in str(e) or first in str(e) for e in events)
    assert second not in caplog.text and first not in caplog.text


async def test_console_masks_the_admin_password_in_every_vendor_file(server, store):
    from provisioner import keys
    from provisioner.console.devices import MASK, masked_files

    provision(store)
    password = services.admin_password(store, ACTOR, "ROSSI")
    cache = server.app[keys.CACHE]
    for vendor, (_, mac, _, _) in PHONES.items():
        bodies = "".join(f["body"] for f in masked_files(store, cache, mac))
        assert password not in bodies and "sip-secret" not in bodies, vendor
        assert re.search(re.escape(MASK), bodies), vendor

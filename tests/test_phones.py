"""Phones of all four vendors boot against the real server, over HTTP and over TFTP.

For every vendor and two models each: a device with two lines, every boot-time
file fetched with that model's real User-Agent over HTTP and over TFTP (same
bytes), the per-device file parsed with a real parser and every configured
value checked, including names that need escaping.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from provisioner import services
from tests.conftest import ACTOR, add_customer, add_line
from tests.tftp_client import fetch as tftp_fetch

NAME_1 = "Rossi & Figli <Reception>"
NAME_2 = "Niccolò Università"
PASSWORD_1 = "p9MrgPW*UfhMg+&<x>"
PASSWORD_2 = "gLSRthV5?FMb9*"


@dataclass(frozen=True)
class Phone:
    model: str
    mac: str
    user_agent: str
    files: tuple[str, ...]  # every file asked at boot, in order; the last is the settings file
    read: Callable[[bytes], dict[int, dict[str, str]]]  # settings file -> account -> values


def yealink_accounts(body: bytes) -> dict[int, dict[str, str]]:
    text = body.decode("utf-8")
    assert text.startswith("#!version:1.0.0.1\n")
    pairs = dict(line.split(" = ", 1) for line in text.splitlines()[1:] if line and not line.startswith("#"))
    accounts = {}
    for n in (1, 2):
        accounts[n] = {
            "enabled": pairs[f"account.{n}.enable"],
            "display_name": pairs[f"account.{n}.display_name"],
            "user": pairs[f"account.{n}.user_name"],
            "auth": pairs[f"account.{n}.auth_name"],
            "password": pairs[f"account.{n}.password"],
            "server": pairs[f"account.{n}.sip_server.1.address"],
            "port": pairs[f"account.{n}.sip_server.1.port"],
        }
    accounts[0] = {
        "url": pairs["static.auto_provision.server.url"],
        "ntp": pairs["local_time.ntp_server1"],
        "tz": pairs["local_time.time_zone"],
    }
    return accounts


def snom_accounts(body: bytes) -> dict[int, dict[str, str]]:
    root = ET.fromstring(body)
    settings = root.find("phone-settings")

    def value(tag: str, idx: int | None = None) -> str:
        for el in settings.iter(tag):
            if idx is None or el.get("idx") == str(idx):
                return el.text or ""
        raise AssertionError(f"no {tag} idx={idx}")

    accounts = {
        n: {
            "enabled": "1" if value("user_active", n) == "on" else "0",
            "display_name": value("user_realname", n),
            "user": value("user_name", n),
            "auth": value("user_pname", n),
            "password": value("user_pass", n),
            "server": value("user_host", n),
        }
        for n in (1, 2)
    }
    accounts[0] = {"url": value("setting_server"), "ntp": value("ntp_server"), "tz": value("timezone")}
    return accounts


def polycom_accounts(body: bytes) -> dict[int, dict[str, str]]:
    root = ET.fromstring(body)
    attrs: dict[str, str] = {}
    for el in root.iter():
        attrs.update(el.attrib)
    accounts = {
        n: {
            "enabled": attrs.get(f"reg.{n}.server.1.register", "1"),
            "display_name": attrs[f"reg.{n}.displayName"],
            "user": attrs[f"reg.{n}.address"],
            "auth": attrs[f"reg.{n}.auth.userId"],
            "password": attrs[f"reg.{n}.auth.password"],
            "server": attrs[f"reg.{n}.server.1.address"],
            "port": attrs[f"reg.{n}.server.1.port"],
        }
        for n in (1, 2)
    }
    accounts[0] = {
        "url": attrs["device.prov.serverName"],
        "ntp": attrs["tcpIpApp.sntp.address"],
        "tz": attrs["tcpIpApp.sntp.gmtOffset"],
    }
    return accounts


def grandstream_accounts(body: bytes) -> dict[int, dict[str, str]]:
    root = ET.fromstring(body)
    p = {el.tag: el.text or "" for el in root.find("config")}
    codes = {1: ("P271", "P3", "P35", "P36", "P34", "P47"), 2: ("P401", "P407", "P404", "P405", "P406", "P402")}
    accounts = {
        n: dict(zip(("enabled", "display_name", "user", "auth", "password", "server"), (p[c] for c in cs), strict=True))
        for n, cs in codes.items()
    }
    for account in accounts.values():  # P47 is host[:port]
        account["server"], _, port = account["server"].partition(":")
        account["port"] = port
    accounts[0] = {"url": p["P237"], "ntp": p["P30"], "mac": root.findtext("mac")}
    return accounts


PHONES = {
    "yealink": [
        Phone(
            "T46U",
            "001565A1B2C3",
            "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3",
            ("001565a1b2c3.boot", "y000000000000.boot", "y000000000108.cfg", "001565a1b2c3.cfg"),
            yealink_accounts,
        ),
        Phone(
            "T31P",
            "805EC0A1B2C4",
            "Yealink SIP-T31P  124.86.0.40 805ec0a1b2c4",
            ("805ec0a1b2c4.boot", "y000000000000.boot", "y000000000123.cfg", "805ec0a1b2c4.cfg"),
            yealink_accounts,
        ),
    ],
    "snom": [
        Phone(
            "D785",
            "00041396D9B4",
            "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12-00001-gd311851f1 (Feb 25 2019 - "
            "14:19:43) 00041396D9B4 SXM:0 UXM:0 UXMC:0)",
            ("snomD785.htm", "snomD785-00041396D9B4.htm", "00041396D9B4.xml"),
            snom_accounts,
        ),
        Phone(
            "D315",
            "000413A1B2C5",
            "Mozilla/4.0 (compatible; snomD315-SIP 10.1.54.13 2010.12)",
            ("snomD315.htm", "snomD315-000413A1B2C5.htm", "000413A1B2C5.xml"),
            snom_accounts,
        ),
    ],
    "polycom": [
        Phone(
            "VVX450",
            "64167FA1B2C6",
            "FileTransport PolycomVVX-VVX_450-UA/6.4.6.0123 Type/Application",
            ("000000000000.cfg", "64167fa1b2c6.cfg", "64167fa1b2c6-settings.cfg"),
            polycom_accounts,
        ),
        Phone(
            "VVX250",
            "0004F2A1B2C7",
            "FileTransport PolycomVVX-VVX_250-UA/5.9.7.4477 Type/Application",
            ("000000000000.cfg", "0004f2a1b2c7.cfg", "0004f2a1b2c7-settings.cfg"),
            polycom_accounts,
        ),
    ],
    "grandstream": [
        Phone(
            "GRP2614",
            "C074ADA1B2C8",
            "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ada1b2c8",
            ("cfggrp2614.xml", "cfg.xml", "cfgc074ada1b2c8.xml"),
            grandstream_accounts,
        ),
        Phone(
            "GXP2170",
            "000B82A1B2C9",
            "Grandstream Model HW GXP2170 SW 1.0.11.3 DevId 000b82a1b2c9",
            ("cfggxp2170.xml", "cfg.xml", "cfg000b82a1b2c9.xml"),
            grandstream_accounts,
        ),
    ],
}
ALL = [(vendor, phone) for vendor, phones in PHONES.items() for phone in phones]


def provision(store, phone: Phone, first_ext: int) -> tuple[str, str]:
    ext1, ext2 = str(first_ext), str(first_ext + 1)
    add_line(store, "ROSSI", ext1, NAME_1, PASSWORD_1, auth_id=f"auth{ext1}")
    add_line(store, "ROSSI", ext2, NAME_2, PASSWORD_2, sip_server="pbx2.rossi.example.net", sip_port=5070)
    services.add_device(store, ACTOR, phone.mac, model=phone.model, customer="ROSSI", lines=[ext1, ext2])
    return ext1, ext2


@pytest.mark.parametrize("vendor,phone", ALL, ids=[f"{v}-{p.model}" for v, p in ALL])
async def test_phone_boots_over_http_and_tftp(server, store, vendor, phone):
    add_customer(store, ntp_server="ntp.rossi.example.net")
    index = [p for _v, p in ALL].index(phone)
    ext1, ext2 = provision(store, phone, 200 + index * 10)
    await server.sync()

    bodies = {}
    for name in phone.files:
        resp = await server.client.get("/" + name, headers={"User-Agent": phone.user_agent})
        assert resp.status == 200, (name, resp.status)
        bodies[name] = await resp.read()
        assert resp.headers["Content-Type"].split(";")[0] in ("text/plain", "application/xml", "text/xml")
        # Case of the MAC in the path does not matter.
        again = await server.client.get("/" + name.swapcase(), headers={"User-Agent": phone.user_agent})
        assert again.status == 200 and await again.read() == bodies[name]
        over_tftp = await tftp_fetch(("127.0.0.1", server.tftp_port), name, options={"blksize": 1428})
        assert over_tftp.error is None, (name, over_tftp.error)
        assert over_tftp.data == bodies[name], f"{name}: TFTP and HTTP bytes differ"

    accounts = phone.read(bodies[phone.files[-1]])
    one, two = accounts[1], accounts[2]
    assert (one["display_name"], one["user"], one["auth"], one["password"], one["server"]) == (
        NAME_1,
        ext1,
        f"auth{ext1}",
        PASSWORD_1,
        "pbx.rossi.example.net",
    )
    assert (two["display_name"], two["user"], two["auth"], two["password"], two["server"]) == (
        NAME_2,
        ext2,
        ext2,
        PASSWORD_2,
        "pbx2.rossi.example.net",
    )
    assert one["enabled"] == two["enabled"] == "1"
    if "port" in two:
        assert (one["port"], two["port"]) == ("5060", "5070")
    general = accounts[0]
    assert "prov.test" in general["url"]
    assert general["ntp"] == "ntp.rossi.example.net"
    if vendor == "grandstream":
        assert general["mac"] == phone.mac.lower()

    # Every fetch is recorded: last seen with IP, User-Agent and firmware.
    await server.flush()
    shown = services.show_device(store, phone.mac)
    assert shown["last_seen_ip"] == "127.0.0.1"
    assert shown["firmware"] and shown["firmware"] in phone.user_agent
    with store.reading() as tx:
        downloads = tx.downloads_of_device(phone.mac)
    assert {d["transport"] for d in downloads} == {"http", "tftp"}

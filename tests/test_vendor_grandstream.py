"""Grandstream GXP/GRP: files, User-Agents, models and the rendered XML, value by value."""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provisioner.rendering import Account, DeviceData, Renderer, RenderError, common_context, device_context
from provisioner.vendors import FileKind, grandstream
from provisioner.vendors import parse_user_agent as any_vendor_user_agent

VENDOR = grandstream.VENDOR
URL = "http://prov.example.net:8080/"
MAC = "C074AD0B63EE"
GOLDEN = Path(__file__).parent / "golden" / "grandstream-GRP2614-cfgc074ad0b63ee.xml"

ACCOUNTS = (
    Account(
        1,
        "201",
        "Rossi & Figli <Reception>",
        "Reception",
        "201",
        "auth201",
        'pa&ss<1>"',
        "pbx.example.net",
        5060,
        "udp",
    ),
    Account(2, "202", "Niccolò Università", "Niccolò", "202", "auth202", "secret-two", "pbx2.example.net", 5061, "tls"),
)

# P-values per account slot, from the vendor's configuration templates.
SLOTS = {
    1: dict(
        active="P271", name="P270", server="P47", user="P35", auth="P36", password="P34", display="P3", transport="P130"
    ),
    2: dict(
        active="P401",
        name="P417",
        server="P402",
        user="P404",
        auth="P405",
        password="P406",
        display="P407",
        transport="P448",
    ),
    3: dict(
        active="P501",
        name="P517",
        server="P502",
        user="P504",
        auth="P505",
        password="P506",
        display="P507",
        transport="P548",
    ),
    4: dict(
        active="P601",
        name="P617",
        server="P602",
        user="P604",
        auth="P605",
        password="P606",
        display="P607",
        transport="P648",
    ),
    5: dict(
        active="P1701",
        name="P1717",
        server="P1702",
        user="P1704",
        auth="P1705",
        password="P1706",
        display="P1707",
        transport="P1748",
    ),
    6: dict(
        active="P1801",
        name="P1817",
        server="P1802",
        user="P1804",
        auth="P1805",
        password="P1806",
        display="P1807",
        transport="P1848",
    ),
}


def device(model="GRP2614", accounts=ACCOUNTS, **kw):
    return DeviceData(
        mac=MAC,
        vendor="grandstream",
        model=model,
        customer_code="C001",
        customer_name="Rossi",
        timezone=kw.pop("timezone", "Europe/Rome"),
        language=kw.pop("language", "it"),
        ntp_server="ntp.example.net",
        accounts=accounts,
        **kw,
    )


def render(data=None, url=URL, name="cfgc074ad0b63ee.xml"):
    spec, _ = VENDOR.match_file(name)
    ctx = device_context(VENDOR, data or device(), url)
    return Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)


def pvalues(body: bytes) -> dict[str, str]:
    root = ET.fromstring(body)
    assert root.tag == "gs_provision" and root.get("version") == "1"
    config = root.find("config")
    assert config.get("version") == "1"
    out: dict[str, str] = {}
    for element in config:
        assert element.tag not in out, f"{element.tag} written twice"
        out[element.tag] = element.text or ""
    return out


# --- files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind, group",
    [
        ("cfgc074ad0b63ee.xml", FileKind.DEVICE, ("mac", "c074ad0b63ee")),
        ("cfgC074AD0B63EE.xml", FileKind.DEVICE, ("mac", "C074AD0B63EE")),
        ("cfg000b828aa872.xml", FileKind.DEVICE, ("mac", "000b828aa872")),
        ("cfgc074ad0b63ee", FileKind.ABSENT, None),
        ("cfgc074ad0b63ee.bin", FileKind.ABSENT, None),
        ("cfggrp2614.xml", FileKind.COMMON, ("model", "grp2614")),
        ("cfggrp2612w.xml", FileKind.COMMON, ("model", "grp2612w")),
        ("cfgGXP2170.xml", FileKind.COMMON, ("model", "GXP2170")),
        ("cfggxp1625.xml", FileKind.COMMON, ("model", "gxp1625")),
        ("cfg.xml", FileKind.COMMON, None),
    ],
)
def test_boot_files_match(name, kind, group):
    spec, match = VENDOR.match_file(name)
    assert spec.kind is kind
    if group:
        assert match[group[0]] == group[1]
    if kind in (FileKind.DEVICE, FileKind.COMMON):
        assert spec.template and spec.content_type == "application/xml" and spec.xml


@pytest.mark.parametrize(
    "name",
    [
        "cfgc074ad0b63e.xml",
        "cfgc074ad0b63eef.xml",
        "cfgc074ad0b63eg.xml",
        "c074ad0b63ee.xml",
        "cfgc074ad0b63ee.cfg",
        "cfggxp9999.xml",
        "cfg.cfg",
        "cfgc074ad0b63ee.xml.bak",
        "000000000000.cfg",
        "y000000000000.cfg",
    ],
)
def test_other_files_do_not_match(name):
    assert VENDOR.match_file(name) is None


# --- User-Agent and models ------------------------------------------------------


@pytest.mark.parametrize(
    "header, model, firmware, mac",
    [
        ("Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872", "GXP2135", "1.0.7.97", "000B828AA872"),
        ("Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee", "GRP2614", "1.0.5.15", "C074AD0B63EE"),
        ("Grandstream Model HW HT801 V1.1A SW 1.0.17.5 DevId c074ad273a10", "HT801", "1.0.17.5", "C074AD273A10"),
        (
            "Grandstream GXP2000 (gxp2000e.bin:1.2.5.3/boot55e.bin:1.1.6.9) DevId 000b822726c8",
            "GXP2000",
            "1.2.5.3",
            "000B822726C8",
        ),
        ("Grandstream Model HW GXV3350  V1.3A SW 1.0.1.8 DevId c074ad150b88", "GXV3350", "1.0.1.8", "C074AD150B88"),
        ("Grandstream Model HW GRP2612W SW 1.0.5.67 DevId c074ad112233", "GRP2612", "1.0.5.67", "C074AD112233"),
    ],
)
def test_user_agents(header, model, firmware, mac):
    ua = VENDOR.parse_user_agent(header)
    assert (ua.vendor, ua.model, ua.firmware, ua.mac) == ("grandstream", model, firmware, mac)
    assert any_vendor_user_agent(header) == ua


@pytest.mark.parametrize(
    "header",
    [
        "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
        "FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application",
        "Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)",
        "Grandstream",
        "",
    ],
)
def test_other_user_agents_are_not_grandstream(header):
    assert VENDOR.parse_user_agent(header) is None


@pytest.mark.parametrize(
    "text, key",
    [
        ("gxp2170", "GXP2170"),
        ("GXP 2170", "GXP2170"),
        ("gxp-1625", "GXP1625"),
        ("Grandstream GRP2614", "GRP2614"),
        ("grp2612w", "GRP2612"),
        ("GRP2612P", "GRP2612"),
        ("ht801", "HT801"),
        ("VVX350", None),
        ("T46S", None),
        ("2170", None),
        ("", None),
    ],
)
def test_normalize_model(text, key):
    assert VENDOR.normalize_model(text) == key


def test_models_and_identity():
    caps = {name: (c.accounts, c.line_keys) for name, c in VENDOR.models.items()}
    assert caps["GXP1625"] == (2, 2) and caps["GXP2170"] == (6, 12)
    assert caps["GRP2612"] == (2, 2) and caps["GRP2614"] == (4, 4)
    assert all(VENDOR.normalize_model(name) == name for name in VENDOR.models)
    assert VENDOR.ouis == ("000B82", "C074AD", "EC74D7")
    assert VENDOR.resync_event == "resync"


def test_account_blocks():
    assert grandstream.account_codes(2)["active"] == "P401"
    assert grandstream.account_codes(3)["server"] == "P502"
    assert grandstream.account_codes(5)["password"] == "P1706"  # not P706
    assert grandstream.account_codes(6)["display"] == "P1807"
    for n, codes in SLOTS.items():
        assert {k: v for k, v in grandstream.account_codes(n).items() if k in codes} == codes


# --- rendering ------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(grandstream.MODELS))
def test_every_model_renders_two_accounts(model):
    body = render(device(model))
    assert ET.fromstring(body).findtext("mac") == "c074ad0b63ee"
    p = pvalues(body)
    one, two = SLOTS[1], SLOTS[2]
    assert p[one["active"]] == "1" and p[two["active"]] == "1"
    assert p[one["display"]] == "Rossi & Figli <Reception>"
    assert p[one["name"]] == "Reception"
    assert p[one["user"]] == "201" and p[one["auth"]] == "auth201"
    assert p[one["password"]] == 'pa&ss<1>"'
    assert p[one["server"]] == "pbx.example.net:5060"
    assert p[one["transport"]] == "0"
    assert p["P48"] == ""
    assert p[two["display"]] == "Niccolò Università"
    assert p[two["name"]] == "Niccolò"
    assert p[two["user"]] == "202" and p[two["auth"]] == "auth202"
    assert p[two["password"]] == "secret-two"
    assert p[two["server"]] == "pbx2.example.net:5061"
    assert p[two["transport"]] == "2"
    for n in range(3, VENDOR.models[model].accounts + 1):
        assert p[SLOTS[n]["active"]] == "0"
        assert p[SLOTS[n]["user"]] == p[SLOTS[n]["password"]] == p[SLOTS[n]["server"]] == ""
    for n in range(VENDOR.models[model].accounts + 1, 7):
        assert SLOTS[n]["active"] not in p
    assert p["P30"] == "ntp.example.net"
    assert p["P64"] == "customize"
    assert p["P246"] == "CET-1CEST,M3.5.0,M10.5.0/3"
    assert p["P1362"] == "it"
    assert p["P212"] == "1" and p["P237"] == "prov.example.net:8080"
    assert "Niccolò Università".encode() in body


def test_gxp2170_binds_line_keys_to_accounts():
    p = pvalues(render(device("GXP2170")))
    assert (p["P1363"], p["P1364"], p["P1465"]) == ("0", "0", "Reception")
    assert (p["P1365"], p["P1366"], p["P1467"]) == ("0", "1", "Niccolò")
    assert "P1367" not in p
    assert "P1363" not in pvalues(render(device("GRP2614")))


def test_time_zone_and_language_elsewhere():
    p = pvalues(render(device(timezone="America/New_York", language="en_US")))
    assert p["P246"] == "EST5EDT,M3.2.0,M11.1.0" and p["P1362"] == "en"
    assert "P1362" not in pvalues(render(device(language="xx")))


def test_deprovisioned_disables_every_slot_and_carries_no_secret():
    body = render(device("GXP2170", deprovisioned=True))
    p = pvalues(body)
    for n in range(1, 7):
        slot = SLOTS[n]
        assert p[slot["active"]] == "0"
        for field in ("name", "display", "user", "auth", "password", "server"):
            assert p[slot[field]] == ""
    for secret in (b"pa&amp;ss", b"pa&ss", b"secret-two", b"auth201", b"Rossi"):
        assert secret not in body
    assert "P1363" not in p  # no key points at an account any more
    assert p["P237"] == "prov.example.net:8080"  # it keeps coming back


def test_overrides_are_written_last_and_win():
    data = device(settings={"P1362": "de", "8345": "1", "p2": "admin&pw", "language": "fr"})
    body = render(data)
    p = pvalues(body)  # each P-value once
    assert p["P1362"] == "de" and p["P8345"] == "1" and p["P2"] == "admin&pw"
    tags = [e.tag for e in ET.fromstring(body).find("config")]
    assert tags[-3:] == ["P1362", "P2", "P8345"]


def test_bad_override_name_is_refused():
    with pytest.raises(RenderError, match="not a P-value"):
        render(device(settings={"account.1.enable": "1"}))


def test_control_characters_are_refused_without_echoing_the_value():
    bad = dataclasses.replace(ACCOUNTS[0], display_name="Rossi\x07")
    with pytest.raises(RenderError, match="control character") as err:
        render(device(accounts=(bad,)))
    assert "Rossi" not in str(err.value) and "pa&ss" not in str(err.value)


def test_https_and_credentials_in_the_provisioning_url():
    p = pvalues(render(url="https://prov:s3cret@prov.example.net:8443/gs/"))
    assert p["P212"] == "2" and p["P237"] == "prov.example.net:8443/gs"
    assert (p["P1360"], p["P1361"]) == ("prov", "s3cret")
    assert pvalues(render(url="http://[2001:db8::1]/"))["P237"] == "[2001:db8::1]"


@pytest.mark.parametrize("name, model", [("cfg.xml", None), ("cfggrp2614.xml", "GRP2614")])
def test_common_files_point_back_here_and_hold_no_secret(name, model):
    spec, _ = VENDOR.match_file(name)
    ctx = common_context(VENDOR, "https://prov:s3cret@prov.example.net/gs/", model=model)
    body = Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)
    assert pvalues(body) == {"P212": "2", "P237": "prov.example.net/gs"}
    assert ET.fromstring(body).find("mac") is None and b"s3cret" not in body


def test_golden_file():
    body = render()
    if os.environ.get("UPDATE_GOLDEN"):  # UPDATE_GOLDEN=1 pytest ... after a deliberate change
        GOLDEN.write_bytes(body)
    assert body == GOLDEN.read_bytes(), f"rendering changed; compare with {GOLDEN.name}"

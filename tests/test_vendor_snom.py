"""Snom: files, User-Agents, models and the rendered XML, value by value."""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provisioner.rendering import Account, DeviceData, Renderer, RenderError, common_context, device_context
from provisioner.vendors import FileKind, Vendor, snom
from provisioner.vendors import get as get_vendor
from provisioner.vendors import parse_user_agent as any_vendor_user_agent

VENDOR = snom.VENDOR
URL = "http://prov.example.net:8080/"
MAC = "000413AABBCC"
GOLDEN = Path(__file__).parent / "golden"
PASSWORDS = ('pa&ss<1>"x"', "secret-two")
XML = "application/xml; charset=utf-8"

ACCOUNTS = (
    Account(
        1,
        "201",
        "Rossi & Figli <Reception>",
        "Reception",
        "201",
        "auth201",
        PASSWORDS[0],
        "pbx.example.net",
        5060,
        "udp",
    ),
    Account(2, "202", "Niccolò Università", "Niccolò", "202", "auth202", PASSWORDS[1], "pbx2.example.net", 5061, "tls"),
)


def device(model="D785", accounts=ACCOUNTS, **kw):
    return DeviceData(
        mac=MAC,
        vendor="snom",
        model=model,
        customer_code="C001",
        customer_name="Rossi",
        timezone=kw.pop("timezone", "Europe/Rome"),
        language=kw.pop("language", "it"),
        ntp_server="ntp.example.net",
        accounts=accounts,
        **kw,
    )


def render(name, data=None):
    spec, _ = VENDOR.match_file(name)
    assert spec.kind is FileKind.DEVICE
    ctx = device_context(VENDOR, data or device(), URL)
    return Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)


def render_common(name, **kw):
    spec, m = VENDOR.match_file(name)
    assert spec.kind is FileKind.COMMON
    ctx = common_context(VENDOR, URL, model=m["model"], **kw)
    return Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)


def mac_xml(data=None):
    return render(f"{MAC}.xml", data)


class Parsed:
    """``<settings>`` read back: ``get(name, idx)`` is a setting's text, ``fkeys`` the keys."""

    def __init__(self, body: bytes):
        assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n')
        root = ET.fromstring(body)
        assert root.tag == "settings"
        self.phone = root.find("phone-settings")
        assert self.phone.get("e") == "2"
        self.values: dict[tuple[str, str | None], str] = {}
        for el in self.phone:
            key = (el.tag, el.get("idx"))
            assert key not in self.values, f"{key} written twice"
            assert el.get("perm") in ("R", "RW", "", "!"), f"{key} has no valid perm"
            self.values[key] = el.text or ""
        self.fkeys = [
            (k.get("idx"), k.get("context"), k.get("label"), k.get("perm"), k.text)
            for k in root.iterfind("functionKeys/fkey")
        ]

    def get(self, name, idx=None):
        return self.values[(name, None if idx is None else str(idx))]


# --- files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind, template, mac, model",
    [
        ("snomD785.htm", FileKind.COMMON, "snom-model.htm", None, "D785"),
        ("SNOMD785.HTM", FileKind.COMMON, "snom-model.htm", None, "D785"),
        ("snomD345.htm", FileKind.COMMON, "snom-model.htm", None, "D345"),
        ("snomD785-000413AABBCC.htm", FileKind.DEVICE, "snom-model-mac.htm", "000413AABBCC", "D785"),
        ("snomD785-000413aabbcc.htm", FileKind.DEVICE, "snom-model-mac.htm", "000413aabbcc", "D785"),
        ("000413AABBCC.xml", FileKind.DEVICE, "mac.xml", "000413AABBCC", None),
        ("000413aabbcc.XML", FileKind.DEVICE, "mac.xml", "000413aabbcc", None),
        ("snomD785-firmware.xml", FileKind.ABSENT, None, None, "D785"),
        ("snom710-firmware.xml", FileKind.ABSENT, None, None, "710"),
    ],
)
def test_boot_time_names_match(name, kind, template, mac, model):
    spec, m = VENDOR.match_file(name)
    assert (spec.kind, spec.template) == (kind, template)
    assert (m.groupdict().get("mac"), m.groupdict().get("model")) == (mac, model)
    assert spec.content_type == XML and spec.xml


@pytest.mark.parametrize(
    "name",
    [
        "snom.htm",
        "snomD785.xml",
        "snomD785-000413AABBC.htm",
        "snomD785-000413AABBCCD.htm",
        "snomD785_000413AABBCC.htm",
        "000413AABBCC.htm",
        "000413AABBC.xml",
        "000413AABBCG.xml",
        "000413AABBCC.xml.bak",
        "../000413AABBCC.xml",
        "snomD785.htm.old",
        "y000000000000.boot",
        "000413aabbcc.cfg",
        "cfg000413aabbcc.xml",
        "snomD785-firmware.htm",
        "",
    ],
)
def test_other_names_do_not_match(name):
    assert VENDOR.match_file(name) is None


# --- models ---------------------------------------------------------------------


def test_models_and_their_capabilities():
    assert {m: (c.accounts, c.line_keys) for m, c in VENDOR.models.items()} == {
        "D315": (4, 5),
        "D345": (12, 48),
        "D385": (12, 48),
        "D713": (6, 4),
        "D717": (6, 3),
        "D735": (12, 32),
        "D785": (12, 24),
        "D865": (12, 40),
    }


@pytest.mark.parametrize("text", ["D785", "snomD785", "snom D785", "d785", "SNOM-D785", " snomd785 "])
def test_normalize_model(text):
    assert VENDOR.normalize_model(text) == "D785"


@pytest.mark.parametrize("text", ["T46U", "VVX450", "GRP2614", "D7C", "snom", "", "D78"])
def test_normalize_model_refuses_other_shapes(text):
    assert VENDOR.normalize_model(text) is None


def test_registered_and_found_by_mac_and_model():
    from provisioner.vendors import vendor_for_mac, vendor_for_model

    assert isinstance(VENDOR, Vendor) and get_vendor("snom") is VENDOR
    assert vendor_for_mac("000413AABBCC") is VENDOR
    assert vendor_for_model("snom D865") == (VENDOR, "D865")
    assert VENDOR.resync_event == "check-sync;reboot=false"


# --- User-Agent ------------------------------------------------------------------

D785_UA = (
    "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12-00001-gd311851f1 "
    "(Feb 25 2019 - 14:19:43) 00041396D9B4 SXM:0 UXM:0 UXMC:0)"
)


@pytest.mark.parametrize(
    "header, model, firmware, mac",
    [
        (
            "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.5-IFX-05.01.12 000413741767)",
            "710",
            "8.7.5.35",
            "000413741767",
        ),
        (D785_UA, "D785", "10.1.169.16", "00041396D9B4"),
        ("Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)", "320", "8.4.18", None),
        (
            "Mozilla/4.0 (compatible; snomD385-SIP 10.1.175.16 2010.12-00004-g9ba52f5 000413922D24 SXM:0 UXM:0)",
            "D385",
            "10.1.175.16",
            "000413922D24",
        ),
    ],
)
def test_user_agents(header, model, firmware, mac):
    ua = VENDOR.parse_user_agent(header)
    assert (ua.vendor, ua.model, ua.firmware, ua.mac) == ("snom", model, firmware, mac)
    assert any_vendor_user_agent(header) == ua


@pytest.mark.parametrize(
    "header",
    [
        "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
        "FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application",
        "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ad0b63ee",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        "curl/8.5.0",
        "",
    ],
)
def test_other_user_agents_are_not_snom(header):
    assert VENDOR.parse_user_agent(header) is None


# --- rendering --------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(snom.MODELS))
def test_every_model_renders_two_accounts(model):
    caps = VENDOR.caps(model)
    p = Parsed(mac_xml(device(model)))
    assert p.get("setting_server") == URL
    assert p.get("ntp_server") == "ntp.example.net"
    assert p.get("timezone") == "ITA+1"
    assert p.get("language") == p.get("web_language") == "Italiano"
    for a in ACCOUNTS:
        n = a.index
        assert p.get("user_active", n) == "on"
        assert p.get("user_realname", n) == a.display_name
        assert p.get("user_idle_text", n) == a.label
        assert p.get("user_name", n) == a.sip_username
        assert p.get("user_pname", n) == a.auth_id
        assert p.get("user_pass", n) == a.password
        assert p.get("user_host", n) == a.server
        assert p.get("user_outbound", n) == f"{a.server}:{a.port};transport={a.transport}"
    for n in range(3, caps.accounts + 1):
        assert p.get("user_active", n) == "off"
        for name in (
            "user_realname",
            "user_idle_text",
            "user_name",
            "user_pname",
            "user_pass",
            "user_host",
            "user_outbound",
        ):
            assert p.get(name, n) == ""
    assert ("user_active", str(caps.accounts + 1)) not in p.values
    assert p.fkeys == [("0", "1", "Reception", "R", "line"), ("1", "2", "Niccolò", "R", "line")]


def test_display_names_are_escaped_and_round_trip():
    body = mac_xml()
    assert b"Rossi &amp; Figli &lt;Reception&gt;" in body
    assert "Niccolò Università".encode() in body
    assert b"<Reception>" not in body
    p = Parsed(body)
    assert p.get("user_realname", 1) == "Rossi & Figli <Reception>"
    assert p.get("user_realname", 2) == "Niccolò Università"
    assert p.get("user_pass", 1) == PASSWORDS[0]


def test_a_line_break_stays_inside_its_element():
    data = device(accounts=(dataclasses.replace(ACCOUNTS[0], display_name="Rossi\n<user_pass>x</user_pass>"),))
    p = Parsed(mac_xml(data))
    assert p.get("user_realname", 1) == "Rossi\n<user_pass>x</user_pass>"
    assert p.get("user_pass", 1) == PASSWORDS[0]


@pytest.mark.parametrize("bad", ["a\x00b", "a\x1bb", "a\x0cb"])
def test_characters_xml_cannot_carry_are_refused(bad):
    data = device(accounts=(dataclasses.replace(ACCOUNTS[0], display_name=bad),))
    with pytest.raises(RenderError) as err:
        mac_xml(data)
    assert bad not in str(err.value)


def test_only_as_many_accounts_as_the_model_has():
    more = tuple(
        Account(i, str(200 + i), f"User {i}", f"L{i}", str(200 + i), f"a{i}", f"pw{i}", "pbx.example.net", 5060, "udp")
        for i in range(1, 8)
    )
    body = mac_xml(device("D717", accounts=more))
    p = Parsed(body)
    assert [p.get("user_active", n) for n in range(1, 7)] == ["on"] * 6
    assert ("user_active", "7") not in p.values and b"pw7" not in body
    assert [k[0] for k in p.fkeys] == ["0", "1", "2"]  # the D717 has 3 keys


def test_unused_slot_between_accounts_is_disabled():
    second_only = (ACCOUNTS[1],)
    p = Parsed(mac_xml(device("D315", accounts=second_only)))
    assert p.get("user_active", 1) == "off" and p.get("user_pass", 1) == ""
    assert p.get("user_active", 2) == "on" and p.get("user_pass", 2) == PASSWORDS[1]
    assert p.get("user_active", 4) == "off"
    assert p.fkeys == [("0", "2", "Niccolò", "R", "line")]


@pytest.mark.parametrize("model", sorted(snom.MODELS))
def test_deprovisioned_disables_every_slot_and_holds_no_secret(model):
    body = mac_xml(device(model, deprovisioned=True))
    p = Parsed(body)
    for n in range(1, VENDOR.caps(model).accounts + 1):
        assert p.get("user_active", n) == "off"
        assert p.get("user_pass", n) == p.get("user_name", n) == p.get("user_pname", n) == ""
    for secret in (*PASSWORDS, "pa&amp;ss", "auth201", "auth202", "Rossi", "Niccol"):
        assert secret.encode() not in body
    assert p.fkeys == []
    assert p.get("setting_server") == URL  # it keeps coming back


def test_overrides_come_last_in_their_order_and_win():
    data = device(
        settings={
            "language": "de",
            "dnd_mode": "on",
            "user_ringer[1]": "Ringer2",
            "ntp_server": "ntp2.example.net",
            "web_language": "English",
        }
    )
    phone = ET.fromstring(mac_xml(data)).find("phone-settings")
    tail = [(el.tag, el.get("idx"), el.get("perm"), el.text) for el in list(phone)[-3:]]
    assert tail == [
        ("dnd_mode", None, "R", "on"),
        ("user_ringer", "1", "R", "Ringer2"),
        ("web_language", None, "R", "English"),
    ]
    # the override is written after the generated value, so it is the one the phone keeps
    assert [el.text for el in phone if el.tag == "web_language"] == ["Deutsch", "English"]
    # layered variables change the values themselves, they are not written as settings
    values = {el.tag: el.text for el in phone if el.get("idx") is None}
    assert values["language"] == "Deutsch" and values["ntp_server"] == "ntp2.example.net"
    assert not any(el.tag == "timezone" and el.text == "de" for el in phone)


def test_override_values_are_escaped():
    p = Parsed(mac_xml(device(settings={"phone_name": "A&B <x>"})))
    assert p.get("phone_name") == "A&B <x>"


@pytest.mark.parametrize("key", ["bad key", "a<b", "x\ny", "1abc", "", "user_ringer[x]", "a[1]b"])
def test_override_keys_must_be_element_names(key):
    with pytest.raises(RenderError):
        mac_xml(device(settings={key: "1"}))


@pytest.mark.parametrize(
    "zone, code",
    [
        ("Europe/Rome", "ITA+1"),
        ("Europe/Berlin", "GER+1"),
        ("Europe/Paris", "FRA+1"),
        ("Europe/Madrid", "ESP+1"),
        ("Europe/London", "GBR-0"),
        ("Europe/Vienna", "AUT+1"),
        ("Europe/Zurich", "CHE+1"),
        ("Europe/Athens", "GRC+2"),
        ("America/New_York", "USA-5"),
        ("Europe/Vilnius", "FIN+2"),  # fallback by standard offset
        ("Africa/Lagos", "GER+1"),
        ("Asia/Kathmandu", "GBR-0"),  # no code for +5:45: UTC
    ],
)
def test_time_zones(zone, code):
    assert Parsed(mac_xml(device(timezone=zone))).get("timezone") == code


@pytest.mark.parametrize(
    "language, name",
    [
        ("it", "Italiano"),
        ("en", "English"),
        ("de", "Deutsch"),
        ("fr", "Français"),
        ("es", "Español"),
        ("it-IT", "Italiano"),
        ("xx", "English"),
    ],
)
def test_languages(language, name):
    assert Parsed(mac_xml(device(language=language))).get("language") == name


def test_per_phone_htm_lists_the_settings_file():
    body = render(f"snomD785-{MAC}.htm")
    root = ET.fromstring(body)
    assert root.tag == "setting-files"
    urls = [f.get("url") for f in root.findall("file")]
    assert urls == [f"{URL}{MAC}.xml", f"{URL}{MAC.lower()}-phonebook.xml"]  # the phonebook (issue 15)
    spec, m = VENDOR.match_file(urls[0].rsplit("/", 1)[1])
    assert spec.template == "mac.xml" and m["mac"] == MAC
    spec, m = VENDOR.match_file(urls[1].rsplit("/", 1)[1])
    assert spec.template == "phonebook.xml" and m["mac"].upper() == MAC
    assert PASSWORDS[0].encode() not in body and b"auth201" not in body


def test_common_htm_holds_no_secret_and_no_account():
    body = render_common("snomD785.htm", language="it", ntp_server="ntp.example.net")
    root = ET.fromstring(body)
    assert root.tag == "settings"
    values = {el.tag: el.text for el in root.find("phone-settings")}
    # No setting_server: the common file is fetched without a key or token, and pointing the phone
    # at a key-less URL would lock a customer's phones out; the per-phone file sets it (issue 14).
    assert values == {
        "ntp_server": "ntp.example.net",
        "timezone": "ITA+1",
        "language": "Italiano",
        "web_language": "Italiano",
    }
    assert Parsed(render_common("snom320.htm")).get("language") == "English"  # unknown model too


# --- golden files -------------------------------------------------------------------


@pytest.mark.parametrize(
    "golden, produce",
    [
        ("snom-D785.xml", lambda: mac_xml(device(settings={"dnd_mode": "on"}))),
        ("snom-D785-000413AABBCC.htm", lambda: render(f"snomD785-{MAC}.htm")),
        ("snom-D785.htm", lambda: render_common("snomD785.htm", language="it")),
    ],
)
def test_golden(golden, produce):
    path = GOLDEN / golden
    body = produce()
    if os.environ.get("REGENERATE_GOLDEN"):
        path.write_bytes(body)
    assert body == path.read_bytes(), f"{golden} changed; REGENERATE_GOLDEN=1 after review"

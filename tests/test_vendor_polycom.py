"""Polycom VVX: files, User-Agents, models and the rendered XML, value by value."""

from __future__ import annotations

import dataclasses
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from provisioner.rendering import Account, DeviceData, Renderer, RenderError, common_context, device_context
from provisioner.vendors import FileKind, polycom
from provisioner.vendors import parse_user_agent as any_vendor_user_agent

VENDOR = polycom.VENDOR
URL = "http://prov.example.net:8080/"
MAC = "0004F2ABCDEF"
GOLDEN = Path(__file__).parent / "golden" / "polycom-VVX450-0004f2abcdef-settings.cfg"

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


def device(model="VVX450", accounts=ACCOUNTS, **kw):
    return DeviceData(
        mac=MAC,
        vendor="polycom",
        model=model,
        customer_code="C001",
        customer_name="Rossi",
        timezone=kw.pop("timezone", "Europe/Rome"),
        language=kw.pop("language", "it"),
        ntp_server="ntp.example.net",
        accounts=accounts,
        **kw,
    )


def render(name, data=None, url=URL):
    spec, _ = VENDOR.match_file(name)
    ctx = device_context(VENDOR, data or device(), url)
    return Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)


def params(body: bytes) -> dict[str, str]:
    """Every attribute of every element, checking none is written twice."""
    out: dict[str, str] = {}
    for element in ET.fromstring(body).iter():
        for key, value in element.attrib.items():
            assert key not in out, f"{key} written twice"
            out[key] = value
    return out


# --- files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind, mac",
    [
        ("000000000000.cfg", FileKind.COMMON, None),
        ("0004f2abcdef.cfg", FileKind.DEVICE, "0004f2abcdef"),
        ("0004F2ABCDEF.cfg", FileKind.DEVICE, "0004F2ABCDEF"),
        ("0004f2abcdef-settings.cfg", FileKind.DEVICE, "0004f2abcdef"),
        ("0004f2abcdef-phone.cfg", FileKind.UPLOAD, "0004f2abcdef"),
        ("0004F2ABCDEF-web.cfg", FileKind.UPLOAD, "0004F2ABCDEF"),
        ("0004f2abcdef-boot.log", FileKind.UPLOAD, "0004f2abcdef"),
        ("0004f2abcdef-app.log", FileKind.UPLOAD, "0004f2abcdef"),
        ("0004f2abcdef-calls.xml", FileKind.UPLOAD, "0004f2abcdef"),
        ("0004f2abcdef-directory.xml", FileKind.DEVICE, "0004f2abcdef"),  # the phonebook (issue 15)
        ("000000000000-license.cfg", FileKind.ABSENT, None),
        ("0004f2abcdef-license.cfg", FileKind.ABSENT, None),
        ("000000000000-directory.xml", FileKind.ABSENT, None),
        ("sip.ld", FileKind.ABSENT, None),
        ("3111-48500-001.sip.ld", FileKind.ABSENT, None),
    ],
)
def test_boot_files_match(name, kind, mac):
    spec, match = VENDOR.match_file(name)
    assert spec.kind is kind
    if mac:
        assert match["mac"] == mac
    if kind in (FileKind.DEVICE, FileKind.COMMON):
        assert spec.template and spec.content_type == "application/xml" and spec.xml


@pytest.mark.parametrize(
    "name",
    [
        "0004f2abcde.cfg",
        "0004f2abcdefa.cfg",
        "0004f2abcdeg.cfg",
        "0004f2abcdef.xml",
        "0004f2abcdef-user.cfg",
        "cfg0004f2abcdef.xml",
        "y000000000000.cfg",
        "../0004f2abcdef.cfg",
        "0004f2abcdef.cfg.bak",
        "000000000000-phone.cfg",
        "0004f2abcdef.boot",
    ],
)
def test_other_files_do_not_match(name):
    assert VENDOR.match_file(name) is None


def test_uploads_cannot_shadow_served_files():
    served = {s.pattern for s in VENDOR.files if s.kind in (FileKind.DEVICE, FileKind.COMMON)}
    for name in ("0004f2abcdef-phone.cfg", "0004f2abcdef-web.cfg"):
        spec, _ = VENDOR.match_file(name)
        assert spec.kind is FileKind.UPLOAD and spec.pattern not in served
    assert polycom.SETTINGS_SUFFIX not in ("-phone.cfg", "-web.cfg")


# --- User-Agent and models ------------------------------------------------------


@pytest.mark.parametrize(
    "header, model, firmware",
    [
        ("FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application", "VVX500", "5.9.7.4477"),
        # the updater's version is not the application's
        ("FileTransport PolycomVVX-VVX_500-UA/5.9.7.47435 Type/Updater", "VVX500", None),
        ("FileTransport PolycomVVX-VVX_501-UA/6.4.6.0123", "VVX501", "6.4.6.0123"),
        ("FileTransport PolycomSoundPointIP-SPIP_335-UA/3.2.1.0078", "SPIP335", "3.2.1.0078"),
        ("FileTransport PolycomVVX-VVX_350-UA/6.4.3.5072 Type/Application", "VVX350", "6.4.3.5072"),
    ],
)
def test_user_agents(header, model, firmware):
    ua = VENDOR.parse_user_agent(header)
    assert (ua.vendor, ua.model, ua.firmware, ua.mac) == ("polycom", model, firmware, None)
    assert any_vendor_user_agent(header) == ua


@pytest.mark.parametrize(
    "header",
    [
        "Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37",
        "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.5-IFX-05.01.12 000413741767)",
        "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872",
        "curl/8.0",
        "",
    ],
)
def test_other_user_agents_are_not_polycom(header):
    assert VENDOR.parse_user_agent(header) is None


@pytest.mark.parametrize(
    "text, key",
    [
        ("VVX_350", "VVX350"),
        ("VVX 350", "VVX350"),
        ("vvx350", "VVX350"),
        ("PolycomVVX-VVX_350", "VVX350"),
        ("vvx-450", "VVX450"),
        (" Poly VVX 250 ", "VVX250"),
        ("VVX411", "VVX411"),
        ("SPIP_335", "SPIP335"),
        ("T46S", None),
        ("GXP2170", None),
        ("VVX", None),
        ("350", None),
        ("", None),
    ],
)
def test_normalize_model(text, key):
    assert VENDOR.normalize_model(text) == key


def test_models_and_identity():
    caps = {name: (c.accounts, c.line_keys) for name, c in VENDOR.models.items()}
    assert caps["VVX150"] == (2, 2) and caps["VVX250"] == (4, 4) and caps["VVX350"] == (6, 6)
    assert caps["VVX411"] == caps["VVX450"] == caps["VVX501"] == (12, 12)
    assert caps["VVX601"] == (16, 16)
    assert all(VENDOR.normalize_model(name) == name for name in VENDOR.models)
    assert VENDOR.ouis == ("0004F2", "64167F", "482567")
    assert VENDOR.resync_event == "check-sync"


# --- rendering ------------------------------------------------------------------


def test_master_files_name_our_settings_file():
    device_master = ET.fromstring(render("0004f2abcdef.cfg"))
    assert device_master.tag == "APPLICATION"
    assert device_master.attrib == {"APP_FILE_PATH": "sip.ld", "CONFIG_FILES": "0004f2abcdef-settings.cfg"}
    spec, _ = VENDOR.match_file("000000000000.cfg")
    body = Renderer().render("polycom", spec.template, common_context(VENDOR, URL), spec.xml)
    common = ET.fromstring(body)
    assert common.attrib["CONFIG_FILES"] == "[PHONE_MAC_ADDRESS]-settings.cfg"
    assert b"0004f2" not in body


@pytest.mark.parametrize("model", sorted(polycom.MODELS))
def test_every_model_renders_two_accounts(model):
    body = render("0004f2abcdef-settings.cfg", device(model))
    root = ET.fromstring(body)
    assert root.tag == "polycomConfig"
    p = params(body)
    assert p["reg.1.displayName"] == "Rossi & Figli <Reception>"
    assert p["reg.1.label"] == "Reception"
    assert p["reg.1.address"] == "201"
    assert p["reg.1.auth.userId"] == "auth201"
    assert p["reg.1.auth.password"] == 'pa&ss<1>"'
    assert p["reg.1.server.1.address"] == "pbx.example.net"
    assert p["reg.1.server.1.port"] == "5060"
    assert p["reg.1.server.1.transport"] == "UDPOnly"
    assert p["reg.1.server.1.register"] == "1"
    assert p["reg.2.displayName"] == "Niccolò Università"
    assert p["reg.2.label"] == "Niccolò"
    assert p["reg.2.address"] == "202"
    assert p["reg.2.auth.userId"] == "auth202"
    assert p["reg.2.auth.password"] == "secret-two"
    assert p["reg.2.server.1.address"] == "pbx2.example.net"
    assert p["reg.2.server.1.port"] == "5061"
    assert p["reg.2.server.1.transport"] == "TLS"
    for n in range(3, VENDOR.models[model].accounts + 1):
        assert p[f"reg.{n}.address"] == "" and p[f"reg.{n}.auth.password"] == ""
        assert p[f"reg.{n}.server.1.register"] == "0"
    assert f"reg.{VENDOR.models[model].accounts + 1}.address" not in p
    assert p["tcpIpApp.sntp.address"] == "ntp.example.net"
    assert p["tcpIpApp.sntp.address.overrideDHCP"] == "1"
    assert p["tcpIpApp.sntp.gmtOffset"] == "3600"
    assert p["lcl.ml.lang"] == "Italian_Italy"
    assert p["device.set"] == "1"
    assert p["device.prov.serverName.set"] == "1"
    assert p["device.prov.serverName"] == URL
    assert p["device.prov.serverType.set"] == "1" and p["device.prov.serverType"] == "HTTP"
    assert "Niccolò Università".encode() in body  # UTF-8, not character references
    assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"')


def test_transports():
    accounts = tuple(
        Account(i, str(i), "n", "l", str(i), str(i), "p", "h", 5060, t)
        for i, t in enumerate(("udp", "tcp", "tls"), start=1)
    )
    p = params(render("0004f2abcdef-settings.cfg", device("VVX350", accounts)))
    assert [p[f"reg.{i}.server.1.transport"] for i in (1, 2, 3)] == ["UDPOnly", "TCPOnly", "TLS"]


def test_time_zone_with_daylight_saving():
    p = params(render("0004f2abcdef-settings.cfg"))
    dst = "tcpIpApp.sntp.daylightSavings."
    assert p[dst + "enable"] == "1" and p[dst + "fixedDayEnable"] == "0"
    # Europe/Rome: last Sunday of March 02:00, last Sunday of October 03:00
    keys = ("month", "dayOfWeek", "dayOfWeek.lastInMonth", "time")
    assert [p[dst + "start." + k] for k in keys] == ["3", "1", "1", "2"]
    assert [p[dst + "stop." + k] for k in keys] == ["10", "1", "1", "3"]


def test_time_zone_rules_elsewhere():
    p = params(render("0004f2abcdef-settings.cfg", device(timezone="America/New_York")))
    dst = "tcpIpApp.sntp.daylightSavings."
    assert p["tcpIpApp.sntp.gmtOffset"] == str(-5 * 3600)
    # second Sunday of March, first Sunday of November
    assert (p[dst + "start.month"], p[dst + "start.date"], p[dst + "start.dayOfWeek.lastInMonth"]) == ("3", "8", "0")
    assert (p[dst + "stop.month"], p[dst + "stop.date"]) == ("11", "1")
    p = params(render("0004f2abcdef-settings.cfg", device(timezone="Asia/Kolkata")))
    assert p["tcpIpApp.sntp.gmtOffset"] == str(19800)
    assert p[dst + "enable"] == "0" and dst + "start.month" not in p


@pytest.mark.parametrize(
    "language, name",
    [
        ("en", "English_United_States"),
        ("it_IT", "Italian_Italy"),
        ("de-DE", "German_Germany"),
        ("en_GB", "English_United_Kingdom"),
        ("fr", "French_France"),
    ],
)
def test_languages(language, name):
    p = params(render("0004f2abcdef-settings.cfg", device(language=language)))
    assert p["lcl.ml.lang"] == name


def test_unknown_language_leaves_the_phone_default():
    assert "lcl.ml.lang" not in params(render("0004f2abcdef-settings.cfg", device(language="xx")))


def test_deprovisioned_disables_every_slot_and_carries_no_secret():
    body = render("0004f2abcdef-settings.cfg", device("VVX450", deprovisioned=True))
    p = params(body)
    for n in range(1, 13):
        assert p[f"reg.{n}.address"] == "" and p[f"reg.{n}.auth.userId"] == ""
        assert p[f"reg.{n}.auth.password"] == "" and p[f"reg.{n}.displayName"] == ""
        assert p[f"reg.{n}.server.1.register"] == "0"
    for secret in (b"pa&amp;ss", b"pa&ss", b"secret-two", b"auth201", b"Rossi"):
        assert secret not in body
    assert p["device.prov.serverName"] == URL  # it keeps coming back


def test_overrides_are_written_last_and_win():
    data = device(
        "VVX250",
        settings={
            "reg.1.label": "Front & back",
            "feature.x.enabled": "1",
            "device.sntp.serverName": "ntp2",
            "ntp_server": "ntp9",
        },
    )
    body = render("0004f2abcdef-settings.cfg", data)
    p = params(body)  # each key once
    assert p["reg.1.label"] == "Front & back"
    assert p["feature.x.enabled"] == "1"
    assert p["device.sntp.serverName"] == "ntp2" and p["device.sntp.serverName.set"] == "1"
    assert p["device.set"] == "1"
    assert p["tcpIpApp.sntp.address"] == "ntp9"  # a layered variable, not an override
    last = list(ET.fromstring(body))[-1]
    assert last.tag == "overrides" and "reg.1.label" in last.attrib


def test_bad_override_name_is_refused():
    with pytest.raises(RenderError, match="not a configuration parameter"):
        render("0004f2abcdef-settings.cfg", device(settings={'x" onload="1': "1"}))


def test_control_characters_are_refused_without_echoing_the_value():
    bad = dataclasses.replace(ACCOUNTS[0], display_name="Rossi\x07")
    with pytest.raises(RenderError, match="control character") as err:
        render("0004f2abcdef-settings.cfg", device(accounts=(bad,)))
    assert "Rossi" not in str(err.value) and "pa&ss" not in str(err.value)


def test_https_and_credentials_in_the_provisioning_url():
    p = params(render("0004f2abcdef-settings.cfg", url="https://prov:s3cret@prov.example.net/p/"))
    assert p["device.prov.serverType"] == "HTTPS"
    assert p["device.prov.serverName"] == "https://prov.example.net/p/"
    assert (p["device.prov.user"], p["device.prov.password"]) == ("prov", "s3cret")
    assert p["device.prov.user.set"] == p["device.prov.password.set"] == "1"


def test_golden_file():
    body = render("0004f2abcdef-settings.cfg")
    if os.environ.get("UPDATE_GOLDEN"):  # UPDATE_GOLDEN=1 pytest ... after a deliberate change
        GOLDEN.write_bytes(body)
    assert body == GOLDEN.read_bytes(), f"rendering changed; compare with {GOLDEN.name}"

"""Yealink: files, User-Agents, models and the rendered key = value files, value by value."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from provisioner.rendering import Account, DeviceData, Renderer, RenderError, common_context, device_context
from provisioner.vendors import FileKind, Vendor, yealink
from provisioner.vendors import get as get_vendor
from provisioner.vendors import parse_user_agent as any_vendor_user_agent

VENDOR = yealink.VENDOR
URL = "http://prov.example.net:8080/"
MAC = "805EC0ABCDEF"
GOLDEN = Path(__file__).parent / "golden"
PASSWORDS = ('pa&ss<1>="x"', "secret-two")

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


def device(model="T46U", accounts=ACCOUNTS, **kw):
    return DeviceData(
        mac=MAC,
        vendor="yealink",
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
    ctx = device_context(VENDOR, data or device(), URL)
    return Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)


def render_common(name, model=None, **kw):
    spec, _ = VENDOR.match_file(name)
    assert spec.kind is FileKind.COMMON
    ctx = common_context(VENDOR, URL, model=model, **kw)
    return Renderer().render(VENDOR.name, spec.template, ctx, spec.xml)


def pairs(body: bytes) -> list[tuple[str, str]]:
    """The ``key = value`` lines in order (comments and blank lines skipped)."""
    lines = body.decode("utf-8").split("\n")
    assert lines[0] == "#!version:1.0.0.1"
    out = []
    for line in lines[1:]:
        if not line.strip() or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"not a key = value line: {line!r}"
        out.append((key.strip(), value.strip()))
    return out


def settings(body: bytes) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in pairs(body):
        assert key not in out, f"{key} written twice"
        out[key] = value
    return out


def mac_cfg(data=None):
    return render(f"{MAC.lower()}.cfg", data)


# --- files ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, kind, template, mac",
    [
        ("805ec0abcdef.boot", FileKind.DEVICE, "mac.boot", "805ec0abcdef"),
        ("805EC0ABCDEF.boot", FileKind.DEVICE, "mac.boot", "805EC0ABCDEF"),
        ("y000000000000.boot", FileKind.COMMON, "y000000000000.boot", None),
        ("Y000000000000.BOOT", FileKind.COMMON, "y000000000000.boot", None),
        ("y000000000108.cfg", FileKind.COMMON, "common.cfg", None),
        ("y000000000066.cfg", FileKind.COMMON, "common.cfg", None),
        ("y000000000000.cfg", FileKind.COMMON, "common.cfg", None),
        ("805ec0abcdef.cfg", FileKind.DEVICE, "mac.cfg", "805ec0abcdef"),
        ("805EC0ABCDEF.CFG", FileKind.DEVICE, "mac.cfg", "805EC0ABCDEF"),
        ("805ec0abcdef-local.cfg", FileKind.UPLOAD, None, "805ec0abcdef"),
        ("805EC0ABCDEF-local.cfg", FileKind.UPLOAD, None, "805EC0ABCDEF"),
        ("805ec0abcdef-contact.xml", FileKind.ABSENT, None, "805ec0abcdef"),
    ],
)
def test_boot_time_names_match(name, kind, template, mac):
    spec, m = VENDOR.match_file(name)
    assert (spec.kind, spec.template) == (kind, template)
    assert m.groupdict().get("mac") == mac
    if kind in (FileKind.DEVICE, FileKind.COMMON):
        assert spec.content_type == "text/plain; charset=utf-8" and not spec.xml


@pytest.mark.parametrize(
    "name",
    [
        "805ec0abcde.cfg",
        "805ec0abcdeff.cfg",
        "805ec0abcdeg.cfg",
        "805ec0abcdef.cfg.bak",
        "805ec0abcdef.xml",
        "x805ec0abcdef.cfg",
        "../805ec0abcdef.cfg",
        "y00000000010.cfg",
        "y0000000000108.cfg",
        "y000000000108.boot",
        "y000000000001.boot",
        "805ec0abcdef-boot.log",
        "snomD785.htm",
        "cfg805ec0abcdef.xml",
        "805ec0abcdef-contact.cfg",
        "",
    ],
)
def test_other_names_do_not_match(name):
    assert VENDOR.match_file(name) is None


@pytest.mark.parametrize("model", sorted(yealink.MODELS))
def test_every_model_has_its_family_file(model):
    family = VENDOR.caps(model).family
    spec, m = VENDOR.match_file(f"y{int(family):012d}.cfg")
    assert spec.kind is FileKind.COMMON and int(m["family"]) == int(family)


# --- models ---------------------------------------------------------------------


def test_models_and_their_capabilities():
    expected = {  # model: (accounts, family)
        "T31G": (2, "123"),
        "T31P": (2, "123"),
        "T33G": (4, "124"),
        "T42U": (12, "116"),
        "T43U": (12, "107"),
        "T46U": (16, "108"),
        "T48U": (16, "109"),
        "T46S": (16, "66"),
        "T48S": (16, "65"),
        "T53W": (12, "95"),
        "T54W": (16, "96"),
        "T57W": (16, "97"),
        "T58W": (16, "150"),
    }
    assert {m: (c.accounts, c.family) for m, c in VENDOR.models.items()} == expected
    assert (
        VENDOR.caps("T31P").line_keys == 2
        and VENDOR.caps("T31G").line_keys == 2
        and VENDOR.caps("T57W").line_keys == 29
    )


@pytest.mark.parametrize("text", ["t46u", "SIP-T46U", "Yealink T46U", "T46U", " yealink sip-t46u ", "SIP T46U"])
def test_normalize_model(text):
    assert VENDOR.normalize_model(text) == "T46U"


@pytest.mark.parametrize("text", ["D785", "VVX450", "GRP2614", "hello", "", "T", "46U"])
def test_normalize_model_refuses_other_shapes(text):
    assert VENDOR.normalize_model(text) is None


def test_registered_and_found_by_mac_and_model():
    from provisioner.vendors import vendor_for_mac, vendor_for_model

    assert isinstance(VENDOR, Vendor) and get_vendor("yealink") is VENDOR
    assert vendor_for_mac("805EC0ABCDEF") is VENDOR and vendor_for_mac("E434D7000001") is VENDOR
    assert vendor_for_model("SIP-T54W") == (VENDOR, "T54W")
    assert VENDOR.resync_event == "check-sync;reboot=false"


# --- User-Agent ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, model, firmware, mac",
    [
        ("Yealink SIP-T46G 28.72.0.1 00:15:65:4a:a9:37", "T46G", "28.72.0.1", "0015654AA937"),
        ("Yealink SIP-T38G  38.70.0.125 00:15:65:2f:c3:5e", "T38G", "38.70.0.125", "0015652FC35E"),
        ("Yealink SIP VP-T49G 51.80.0.10 00:15:65:11:22:33", "VP-T49G", "51.80.0.10", "001565112233"),
        ("Yealink SIP VP-T49G 51.80.0.10 ...", "VP-T49G", "51.80.0.10", None),
        ("Yealink SIP-T77U 185.87.0.10 44:db:d2:bd:b5:69", "T77U", "185.87.0.10", "44DBD2BDB569"),
        ("Yealink W90DM 130.87.0.10 80:5e:c0:d9:c7:44", "W90DM", "130.87.0.10", "805EC0D9C744"),
        ("Yealink SIP-T56A  58.80.0.25 001565f429a4", "T56A", "58.80.0.25", "001565F429A4"),
        ("VP530P 23.70.0.40 00:15:65:31:4b:c0", "VP530P", "23.70.0.40", "001565314BC0"),
        ("Yealink SIP-T54W 96.86.0.70", "T54W", "96.86.0.70", None),  # MAC switched off
        ("Yealink SIP-T46U 108.86.0.90 80:5e:c0:ab:cd:ef", "T46U", "108.86.0.90", "805EC0ABCDEF"),
    ],
)
def test_user_agents(header, model, firmware, mac):
    ua = VENDOR.parse_user_agent(header)
    assert (ua.vendor, ua.model, ua.firmware, ua.mac) == ("yealink", model, firmware, mac)
    assert any_vendor_user_agent(header) == ua


@pytest.mark.parametrize(
    "header",
    [
        "Mozilla/4.0 (compatible; snom710-SIP 8.7.5.35 1.1.5-IFX-05.01.12 000413741767)",
        "Mozilla/4.0 (compatible; snom320-SIP 8.4.18 1.1.3-s)",
        "FileTransport PolycomVVX-VVX_500-UA/5.9.7.4477 Type/Application",
        "Grandstream Model HW GXP2135 SW 1.0.7.97 DevId 000b828aa872",
        "Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0",
        "curl/8.5.0",
        "",
    ],
)
def test_other_user_agents_are_not_yealink(header):
    assert VENDOR.parse_user_agent(header) is None


# --- rendering --------------------------------------------------------------------


@pytest.mark.parametrize("model", sorted(yealink.MODELS))
def test_every_model_renders_two_accounts(model):
    caps = VENDOR.caps(model)
    s = settings(mac_cfg(device(model)))
    assert s["static.auto_provision.server.url"] == URL
    assert s["local_time.ntp_server1"] == "ntp.example.net"
    assert (s["local_time.time_zone"], s["local_time.time_zone_name"]) == ("+1", "Italy(Rome)")
    assert s["local_time.summer_time"] == "2"
    assert s["lang.gui"] == s["lang.wui"] == "Italian"
    for a, transport in zip(ACCOUNTS, ("0", "2"), strict=True):
        n = a.index
        assert s[f"account.{n}.enable"] == "1"
        assert s[f"account.{n}.label"] == a.label
        assert s[f"account.{n}.display_name"] == a.display_name
        assert s[f"account.{n}.auth_name"] == a.auth_id
        assert s[f"account.{n}.user_name"] == a.sip_username
        assert s[f"account.{n}.password"] == a.password
        assert s[f"account.{n}.sip_server.1.address"] == a.server
        assert s[f"account.{n}.sip_server.1.port"] == str(a.port)
        assert s[f"account.{n}.sip_server.1.transport_type"] == transport
    for n in range(3, caps.accounts + 1):
        assert s[f"account.{n}.enable"] == "0"
        for field in ("label", "display_name", "auth_name", "user_name", "password", "sip_server.1.address"):
            assert s[f"account.{n}.{field}"] == "%NULL%"
    assert f"account.{caps.accounts + 1}.enable" not in s
    linekeys = {k: v for k, v in s.items() if k.startswith("linekey.")}
    if caps.line_keys:
        assert linekeys == {
            "linekey.1.type": "15",
            "linekey.1.line": "1",
            "linekey.1.label": "Reception",
            "linekey.2.type": "15",
            "linekey.2.line": "2",
            "linekey.2.label": "Niccolò",
        }
    else:
        assert linekeys == {}


def test_display_names_are_written_verbatim_in_utf8():
    body = mac_cfg()
    assert b"account.1.display_name = Rossi & Figli <Reception>\n" in body
    assert "account.2.display_name = Niccolò Università\n".encode() in body
    assert b"&amp;" not in body


@pytest.mark.parametrize("field", ["display_name", "label", "password", "server"])
@pytest.mark.parametrize(
    "bad", ["Rossi\nstatic.auto_provision.server.url = http://evil/", "a\rb", "a\u2028b", "a\x00b"]
)
def test_line_breaks_are_refused_never_written(field, bad):
    data = device(accounts=(dataclasses.replace(ACCOUNTS[0], **{field: bad}),))
    with pytest.raises(RenderError) as err:
        mac_cfg(data)
    assert bad not in str(err.value)


def test_only_as_many_accounts_as_the_model_has():
    more = tuple(
        Account(i, str(200 + i), f"User {i}", f"L{i}", str(200 + i), f"a{i}", f"pw{i}", "pbx.example.net", 5060, "udp")
        for i in range(1, 5)
    )
    s = settings(mac_cfg(device("T31P", accounts=more)))
    assert [s[f"account.{n}.enable"] for n in (1, 2)] == ["1", "1"]
    assert "account.3.enable" not in s and b"pw3" not in mac_cfg(device("T31P", accounts=more))


def test_unused_slot_between_accounts_is_disabled():
    second_only = (dataclasses.replace(ACCOUNTS[1], index=2),)
    s = settings(mac_cfg(device("T33G", accounts=second_only)))
    assert s["account.1.enable"] == "0" and s["account.1.password"] == "%NULL%"
    assert s["account.2.enable"] == "1" and s["account.2.password"] == PASSWORDS[1]
    assert s["account.3.enable"] == s["account.4.enable"] == "0"


@pytest.mark.parametrize("model", sorted(yealink.MODELS))
def test_deprovisioned_disables_every_slot_and_holds_no_secret(model):
    body = mac_cfg(device(model, deprovisioned=True))
    s = settings(body)
    for n in range(1, VENDOR.caps(model).accounts + 1):
        assert s[f"account.{n}.enable"] == "0"
        assert s[f"account.{n}.password"] == "%NULL%"
        assert s[f"account.{n}.user_name"] == "%NULL%"
    for secret in (*PASSWORDS, "auth201", "auth202", "Rossi", "Niccol"):
        assert secret.encode() not in body
    assert not any(k.startswith("linekey.") for k in s)
    assert s["static.auto_provision.server.url"] == URL  # it keeps coming back


def test_overrides_come_last_in_their_order_and_win():
    data = device(
        settings={
            "timezone": "Europe/Berlin",
            "features.dnd.enable": "1",
            "account.1.sip_server.1.port": "5080",
            "lang.gui": "English",
        }
    )
    p = pairs(mac_cfg(data))
    assert p[-3:] == [("features.dnd.enable", "1"), ("account.1.sip_server.1.port", "5080"), ("lang.gui", "English")]
    s = dict(p)  # the last value wins, as on the phone
    assert s["account.1.sip_server.1.port"] == "5080" and s["lang.gui"] == "English"
    # a layered variable changes the value itself, it is not written as a key
    assert s["local_time.time_zone_name"] == "Germany(Berlin)" and "timezone" not in s


@pytest.mark.parametrize("key", ["bad key", "a=b", "x\ny", "#comment", "", "ü.x"])
def test_override_keys_must_be_yealink_keys(key):
    with pytest.raises(RenderError):
        mac_cfg(device(settings={key: "1"}))


def test_override_value_with_a_line_break_is_refused():
    with pytest.raises(RenderError):
        mac_cfg(device(settings={"features.dnd.enable": "1\naccount.1.password = x"}))


@pytest.mark.parametrize(
    "zone, offset, name, summer",
    [
        ("Europe/Rome", "+1", "Italy(Rome)", "2"),
        ("Europe/London", "0", "United Kingdom(London)", "2"),
        ("America/New_York", "-5", "United States-Eastern Time", "2"),
        ("America/Phoenix", "-7", "United States-MST no DST", "0"),
        ("Asia/Kolkata", "+5:30", "India(Calcutta)", "0"),
        ("America/St_Johns", "-3:30", "%NULL%", "0"),  # unknown DST rule: offset only
        ("Asia/Kathmandu", "+5:45", "%NULL%", "0"),
        ("Africa/Lagos", "+1", "Germany(Berlin)", "0"),  # fallback by offset, no DST
        ("Europe/Vilnius", "+2", "Finland(Helsinki)", "2"),  # fallback by offset, EU rule
        ("UTC", "0", "United Kingdom(London)", "0"),
    ],
)
def test_time_zones(zone, offset, name, summer):
    s = settings(mac_cfg(device(timezone=zone)))
    assert (s["local_time.time_zone"], s["local_time.time_zone_name"], s["local_time.summer_time"]) == (
        offset,
        name,
        summer,
    )


@pytest.mark.parametrize(
    "language, gui",
    [
        ("it", "Italian"),
        ("en", "English"),
        ("de", "German"),
        ("fr", "French"),
        ("es", "Spanish"),
        ("it_IT", "Italian"),
        ("xx", "English"),
    ],
)
def test_languages(language, gui):
    assert settings(mac_cfg(device(language=language)))["lang.gui"] == gui


def test_boot_file_lists_the_family_file_then_the_phone_file():
    body = render(f"{MAC.lower()}.boot")
    lines = [ln for ln in body.decode().splitlines() if ln and not ln.startswith("##")]
    assert lines == [
        "#!version:1.0.0.1",
        'include:config "y000000000108.cfg"',
        f'include:config "{MAC.lower()}.cfg"',
        "overwrite_mode = 1",
    ]
    for name in ("y000000000108.cfg", f"{MAC.lower()}.cfg"):
        assert VENDOR.match_file(name)[0].kind in (FileKind.COMMON, FileKind.DEVICE)
    t46s = render(f"{MAC.lower()}.boot", device("T46S")).decode()
    assert 'include:config "y000000000066.cfg"' in t46s


def test_common_files_hold_no_secret_and_no_account():
    boot = render_common("y000000000000.boot")
    assert boot.startswith(b"#!version:1.0.0.1\n") and b'include:config "y000000000000.cfg"' in boot
    s = settings(render_common("y000000000108.cfg", language="it", ntp_server="ntp.example.net"))
    assert s == {
        "static.auto_provision.server.url": URL,
        "static.auto_provision.power_on": "1",
        "local_time.ntp_server1": "ntp.example.net",
        "local_time.time_zone": "+1",
        "local_time.time_zone_name": "Italy(Rome)",
        "local_time.summer_time": "2",
        "lang.gui": "Italian",
        "lang.wui": "Italian",
    }


# --- golden files -------------------------------------------------------------------


@pytest.mark.parametrize(
    "golden, produce",
    [
        ("yealink-T46U.cfg", lambda: mac_cfg(device(settings={"features.dnd.enable": "1"}))),
        ("yealink-T46U.boot", lambda: render(f"{MAC.lower()}.boot")),
        ("yealink-y000000000108.cfg", lambda: render_common("y000000000108.cfg", language="it")),
        ("yealink-y000000000000.boot", lambda: render_common("y000000000000.boot")),
    ],
)
def test_golden(golden, produce):
    path = GOLDEN / golden
    body = produce()
    if os.environ.get("REGENERATE_GOLDEN"):
        path.write_bytes(body)
    assert body == path.read_bytes(), f"{golden} changed; REGENERATE_GOLDEN=1 after review"

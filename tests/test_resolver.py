"""The phone-facing rules, through the real server: names, unknown MACs, mismatched
User-Agents, ETags, uploads, template overrides and changes reaching the phone."""

from __future__ import annotations

import asyncio
import json

import pytest

from provisioner import keys, services
from provisioner.rendering import DeviceData, Renderer, RenderError, device_context
from provisioner.resolver import file_name
from provisioner.vendors import get as vendor
from tests.conftest import ACTOR, add_customer, add_line
from tests.tftp_client import fetch as tftp_fetch

YEALINK_UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3"
MAC = "001565A1B2C3"
PASSWORD = "Pa55-w0rd!"


@pytest.fixture
def yealink(store):
    add_customer(store)
    add_line(store, "ROSSI", "201", "Reception", PASSWORD)
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])


@pytest.mark.parametrize(
    "path",
    [
        "../../etc/passwd",
        "/etc/passwd",
        "a/../001565a1b2c3.cfg",
        "..%2f..%2fetc%2fpasswd",
        "x" * 200 + ".cfg",
        "001565a1b2c3.cfg\x00.txt",
        ".hidden",
        "dir/001565a1b2c3.cfg",
        "001565a1b2c3.cfg ",
        "",
    ],
)
def test_odd_names_are_refused_before_any_lookup(path):
    assert file_name(path) is None


@pytest.mark.parametrize(
    "path",
    [
        "/..%2F..%2Fetc%2Fpasswd",
        "/static/../../etc/passwd",
        "/%2e%2e/server.py",
        "/server.py",
        "/README.md",
        "/" + "a" * 300,
    ],
)
async def test_traversal_and_odd_paths_get_404(server, path):
    resp = await server.client.get(path)
    assert resp.status == 404
    assert "root:" not in await resp.text()


async def test_traversal_over_tftp_gets_error_1(server):
    for name in ("../../etc/passwd", "/etc/passwd", "vendor_templates/yealink/mac.cfg"):
        result = await tftp_fetch(("127.0.0.1", server.tftp_port), name)
        assert result.error is not None and result.error[0] == 1, name


async def test_unknown_mac_is_404_and_listed(server, store, run_cli):
    ua = "Yealink SIP-T54W 96.86.0.20 80:5e:c0:11:22:33"
    resp = await server.client.get("/805ec0112233.cfg", headers={"User-Agent": ua})
    assert resp.status == 404
    result = await tftp_fetch(("127.0.0.1", server.tftp_port), "cfgc074ad445566.xml")
    assert result.error == (1, "file not found")
    await server.flush()
    listed = json.loads(run_cli("devices", "unknown", "--json").output)
    by_mac = {row["mac"]: row for row in listed}
    assert set(by_mac) == {"805EC0112233", "C074AD445566"}
    assert (by_mac["805EC0112233"]["vendor"], by_mac["805EC0112233"]["model"]) == ("yealink", "T54W")
    assert by_mac["805EC0112233"]["ip"] == "127.0.0.1"
    assert by_mac["805EC0112233"]["user_agent"] == ua
    assert by_mac["C074AD445566"]["vendor"] == "grandstream"
    text = run_cli("devices", "unknown").output
    assert "805EC0112233" in text and "cfgc074ad445566.xml" in text


async def test_user_agent_naming_another_mac_is_403(server, yealink):
    await server.sync()
    resp = await server.client.get(
        "/001565a1b2c3.cfg", headers={"User-Agent": "Yealink SIP-T46U 108.86.0.20 00:15:65:99:99:99"}
    )
    assert resp.status == 403
    assert PASSWORD not in await resp.text()
    ok = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
    assert ok.status == 200 and PASSWORD in await ok.text()


async def test_etag_gives_304_and_changes_with_the_config(server, store, yealink):
    await server.sync()
    first = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
    etag = first.headers["ETag"]
    assert first.headers["Cache-Control"] == "no-store"
    same = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA, "If-None-Match": etag})
    assert same.status == 304 and await same.read() == b""
    services.update_line(store, ACTOR, "ROSSI", "201", display_name="Front desk")
    await server.sync()
    changed = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA, "If-None-Match": etag})
    assert changed.status == 200 and changed.headers["ETag"] != etag
    assert "account.1.display_name = Front desk" in await changed.text()


async def test_change_made_by_another_process_reaches_the_phone_within_a_second(server, store, yealink, run_cli):
    await server.sync()
    before = await (await server.client.get("/001565a1b2c3.cfg")).text()
    assert "pbx.rossi.example.net" in before
    run_cli("customer", "update", "ROSSI", "--sip-server", "pbx2.rossi.example.net")
    for _ in range(40):  # the server's own sync loop, no manual sync
        await asyncio.sleep(0.05)
        after = await (await server.client.get("/001565a1b2c3.cfg")).text()
        if "pbx2.rossi.example.net" in after:
            break
    assert "account.1.sip_server.1.address = pbx2.rossi.example.net" in after


async def test_head_is_get_without_body(server, yealink):
    await server.sync()
    resp = await server.client.head("/001565a1b2c3.cfg")
    assert resp.status == 200 and int(resp.headers["Content-Length"]) > 100


async def test_polycom_uploads_are_kept_and_never_overwrite_configs(server, store):
    add_customer(store)
    add_line(store, "ROSSI", "301", "Sala", PASSWORD)
    services.add_device(store, ACTOR, "0004F2A1B2C3", model="VVX450", customer="ROSSI", lines=["301"])
    await server.sync()
    ua = "FileTransport PolycomVVX-VVX_450-UA/5.9.7.4477 Type/Updater"
    # The phone boots: its config first (uploads are taken from the address that fetched it).
    assert (await server.client.get("/0004f2a1b2c3.cfg", headers={"User-Agent": ua})).status == 200
    assert (await server.client.get("/0004f2a1b2c3-phone.cfg", headers={"User-Agent": ua})).status == 404
    override = b'<?xml version="1.0"?><PHONE_CONFIG><OVERRIDES up.backlight.idleIntensity="1"/></PHONE_CONFIG>'
    put = await server.client.put("/0004f2a1b2c3-phone.cfg", data=override, headers={"User-Agent": ua})
    assert put.status == 201
    log = await server.client.put("/0004f2a1b2c3-boot.log", data=b"boot ok\n", headers={"User-Agent": ua})
    assert log.status == 201
    back = await server.client.get("/0004f2a1b2c3-phone.cfg", headers={"User-Agent": ua})
    assert back.status == 200 and await back.read() == override
    # A PUT cannot replace what the server renders.
    for served in ("0004f2a1b2c3-settings.cfg", "0004f2a1b2c3.cfg", "000000000000.cfg"):
        resp = await server.client.put("/" + served, data=b"<evil/>", headers={"User-Agent": ua})
        assert resp.status == 405, served
    settings = await server.client.get("/0004f2a1b2c3-settings.cfg", headers={"User-Agent": ua})
    assert settings.status == 200 and PASSWORD.encode() in await settings.read()
    too_big = await server.client.put(
        "/0004f2a1b2c3-app.log", data=b"x" * (1024 * 1024 + 1), headers={"User-Agent": ua}
    )
    assert too_big.status == 413
    # Uploads for a MAC nobody owns are not stored.
    stranger = await server.client.put("/0004f2999999-phone.cfg", data=b"<x/>", headers={"User-Agent": ua})
    assert stranger.status == 404
    with store.reading() as tx:
        assert tx.upload("0004F2999999", "0004f2999999-phone.cfg") is None
        assert tx.upload("0004F2A1B2C3", "0004f2a1b2c3-boot.log") == b"boot ok\n"


async def test_yealink_line_break_never_reaches_the_file(server, store, yealink):
    # Bypass the services' validation, as a bad row written by another tool would.
    with store.transaction() as tx:
        tx.conn.exec_driver_sql(
            "UPDATE lines SET display_name = 'Evil\naccount.1.sip_server.1.address = "
            "attacker.example' WHERE extension = '201'"
        )
        tx.add_event(actor="test", action="line.updated", summary="raw", customer_id=1)
    await server.sync()
    resp = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
    body = await resp.text()
    assert resp.status == 500
    assert "attacker.example" not in body and PASSWORD not in body


def test_xml_control_characters_are_refused():
    snom = vendor("snom")
    data = DeviceData(
        mac="000413A1B2C3",
        vendor="snom",
        model="D785",
        customer_code="C",
        customer_name="C",
        timezone="Europe/Rome",
        language="it",
        ntp_server="ntp",
        accounts=(),
        settings={"user_idle_text": "bell\x07"},
    )
    with pytest.raises(RenderError):
        Renderer().render("snom", "mac.xml", device_context(snom, data, "http://x/"), True)


async def test_deployment_template_overrides_the_shipped_one(server, store, settings, yealink):
    await server.sync()
    shipped = await (await server.client.get("/001565a1b2c3.boot")).text()
    assert shipped.startswith("#!version:1.0.0.1")
    custom = settings.templates_dir / "yealink"
    custom.mkdir(parents=True)
    (custom / "mac.boot").write_text('#!version:1.0.0.1\ninclude:config "{{ mac_lower }}.cfg"\n# custom\n')
    for _ in range(40):
        await asyncio.sleep(0.05)
        body = await (await server.client.get("/001565a1b2c3.boot")).text()
        if "# custom" in body:
            break
    assert body == '#!version:1.0.0.1\ninclude:config "001565a1b2c3.cfg"\n# custom\n'


async def test_a_warm_fetch_parses_its_user_agent_and_name_once(server, yealink, store, monkeypatch):
    """The hot path: a phone asking again with the same header and name does no parsing (issue 19)."""
    from provisioner import resolver, vendors

    resolver._parse_cached.cache_clear()
    resolver._candidates.cache_clear()
    calls = []
    real = vendors.parse_user_agent
    monkeypatch.setattr(vendors, "parse_user_agent", lambda h: calls.append(h) or real(h))
    monkeypatch.setattr(
        resolver, "_parse_cached", __import__("functools").lru_cache(maxsize=10)(vendors.parse_user_agent)
    )
    bodies = set()
    for _ in range(5):
        resp = await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": YEALINK_UA})
        assert resp.status == 200
        bodies.add(await resp.read())
    assert len(bodies) == 1 and PASSWORD.encode() in bodies.pop()
    assert calls == [YEALINK_UA]
    # The name was matched once (once more if a sync replaced the first load's entry); the repeats
    # were answered from the warm replies, without matching it again.
    assert resolver._candidates.cache_info().misses == 1 and resolver._candidates.cache_info().hits <= 1
    assert server.app[keys.RESOLVER].warm_hits >= 3
    # A header longer than a phone's is parsed each time, never kept.
    long_ua = YEALINK_UA + " " + "x" * 500
    for _ in range(2):
        assert (await server.client.get("/001565a1b2c3.cfg", headers={"User-Agent": long_ua})).status == 200
    assert calls == [YEALINK_UA, long_ua, long_ua]
    await server.flush()
    with store.reading() as tx:
        device = tx.device(MAC)
        downloads = tx.conn.exec_driver_sql(
            "SELECT count, file, ip, user_agent, transport FROM downloads ORDER BY id"
        ).fetchall()
    # The flush (the driver's executemany) wrote every download and the last seen, values intact.
    assert device["last_seen_user_agent"] == long_ua[:400] and device["last_seen_ip"] == "127.0.0.1"
    assert device["last_seen_at"] is not None and device["firmware"] == "108.86.0.20"
    assert (
        [tuple(d) for d in downloads]
        == [  # 7 fetches, repeats of one as one row with its count
            (5, "001565a1b2c3.cfg", "127.0.0.1", YEALINK_UA, "http"),
            (2, "001565a1b2c3.cfg", "127.0.0.1", long_ua[:400], "http"),
        ]
    )


def _spec_by_spec(v, name):
    """Vendor.match_file as it was before its one-pattern shortcut: every file's pattern in turn."""
    for spec in v.files:
        m = spec.match(name)
        if m:
            return spec, m.groupdict()
    return None


@pytest.mark.parametrize("v", [vendor(n) for n in ("yealink", "snom", "polycom", "grandstream")], ids=lambda v: v.name)
def test_match_file_shortcut_finds_what_each_pattern_finds(v):
    """match_file first tries all of a vendor's file patterns as one: every name any vendor's file
    fits (drawn from each pattern, in every case spelling) and near misses get the same file and groups."""
    import re

    from hypothesis import given, settings
    from hypothesis import strategies as st

    from provisioner.vendors import all_vendors

    patterns = [re.compile(spec.pattern, re.IGNORECASE) for other in all_vendors() for spec in other.files]
    names = st.one_of(*(st.from_regex(p, fullmatch=True) for p in patterns))
    near = names.map(lambda n: n[:-1]) | names.map(lambda n: "x" + n) | names.map(lambda n: n + ".bak")

    @settings(max_examples=300, deadline=None)
    @given(st.one_of(names, near))
    def check(name):
        hit = v.match_file(name)
        assert (None if hit is None else (hit[0], hit[1].groupdict())) == _spec_by_spec(v, name)

    check()
    # And fixed names of each kind, so the test does not rest on what was drawn.
    for name, fits in [
        ("001565a1b2c3.cfg", v.name in ("yealink", "polycom")),
        ("cfg001565a1b2c3.xml", v.name == "grandstream"),
        ("snomD785-001565A1B2C3.htm", v.name == "snom"),
        ("001565a1b2c3.txt", False),
    ]:
        assert (v.match_file(name) is not None) is fits, name
        assert (None if (hit := v.match_file(name)) is None else (hit[0], hit[1].groupdict())) == _spec_by_spec(v, name)

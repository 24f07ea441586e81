"""What the server knows of a phone's firmware, shown: the reported version, its target and whether an
upgrade is due (CLI, API, console), the phones upgrading now (API, /metrics), and the customer's IP
allowlist applied to the image as to the config (issue 15)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime

import aiohttp

from provisioner import accounts, firmware, keys, security_services, services
from tests.conftest import ACTOR, add_customer
from tests.tftp_client import UdpSocket
from tests.tftp_client import fetch as tftp_fetch

MAC = "001565A1B2C3"
OTHER = "001565A1B2C4"
IMAGE = "T46U-108.86.0.30.rom"
PAYLOAD = bytes(range(256)) * 1200
UA = "Yealink SIP-T46U {v} 00:15:65:a1:b2:c3"


def _images(store, data_dir, tmp_path, *versions: str) -> None:
    for version in versions:
        source = tmp_path / f"T46U-{version}.rom"
        source.write_bytes(PAYLOAD)
        firmware.add(
            store, ACTOR, source, folder=data_dir / "firmware", vendor="yealink", models="T46U", version=version
        )


async def _reported(server, mac: str, version: str) -> None:
    """The phone fetches its config, its User-Agent saying ``version``; the server records it."""
    ua = f"Yealink SIP-T46U {version} {mac.lower()}"
    resp = await server.client.get(f"/{mac.lower()}.cfg", headers={"User-Agent": ua})
    assert resp.status == 200
    await server.flush()


async def test_device_show_cli_and_api_give_reported_target_and_due(server, store, data_dir, tmp_path, run_cli, api):
    add_customer(store, path_key="none")
    add_customer(store, "BIANCHI", path_key="none")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI")
    services.add_device(store, ACTOR, OTHER, model="T46U", customer="BIANCHI")
    _images(store, data_dir, tmp_path, "108.86.0.30", "108.86.0.40")
    firmware.set_target(store, ACTOR, model="T46U", version="108.86.0.30")
    firmware.set_target(store, ACTOR, model="T46U", version="108.86.0.40", customer="ROSSI")  # wins for ROSSI
    await server.sync()
    await _reported(server, MAC, "108.86.0.20")

    shown = await api.get(f"/devices/{MAC}")
    assert (shown["firmware"], shown["firmware_target"], shown["firmware_upgrade_due"]) == (
        "108.86.0.20",
        "108.86.0.40",
        True,
    )
    other = await api.as_("viewer").get(f"/devices/{OTHER.lower()}")  # never fetched: not judged
    assert (other["firmware"], other["firmware_target"], other["firmware_upgrade_due"]) == (None, "108.86.0.30", False)

    data = json.loads(run_cli("device", "show", MAC, "--json").output)
    assert (data["firmware"], data["firmware_target"], data["firmware_upgrade_due"]) == (
        "108.86.0.20",
        "108.86.0.40",
        True,
    )
    assert "firmware 108.86.0.20, target 108.86.0.40 (upgrade due)" in run_cli("device", "show", MAC).output
    assert "firmware not reported, target 108.86.0.30\n" in run_cli("device", "show", OTHER).output

    # Upgraded: it reports its target, nothing is due.
    await _reported(server, MAC, "108.86.0.40")
    assert "firmware 108.86.0.40, target 108.86.0.40 (up to date)" in run_cli("device", "show", MAC).output
    assert (await api.get(f"/devices/{MAC}"))["firmware_upgrade_due"] is False
    # With no target at all (a stock phone of another model), none is shown.
    services.add_device(store, ACTOR, "0004132A3B4C", model="D785")
    assert "firmware not reported, target none\n" in run_cli("device", "show", "0004132A3B4C").output


async def test_console_device_page_shows_target_and_due_in_both_languages(server, store, data_dir, tmp_path):
    from tests.test_console import sign_in

    add_customer(store, path_key="none")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI")
    _images(store, data_dir, tmp_path, "108.86.0.30")
    firmware.set_target(store, ACTOR, model="T46U", version="108.86.0.30")
    accounts.add_user(store, ACTOR, "alice", role_="viewer", password="correct horse battery")
    await server.sync()
    await _reported(server, MAC, "108.86.0.20")
    client = server.client
    words = {"en": ("Firmware target", "upgrade due"), "it": ("Firmware previsto", "aggiornamento da fare")}
    await sign_in(client, "alice")
    for lang, (target_label, due) in words.items():
        client.session.cookie_jar.update_cookies({"provisioner_lang": lang})
        page = await client.get(f"/console/devices/{MAC}")
        assert page.status == 200
        text = await page.text()
        assert re.search(r'id="device-firmware">108\.86\.0\.20 <strong id="device-upgrade-due">' + due, text), lang
        assert f"<dt>{target_label}</dt>" in text
        assert '<dd id="device-firmware-target">108.86.0.30</dd>' in text
    await _reported(server, MAC, "108.86.0.30")
    text = await (await client.get(f"/console/devices/{MAC}")).text()
    assert 'id="device-firmware">108.86.0.30</dd>' in text and "device-upgrade-due" not in text


def _gauge(text: str) -> dict[str, float]:
    return {
        m[1]: float(m[2])
        for m in re.finditer(r'^provisioner_firmware_upgrading\{customer="([^"]*)"\} (\S+)$', text, re.M)
    }


async def test_phones_upgrading_now_per_customer_in_the_api_and_metrics(server, store, data_dir, tmp_path, api):
    add_customer(store, path_key="none")
    add_customer(store, "BIANCHI", path_key="none")
    rossi = [f"001565A1B2{n:02X}" for n in range(3)]
    for mac in rossi:
        services.add_device(store, ACTOR, mac, model="T46U", customer="ROSSI")
    services.add_device(store, ACTOR, "001565A1B2FF", model="T46U", customer="BIANCHI")
    _images(store, data_dir, tmp_path, "108.86.0.30")
    firmware.set_target(store, ACTOR, model="T46U", version="108.86.0.30")
    await server.sync()
    server.app[keys.RESOLVER].rollout.load(store)
    empty = await api.get("/firmware/rollout")
    assert (empty["upgrading"], empty["customers"], empty["max_concurrent"]) == (0, [], 2)
    assert _gauge(await (await server.client.get("/metrics")).text()) == {}

    for mac in [*rossi, "001565A1B2FF"]:
        await _reported(server, mac, "108.86.0.20")  # due: ROSSI's first two and BIANCHI's take a slot
    state = await api.as_("viewer").get("/firmware/rollout")
    assert state["upgrading"] == 3
    assert [(c["customer"], c["upgrading"]) for c in state["customers"]] == [("BIANCHI", 1), ("ROSSI", 2)]
    phones = state["customers"][1]["phones"]
    assert sorted(p["mac"] for p in phones) == rossi[:2] and {p["version"] for p in phones} == {"108.86.0.30"}
    assert all(datetime.fromisoformat(p["since"]) <= datetime.now(UTC) for p in phones)
    assert state["customers"][0]["customer_name"] == "Studio Rossi & Associati"
    assert _gauge(await (await server.client.get("/metrics")).text()) == {"BIANCHI": 1.0, "ROSSI": 2.0}

    await _reported(server, rossi[0], "108.86.0.30")  # upgraded: its slot is free
    state = await api.get("/firmware/rollout")
    assert [(c["customer"], c["upgrading"]) for c in state["customers"]] == [("BIANCHI", 1), ("ROSSI", 1)]
    assert [p["mac"] for p in state["customers"][1]["phones"]] == [rossi[1]]
    assert _gauge(await (await server.client.get("/metrics")).text()) == {"BIANCHI": 1.0, "ROSSI": 1.0}
    # Not signed in: refused, like every API read.
    assert (await server.client.get("/api/v1/firmware/rollout")).status == 401


async def test_image_is_refused_outside_the_allowlist_like_the_config(server, store, data_dir, tmp_path):
    add_customer(store, path_key="none")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI")
    _images(store, data_dir, tmp_path, "108.86.0.30")
    firmware.set_target(store, ACTOR, model="T46U", version="108.86.0.30")
    security_services.set_customer_security(store, ACTOR, "ROSSI", allow=["10.0.0.0/8", "127.0.0.2/32"])
    await server.sync()
    server.app[keys.RESOLVER].rollout.load(store)
    config, image = f"{MAC.lower()}.cfg", f"firmware/{MAC.lower()}/108.86.0.30/{IMAGE}"
    url = f"http://127.0.0.1:{server.http_port}/"
    headers = {"User-Agent": UA.format(v="108.86.0.20")}
    for ip, status in (("127.0.0.1", 403), ("127.0.0.2", 200)):
        connector = aiohttp.TCPConnector(local_addr=(ip, 0), force_close=True)
        async with aiohttp.ClientSession(connector=connector) as http:
            for name in (config, image):
                async with http.get(url + name, headers=headers) as resp:
                    assert resp.status == status, (ip, name)
                    body = await resp.read()
            assert (body == PAYLOAD) is (status == 200), ip
    for ip, allowed in (("127.0.0.3", False), ("127.0.0.2", True)):
        for name in (config, image):
            got = await tftp_fetch(("127.0.0.1", server.tftp_port), name, sock=await UdpSocket.open(ip))
            assert (got.error is None) is allowed, (ip, name, got.error)
            if not allowed:
                assert got.error[0] == 2  # access violation, as for the config
        assert (got.data == PAYLOAD) is allowed

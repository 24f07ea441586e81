"""Phones told to upgrade in their config, paced per customer, and fetching the image (issue 15)."""

from __future__ import annotations

import asyncio
import hashlib
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from provisioner import firmware, keys, security_services, services
from tests.conftest import ACTOR, add_customer, add_line, key_path
from tests.tftp_client import fetch as tftp_fetch

PUBLIC = "http://prov.test:8080/"
YEALINK = ("T46U", "001565A1B2C3", "Yealink SIP-T46U {v} 00:15:65:a1:b2:c3", "108.86.0.20", "108.86.0.30")
SNOM = (
    "D785",
    "00041396D9B4",
    "Mozilla/4.0 (compatible; snomD785-SIP {v} 2010.12 00041396D9B4)",
    "10.1.169.16",
    "10.1.200.1",
)
POLYCOM = (
    "VVX450",
    "64167FA1B2C6",
    "FileTransport PolycomVVX-VVX_450-UA/{v} Type/Application",
    "6.4.6.0123",
    "6.4.7.1",
)
GRANDSTREAM = (
    "GRP2614",
    "C074ADA1B2C8",
    "Grandstream Model HW GRP2614 SW {v} DevId c074ada1b2c8",
    "1.0.5.15",
    "1.0.9.2",
)
PHONES = {"yealink": YEALINK, "snom": SNOM, "polycom": POLYCOM, "grandstream": GRANDSTREAM}
FILES = {"yealink": "{mac}.cfg", "snom": "{MAC}.xml", "polycom": "{mac}.cfg", "grandstream": "cfg{mac}.xml"}
IMAGES = {"yealink": "T46U-108.86.0.30.rom", "snom": "snomD785-10.1.200.1-r.bin", "polycom": "VVX450.sip.ld"}
IMAGES["grandstream"] = "grp2614fw.bin"


def _payload(vendor: str, size: int = 300_000) -> bytes:
    seed = hashlib.sha256(vendor.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


def _add_images(store, data_dir: Path, tmp_path: Path, customer: str | None = None) -> None:
    for vendor, (model, _mac, _ua, _old, new) in PHONES.items():
        source = tmp_path / IMAGES[vendor]
        source.write_bytes(_payload(vendor))
        firmware.add(store, ACTOR, source, folder=data_dir / "firmware", vendor=vendor, models=model, version=new)
        firmware.set_target(store, ACTOR, model=model, version=new, customer=customer)


def _setup(store, data_dir: Path, tmp_path: Path, **security) -> None:
    add_customer(store, path_key="new", **security)
    for n, (model, mac, _ua, _old, _new) in enumerate(PHONES.values()):
        add_line(store, "ROSSI", str(201 + n), f"Line {n}", f"pw-{n}-secret")
        services.add_device(store, ACTOR, mac, model=model, customer="ROSSI", lines=[str(201 + n)])
    _add_images(store, data_dir, tmp_path)


def _name(vendor: str, mac: str) -> str:
    return FILES[vendor].format(mac=mac.lower(), MAC=mac.upper())


async def _get(server, path: str, ua: str | None = None, **headers: str) -> tuple[int, bytes]:
    if ua:
        headers["User-Agent"] = ua
    resp = await server.client.get("/" + path, headers=headers)
    return resp.status, await resp.read()


def _directive(vendor: str, body: bytes) -> str | None:
    """The firmware URL each vendor's file carries, parsed from the file as the phone reads it."""
    text = body.decode()
    if vendor == "yealink":
        found = re.findall(r"^static\.firmware\.url = (.*)$", text, re.MULTILINE)
        return found[0] if found else None
    root = ET.fromstring(body)
    if vendor == "snom":
        node = root.find("phone-settings/firmware_status")
        if node is not None:
            assert root.find("phone-settings/update_policy").text == "auto_update"
        return node.text if node is not None else None
    if vendor == "polycom":
        path = root.get("APP_FILE_PATH")
        return None if path == "sip.ld" else path
    config = root.find("config")
    folder = config.find("P192")
    if folder is None:
        return None
    assert config.find("P212").text == "1"  # HTTP
    return f"http://{folder.text}/{IMAGES['grandstream']}"


def _local(url: str) -> str:
    assert url.startswith(PUBLIC), url
    return url[len(PUBLIC) :]


async def test_each_vendor_is_told_to_upgrade_and_gets_the_image(server, store, data_dir, tmp_path):
    _setup(store, data_dir, tmp_path)
    await server.sync()
    await server.app[keys.PREWARM].idle.wait()  # the plain configs are rendered before phones ask
    prefix = key_path(store, YEALINK[1])
    renders = server.app[keys.CACHE].renders
    for vendor, (_model, mac, ua, old, new) in PHONES.items():
        status, body = await _get(server, prefix + _name(vendor, mac), ua.format(v=old))
        assert status == 200, vendor
        url = _directive(vendor, body)
        assert url is not None, (vendor, body)
        url = url.replace("prov.test:8080/", PUBLIC.split("//")[1]) if vendor == "grandstream" else url
        assert _local(url).startswith(f"{prefix}firmware/{mac.lower()}/{new}/")
        if vendor == "snom":  # firmware_status names an XML that names the image
            status, xml = await _get(server, _local(url), ua.format(v=old))
            assert status == 200
            url = ET.fromstring(xml).find("firmware").text
        status, image = await _get(server, _local(url), ua.format(v=old))
        assert status == 200 and image == _payload(vendor), vendor
        # The phone now reports the target: its config no longer carries the directive.
        status, body = await _get(server, prefix + _name(vendor, mac), ua.format(v=new))
        assert status == 200 and _directive(vendor, body) is None, vendor
    # Only the upgrade variants were rendered on request (the plain ones by the pre-warm), once each:
    # asking again renders nothing.
    before = server.app[keys.CACHE].renders
    assert before - renders == 4
    for vendor, (_model, mac, ua, old, _new) in PHONES.items():
        await _get(server, prefix + _name(vendor, mac), ua.format(v=old))
        await _get(server, prefix + _name(vendor, mac), ua.format(v=_new))
    assert server.app[keys.CACHE].renders == before


async def test_no_target_no_directive_and_a_phone_without_version_is_not_told(server, store, data_dir, tmp_path):
    add_customer(store, path_key="none")
    services.add_device(store, ACTOR, YEALINK[1], model="T46U", customer="ROSSI")
    await server.sync()
    status, body = await _get(server, "001565a1b2c3.cfg", YEALINK[2].format(v="108.86.0.20"))
    assert status == 200 and _directive("yealink", body) is None
    _add_images(store, data_dir, tmp_path)
    await asyncio.sleep(0.3)  # the sync sees the firmware events and reloads the targets
    status, body = await _get(server, "001565a1b2c3.cfg")  # no User-Agent: version unknown
    assert status == 200 and _directive("yealink", body) is None
    status, body = await _get(server, "001565a1b2c3.cfg", YEALINK[2].format(v="108.86.0.20"))
    assert _directive("yealink", body) == f"{PUBLIC}firmware/001565a1b2c3/108.86.0.30/{IMAGES['yealink']}"


async def test_at_most_n_phones_of_a_customer_upgrade_at_once(server, store, data_dir, tmp_path):
    add_customer(store, path_key="none")
    add_customer(store, "BIANCHI", path_key="none")
    macs = [f"001565A1B2{n:02X}" for n in range(5)]
    for mac in macs:
        services.add_device(store, ACTOR, mac, model="T46U", customer="ROSSI")
    services.add_device(store, ACTOR, "001565A1B2FF", model="T46U", customer="BIANCHI")
    _add_images(store, data_dir, tmp_path)
    await server.sync()
    rollout = server.app[keys.RESOLVER].rollout
    rollout.load(store)
    now = [1000.0]
    rollout.clock = lambda: now[0]

    async def told(mac: str, version: str = "108.86.0.20") -> bool:
        status, body = await _get(server, f"{mac.lower()}.cfg", f"Yealink SIP-T46U {version} {mac.lower()}")
        assert status == 200
        return _directive("yealink", body) is not None

    assert [await told(m) for m in macs] == [True, True, False, False, False]
    assert await told(macs[0]) and await told(macs[1])  # the ones upgrading keep being told
    assert await told("001565A1B2FF")  # another customer has its own slots
    assert not await told(macs[0], "108.86.0.30")  # upgraded: its slot is free
    assert [await told(m) for m in macs[2:]] == [True, False, False]
    assert set(rollout.upgrading(None)) == {macs[1], macs[2], "001565A1B2FF"}
    now[0] += rollout.slot_timeout  # the two upgrading never came back: their slots time out
    assert [await told(m) for m in macs[3:]] == [True, True]
    assert rollout.held_back == 5


async def _run(*argv: str) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(*argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await proc.communicate()
    return proc.returncode or 0, out, err


async def test_image_over_http_with_range_and_tftp_under_the_customers_rules(server, store, data_dir, tmp_path):
    _setup(store, data_dir, tmp_path)
    await server.sync()
    prefix = key_path(store, YEALINK[1])
    mac = YEALINK[1].lower()
    path = f"firmware/{mac}/108.86.0.30/{IMAGES['yealink']}"
    payload = _payload("yealink")
    base = f"http://127.0.0.1:{server.http_port}/"
    # curl -r: a Range request answered 206 with exactly those bytes.
    rc, out, err = await _run("curl", "-s", "-f", "-r", "1000-1999", base + prefix + path)
    assert rc == 0, err
    assert out == payload[1000:2000]
    resp = await server.client.get("/" + prefix + path, headers={"Range": "bytes=299990-"})
    assert resp.status == 206 and await resp.read() == payload[299990:]
    resp = await server.client.get("/" + prefix + path, headers={"Range": "bytes=400000-"})
    assert resp.status == 416
    # Without the path key, with a wrong one, or for another device's MAC: refused like its config.
    assert (await _get(server, path))[0] == 403
    assert (await _get(server, "p/wrongkey/" + path))[0] == 403
    assert (await _get(server, prefix + path.replace(mac, "001565a1b2ff")))[0] == 404
    # An image of another vendor, or for a model the device is not, under the device's prefix: absent.
    assert (await _get(server, prefix + f"firmware/{mac}/10.1.200.1/{IMAGES['snom']}"))[0] == 404
    # TFTP: the tests' client (blksize 512 and 1428) and a real one (atftp).
    port = server.tftp_port
    for options in (None, {"blksize": 1428, "tsize": 0}):
        got = await tftp_fetch(("127.0.0.1", port), prefix + path, options=options)
        assert got.data == payload
    assert (await tftp_fetch(("127.0.0.1", port), path)).error is not None  # no path key
    local = tmp_path / "atftp.rom"
    rc, _out, err = await _run(
        "atftp", "--option", "blksize 1428", "-g", "-r", prefix + path, "-l", str(local), "127.0.0.1", str(port)
    )
    assert rc == 0, err
    assert local.read_bytes() == payload


async def test_digest_customer_image_needs_the_credentials(server, store, data_dir, tmp_path):
    add_customer(store, path_key="none")
    services.add_device(store, ACTOR, YEALINK[1], model="T46U", customer="ROSSI")
    made = security_services.set_customer_security(
        store, ACTOR, "ROSSI", auth="digest", username="rossi", new_password=True
    )
    password = made["new_secrets"]["password"]
    _add_images(store, data_dir, tmp_path)
    await server.sync()
    server.app[keys.RESOLVER].rollout.load(store)
    path = f"firmware/{YEALINK[1].lower()}/108.86.0.30/{IMAGES['yealink']}"
    resp = await server.client.get("/" + path, headers={"User-Agent": YEALINK[2].format(v="108.86.0.20")})
    assert resp.status == 401 and "Digest" in resp.headers["WWW-Authenticate"]
    assert (await tftp_fetch(("127.0.0.1", server.tftp_port), path)).error is not None
    # curl answers the challenge with the credentials the config's URL carries: the image comes.
    base = f"http://127.0.0.1:{server.http_port}/"
    rc, out, err = await _run("curl", "-s", "-f", "--digest", "-u", f"rossi:{password}", base + path)
    assert rc == 0, err
    assert out == _payload("yealink")

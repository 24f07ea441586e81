"""Programmable keys: set from the CLI, inherited from the customer's profile, in each vendor's own syntax
in the files the real server serves (parsed, not grepped), refused with the reason when they cannot be."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from provisioner import function_keys
from tests.conftest import key_path

YEALINK = "001565A1B2C3"  # T46U, line 201
SNOM = "000413A1B2C3"  # D785, line 201
POLYCOM = "0004F2A1B2C3"  # VVX450, line 201


def setup(run_cli) -> None:
    run_cli("customer", "add", "ROSSI", "--name", "Studio Rossi", "--sip-server", "pbx.rossi.example.net")
    for ext, name in (("201", "Reception"), ("202", "Niccolò Università"), ("203", "Magazzino")):
        run_cli("line", "add", "ROSSI", ext, "--name", name, "--password", f"pw-{ext}-secret")


def yealink_pairs(body: bytes) -> dict[str, str]:
    text = body.decode("utf-8")
    assert text.startswith("#!version:1.0.0.1\n")
    return dict(line.split(" = ", 1) for line in text.splitlines()[1:] if line and not line.startswith("#"))


async def fetch(server, store, name: str, mac: str) -> bytes:
    await server.sync()
    response = await server.client.get(f"/{key_path(store, mac)}{name}")
    assert response.status == 200, await response.text()
    return await response.read()


async def test_yealink_keys_profile_device_and_cache(server, store, run_cli):
    setup(run_cli)
    run_cli("device", "add", YEALINK, "--model", "T46U", "--customer", "ROSSI", "--line", "201")
    before = yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))
    assert before["linekey.1.type"] == "15" and "linekey.3.type" not in before
    # The customer's profile: every phone inherits it; the BLF label is the watched line's name.
    run_cli("customer", "key", "ROSSI", "3", "--type", "blf", "--value", "202")
    run_cli("customer", "key", "ROSSI", "4", "--type", "park", "--value", "700", "--label", "Parcheggio")
    # A profile change alone reaches the phone (its event names the customer: the cache reloads its phones).
    pairs = yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))
    assert (pairs["linekey.3.type"], pairs["linekey.4.type"], pairs["linekey.4.label"]) == ("16", "10", "Parcheggio")
    # The device's own keys win at the same place.
    run_cli(
        "device",
        "key",
        "00:15:65:a1:b2:c3",
        "4",
        "--type",
        "speed-dial",
        "--value",
        "0612345678",
        "--label",
        "Ufficio",
        "--line",
        "1",
    )
    pairs = yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))
    assert (pairs["linekey.1.type"], pairs["linekey.1.line"], pairs["linekey.1.label"]) == ("15", "1", "201")
    assert (pairs["linekey.3.type"], pairs["linekey.3.value"], pairs["linekey.3.label"], pairs["linekey.3.line"]) == (
        "16",
        "202",
        "Niccolò Università",
        "1",
    )
    assert (pairs["linekey.4.type"], pairs["linekey.4.value"], pairs["linekey.4.label"]) == (
        "13",
        "0612345678",
        "Ufficio",
    )
    listed = json.loads(run_cli("device", "keys", YEALINK, "--json").output)
    assert [(k["position"], k["type"], k["value"], k["label"], k["source"]) for k in listed] == [
        (3, "blf", "202", "Niccolò Università", "customer"),
        (4, "speed-dial", "0612345678", "Ufficio", "device"),
    ]
    # A renamed extension: the BLF label follows, without touching the key.
    run_cli("line", "update", "ROSSI", "202", "--name", "Niccolò Bianchi")
    pairs = yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))
    assert pairs["linekey.3.label"] == "Niccolò Bianchi"
    # A device key on a line key's place replaces the account's line key; removing it brings it back.
    run_cli("device", "key", YEALINK, "1", "--type", "none")
    pairs = yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))
    assert (pairs["linekey.1.type"], pairs["linekey.1.label"]) == ("0", "%NULL%")
    run_cli("device", "key", YEALINK, "1", "--remove")
    assert yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))["linekey.1.type"] == "15"
    # Removing the profile key takes it off every phone.
    run_cli("customer", "key", "ROSSI", "3", "--remove")
    assert "linekey.3.type" not in yealink_pairs(await fetch(server, store, "001565a1b2c3.cfg", YEALINK))


async def test_yealink_expansion_module_keys(server, store, run_cli):
    setup(run_cli)
    run_cli("device", "add", "001565A1B2C4", "--model", "T46S", "--customer", "ROSSI", "--line", "201")
    run_cli("device", "key", "001565A1B2C4", "40", "--module", "2", "--type", "blf", "--value", "203")
    pairs = yealink_pairs(await fetch(server, store, "001565a1b2c4.cfg", "001565A1B2C4"))
    assert (
        pairs["expansion_module.2.key.40.type"],
        pairs["expansion_module.2.key.40.value"],
        pairs["expansion_module.2.key.40.label"],
    ) == ("16", "203", "Magazzino")


async def test_snom_fkeys(server, store, run_cli):
    setup(run_cli)
    run_cli("device", "add", SNOM, "--model", "D785", "--customer", "ROSSI", "--line", "201")
    run_cli("customer", "key", "ROSSI", "3", "--type", "blf", "--value", "202")
    run_cli("device", "key", SNOM, "5", "--type", "speed-dial", "--value", "*97", "--label", "Posta & Voce")
    root = ET.fromstring(await fetch(server, store, "000413A1B2C3.xml", SNOM))
    fkeys = {int(k.get("idx")): (k.get("context"), k.get("label"), k.text) for k in root.iter("fkey")}
    assert fkeys == {
        0: ("1", "201", "line"),
        2: ("1", "Niccolò Università", "blf 202"),
        4: ("1", "Posta & Voce", "speed *97"),
    }


async def test_polycom_attendant_resources(server, store, run_cli):
    setup(run_cli)
    run_cli("device", "add", POLYCOM, "--model", "VVX450", "--customer", "ROSSI", "--line", "201")
    run_cli("customer", "key", "ROSSI", "2", "--type", "blf", "--value", "202")
    run_cli("device", "key", POLYCOM, "3", "--type", "park", "--value", "700", "--label", "Park")
    root = ET.fromstring(await fetch(server, store, "0004f2a1b2c3-settings.cfg", POLYCOM))
    attrs = {k: v for el in root.iter() for k, v in el.attrib.items() if k.startswith("attendant.")}
    assert attrs == {
        "attendant.resourceList.2.address": "202",
        "attendant.resourceList.2.label": "Niccolò Università",
        "attendant.resourceList.3.address": "700",
        "attendant.resourceList.3.label": "Park",
    }


@pytest.mark.parametrize(
    "args,message",
    [
        (
            ("device", "key", YEALINK, "28", "--type", "blf", "--value", "202"),
            "the T46U has 27 programmable keys: no key 28",
        ),
        (
            ("device", "key", YEALINK, "3", "--type", "blf", "--value", "201"),
            "a BLF key on the phone's own extension 201 would watch itself",
        ),
        (
            ("device", "key", YEALINK, "3", "--type", "blf", "--module", "1", "--value", "202"),
            "the T46U takes 0 expansion modules: no module 1",
        ),
        (("device", "key", YEALINK, "3", "--type", "dtmf", "--value", "123"), "yealink phones take no 'dtmf' keys"),
        (("device", "key", YEALINK, "3", "--type", "blf"), "a blf key needs a value: a number or extension"),
        (
            ("device", "key", YEALINK, "3", "--type", "speed-dial", "--value", "12", "--line", "17"),
            "key line 17 must be a whole number from 1 to 16",
        ),
        (
            ("device", "key", "C074ADA1B2C3", "1", "--type", "park", "--value", "700"),
            "grandstream phones take no 'park' keys",
        ),
        (("device", "key", SNOM, "2", "--type", "park", "--value", "700"), "snom phones take no 'park' keys"),
        (
            ("device", "key", SNOM, "2", "--type", "speed-dial", "--value", "1", "--label", "a\nb"),
            "the key label must be one line",
        ),
        (
            ("customer", "key", "ROSSI", "2", "--type", "url", "--value", "http://x.example/"),
            "no vendor's phones take 'url' keys yet",
        ),
        (("customer", "key", "NOPE", "2", "--type", "blf", "--value", "202"), "no customer 'NOPE'"),
        (("device", "key", YEALINK, "9", "--remove"), "device 001565A1B2C3 has no own key 9"),
    ],
)
def test_bad_keys_are_refused_and_change_nothing(run_cli, store, args, message):
    setup(run_cli)
    run_cli("device", "add", YEALINK, "--model", "T46U", "--customer", "ROSSI", "--line", "201")
    run_cli("device", "add", SNOM, "--model", "D785", "--customer", "ROSSI", "--line", "202")
    run_cli("device", "add", "C074ADA1B2C3", "--model", "GRP2614", "--customer", "ROSSI", "--line", "203")
    with store.reading() as tx:
        events = len(tx.events_of_device(YEALINK))
    result = run_cli(*args, ok=False)
    assert result.exit_code != 0 and message in result.output, result.output
    assert function_keys.device_keys(store, YEALINK) == []
    assert function_keys.customer_keys(store, "ROSSI") == []
    with store.reading() as tx:
        assert len(tx.events_of_device(YEALINK)) == events


def test_profile_keys_a_phone_cannot_hold_are_left_off_it(run_cli, store):
    setup(run_cli)
    run_cli("device", "add", YEALINK, "--model", "T46U", "--customer", "ROSSI", "--line", "201")
    run_cli("device", "add", SNOM, "--model", "D785", "--customer", "ROSSI", "--line", "202")
    run_cli("customer", "key", "ROSSI", "27", "--type", "park", "--value", "700")  # snom: no park keys
    run_cli("customer", "key", "ROSSI", "26", "--type", "blf", "--value", "202")  # on the snom's own line
    run_cli("customer", "key", "ROSSI", "25", "--type", "speed-dial", "--value", "0612345678")  # D785: 24 keys
    assert [(k["position"], k["type"]) for k in function_keys.device_keys(store, YEALINK)] == [
        (25, "speed-dial"),
        (26, "blf"),
        (27, "park"),
    ]
    assert function_keys.device_keys(store, SNOM) == []
    out = run_cli("customer", "keys", "ROSSI").output
    assert "park" in out and "0612345678" in out


def test_blf_labels_come_from_each_phone_s_own_customer_when_read_in_one_batch(run_cli, store):
    """Two customers each with an extension 202 of another name, their phones read in one batch
    (as a boot storm's misses are): each BLF key is labelled with its own customer's line."""
    from provisioner import render_data

    setup(run_cli)
    run_cli("customer", "add", "BIANCHI", "--name", "Bianchi Srl", "--sip-server", "pbx.bianchi.example.net")
    run_cli("line", "add", "BIANCHI", "202", "--name", "Amministrazione", "--password", "pw-b202-secret")
    run_cli("line", "add", "BIANCHI", "201", "--name", "Centralino", "--password", "pw-b201-secret")
    run_cli("device", "add", YEALINK, "--model", "T46U", "--customer", "ROSSI", "--line", "201")
    run_cli("device", "add", "001565A1B2C9", "--model", "T46U", "--customer", "BIANCHI", "--line", "201")
    for customer in ("ROSSI", "BIANCHI"):
        run_cli("customer", "key", customer, "3", "--type", "blf", "--value", "202")
    with store.reading() as tx:
        found = render_data.devices_data(tx, [YEALINK, "001565A1B2C9"], ntp_server="pool.ntp.org")
    labels = {mac: [k["label"] for k in data.keys if k["type"] == "blf"] for mac, data in found.items()}
    assert labels == {YEALINK: ["Niccolò Università"], "001565A1B2C9": ["Amministrazione"]}

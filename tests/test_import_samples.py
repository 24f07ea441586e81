"""Every sample spreadsheet in tests/data (copied from the shared samples) imported with the CLI,
then checked as a phone sees it.

For each device in EXPECTED.json, its configuration file is fetched from the running server (the
phone-facing resolver) and every expected line is read back from it: display name, SIP user,
password and server. ``with_mistakes.csv`` is rejected with each listed row and column named,
and nothing is applied.
"""

from __future__ import annotations

import asyncio
import json
import xml.etree.ElementTree as ET

import pytest

from provisioner import services
from tests.conftest import SAMPLES, add_customer, key_path, load_expected

EXPECTED = load_expected()["files"]
# The office creates the legacy export's customer, with its server, before importing (samples/README.md).
GALLO_SERVER = "pbx.gallo.example.net"


def config_name(vendor: str, mac: str) -> str:
    return {
        "yealink": f"{mac.lower()}.cfg",
        "snom": f"{mac}.xml",
        "polycom": f"{mac.lower()}-settings.cfg",
        "grandstream": f"cfg{mac.lower()}.xml",
    }[vendor]


def yealink_account(body: bytes, n: int) -> dict[str, str]:
    pairs = dict(ln.split(" = ", 1) for ln in body.decode().splitlines()[1:] if " = " in ln)
    if pairs.get(f"account.{n}.enable", "0") != "1":
        return {}
    return {
        "display_name": pairs[f"account.{n}.display_name"],
        "user": pairs[f"account.{n}.user_name"],
        "password": pairs[f"account.{n}.password"],
        "server": pairs[f"account.{n}.sip_server.1.address"],
    }


def snom_account(body: bytes, n: int) -> dict[str, str]:
    settings = ET.fromstring(body).find("phone-settings")
    values = {el.tag: el.text or "" for el in settings.iter() if el.get("idx") == str(n)}
    if values.get("user_active") != "on":
        return {}
    return {
        "display_name": values["user_realname"],
        "user": values["user_name"],
        "password": values["user_pass"],
        "server": values["user_host"],
    }


def polycom_account(body: bytes, n: int) -> dict[str, str]:
    attrs: dict[str, str] = {}
    for el in ET.fromstring(body).iter():
        attrs.update(el.attrib)
    if not attrs.get(f"reg.{n}.address"):
        return {}
    return {
        "display_name": attrs[f"reg.{n}.displayName"],
        "user": attrs[f"reg.{n}.address"],
        "password": attrs[f"reg.{n}.auth.password"],
        "server": attrs[f"reg.{n}.server.1.address"],
    }


def grandstream_account(body: bytes, n: int) -> dict[str, str]:
    p = {el.tag: el.text or "" for el in ET.fromstring(body).find("config")}
    enabled, name, user, _auth, password, server = (
        p.get(c, "")
        for c in {
            1: ("P271", "P3", "P35", "P36", "P34", "P47"),
            2: ("P401", "P407", "P404", "P405", "P406", "P402"),
            3: ("P501", "P507", "P504", "P505", "P506", "P502"),
        }[n]
    )
    if enabled != "1":
        return {}
    return {"display_name": name, "user": user, "password": password, "server": server.partition(":")[0]}


ACCOUNT = {
    "yealink": yealink_account,
    "snom": snom_account,
    "polycom": polycom_account,
    "grandstream": grandstream_account,
}


@pytest.mark.parametrize("name", [n for n in EXPECTED if EXPECTED[n].get("devices")])
async def test_sample_file_provisions_every_expected_phone(server, store, run_cli, name):
    expected = EXPECTED[name]
    if name == "legacy_export.xls":
        add_customer(store, "GALLO", name="Ferramenta Gallo", sip_server=GALLO_SERVER)
    result = await asyncio.to_thread(run_cli, "import", str(SAMPLES / name), "--json")
    report = json.loads(result.stdout)
    assert (
        report["applied"]
        and not report["problems"]
        and report["counts"]["device"]["create"] == len(expected["devices"])
    )
    await server.sync()

    for mac, device in expected["devices"].items():
        response = await server.client.get("/" + key_path(store, mac) + config_name(device["vendor"], mac))
        assert response.status == 200, (name, mac)
        body = await response.read()
        read = ACCOUNT[device["vendor"]]
        for line in device["lines"]:
            assert read(body, line["line"]) == {
                "display_name": line["display_name"],
                "user": line["sip_username"],
                "password": line["sip_password"],
                "server": line["sip_server"] or GALLO_SERVER,
            }, (name, mac, line["line"])
        assert read(body, len(device["lines"]) + 1) == {}, (name, mac)  # no other account
        shown = services.show_device(store, mac)
        assert (shown["vendor"], shown["model"], shown["customer"]["name"]) == (
            device["vendor"],
            device["model"],
            device["customer"],
        )
        assert [ln["extension"] for ln in shown["lines"]] == [ln["extension"] for ln in device["lines"]]

    # Excel's numbers that were MACs came back with their leading zeros, and said so.
    for mac in expected.get("numeric_mac_cells", []):
        assert any(f"read as {mac}" in note for note in report["notes"])


def test_file_with_mistakes_is_rejected_naming_rows_and_columns_and_nothing_is_applied(store, run_cli):
    expected = EXPECTED["with_mistakes.csv"]
    with store.reading() as tx:
        before = tx.last_event_id()
    result = run_cli("import", str(SAMPLES / "with_mistakes.csv"), "--json", ok=False)
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["rejected"] and not report["applied"]
    headers = report["columns"]  # field -> header as written in this file (Italian)
    found = {(p["row"], p["field"]): p for p in report["problems"]}
    for bad in expected["rejected"]:
        sheet_row = bad["row"] + 1  # header is row 1 of the CSV: data row 1 is row 2
        problem = found[(sheet_row, bad["column"])]
        assert problem["column"] == headers[bad["column"]] and problem["letter"] and problem["fix"]
    assert headers["mac"] == "Indirizzo MAC" and headers["sip_password"] == "Password SIP"
    bad_rows = {p["row"] - 1 for p in report["problems"]}
    # Data row 5 has the MAC of data row 6 on the same line with another extension: an error on both rows.
    assert bad_rows == {b["row"] for b in expected["rejected"]} | {5}
    assert set(expected["valid_rows"]) - {5} == set(range(1, 11)) - bad_rows  # the formula-looking name is valid
    with store.reading() as tx:
        assert tx.last_event_id() == before and tx.count_devices() == 0 and tx.list_customers() == []

    text = run_cli("import", str(SAMPLES / "with_mistakes.csv"), ok=False).output
    assert "row 3, column 'Indirizzo MAC' (C): '24:9A:D8:BF:A1:'" in text and "too short" in text
    assert "rejected: nothing was changed" in text

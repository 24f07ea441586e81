"""Key columns in spreadsheets (``Key 3``, ``Tasto 3``, ``type:value[:label]``): read from real CSV and
XLSX files, through the CLI and the API, checked like every other cell, then seen in the config the
real server serves (parsed)."""

from __future__ import annotations

import json
from pathlib import Path

import aiohttp
from openpyxl import Workbook

from tests.conftest import key_path
from tests.test_function_keys import yealink_pairs

MAC = "001565A1B2C3"  # a T46U
HEADER = ["MAC", "Model", "Customer", "Extension", "Display name", "SIP password"]


def setup(run_cli) -> None:
    run_cli("customer", "add", "ROSSI", "--name", "Studio Rossi", "--sip-server", "pbx.rossi.example.net")
    for ext, name in (("202", "Niccolò Università"), ("203", "Magazzino")):
        run_cli("line", "add", "ROSSI", ext, "--name", name, "--password", f"pw-{ext}-secret")


def csv_file(tmp_path: Path, keys: dict[str, str], name: str = "keys.csv") -> Path:
    head = HEADER + list(keys)
    row = [MAC, "T46U", "ROSSI", "201", "Reception", "pw-201-secret", *keys.values()]
    path = tmp_path / name
    path.write_text(";".join(head) + "\n" + ";".join(row) + "\n", encoding="utf-8")
    return path


def xlsx_file(tmp_path: Path, keys: dict[str, str]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(HEADER + list(keys))
    sheet.append([MAC, "T46U", "ROSSI", "201", "Reception", "pw-201-secret", *keys.values()])
    path = tmp_path / "keys.xlsx"
    book.save(path)
    return path


async def config(server, store) -> dict[str, str]:
    await server.sync()
    response = await server.client.get(f"/{key_path(store, MAC)}{MAC.lower()}.cfg")
    assert response.status == 200, await response.text()
    return yealink_pairs(await response.read())


async def test_xlsx_key_columns_through_the_cli_reach_the_phone(server, store, run_cli, tmp_path):
    setup(run_cli)
    sheet = xlsx_file(
        tmp_path, {"Tasto 3": "blf:202", "Key4": "speed-dial:0612345678:Mario", "tasto 5": "park:701", "Key 6": ""}
    )
    plan = json.loads(run_cli("import", str(sheet), "--json").stdout)
    assert plan["applied"] and not plan["problems"]
    assert plan["counts"]["key"] == {"create": 3, "update": 0, "delete": 0, "unchanged": 0}
    keys = {c["key"]: c["after"] for c in plan["changes"] if c["kind"] == "key"}
    assert keys[f"{MAC} key 4"] == {
        "module": 0,
        "position": 4,
        "type": "speed-dial",
        "value": "0612345678",
        "label": "Mario",
        "line": 1,
    }
    pairs = await config(server, store)
    assert (pairs["linekey.3.type"], pairs["linekey.3.value"], pairs["linekey.3.label"]) == (
        "16",
        "202",
        "Niccolò Università",
    )
    assert (pairs["linekey.4.type"], pairs["linekey.4.value"], pairs["linekey.4.label"]) == (
        "13",
        "0612345678",
        "Mario",
    )
    assert (pairs["linekey.5.type"], pairs["linekey.5.value"]) == ("10", "701")
    assert "linekey.6.type" not in pairs
    history = json.loads(run_cli("device", "show", MAC, "--json").stdout)["history"]
    assert any(e["action"] == "device.key" and "key 3" in e["summary"] for e in history)

    # Again: nothing changes. Then `none` removes key 4, key 5 left out of the sheet is kept.
    again = json.loads(run_cli("import", str(sheet), "--json").stdout)
    assert [c for c in again["changes"] if c["kind"] == "key"] == []
    plan = json.loads(
        run_cli("import", str(csv_file(tmp_path, {"Key 4": "none", "Key 3": "blf:203"})), "--json").stdout
    )
    assert plan["counts"]["key"] == {"create": 0, "update": 1, "delete": 1, "unchanged": 0}
    pairs = await config(server, store)
    assert (pairs["linekey.3.value"], pairs["linekey.3.label"]) == ("203", "Magazzino")
    assert "linekey.4.type" not in pairs and pairs["linekey.5.value"] == "701"


def test_bad_key_cells_name_row_and_column_and_change_nothing(run_cli, store, tmp_path):
    setup(run_cli)
    for keys, column, message in (
        ({"Tasto 3": "blf:"}, "Tasto 3", "a blf key needs a value"),
        ({"Key 3": "blf:201"}, "Key 3", "own extension 201"),
        ({"Key 28": "blf:202"}, "Key 28", "the T46U has 27 programmable keys: no key 28"),
        ({"Key 3": "wiggle:1"}, "Key 3", "key type 'wiggle' is not one of"),
        ({"Key 3": "line:17"}, "Key 3", "must be a whole number from 1 to 16"),
    ):
        result = run_cli("import", str(csv_file(tmp_path, {"Key 2": "blf:203", **keys})), "--json", ok=False)
        plan = json.loads(result.stdout)
        assert plan["rejected"] and not plan["applied"], keys
        [problem] = plan["problems"]
        assert (problem["row"], problem["column"]) == (2, column), problem
        assert message in problem["message"], problem
        with store.reading() as tx:
            assert tx.device(MAC) is None  # nothing half-applied: not the phone, not key 2


async def test_csv_key_columns_through_the_api(server, store, run_cli, api_users, tmp_path):
    setup(run_cli)
    auth = api_users.headers("technician")
    form = aiohttp.FormData()
    data = csv_file(tmp_path, {"Key 3": "blf:202:Amministrazione", "Key 4": "line:2"}).read_bytes()
    form.add_field("file", data, filename="keys.csv")
    response = await server.client.post("/api/v1/imports", data=form, headers=auth)
    plan = await response.json()
    assert response.status == 201 and plan["counts"]["key"]["create"] == 2, plan
    applied = await server.client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)
    assert applied.status == 200, await applied.text()
    pairs = await config(server, store)
    assert (pairs["linekey.3.type"], pairs["linekey.3.label"]) == ("16", "Amministrazione")
    assert (pairs["linekey.4.type"], pairs["linekey.4.line"]) == ("15", "2")

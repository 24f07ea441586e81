"""Imports over the admin API: upload -> plan, then apply; by a technician's API token."""

from __future__ import annotations

import io
import json

import aiohttp
import pytest
from openpyxl import load_workbook

from provisioner import services
from tests.conftest import ACTOR, SAMPLES, add_customer, key_path


@pytest.fixture
def auth(api_users) -> dict[str, str]:
    return api_users.headers("technician")


def upload(name: str, data: bytes | None = None, **fields: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", data if data is not None else (SAMPLES / name).read_bytes(), filename=name)
    for key, value in fields.items():
        form.add_field(key, value)
    return form


async def test_upload_shows_the_plan_and_apply_writes_it(server, store, auth):
    client = server.client
    response = await client.post("/api/v1/imports", data=upload("deployment.xlsx"), headers=auth)
    assert response.status == 201, await response.text()
    plan = await response.json()
    assert response.headers["Location"] == f"/api/v1/imports/{plan['id']}"
    assert plan["counts"]["device"]["create"] == 30 and not plan["problems"] and not plan["applied"]
    assert plan["header_row"] == 3 and plan["sheet"] == "Devices"
    assert "erkkdm3WfpNGav" not in await response.text()  # the plan never shows a password
    with store.reading() as tx:
        assert tx.count_devices() == 0  # a plan changes nothing

    again = await client.get(f"/api/v1/imports/{plan['id']}", headers=auth)
    assert (await again.json())["fingerprint"] == plan["fingerprint"]

    applied = await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)
    assert applied.status == 200, await applied.text()
    assert (await applied.json())["applied"]
    # The phone sees it at once, no sync needed, under its new customer's path key.
    phone = await client.get(f"/{key_path(store, '805EC05BCEDC')}805ec05bcedc.cfg")
    assert phone.status == 200 and b"account.2.display_name = Linea condivisa" in await phone.read()
    history = services.show_device(store, "805EC05BCEDC")["history"]
    assert history[0]["actor"] == "user:technician-user import:deployment.xlsx"

    gone = await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)
    assert gone.status == 404  # applied once, and forgotten


async def test_apply_refuses_when_the_database_changed_since_the_plan(server, store, auth):
    client = server.client
    response = await client.post("/api/v1/imports", data=upload("it_excel_export.csv"), headers=auth)
    plan = await response.json()
    services.add_customer(
        store, ACTOR, "STUDIO-ROSSI-ASSOCIATI", name="Studio Rossi & Associati", sip_server="pbx.rossi.example.net"
    )  # created by someone else meanwhile
    stale = await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)
    assert stale.status == 409
    body = await stale.json()
    assert body["error"] == "plan_changed" and body["plan"]["counts"]["customer"]["create"] == 0
    with store.reading() as tx:
        assert tx.count_devices() == 0
    fresh = await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)  # the new plan was shown
    assert fresh.status == 200
    with store.reading() as tx:
        assert tx.count_devices() == 24


async def test_a_rejected_file_has_a_report_and_cannot_be_applied_unless_skipping(server, store, auth):
    client = server.client
    plan = await (await client.post("/api/v1/imports", data=upload("with_mistakes.csv"), headers=auth)).json()
    assert plan["rejected"] and {p["row"] for p in plan["problems"]} == {3, 5, 6, 7, 8, 9, 10}
    refused = await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)
    assert refused.status == 400 and "skip_invalid" in (await refused.json())["message"]
    report = await client.get(f"/api/v1/imports/{plan['id']}/report", headers=auth)
    assert report.status == 200 and "with_mistakes-errors.xlsx" in report.headers["Content-Disposition"]
    body = await report.read()
    sheet = load_workbook(io.BytesIO(body)).active
    assert sheet.cell(row=1, column=9).value == "errors" and "too short" in sheet.cell(row=3, column=9).value
    # The error report never holds a password: the cell says whether one was given.
    password_col = [c.value for c in sheet[1]].index("Password SIP") + 1
    marks = {sheet.cell(row=r, column=password_col).value for r in range(2, sheet.max_row + 1)}
    assert marks <= {"set", "missing"} and "set" in marks

    add_customer(store)
    skipping = await (
        await client.post("/api/v1/imports", data=upload("with_mistakes.csv", skip_invalid="true"), headers=auth)
    ).json()
    assert not skipping["rejected"] and skipping["skipped_rows"] == [3, 5, 6, 7, 8, 9, 10]
    done = await client.post(f"/api/v1/imports/{skipping['id']}/apply", headers=auth)
    assert done.status == 200
    with store.reading() as tx:
        assert tx.count_devices() == 3
    assert (await client.delete(f"/api/v1/imports/{plan['id']}", headers=auth)).status == 204


async def test_bad_uploads_get_clear_errors(server, monkeypatch, auth):
    client = server.client
    assert (await client.post("/api/v1/imports", data=upload("deployment.xlsx"))).status == 401
    not_multipart = await client.post("/api/v1/imports", json={"file": "x"}, headers=auth)
    assert not_multipart.status == 400 and "multipart/form-data" in (await not_multipart.json())["message"]
    encrypted = await client.post(
        "/api/v1/imports",
        data=upload("x.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + "EncryptedPackage".encode("utf-16-le")),
        headers=auth,
    )
    assert encrypted.status == 400 and "password" in (await encrypted.json())["message"]
    monkeypatch.setenv("PROVISIONER_IMPORT_MAX_BYTES", "4096")
    big = await client.post("/api/v1/imports", data=upload("deployment.xlsx"), headers=auth)
    assert big.status == 413 and (await big.json())["error"] == "too_large"
    assert (await client.get("/api/v1/imports/nope", headers=auth)).status == 404


async def test_a_cached_phone_sees_an_imported_change_at_once(server, store, auth):
    client = server.client
    plan = await (await client.post("/api/v1/imports", data=upload("deployment.xlsx"), headers=auth)).json()
    assert (await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)).status == 200
    path = f"/{key_path(store, '805EC05BCEDC')}805ec05bcedc.cfg"  # a customer the import made: a path key
    first = await (await client.get(path)).read()  # now in the server's cache
    assert b"account.1.display_name = Anna Rossi" in first
    renamed = (
        b"MAC,Model,Customer,Line,Extension,Name,SIP password\n"
        b"80:5E:C0:5B:CE:DC,T54W,ACME-S-P-A,1,3001,Anna Rossi-Bianchi,erkkdm3WfpNGav\n"
        b"80:5E:C0:5B:CE:DC,T54W,ACME-S-P-A,2,3099,Linea condivisa,vMLbgkDe7L+7zp\n"
    )
    plan = await (await client.post("/api/v1/imports", data=upload("rename.csv", renamed), headers=auth)).json()
    assert plan["counts"]["line"] == {"create": 0, "update": 1, "unchanged": 1}
    assert (await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)).status == 200
    again = await (await client.get(path)).read()
    assert b"account.1.display_name = Anna Rossi-Bianchi" in again
    # Phones' events name the phone (exact cache invalidation); only customer events name a customer.
    with store.reading() as tx:
        events = tx.events_since(0)
    assert {e["action"] for e in events if e["customer_id"] is not None} == {"customer.created"}
    assert all(e["device_mac"] for e in events if e["action"].startswith(("line.", "device.")))
    # The phone's history: created with its two lines (values, no password), then the renamed line.
    history = services.show_device(store, "805EC05BCEDC")["history"]
    assert [e["action"] for e in history] == ["device.created", "line.updated"]
    assert [(ln["extension"], ln["display_name"]) for ln in history[0]["after"]["new_lines"]] == [
        ("3001", "Anna Rossi"),
        ("3099", "Linea condivisa"),
    ]
    # Only the values set are recorded (no label or SIP server of its own: left out), never the password.
    assert [sorted(ln) for ln in history[0]["after"]["new_lines"]] == [
        ["auth_id", "display_name", "extension", "sip_username"]
    ] * 2
    assert (history[1]["before"]["display_name"], history[1]["after"]["display_name"]) == (
        "Anna Rossi",
        "Anna Rossi-Bianchi",
    )
    assert "erkkdm3WfpNGav" not in json.dumps(history) and "vMLbgkDe7L" not in json.dumps(history)


async def test_script_in_cells_comes_back_verbatim_and_the_import_is_the_users(server, store, auth, api_users):
    add_customer(store, "ACME-S-P-A", name="ACME S.p.A.")
    sheet = (
        b"MAC,Model,Customer,Line,Extension,Name,SIP password\n"
        b"80:5E:C0:5B:CE:DC,T54W,ACME-S-P-A,1,3001,<script>alert(1)</script>,erkkdm3WfpNGav\n"
    )
    client = server.client
    viewer = api_users.headers("viewer")
    refused = await client.post("/api/v1/imports", data=upload("xss.csv", sheet), headers=viewer)
    assert refused.status == 403 and "'viewer'" in (await refused.json())["message"]
    response = await client.post("/api/v1/imports", data=upload("xss.csv", sheet), headers=auth)
    plan = await response.json()
    assert "<script>alert(1)</script>" in await response.text() and "erkkdm3WfpNGav" not in await response.text()
    # A plan and its report hold the sheet as typed: the imports permission, not reading, opens them.
    assert (await client.get(f"/api/v1/imports/{plan['id']}", headers=viewer)).status == 403
    assert (await client.get(f"/api/v1/imports/{plan['id']}/report", headers=viewer)).status == 403
    applied = await client.post(f"/api/v1/imports/{plan['id']}/apply", headers=auth)
    assert applied.status == 200
    device = await (await client.get("/api/v1/devices/805EC05BCEDC", headers=viewer)).json()
    assert device["lines"][0]["display_name"] == "<script>alert(1)</script>"
    assert device["history"][-1]["actor"] == "user:technician-user import:xss.csv"

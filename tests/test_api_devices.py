"""Devices over the API: find by anything, add, settings, assign, unassign, swap, return, charge,
history; unknown phones and claiming them; events a page at a time; rental reports as JSON, CSV
and XLSX. Every change is recorded as the user who made it."""

from __future__ import annotations

import csv
import io

import openpyxl
import pytest

from provisioner import services

from .conftest import ACTOR, add_customer, add_line

YEALINK_UA = "Yealink SIP-T46U 108.86.0.20 00:15:65:ab:cd:ef"


@pytest.fixture
def fleet(store):
    add_customer(store, "ROSSI", name="Studio Rossi <script>")
    add_customer(store, "BIANCHI", name="Bianchi Srl")
    add_line(store, "ROSSI", "201", "Reception <script>alert(1)</script>", "Pw-201-secret")
    add_line(store, "ROSSI", "202", "Office", "Pw-202-secret")
    add_line(store, "BIANCHI", "301", "Desk", "Pw-301-secret")
    services.add_device(
        store, ACTOR, "00:15:65:00:02:01", model="T46U", customer="ROSSI", lines=["201"], serial="SN-201"
    )
    services.add_device(store, ACTOR, "000413000301", model="D785", customer="BIANCHI", lines=["301"])
    services.add_device(store, ACTOR, "001565000999", model="T46U")


async def test_find_devices_by_mac_in_any_spelling_extension_customer_serial_and_state(api, fleet):
    viewer = api.as_("viewer")
    for q in (
        "00-15-65-00-02-01",
        "0015.6500.0201",
        "001565000201",
        "00:15:65:00:02:01",
        "201",
        "rossi",
        "SN-201",
        "reception",
    ):
        found = await viewer.get("/devices", params={"q": q})
        assert [d["mac"] for d in found["items"]] == ["001565000201"], q
    item = found["items"][0]
    assert (item["customer"], item["customer_name"], item["extensions"], item["state"]) == (
        "ROSSI",
        "Studio Rossi <script>",
        ["201"],
        "deployed",
    )
    assert (await viewer.get("/devices", params={"state": "in_stock"}))["items"][0]["mac"] == "001565000999"
    assert [d["mac"] for d in (await viewer.get("/devices", params={"customer": "BIANCHI"}))["items"]] == [
        "000413000301"
    ]
    page = await viewer.get("/devices", params={"limit": "2"})
    assert (page["total"], page["limit"], page["offset"], len(page["items"])) == (3, 2, 0, 2)
    rest = await viewer.get("/devices", params={"limit": "2", "offset": "2"})
    assert len(rest["items"]) == 1 and {d["mac"] for d in page["items"] + rest["items"]} == {
        "001565000201",
        "000413000301",
        "001565000999",
    }
    assert (await viewer.get("/devices", params={"customer": "NOBODY"}, expect=404))["field"] == "customer"
    counts = await viewer.get("/devices/counts")
    assert counts == {"in_stock": 1, "deployed": 2, "return_due": 0, "returned": 0, "retired": 0, "charged": 0}


async def test_add_show_and_change_a_device(api, store, fleet):
    tech = api.as_("technician")
    created = await tech.post(
        "/devices",
        {
            "mac": "00-15-65-00-02-02",
            "model": "t46u",
            "customer": "ROSSI",
            "lines": ["202"],
            "settings": {"lcd_logo.mode": "1"},
        },
        expect=201,
    )
    assert (created["mac"], created["vendor"], created["model"], created["state"]) == (
        "001565000202",
        "yealink",
        "T46U",
        "deployed",
    )
    assert created["customer"] == {"code": "ROSSI", "name": "Studio Rossi <script>"}
    assert [line["extension"] for line in created["lines"]] == ["202"] and "Pw-202" not in await api.last.text()
    assert api.last.headers["Location"] == "/api/v1/devices/001565000202"
    shown = await api.as_("viewer").get("/devices/0015.6500.0202")
    assert shown["settings"] == {"lcd_logo.mode": "1"} and shown["history"][0]["actor"] == "user:technician-user"
    changed = await tech.patch("/devices/001565000202", {"settings": {"lcd_logo.mode": "", "ring": "r2"}})
    assert changed["settings"] == {"ring": "r2"}
    replaced = await tech.patch("/devices/001565000202", {"settings": {"a": "1"}, "replace": True})
    assert replaced["settings"] == {"a": "1"}
    for body, status, field in [
        ({"mac": "nonsense", "model": "T46U"}, 400, "mac"),
        ({"mac": "001565000203", "model": "T99"}, 400, "model"),
        ({"mac": "001565000203", "model": "T46U", "vendor": "acme"}, 400, "vendor"),
        ({"mac": "001565000203", "model": "T46U", "lines": "201"}, 400, "lines"),
        ({"mac": "001565000203", "model": "T46U", "lines": ["201"]}, 400, "customer"),
        ({"mac": "001565000203", "model": "T46U", "customer": "ROSSI", "lines": ["201"]}, 409, "line"),
        ({"mac": "001565000201", "model": "T46U"}, 409, "mac"),
        ({"model": "T46U"}, 400, "mac"),
        ({"mac": "001565000203", "model": "T46U", "settings": {"k": 5}}, 400, "settings"),
    ]:
        error = await tech.post("/devices", body, expect=status)
        assert error["field"] == field, (body, error)
    assert (await tech.get("/devices/001565FFFFFF", expect=404))["field"] == "mac"
    assert (await tech.get("/devices/zz", expect=400))["field"] == "mac"
    with store.reading() as tx:
        assert tx.device("001565000203") is None


async def test_assign_unassign_swap_return_charge_and_history(api, fleet):
    support = api.as_("support")
    assigned = await support.post("/devices/001565000999/assign", {"customer": "ROSSI", "lines": ["202"]})
    assert assigned["state"] == "deployed" and assigned["lines"] == ["202"]
    swapped = await support.post("/devices/00-15-65-00-02-01/swap", {"new_mac": "001565000777", "on": "2026-01-10"})
    assert swapped["created"] is True and swapped["new"]["lines"] == ["201"] and swapped["old"]["state"] == "return_due"
    returned = await support.post("/devices/001565000201/return", {"on": "2026-01-20", "condition": "faulty"})
    assert returned["state"] == "retired"
    unassigned = await support.post("/devices/001565000999/unassign")
    assert unassigned["state"] == "return_due" and unassigned["return_deadline"]
    error = await support.post("/devices/001565000201/charge", {}, expect=409)
    assert error["error"] == "conflict"
    assert (await support.post("/devices/001565000999/return", {"condition": "lost"}, expect=400))["field"] == (
        "condition"
    )
    history = (await api.as_("viewer").get("/devices/001565000201/history"))["items"]
    assert [(e["action"], e["actor"]) for e in history] == [
        ("device.created", ACTOR),
        ("device.swapped", "user:support-user"),
        ("device.returned", "user:support-user"),
    ]
    assert (await support.get("/devices/001565FFFFFF/history", expect=404))["field"] == "mac"
    found = await support.get("/devices", params={"q": "001565000777"})
    assert found["items"][0]["extensions"] == ["201"]


async def test_unknown_phones_are_listed_and_claimed(api, server, store, fleet):
    assert (await server.client.get("/001565abcdef.cfg", headers={"User-Agent": YEALINK_UA})).status == 404
    await server.flush()
    unknown = await api.as_("viewer").get("/devices/unknown")
    assert unknown["total"] == 1 and unknown["items"][0]["mac"] == "001565ABCDEF"
    assert unknown["items"][0]["model"] == "T46U" and unknown["items"][0]["requests"] == 1
    assert (await api.get("/devices/unknown", params={"hours": "1"}))["total"] == 1
    claimed = await api.as_("support").post(
        "/devices/unknown/00-15-65-AB-CD-EF/claim", {"customer": "ROSSI", "lines": ["202"]}, expect=201
    )
    assert (claimed["mac"], claimed["model"], claimed["state"]) == ("001565ABCDEF", "T46U", "deployed")
    assert claimed["history"][0]["actor"] == "user:support-user"
    assert (await api.get("/devices/unknown"))["total"] == 0
    again = await api.post("/devices/unknown/001565ABCDEF/claim", {}, expect=404)
    assert again["field"] == "mac"
    await server.sync()
    phone = await server.client.get("/001565abcdef.cfg", headers={"User-Agent": YEALINK_UA})
    assert phone.status == 200 and b"Pw-202-secret" in await phone.read()


async def test_events_page_with_keyset_and_filters(api, store, fleet):
    for n in range(5):
        await api.patch("/devices/001565000999", {"settings": {"n": str(n)}})
    first = await api.get("/events", params={"device": "00-15-65-00-09-99", "limit": "2"})
    assert [e["after"]["settings"]["n"] for e in first["items"]] == ["4", "3"] and first["limit"] == 2
    second = await api.get(
        "/events", params={"device": "001565000999", "limit": "2", "before": str(first["next_before"])}
    )
    assert [e["after"]["settings"]["n"] for e in second["items"]] == ["2", "1"]
    rest = await api.get("/events", params={"device": "001565000999", "before": str(second["next_before"])})
    assert [e["action"] for e in rest["items"]] == ["device.settings", "device.created"]
    assert rest["next_before"] is None
    mine = await api.get("/events", params={"actor": "user:admin-user"})
    assert len(mine["items"]) == 5 and {e["device_mac"] for e in mine["items"]} == {"001565000999"}
    assert (await api.get("/events", params={"device": "nope"}, expect=400))["field"] == "device"
    assert (await api.get("/events", params={"before": "x"}, expect=400))["field"] == "before"


async def test_reports_as_json_csv_and_xlsx(api, store, fleet):
    await api.as_("support").post("/customers/ROSSI/termination", {"on": "2026-01-31"})
    await api.put("/rentals/costs/T46U", {"cost": "89.90"})
    due = await api.as_("viewer").get("/rentals/due", params={"as_of": "2026-02-10"})
    assert due["as_of"] == "2026-02-10" and due["total"] == 1
    assert (due["items"][0]["mac"], due["items"][0]["deadline"]) == ("001565000201", "2026-04-01")
    overdue = await api.get("/rentals/overdue", params={"as_of": "2026-04-12", "customer": "ROSSI"})
    assert overdue["items"][0]["owed"] == "89.90"
    text = await api.get("/rentals/overdue", params={"as_of": "2026-04-12", "format": "csv"})
    assert api.last.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.decode("utf-8-sig"))))
    assert len(rows) == 1 and "001565000201" in rows[0].values()
    data = await api.get("/rentals/overdue", params={"as_of": "2026-04-12", "format": "xlsx"})
    assert 'filename="rentals-overdue.xlsx"' in api.last.headers["Content-Disposition"]
    sheet = openpyxl.load_workbook(io.BytesIO(data)).active
    assert any("001565000201" in [str(c.value) for c in row] for row in sheet.iter_rows())
    assert (await api.get("/rentals/due", params={"format": "pdf"}, expect=400))["field"] == "format"
    assert (await api.get("/rentals/lost", expect=404))["error"] == "not_found"
    assert (await api.get("/rentals/due", params={"as_of": "soon"}, expect=400))["field"] == "as_of"

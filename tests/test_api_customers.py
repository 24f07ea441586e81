"""Customers and lines over the API: create, read, change, list a page at a time, terminate,
policies; bad input named by field; names returned verbatim; every change recorded as the user."""

from __future__ import annotations

import re

import pytest

from provisioner import services

from .conftest import add_customer, add_line

ROSSI = {"code": "ROSSI", "name": "Studio Rossi <script>alert(1)</script>", "sip_server": "pbx.rossi.example.net"}


async def test_create_read_change_a_customer_recorded_as_the_user(api, store):
    created = await api.as_("support").post("/customers", ROSSI, expect=201)
    # A new customer gets a secret path key, answered once with the URL to give its phones.
    key = created.pop("path_key")
    assert re.fullmatch(r"[A-Za-z0-9_-]{22}", key)
    assert created.pop("provisioning_url") == f"http://prov.test:8080/p/{key}/"
    assert created == {
        "code": "ROSSI",
        "name": ROSSI["name"],
        "sip_server": "pbx.rossi.example.net",
        "sip_port": 5060,
        "sip_transport": "udp",
        "timezone": "Europe/Rome",
        "language": "it",
        "ntp_server": None,
        "contract_end": None,
        "country": None,
        "codecs": None,
        "check_hour": None,
        "check_interval_hours": None,
    }
    assert api.last.headers["Location"] == "/api/v1/customers/ROSSI"
    assert "<script>" in await api.last.text()  # JSON, not HTML: the name comes back as given
    assert (await api.as_("viewer").get("/customers/ROSSI"))["name"] == ROSSI["name"]
    changed = await api.patch("/customers/ROSSI", {"sip_port": 5080, "language": "en"})
    assert (changed["sip_port"], changed["language"], changed["name"]) == (5080, "en", ROSSI["name"])
    events = (await api.get("/events", params={"customer": "ROSSI"}))["items"]
    assert [(e["action"], e["actor"]) for e in events] == [
        ("customer.updated", "user:admin-user"),
        ("customer.created", "user:support-user"),
    ]
    assert events[0]["before"]["sip_port"] == 5060 and events[0]["after"]["sip_port"] == 5080
    assert events[1]["after"]["path_key_set"] is True and key not in await api.last.text()
    assert (await api.get("/customers/ROSSI/security"))["path_key_set"] is True
    # "path_key": "none" when the operator says so: no rule, and the API says what that means.
    plain = await api.post("/customers", {**ROSSI, "code": "PLAIN", "path_key": "none"}, expect=201)
    assert "path_key" not in plain
    shown = await api.get("/customers/PLAIN/security")
    assert shown["path_key_set"] is False and shown["warnings"][0].startswith("no rule")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "X", "sip_server": "pbx.example.net"}, "code", "code is required"),
        ({**ROSSI, "code": "no spaces"}, "code", "not allowed"),
        ({**ROSSI, "sip_port": 70000}, "sip_port", "65535 or less"),
        ({**ROSSI, "sip_port": "5060"}, "sip_port", "must be a whole number"),
        ({**ROSSI, "sip_transport": "sctp"}, "sip_transport", "one of: udp, tcp, tls"),
        ({**ROSSI, "name": "x" * 201}, "name", "longer than 200"),
        ({**ROSSI, "colour": "red"}, "colour", "unknown field 'colour'"),
        ({**ROSSI, "timezone": "Mars/Base"}, "timezone", "Mars/Base"),
        ({**ROSSI, "sip_server": "not a host"}, "sip_server", "not a host name"),
        ({**ROSSI, "name": "two\nlines"}, "name", "one line"),
    ],
)
async def test_bad_customers_are_refused_naming_the_field(api, store, body, field, words):
    error = await api.post("/customers", body, expect=400)
    assert error["error"] == "invalid" and error["field"] == field and words in error["message"], error
    with store.reading() as tx:
        assert tx.list_customers() == []


async def test_conflicts_and_unknown_customers(api, store):
    add_customer(store, "ROSSI")
    assert (await api.post("/customers", ROSSI, expect=409))["field"] == "code"
    missing = await api.get("/customers/NOBODY", expect=404)
    assert missing["error"] == "not_found" and "NOBODY" in missing["message"]
    assert (await api.patch("/customers/NOBODY", {"name": "x"}, expect=404))["error"] == "not_found"


async def test_customers_page_and_search(api, store):
    for n in range(7):
        add_customer(store, f"C{n:02d}", name=f"Customer {n}")
    first = await api.get("/customers", params={"limit": "3"})
    assert [c["code"] for c in first["items"]] == ["C00", "C01", "C02"]
    assert (first["total"], first["limit"], first["offset"]) == (7, 3, 0)
    last = await api.get("/customers", params={"limit": "3", "offset": "6"})
    assert [c["code"] for c in last["items"]] == ["C06"] and last["total"] == 7
    found = await api.get("/customers", params={"q": "customer 4"})
    assert [c["code"] for c in found["items"]] == ["C04"]


async def test_lines_listed_created_and_changed_without_passwords(api, store):
    add_customer(store, "ROSSI")
    created = await api.post(
        "/customers/ROSSI/lines",
        {"extension": "201", "display_name": "<b>Reception</b>", "password": "Sip-Secret-201"},
        expect=201,
    )
    assert created == {
        "extension": "201",
        "display_name": "<b>Reception</b>",
        "sip_username": "201",
        "auth_id": "201",
        "label": None,
        "sip_server": None,
        "sip_port": None,
        "sip_transport": None,
        "device": None,
    }
    add_line(store, "ROSSI", "202", "Office", "Sip-Secret-202")
    services.add_device(store, "test", "001565000202", model="T46U", customer="ROSSI", lines=["202"])
    page = await api.as_("viewer").get("/customers/ROSSI/lines")
    assert [(line["extension"], line["device"]) for line in page["items"]] == [("201", None), ("202", "001565000202")]
    assert page["total"] == 2 and "Sip-Secret" not in await api.last.text()
    changed = await api.as_("technician").patch(
        "/customers/ROSSI/lines/201", {"label": "Front desk", "password": "New-Secret-201"}
    )
    assert changed["label"] == "Front desk" and "password" not in changed
    events = (await api.get("/events", params={"action": "line"}))["items"]
    assert events[0]["actor"] == "user:technician-user" and events[0]["after"]["password_changed"] is True
    assert "New-Secret" not in str(events) and "Sip-Secret" not in str(events)
    error = await api.post("/customers/ROSSI/lines", {"extension": "203", "display_name": "X"}, expect=400)
    assert error["field"] == "password" and error["message"] == "password is required"
    error = await api.post(
        "/customers/ROSSI/lines", {"extension": "201", "display_name": "X", "password": "abcdefgh"}, expect=409
    )
    assert error["field"] == "extension"
    assert (await api.patch("/customers/ROSSI/lines/999", {"label": "x"}, expect=404))["field"] == "extension"
    assert (await api.get("/customers/NOBODY/lines", expect=404))["error"] == "not_found"


async def test_terminate_cancel_and_policy(api, store):
    add_customer(store, "ROSSI")
    add_line(store, "ROSSI", "201", "Desk", "pw-201")
    services.add_device(store, "test", "001565000201", model="T46U", customer="ROSSI", lines=["201"])
    support = api.as_("support")
    ended = await support.post("/customers/ROSSI/termination", {"on": "2099-01-31"})
    assert ended["contract_end"] == "2099-01-31" and ended["effective"] is False
    assert ended["devices"] == [
        {"mac": "001565000201", "model": "T46U", "ownership": "rental", "deadline": "2099-04-01"}
    ]
    assert (await api.get("/customers/ROSSI"))["contract_end"] == "2099-01-31"
    cancelled = await support.delete("/customers/ROSSI/termination")
    assert cancelled == {"customer": "ROSSI", "cancelled": "2099-01-31", "devices": ["001565000201"]}
    assert (await support.delete("/customers/ROSSI/termination", expect=409))["field"] == "customer"
    assert (await support.post("/customers/ROSSI/termination", {}, expect=400))["field"] == "on"
    assert (await support.post("/customers/ROSSI/termination", {"on": "31/01/2099"}, expect=400))["field"] == "on"
    policy = await support.put(
        "/customers/ROSSI/policy", {"window_days": 30, "charge": "penalty", "penalty_per_day": "10"}
    )
    assert (policy["window_days"], policy["charge"], policy["penalty_per_day"]) == (30, "penalty", "10.00")
    assert (await api.as_("viewer").get("/customers/ROSSI/policy"))["window_days"] == 30
    assert (await support.put("/customers/ROSSI/policy", {"window_days": -1}, expect=400))["field"] == "window_days"
    actors = {
        e["actor"]
        for e in (await api.get("/events", params={"customer": "ROSSI"}))["items"]
        if e["action"].startswith("customer.") and e["action"] != "customer.created"
    }
    assert actors == {"user:support-user"}

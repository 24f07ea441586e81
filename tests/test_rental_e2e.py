"""The rental lifecycle through the real server: what phones fetch after a termination or a swap,
the HTTP API and the CLI, and the overdue report on a given date."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import openpyxl
import pytest

from provisioner import cache as cache_module
from provisioner import rentals, services, vendors
from provisioner.settings import Settings
from provisioner.vendors import grandstream

from .conftest import ACTOR, add_customer, add_line

PASSWORDS = ("Pw-First&<201>", "Pw-Second#202")
AUTH: dict[str, str] = {}  # the admin's API token, set by the admin_auth fixture


@pytest.fixture
def admin_auth(api_users) -> None:
    AUTH.clear()
    AUTH.update(api_users.headers("admin"))


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=None,
        public_url="http://prov.test:8080/",
        sync_interval=0.05,
        flush_interval=0.05,
    )


# --- every account slot of a per-device file: (enabled, password) ---------------------------


def yealink_slots(body: bytes, slots: int) -> list[tuple[bool, str]]:
    pairs = dict(line.split(" = ", 1) for line in body.decode().splitlines() if " = " in line)
    return [
        (pairs[f"account.{n}.enable"] == "1", pairs[f"account.{n}.password"].replace("%NULL%", ""))
        for n in range(1, slots + 1)
    ]


def snom_slots(body: bytes, slots: int) -> list[tuple[bool, str]]:
    root = ET.fromstring(body)

    def value(tag: str, n: int) -> str:
        (el,) = [el for el in root.iter(tag) if el.get("idx") == str(n)]
        return el.text or ""

    return [(value("user_active", n) == "on", value("user_pass", n)) for n in range(1, slots + 1)]


def polycom_slots(body: bytes, slots: int) -> list[tuple[bool, str]]:
    attrs: dict[str, str] = {}
    for el in ET.fromstring(body).iter():
        attrs.update(el.attrib)
    return [(attrs[f"reg.{n}.server.1.register"] == "1", attrs[f"reg.{n}.auth.password"]) for n in range(1, slots + 1)]


def grandstream_slots(body: bytes, slots: int) -> list[tuple[bool, str]]:
    p = {el.tag: el.text or "" for el in ET.fromstring(body).find("config")}
    return [
        (p[grandstream.account_codes(n)["active"]] == "1", p[grandstream.account_codes(n)["password"]])
        for n in range(1, slots + 1)
    ]


# vendor: (model, MAC, per-device file, reader)
PHONES: dict[str, tuple[str, str, str, Callable[[bytes, int], list[tuple[bool, str]]]]] = {
    "yealink": ("T46U", "001565C0FFEE", "001565c0ffee.cfg", yealink_slots),
    "snom": ("D785", "000413C0FFEE", "000413C0FFEE.xml", snom_slots),
    "polycom": ("VVX450", "0004F2C0FFEE", "0004f2c0ffee-settings.cfg", polycom_slots),
    "grandstream": ("GRP2614", "C074ADC0FFEE", "cfgc074adc0ffee.xml", grandstream_slots),
}


async def fetch(server, name: str) -> bytes:
    resp = await server.client.get("/" + name)
    assert resp.status == 200, (name, resp.status)
    return await resp.read()


async def slots_of(server, vendor: str) -> tuple[bytes, list[tuple[bool, str]]]:
    model, _mac, name, read = PHONES[vendor]
    body = await fetch(server, name)
    return body, read(body, vendors.get(vendor).caps(model).accounts)


def provision_all_vendors(store) -> None:
    add_customer(store)
    for i, vendor in enumerate(PHONES):
        model, mac, _name, _read = PHONES[vendor]
        exts = [f"2{i}1", f"2{i}2"]
        for ext, password in zip(exts, PASSWORDS, strict=True):
            add_line(store, "ROSSI", ext, f"Desk {ext}", password)
        services.add_device(store, ACTOR, mac, model=model, customer="ROSSI", lines=exts)


def assert_deprovisioned(body: bytes, slots: list[tuple[bool, str]]) -> None:
    assert slots and all(not enabled and password == "" for enabled, password in slots), slots
    for password in PASSWORDS:
        assert password.encode() not in body
        assert password.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode() not in body


def rome_today() -> str:
    return rentals.today().isoformat()


# --- the phone side -------------------------------------------------------------------------


async def test_terminated_customer_phones_get_no_password_and_every_account_disabled(server, store, run_cli):
    provision_all_vendors(store)
    await server.sync()
    for vendor in PHONES:
        body, slots = await slots_of(server, vendor)
        assert slots[0] == (True, PASSWORDS[0]) and slots[1] == (True, PASSWORDS[1]), vendor  # warm cache

    out = (await asyncio.to_thread(run_cli, "customer", "terminate", "ROSSI", "--on", rome_today())).output
    assert "its phones stop from today" in out
    await server.sync()
    for vendor in PHONES:
        body, slots = await slots_of(server, vendor)
        assert len(slots) == vendors.get(vendor).caps(PHONES[vendor][0]).accounts
        assert_deprovisioned(body, slots)


async def test_a_future_termination_stops_the_phone_at_midnight_in_rome_without_any_write(
    server, store, run_cli, monkeypatch
):
    provision_all_vendors(store)
    tomorrow = rentals.today() + timedelta(days=1)
    await asyncio.to_thread(run_cli, "customer", "terminate", "ROSSI", "--on", tomorrow.isoformat())
    await server.sync()
    _body, slots = await slots_of(server, "yealink")
    assert slots[0] == (True, PASSWORDS[0])  # still in service today, and now cached

    midnight = rentals.start_of_day(tomorrow)
    monkeypatch.setattr(rentals, "now", lambda: midnight - timedelta(seconds=1))
    monkeypatch.setattr(cache_module, "utcnow", lambda: midnight - timedelta(seconds=1))
    assert (await slots_of(server, "yealink"))[1][0] == (True, PASSWORDS[0])
    monkeypatch.setattr(rentals, "now", lambda: midnight)
    monkeypatch.setattr(cache_module, "utcnow", lambda: midnight)
    for vendor in PHONES:  # no event, no sync: the cached files expire at the contract end
        assert_deprovisioned(*await slots_of(server, vendor))


async def test_swap_moves_the_lines_and_the_old_phone_is_deprovisioned(server, store, run_cli):
    add_customer(store)
    for ext, password in zip(("201", "202"), PASSWORDS, strict=True):
        add_line(store, "ROSSI", ext, f"Desk {ext}", password)
    services.add_device(store, ACTOR, "001565C0FFEE", model="T46U", customer="ROSSI", lines=["202", "201"])
    await server.sync()
    assert (await slots_of(server, "yealink"))[1][:2] == [(True, PASSWORDS[1]), (True, PASSWORDS[0])]

    out = (
        await asyncio.to_thread(run_cli, "device", "swap", "00:15:65:c0:ff:ee", "000413c0ffee", "--model", "D785")
    ).output
    assert "000413C0FFEE (snom D785, new) now serves ROSSI lines 202, 201" in out
    await server.sync()
    _body, new_slots = await slots_of(server, "snom")
    assert new_slots[:3] == [(True, PASSWORDS[1]), (True, PASSWORDS[0]), (False, "")]
    assert_deprovisioned(*await slots_of(server, "yealink"))

    history = json.loads((await asyncio.to_thread(run_cli, "device", "history", "001565C0FFEE", "--json")).output)
    assert [e["action"] for e in history] == ["device.created", "device.swapped"]
    assert history[-1]["after"]["replaced_by"] == "000413C0FFEE"


# --- the API --------------------------------------------------------------------------------


async def api(server, method: str, path: str, body: Any = None, status: int = 200, **params: str) -> Any:
    resp = await server.client.request(method, "/api/v1" + path, json=body, headers=AUTH, params=params)
    text = await resp.text()
    assert resp.status == status, (method, path, resp.status, text)
    return json.loads(text) if resp.content_type == "application/json" else text


def macs(n: int) -> str:
    return f"001565D0{n:04X}"


@pytest.mark.usefixtures("admin_auth")
async def test_overdue_report_on_a_date_lists_exactly_the_expected_devices_and_amounts(
    server, store, run_cli, tmp_path
):
    for code in ("ROSSI", "BIANCHI", "VERDI", "NERI"):
        add_customer(store, code)
    for i, (code, model) in enumerate(
        [
            ("ROSSI", "T46U"),
            ("ROSSI", "D785"),
            ("ROSSI", "GRP2614"),
            ("ROSSI", "T46U"),
            ("BIANCHI", "T46U"),
            ("VERDI", "T46U"),
            ("NERI", "T46U"),
        ],
        1,
    ):
        add_line(store, code, f"{i}01", f"Desk {i}", f"pw-{i}")
        mac = macs(i) if model == "T46U" else {"D785": "000413D00002", "GRP2614": "C074ADD00003"}[model]
        services.add_device(store, ACTOR, mac, model=model, customer=code, lines=[f"{i}01"], serial=f"SN-{i}")
    services.add_device(store, ACTOR, macs(9), model="T46U", customer="ROSSI", ownership="owned")
    await server.sync()

    await api(server, "PUT", "/rentals/costs/T46U", {"cost": "89.90"})
    await api(server, "PUT", "/rentals/costs/d785", {"cost": "149"})
    await api(server, "PUT", "/rentals/costs/default", {"cost": "70.00"})
    policy = await api(
        server, "PUT", "/customers/BIANCHI/policy", {"window_days": 30, "charge": "penalty", "penalty_per_day": "10"}
    )
    assert policy["description"] == "return within 30 days, then 10.00 EUR per day late"
    terminated = await api(server, "POST", "/customers/ROSSI/termination", {"on": "2026-01-31"})
    assert terminated["effective"] and {(d["mac"], d["deadline"]) for d in terminated["devices"]} == {
        (macs(1), "2026-04-01"),
        ("000413D00002", "2026-04-01"),
        ("C074ADD00003", "2026-04-01"),
        (macs(4), "2026-04-01"),
        (macs(9), None),
    }
    await api(server, "POST", "/customers/BIANCHI/termination", {"on": "2026-02-28"})  # deadline 2026-03-30
    await api(server, "POST", "/customers/NERI/termination", {"on": "2026-03-01"})  # deadline 2026-04-30
    swapped = await api(server, "POST", f"/devices/{macs(6)}/swap", {"new_mac": macs(8), "on": "2026-02-01"})
    assert swapped["return_deadline"] == "2026-04-02" and swapped["new"]["lines"] == ["601"]
    returned = await api(server, "POST", "/devices/C074ADD00003/return", {"on": "2026-03-15"})
    assert returned["state"] == "in_stock" and returned["days_late"] == 0
    charged = await api(server, "POST", f"/devices/{macs(4)}/charge", {"on": "2026-04-10"})
    assert charged["amount"] == "89.90"

    report = await api(server, "GET", "/rentals/overdue", as_of="2026-04-12")
    assert report["as_of"] == "2026-04-12"
    expected = [
        (macs(5), "BIANCHI", "T46U", "SN-5", "2026-02-28", "2026-03-30", 13, "130.00"),
        ("000413D00002", "ROSSI", "D785", "SN-2", "2026-01-31", "2026-04-01", 11, "149.00"),
        (macs(1), "ROSSI", "T46U", "SN-1", "2026-01-31", "2026-04-01", 11, "89.90"),
        (macs(6), "VERDI", "T46U", "SN-6", None, "2026-04-02", 10, "89.90"),
    ]
    assert [
        (r["mac"], r["customer"], r["model"], r["serial"], r["contract_end"], r["deadline"], r["days_late"], r["owed"])
        for r in report["items"]
    ] == expected
    assert report["items"][-1]["due_from"] == "2026-02-01" and report["items"][-1]["reason"] == "swap"

    # The last day to return is not overdue.
    on_deadline = await api(server, "GET", "/rentals/overdue", as_of="2026-04-01")
    assert [(r["mac"], r["days_late"], r["owed"]) for r in on_deadline["items"]] == [(macs(5), 2, "20.00")]
    due = await api(server, "GET", "/rentals/due", as_of="2026-04-12")
    assert [r["mac"] for r in due["items"]] == [macs(7)]
    charged_report = await api(server, "GET", "/rentals/charged", as_of="2026-04-12", customer="ROSSI")
    assert [(r["mac"], r["charged"]) for r in charged_report["items"]] == [(macs(4), "89.90")]

    # The CLI gives the same rows, as JSON and as spreadsheets for the office.
    cli_rows = json.loads(
        (await asyncio.to_thread(run_cli, "rentals", "overdue", "--as-of", "2026-04-12", "--json")).output
    )
    assert [(r["mac"], r["days_late"], r["owed"]) for r in cli_rows] == [(e[0], e[6], e[7]) for e in expected]
    rossi_only = await asyncio.to_thread(run_cli, "rentals", "overdue", "--as-of", "2026-04-12", "--customer", "ROSSI")
    assert "2 devices, outstanding 238.90 EUR" in rossi_only.output
    xlsx, csv_path = tmp_path / "overdue.xlsx", tmp_path / "overdue.csv"
    await asyncio.to_thread(run_cli, "rentals", "overdue", "--as-of", "2026-04-12", "--output", str(xlsx))
    await asyncio.to_thread(run_cli, "rentals", "overdue", "--as-of", "2026-04-12", "--output", str(csv_path))
    sheet = openpyxl.load_workbook(xlsx).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "MAC" and [(r[0], r[11], r[12]) for r in rows[1:]] == [
        (e[0], e[6], float(Decimal(e[7]))) for e in expected
    ]
    table = list(csv.DictReader(io.StringIO(csv_path.read_text("utf-8-sig"))))
    assert [(r["MAC"], r["Return deadline"], r["Owed to date (EUR)"]) for r in table] == [
        (e[0], e[5], e[7]) for e in expected
    ]
    resp = await server.client.get(
        "/api/v1/rentals/overdue", params={"as_of": "2026-04-12", "format": "csv"}, headers=AUTH
    )
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    assert (await resp.read()) == csv_path.read_bytes()


@pytest.mark.usefixtures("admin_auth")
async def test_api_errors_are_clear_and_change_nothing(server, store):
    add_customer(store)
    add_line(store, "ROSSI", "201", "Desk", "pw")
    services.add_device(store, ACTOR, macs(1), model="T46U", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, macs(2), model="T46U")
    with store.reading() as tx:
        before = tx.last_event_id()

    err = await api(server, "POST", f"/devices/{macs(2)}/return", {}, status=409)
    assert err["error"] == "conflict" and "never deployed" in err["message"]
    err = await api(server, "POST", "/devices/001565FFFFFF/swap", {"new_mac": macs(3)}, status=404)
    assert err == {"error": "not_found", "message": "no device with MAC 001565FFFFFF", "field": "old_mac"}
    err = await api(server, "POST", "/customers/NOBODY/termination", {"on": "2026-01-31"}, status=404)
    assert err["field"] == "customer"
    err = await api(server, "POST", "/customers/ROSSI/termination", {"on": "31/01/2026"}, status=400)
    assert "is not a date" in err["message"]
    err = await api(server, "POST", f"/devices/{macs(1)}/charge", {"amount": "ten"}, status=400)
    assert err["field"] == "amount"
    err = await api(server, "POST", f"/devices/{macs(1)}/swap", {"new_mac": macs(2), "colour": "red"}, status=400)
    assert err["field"] == "colour"
    err = await api(server, "GET", "/rentals/overdue", status=400, as_of="yesterday")
    assert err["field"] == "as_of"
    with store.reading() as tx:
        assert tx.last_event_id() == before
    resp = await server.client.get("/api/v1/rentals/overdue")
    assert resp.status == 401

    # And the happy paths of the remaining endpoints.
    assigned = await api(server, "POST", f"/devices/{macs(2)}/assign", {"customer": "ROSSI", "lines": []})
    assert assigned["state"] == "deployed"
    unassigned = await api(server, "POST", f"/devices/{macs(2)}/unassign")
    assert unassigned["state"] == "return_due" and unassigned["return_deadline"]
    assert (await api(server, "POST", f"/devices/{macs(2)}/return", {"condition": "faulty"}))["state"] == "retired"
    history = await api(server, "GET", f"/devices/{macs(2)}/history")
    assert [e["action"] for e in history["items"]] == [
        "device.created",
        "device.assigned",
        "device.unassigned",
        "device.returned",
    ]
    assert (await api(server, "GET", "/customers/ROSSI/policy"))["window_days"] == 60
    assert (await api(server, "PUT", "/rentals/policy", {"window_days": 45}))["window_days"] == 45
    assert (await api(server, "GET", "/rentals/policy"))["description"].startswith("return within 45 days")
    assert (await api(server, "PUT", "/customers/ROSSI/policy", {"default": True}))["own_terms"] == {}
    tomorrow = (rentals.today() + timedelta(days=1)).isoformat()
    await api(server, "POST", "/customers/ROSSI/termination", {"on": tomorrow})
    cancelled = await api(server, "DELETE", "/customers/ROSSI/termination")
    assert cancelled["devices"] == [macs(1)]
    assert (await api(server, "GET", "/rentals/costs"))["items"] == []


# --- the CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args,message",
    [
        (("device", "return", "001565000001"), "no device with MAC 001565000001"),
        (("device", "swap", "001565000001", "001565000002"), "no device with MAC 001565000001"),
        (("device", "charge", "00:15:65"), "'00:15:65' is not a MAC address"),
        (("customer", "terminate", "NOPE", "--on", "2026-01-31"), "no customer 'NOPE'"),
        (("customer", "terminate", "ROSSI", "--on", "2026-02-30"), "is not a date"),
        (("customer", "policy", "ROSSI", "--charge", "penalty"), "needs a penalty per day"),
        (("rentals", "set-cost", "T46U", "ten"), "is not an amount in euros"),
        (("rentals", "overdue", "--output", "report.pdf"), "can be written as .csv or .xlsx"),
        (("device", "history", "001565000009"), "no device with MAC 001565000009"),
    ],
)
def test_cli_errors_are_one_line_and_exit_non_zero(run_cli, store, args, message):
    add_customer(store)
    result = run_cli(*args, ok=False)
    assert result.exit_code == 1 and message in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_cli_policy_costs_and_lifecycle(run_cli, store):
    add_customer(store)
    add_line(store, "ROSSI", "201", "Desk", "pw-201")
    services.add_device(store, ACTOR, macs(1), model="T46U", customer="ROSSI", lines=["201"])
    assert run_cli("customer", "terminate", "ROSSI", ok=False).exit_code == 2
    out = run_cli(
        "customer", "policy", "ROSSI", "--window-days", "30", "--charge", "penalty", "--penalty-per-day", "10"
    ).output
    assert "ROSSI: return within 30 days, then 10.00 EUR per day late" in out
    assert "own terms: none" in run_cli("customer", "policy", "ROSSI", "--default").output
    assert "default: return within 60 days" in run_cli("rentals", "policy").output
    assert "default: return within 45 days" in run_cli("rentals", "policy", "--window-days", "45").output
    assert "replacement cost of yealink T46U: 89.90 EUR" in run_cli("rentals", "set-cost", "t46u", "89.9").output
    assert "yealink T46U" in run_cli("rentals", "costs").output
    add_line(store, "ROSSI", "202", "Desk 2", "pw-202")
    services.add_device(store, ACTOR, macs(2), model="T46U")
    assert (
        "deployed to ROSSI, lines 202"
        in run_cli("device", "assign", macs(2), "--customer", "ROSSI", "--line", "202").output
    )
    assert "return_due from ROSSI" in run_cli("device", "unassign", macs(2)).output
    assert "now retired" in run_cli("device", "return", macs(2), "--condition", "faulty").output
    ended = run_cli("customer", "terminate", "ROSSI", "--on", "2026-01-31").output
    assert f"{macs(1)}  T46U     return due by 2026-03-17" in ended
    # Default policy now: 45 days, then the replacement cost.
    assert f"ROSSI charged 89.90 EUR for {macs(1)}" in run_cli("device", "charge", macs(1), "--on", "2026-03-24").output
    assert "1 devices, outstanding 0.00 EUR" in run_cli("rentals", "charged", "--as-of", "2026-03-24").output
    history = run_cli("device", "history", macs(1)).output.splitlines()
    assert [line.split()[2] for line in history] == ["device.created", "device.contract_ended", "device.charged"]

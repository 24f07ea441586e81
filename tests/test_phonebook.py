"""A customer's phonebook on its phones: every vendor's config names it, the phone fetches it over
HTTP and TFTP under the customer's rules, and a change reaches every phone of the customer."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET

import pytest
from openpyxl import Workbook

from provisioner import phonebook, services
from provisioner.errors import NotFound
from tests.conftest import ACTOR, add_customer, add_line, key_path
from tests.tftp_client import fetch as tftp_fetch

YEALINK = ("T46U", "001565A1B2C3", "Yealink SIP-T46U 108.86.0.20 00:15:65:a1:b2:c3")
SNOM = ("D785", "00041396D9B4", "Mozilla/4.0 (compatible; snomD785-SIP 10.1.169.16 2010.12 00041396D9B4)")
POLYCOM = ("VVX450", "64167FA1B2C6", "FileTransport PolycomVVX-VVX_450-UA/6.4.6.0123 Type/Application")
GRANDSTREAM = ("GRP2614", "C074ADA1B2C8", "Grandstream Model HW GRP2614 SW 1.0.5.15 DevId c074ada1b2c8")
PHONES = {"yealink": YEALINK, "snom": SNOM, "polycom": POLYCOM, "grandstream": GRANDSTREAM}

RECEPTION = "Rossi & Figli <Reception>"
SUPPLIER = "Fornitore Università"


def _yealink_book(body: bytes) -> list[tuple[str, str, str]]:
    root = ET.fromstring(body)
    assert root.tag == "YealinkIPPhoneBook"
    return [(menu.get("Name"), u.get("Name"), u.get("Phone1")) for menu in root.iter("Menu") for u in menu]


def _snom_book(body: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(body)
    return [(i.findtext("name"), i.findtext("number")) for i in root.find("tbook")]


def _polycom_book(body: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(body)
    return [(i.findtext("fn"), i.findtext("ct")) for i in root.iter("item")]


def _grandstream_book(body: bytes) -> list[tuple[str, str]]:
    root = ET.fromstring(body)
    return [(c.findtext("FirstName"), c.findtext("Phone/phonenumber")) for c in root.iter("Contact")]


def _setup(store, path_key: str = "new") -> None:
    add_customer(store, path_key=path_key)
    add_line(store, "ROSSI", "201", RECEPTION, "pw-201-secret")
    add_line(store, "ROSSI", "202", "Anna Bianchi", "pw-202-secret")
    add_line(store, "ROSSI", "203", "Carlo Neri", "pw-203-secret")
    add_line(store, "ROSSI", "204", "Dario Blu", "pw-204-secret")
    for n, (model, mac, _ua) in enumerate(PHONES.values()):
        services.add_device(store, ACTOR, mac, model=model, customer="ROSSI", lines=[str(201 + n)])
    phonebook.add(store, ACTOR, "ROSSI", SUPPLIER, "+39 06 1234 5678", "Fornitori")


async def _get(server, path: str, ua: str) -> tuple[int, bytes]:
    resp = await server.client.get("/" + path, headers={"User-Agent": ua})
    return resp.status, await resp.read()


async def test_every_vendor_config_names_the_phonebook_and_it_is_served(server, store):
    _setup(store)
    await server.sync()
    prefix = key_path(store, YEALINK[1])
    assert prefix.startswith("p/")
    expected = [
        (RECEPTION, "201"),
        ("Anna Bianchi", "202"),
        ("Carlo Neri", "203"),
        ("Dario Blu", "204"),
        (SUPPLIER, "+390612345678"),
    ]

    # Yealink: mac.cfg names the remote phonebook with its refresh; the URL carries the path key.
    model, mac, ua = YEALINK
    status, cfg = await _get(server, f"{prefix}{mac.lower()}.cfg", ua)
    assert status == 200
    keys = dict(line.split(" = ", 1) for line in cfg.decode().splitlines() if " = " in line)
    assert keys["features.remote_phonebook.enable"] == "1"
    assert keys["features.remote_phonebook.flash_time"] == "3600"
    url = keys["remote_phonebook.data.1.url"]
    assert url == f"http://prov.test:8080/{prefix}{mac.lower()}-phonebook.xml"
    status, body = await _get(server, url.split("8080/", 1)[1], ua)
    assert status == 200
    book = _yealink_book(body)
    assert [(n, p) for _g, n, p in book] == expected
    assert ("Fornitori", SUPPLIER, "+390612345678") in book
    tftp = await tftp_fetch(("127.0.0.1", server.tftp_port), f"{prefix}{mac.lower()}-phonebook.xml")
    assert tftp.error is None and tftp.data == body

    # Snom: the per-device .htm lists the tbook file next to the settings.
    model, mac, ua = SNOM
    status, htm = await _get(server, f"{prefix}snom{model}-{mac}.htm", ua)
    urls = [f.get("url") for f in ET.fromstring(htm).iter("file")]
    assert f"http://prov.test:8080/{prefix}{mac.lower()}-phonebook.xml" in urls
    status, body = await _get(server, f"{prefix}{mac.lower()}-phonebook.xml", ua)
    assert status == 200 and _snom_book(body) == expected

    # Polycom: its local directory file is the phonebook.
    model, mac, ua = POLYCOM
    status, body = await _get(server, f"{prefix}{mac.lower()}-directory.xml", ua)
    assert status == 200 and _polycom_book(body) == expected
    tftp = await tftp_fetch(("127.0.0.1", server.tftp_port), f"{prefix}{mac.lower()}-directory.xml")
    assert tftp.error is None and tftp.data == body

    # Grandstream: P330 (HTTP), P331 the folder, P332 minutes; the phone asks <P331>/phonebook.xml.
    model, mac, ua = GRANDSTREAM
    status, cfg = await _get(server, f"{prefix}cfg{mac.lower()}.xml", ua)
    config = ET.fromstring(cfg).find("config")
    assert config.findtext("P330") == "1"
    assert config.findtext("P332") == "60"
    folder = config.findtext("P331")
    assert folder == f"prov.test:8080/{prefix}pb{mac.lower()}"
    status, body = await _get(server, folder.split("/", 1)[1] + "/phonebook.xml", ua)
    assert status == 200 and _grandstream_book(body) == expected


async def test_phonebook_is_under_the_customers_rules(server, store):
    _setup(store)
    await server.sync()
    prefix = key_path(store, YEALINK[1])
    for vendor, (_model, mac, ua) in PHONES.items():
        name = f"{mac.lower()}-directory.xml" if vendor == "polycom" else f"{mac.lower()}-phonebook.xml"
        status, body = await _get(server, prefix + name, ua)
        assert status == 200 and b"Bianchi" in body, vendor
        assert b"pw-20" not in body  # never a password in a phonebook
        # Two refusals per phone: 8 failures, under the scan defence's ban (10).
        resp = await server.client.get("/" + name, headers={"User-Agent": ua})  # without the path key
        assert resp.status == 403, vendor
        key = "p/WRONGKEY/" if vendor == "yealink" else ""
        tftp = await tftp_fetch(("127.0.0.1", server.tftp_port), key + name)
        assert tftp.error is not None and not tftp.data, vendor


async def test_a_change_reaches_every_phone_of_the_customer(server, store):
    _setup(store, path_key="none")
    await server.sync()
    for _vendor, (_model, mac, ua) in PHONES.items():
        name = f"{mac.lower()}-directory.xml" if _vendor == "polycom" else f"{mac.lower()}-phonebook.xml"
        status, body = await _get(server, name, ua)
        assert status == 200 and b"Carla Verdi" not in body
    phonebook.add(store, ACTOR, "ROSSI", "Carla Verdi", "3331234567")
    await server.sync()
    for _vendor, (_model, mac, ua) in PHONES.items():  # a contact alone re-renders every phone of the customer
        name = f"{mac.lower()}-directory.xml" if _vendor == "polycom" else f"{mac.lower()}-phonebook.xml"
        status, body = await _get(server, name, ua)
        assert status == 200 and b"Carla Verdi" in body, _vendor
    add_line(store, "ROSSI", "205", "Nuovo Interno", "pw-205-secret")
    await server.sync()
    for _vendor, (_model, mac, ua) in PHONES.items():
        name = f"{mac.lower()}-directory.xml" if _vendor == "polycom" else f"{mac.lower()}-phonebook.xml"
        status, body = await _get(server, name, ua)
        assert status == 200 and b"Carla Verdi" in body and b"Nuovo Interno" in body, _vendor
    phonebook.remove(store, ACTOR, "ROSSI", name="Carla Verdi")
    await server.sync()
    status, body = await _get(server, f"{YEALINK[1].lower()}-phonebook.xml", YEALINK[2])
    assert b"Carla Verdi" not in body


async def test_deprovisioned_phone_gets_no_phonebook(server, store):
    _setup(store, path_key="none")
    services.add_device(store, ACTOR, "001565A1B2FF", model="T46U")  # in stock, no customer
    await server.sync()
    status, body = await _get(server, "001565a1b2ff-phonebook.xml", "Yealink SIP-T46U 108.86.0.20")
    assert status == 200 and _yealink_book(body) == []
    status, cfg = await _get(server, "001565a1b2ff.cfg", "Yealink SIP-T46U 108.86.0.20")
    assert b"features.remote_phonebook.enable = 0" in cfg


def test_cli_add_import_export_roundtrip(run_cli, store, tmp_path):
    add_customer(store)
    add_line(store, "ROSSI", "201", RECEPTION, "pw-201-secret")
    run_cli("phonebook", "add", "ROSSI", "Idraulico Mario", "+39 333 1112223", "--group", "Fornitori")
    sheet = tmp_path / "contacts.csv"
    sheet.write_text("Nome;Numero;Gruppo\nStudio Legale Neri;0612345;Legali\n=cmd|' /C calc';123;\n", encoding="utf-8")
    result = run_cli("phonebook", "import", "ROSSI", str(sheet))
    assert "2 contact(s) added" in result.output
    again = run_cli("phonebook", "import", "ROSSI", str(sheet))
    assert "0 contact(s) added, 2 already there" in again.output

    book = tmp_path / "book.xlsx"
    wb = Workbook()
    wb.active.append(["name", "number", "group"])
    wb.active.append(["Commercialista", 612349876, None])
    wb.save(book)
    assert "1 contact(s) added" in run_cli("phonebook", "import", "ROSSI", str(book)).output

    out = run_cli("phonebook", "export", "ROSSI").output
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["name"], r["number"], r["group"], r["kind"]) for r in rows] == [
        (RECEPTION, "201", "", "extension"),
        ("'=cmd|' /C calc'", "123", "", "contact"),  # kept as text, not a formula
        ("Commercialista", "612349876", "", "contact"),
        ("Idraulico Mario", "+393331112223", "Fornitori", "contact"),
        ("Studio Legale Neri", "0612345", "Legali", "contact"),
    ]
    # The export imports back as is: nothing new.
    exported = tmp_path / "exported.csv"
    run_cli("phonebook", "export", "ROSSI", "-o", str(exported))
    assert "0 contact(s) added, 4 already there" in run_cli("phonebook", "import", "ROSSI", str(exported)).output


def test_bad_rows_are_named_and_nothing_is_imported(run_cli, store, tmp_path):
    add_customer(store)
    sheet = tmp_path / "bad.csv"
    sheet.write_text("name,number\nGood One,0611\n,0622\nBad Number,06 <script>\n", encoding="utf-8")
    result = run_cli("phonebook", "import", "ROSSI", str(sheet), ok=False)
    assert result.exit_code == 1
    assert "row 3: name is required" in result.output
    assert "row 4: number '06 <script>' is not a phone number" in result.output
    assert phonebook.entries(store, "ROSSI") == []
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("Mario,0611\n", encoding="utf-8")
    result = run_cli("phonebook", "import", "ROSSI", str(nohead), ok=False)
    assert "must name the columns name and number" in result.output
    with pytest.raises(NotFound, match="no customer"):
        phonebook.add(store, ACTOR, "NOBODY", "X", "1")

"""The console's pages for a customer's phone settings (baseline, admin password), its key profile,
a device's keys and the customer's phonebook, through the real server (issue 17)."""

from __future__ import annotations

import csv
import io
import re

import aiohttp

from provisioner import function_keys, phonebook, queries, services

from .conftest import ACTOR, add_customer
from .test_console import (  # noqa: F401
    CSRF,
    add_user,
    csrf_of,
    deployed_phone,
    flash,
    post,
    settings,
    sign_in,
)

MAC = "805EC0000001"


async def test_baseline_and_admin_password_from_the_console(server, store):
    add_user(store, "sue", "support")
    add_customer(store, "ROSSI")
    await sign_in(client := server.client, "sue")
    text = await (await client.get("/console/customers/ROSSI/settings")).text()
    assert "Not set: the phones keep their own." in text or "Set: the phones" in text
    before = services.admin_password(store, ACTOR, "ROSSI")

    page = await post(
        client,
        "/console/customers/ROSSI/settings",
        {
            "timezone": "Europe/Berlin",
            "language": "de",
            "sip_transport": "tcp",
            "country": "DE",
            "codecs": "g722,pcma",
            "ntp_server": "ntp.rossi.example.net",
            "check_hour": "4",
            "check_interval_hours": "",
            "resync_after_change": "on",
        },
    )
    assert flash(await page.text()) == ("ok: Phone settings of ROSSI saved: its phones get them at their next check.")
    row = services.get_customer(store, "ROSSI")
    assert (row["timezone"], row["language"], row["sip_transport"], row["country"]) == (
        "Europe/Berlin",
        "de",
        "tcp",
        "DE",
    )
    assert (row["codecs"], row["ntp_server"], row["check_hour"], row["check_interval_hours"]) == (
        "g722,pcma",
        "ntp.rossi.example.net",
        4,
        None,
    )
    assert row["resync_after_change"] is True
    assert 'value="Europe/Berlin"' in await page.text()

    # a bad value: the reason, and nothing changed (not even the good fields sent with it)
    page = await post(
        client, "/console/customers/ROSSI/settings", {"country": "XX", "check_hour": "25", "codecs": "g722"}
    )
    assert flash(await page.text()).startswith("error: Nothing was changed: ")
    assert services.get_customer(store, "ROSSI")["codecs"] == "g722,pcma"
    # back to the defaults: empty boxes, "as the server is set"
    await post(
        client,
        "/console/customers/ROSSI/settings",
        {"country": "", "codecs": "", "ntp_server": "", "check_hour": "", "resync_after_change": "server"},
    )
    row = services.get_customer(store, "ROSSI")
    assert (row["country"], row["codecs"], row["ntp_server"], row["check_hour"], row["resync_after_change"]) == (
        None,
        None,
        None,
        None,
        None,
    )

    page = await post(client, "/console/customers/ROSSI/admin-password", {})
    text = await page.text()
    assert flash(text).startswith("ok: A new admin password was generated for the phones of ROSSI")
    after = services.admin_password(store, ACTOR, "ROSSI")
    assert after and after != before and after not in text
    assert "Set: the phones’ web page and menu ask for it." in text
    events = queries.events(store, customer="ROSSI", action="customer.admin_password")["items"]
    assert events and events[0]["actor"] == "user:sue" and after not in str(events)


async def test_a_viewer_sees_the_settings_but_cannot_change_them(server, store):
    add_user(store, "vic", "viewer")
    add_customer(store, "ROSSI")
    await sign_in(client := server.client, "vic")
    text = await (await client.get("/console/customers/ROSSI/settings")).text()
    assert "<fieldset disabled>" in text and 'id="admin-password-form"' not in text
    token = CSRF.search(text).group(1)
    refused = await client.post("/console/customers/ROSSI/admin-password", data={"csrf_token": token})
    assert refused.status == 403
    assert services.admin_password(store, ACTOR, "ROSSI") == services.get_customer(store, "ROSSI")["admin_password"]


async def test_key_profile_and_device_keys_with_errors_next_to_the_field(server, store):
    add_user(store, "tina", "admin")
    deployed_phone(store, MAC, "ROSSI", ("201", "202"))
    services.add_line(store, ACTOR, "ROSSI", "203", display_name="Magazzino", password="Sip-Pass-203!")
    await sign_in(client := server.client, "tina")

    page = await post(
        client, "/console/customers/ROSSI/keys", {"position": "3", "type": "blf", "value": "203", "line": "1"}
    )
    assert flash(await page.text()) == "ok: Key 3 is now BLF (busy lamp)."
    assert function_keys.customer_keys(store, "ROSSI") == [
        {"module": 0, "position": 3, "type": "blf", "value": "203", "label": None, "line": 1}
    ]
    page = await post(
        client,
        f"/console/devices/{MAC}/keys",
        {"position": "4", "type": "speed-dial", "value": "0612345678", "label": "Ufficio"},
    )
    assert flash(await page.text()) == "ok: Key 4 is now speed dial."
    text = await page.text()
    table = text.split('id="keys"', 1)[1].split("</table>", 1)[0]
    assert "Magazzino" in table and "Ufficio" in table and "the customer’s profile" in table and "this phone" in table

    # refused: the page again, the reason next to the field, what was typed kept, nothing stored
    csrf = await csrf_of(client, f"/console/devices/{MAC}/keys")
    for fields_, field, reason in (
        ({"position": "5", "type": "blf", "value": "201"}, "value", "would watch itself"),
        ({"position": "0", "type": "speed-dial", "value": "100"}, "position", "position"),
        ({"position": "5", "type": "dtmf", "value": "hello"}, "value", "hello"),
        ({"position": "5", "type": "speed-dial", "value": "100", "line": "99"}, "line", "line"),
    ):
        response = await client.post(f"/console/devices/{MAC}/keys", data={**fields_, "csrf_token": csrf})
        text = await response.text()
        assert response.status == 400, fields_
        error = re.search(rf'<p class="field-error" id="error-{field}" role="alert">(.*?)</p>', text, re.S)
        assert error and error.group(1).startswith("This key cannot be set: ") and reason in error.group(1), text
        assert f'id="key-{field}" aria-invalid="true" aria-describedby="error-{field}"' in text
        assert f'value="{fields_["value"]}"' in text
    assert [k["position"] for k in function_keys.device_keys(store, MAC)] == [3, 4]

    page = await post(client, f"/console/devices/{MAC}/keys/0/4/remove", {})
    assert flash(await page.text()) == "ok: Key 4 removed."
    page = await post(client, "/console/customers/ROSSI/keys/0/3/remove", {})
    assert flash(await page.text()) == "ok: Key 3 removed."
    assert function_keys.device_keys(store, MAC) == [] and function_keys.customer_keys(store, "ROSSI") == []
    page = await post(client, "/console/customers/ROSSI/keys/0/3/remove", {})
    assert flash(await page.text()) == "error: Nothing was changed: customer ROSSI has no profile key 3"


async def test_phonebook_lists_adds_imports_exports_and_removes(server, store, tmp_path):
    add_user(store, "sue", "support")
    deployed_phone(store, MAC, "ROSSI", ("201",))
    await sign_in(client := server.client, "sue")
    page = await post(
        client,
        "/console/customers/ROSSI/phonebook",
        {"name": "Idraulico Bianchi", "number": "+39 06 1234 5678", "group": "Fornitori"},
    )
    assert flash(await page.text()) == "ok: Idraulico Bianchi added to the phonebook."
    text = await page.text()
    table = text.split('id="phonebook"', 1)[1].split("</table>", 1)[0]
    assert "Line 201" in table and "extension" in table and "+390612345678" in table and "Fornitori" in table

    page = await post(client, "/console/customers/ROSSI/phonebook", {"name": "Nessuno", "number": "not a number!"})
    assert flash(await page.text()) == (
        "error: Nothing was changed: number 'not a number!' is not a phone number (digits, + * #, or a SIP user)"
    )

    async def upload(name: str, body: bytes):
        form = aiohttp.FormData()
        form.add_field("csrf_token", await csrf_of(client, "/console/customers/ROSSI/phonebook"))
        form.add_field("file", body, filename=name)
        response = await client.post("/console/customers/ROSSI/phonebook/import", data=form, allow_redirects=False)
        assert response.status == 303
        return await client.get(response.headers["Location"])

    good = "nome;numero;gruppo\nElettricista Verdi;0698765432;Fornitori\nIdraulico Bianchi;+390612345678;\n"
    page = await upload("contatti.csv", good.encode())
    assert flash(await page.text()) == "ok: Phonebook imported: 1 contact(s) added, 1 already there."
    bad = "name,number\nOk Uno,0611111111\nRotto,???\n"
    page = await upload("rotto.csv", bad.encode())
    assert flash(await page.text()).startswith("error: Nothing was changed: ")
    page = await upload("contatti.pdf", b"%PDF")
    assert flash(await page.text()) == "error: Nothing was changed: contatti.pdf is not a CSV or XLSX file"
    contacts = sorted(e["name"] for e in phonebook.entries(store, "ROSSI") if e["kind"] == "contact")
    assert contacts == ["Elettricista Verdi", "Idraulico Bianchi"]

    download = await client.get("/console/customers/ROSSI/phonebook.csv")
    assert download.status == 200 and "attachment" in download.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await download.read()).decode("utf-8-sig"))))
    assert (
        rows[0] == ["name", "number", "group", "kind"]
        and ["Elettricista Verdi", "0698765432", "Fornitori", "contact"] in rows
    )

    page = await post(
        client, "/console/customers/ROSSI/phonebook/remove", {"name": "Idraulico Bianchi", "number": "+390612345678"}
    )
    assert flash(await page.text()) == "ok: 1 contact(s) removed from the phonebook."
    assert "Idraulico Bianchi" not in [e["name"] for e in phonebook.entries(store, "ROSSI")]


async def test_a_typed_admin_password_is_set_checked_and_never_shown(server, store, caplog):
    add_user(store, "sue", "support")
    add_customer(store, "ROSSI")
    await sign_in(client := server.client, "sue")
    text = await (await client.get("/console/customers/ROSSI/settings")).text()
    assert 'type="password" name="admin_password" autocomplete="new-password"' in text
    assert 'name="how" value="generate"' in text and 'name="how" value="set"' in text

    typed = "Typed-Admin-Pw-4711"
    page = await post(client, "/console/customers/ROSSI/admin-password", {"how": "set", "admin_password": typed})
    text = await page.text()
    assert flash(text) == (
        "ok: The admin password you typed is set for the phones of ROSSI; they get it at their next check."
    )
    assert typed not in text and services.admin_password(store, ACTOR, "ROSSI") == typed
    events = queries.events(store, customer="ROSSI", action="customer.admin_password")["items"]
    assert events[0]["summary"] == "typed admin password for the phones of ROSSI" and typed not in str(events)

    # too short, two lines: refused with the reason, nothing changed, the bad value not echoed
    for bad, reason in (
        ("short12", "admin_password must be at least 8 characters"),
        ("two\nlines-here", "admin_password must be one line"),
    ):
        page = await post(client, "/console/customers/ROSSI/admin-password", {"how": "set", "admin_password": bad})
        text = await page.text()
        assert flash(text) == f"error: Nothing was changed: {reason}"
        assert bad not in text and services.admin_password(store, ACTOR, "ROSSI") == typed
    assert typed not in caplog.text


def test_cli_admin_password_set_asks_twice_hidden(store, run_cli):
    add_customer(store, "ROSSI")
    result = run_cli("customer", "admin-password", "ROSSI", "--set", input="Cli-Admin-Pw-1\nCli-Admin-Pw-1\n")
    assert "new admin password for the phones of ROSSI" in result.output
    assert "Cli-Admin-Pw-1" not in result.output  # hidden input, not echoed
    assert services.admin_password(store, ACTOR, "ROSSI") == "Cli-Admin-Pw-1"
    refused = run_cli("customer", "admin-password", "ROSSI", "--set", input="short\nshort\n", ok=False)
    assert refused.exit_code != 0 and "admin_password must be at least 8 characters" in refused.output
    assert "short" not in refused.output.replace("at least", "")
    assert services.admin_password(store, ACTOR, "ROSSI") == "Cli-Admin-Pw-1"
    both = run_cli("customer", "admin-password", "ROSSI", "--set", "--new", ok=False)
    assert both.exit_code == 2 and "not both" in both.output

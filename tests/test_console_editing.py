"""Create and edit from the console, and the one-step move of a deployed phone to another customer."""

from __future__ import annotations

from provisioner import services

from .conftest import ACTOR, add_customer, add_line
from .test_console import SIP_PASSWORD, add_user, deployed_phone, flash, post, settings, sign_in  # noqa: F401


async def test_add_customer_line_device_and_edit_them(server, store, caplog):
    add_user(store, "alice", "support")
    await sign_in(client := server.client, "alice")
    page = await post(
        client, "/console/customers", {"code": "NERI", "name": "Neri & Figli", "sip_server": "pbx.neri.example.net"}
    )
    assert flash(await page.text()) == "ok: Customer NERI (Neri & Figli) added."
    assert services.get_customer(store, "NERI")["sip_server"] == "pbx.neri.example.net"

    # bad input: a sentence naming the field, nothing changed
    page = await post(client, "/console/customers/NERI/lines", {"extension": "301", "display_name": "Desk"})
    assert flash(await page.text()) == "error: Nothing was changed: type a SIP password or tick 'generate one'"
    assert services.lines_of_customer(store, "NERI") == []

    page = await post(
        client, "/console/customers/NERI/lines", {"extension": "301", "display_name": "Desk", "generate": "1"}
    )
    assert "its password is set and not shown" in flash(await page.text())
    with store.reading() as tx:
        line = tx.line(services.get_customer(store, "NERI")["id"], "301")
    assert len(line["password"]) >= 20 and line["password"] not in await page.text()

    page = await post(
        client,
        "/console/customers/NERI/lines/301",
        {"display_name": "Front desk", "label": "FD", "password": SIP_PASSWORD},
    )
    assert flash(await page.text()) == "ok: Line 301 of NERI saved with a new password (not shown)."
    with store.reading() as tx:
        line = tx.line(services.get_customer(store, "NERI")["id"], "301")
    assert (line["display_name"], line["label"], line["password"]) == ("Front desk", "FD", SIP_PASSWORD)
    assert SIP_PASSWORD not in await page.text() and SIP_PASSWORD not in caplog.text

    page = await post(
        client, "/console/customers/NERI/devices", {"mac": "80-5e-c0-00-00-31", "model": "T54W", "lines": "301"}
    )
    assert flash(await page.text()) == "ok: Device 805EC0000031 (T54W) added to NERI."
    assert services.show_device(store, "805EC0000031")["lines"][0]["extension"] == "301"

    page = await post(client, "/console/customers/NERI/edit", {"name": "Neri Srl", "sip_port": "5080"})
    assert flash(await page.text()) == "ok: Customer NERI saved."
    assert services.get_customer(store, "NERI")["sip_port"] == 5080

    page = await post(client, "/console/customers/NERI/policy", {"window_days": "30"})
    assert flash(await page.text()).startswith("ok: Return terms of NERI: ")
    assert "30" in flash(await page.text())


async def test_per_phone_settings_keep_masked_secrets(server, store):
    add_user(store, "alice", "technician")
    deployed_phone(store)
    services.set_device_settings(
        store, ACTOR, "805EC0000001", {"static.security.user_password": "Adm1n-Secret", "lang.gui": "English"}
    )
    await sign_in(client := server.client, "alice")
    text = await (await client.get("/console/devices/805EC0000001")).text()
    assert "static.security.user_password = ********" in text and "Adm1n-Secret" not in text
    page = await post(
        client,
        "/console/devices/805EC0000001/settings",
        {"settings": "static.security.user_password = ********\nlang.gui = Italian\n"},
    )
    assert flash(await page.text()) == "ok: Settings of 805EC0000001 saved: 2 setting(s)."
    assert services.show_device(store, "805EC0000001")["settings"] == {
        "static.security.user_password": "Adm1n-Secret",
        "lang.gui": "Italian",
    }
    page = await post(client, "/console/devices/805EC0000001/settings", {"settings": "no equals sign here"})
    assert flash(await page.text()) == "error: Nothing was changed: settings line 1 must read 'name = value'"


async def test_move_a_deployed_phone_in_one_step(server, store):
    add_user(store, "alice", "support")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    add_customer(store, "VERDI")
    add_line(store, "VERDI", "100", "Verdi", SIP_PASSWORD)
    await sign_in(client := server.client, "alice")
    text = await (await client.get("/console/devices/805EC0000001")).text()
    assert 'id="move-form"' in text and '<option value="VERDI">' in text
    assert '<option value="ROSSI">' not in text.split('id="move-form"')[1].split("</form>")[0]

    # the plain reassign still refuses, which is why the move exists
    page = await post(client, "/console/devices/805EC0000001/assign", {"customer": "VERDI", "lines": "100"})
    assert "record its return before assigning it elsewhere" in flash(await page.text())

    # an unknown target changes nothing (no return recorded)
    page = await post(client, "/console/devices/805EC0000001/move", {"customer": "NOBODY", "lines": "100"})
    assert flash(await page.text()).startswith("error: Nothing was changed: ")
    assert services.show_device(store, "805EC0000001")["customer"]["code"] == "ROSSI"

    page = await post(
        client, "/console/devices/805EC0000001/move", {"customer": "VERDI", "lines": "100", "condition": "ok"}
    )
    assert flash(await page.text()) == ("ok: Device 805EC0000001 came back from ROSSI and is now at VERDI with 100.")
    device = services.show_device(store, "805EC0000001")
    assert (device["customer"]["code"], device["state"], [line["extension"] for line in device["lines"]]) == (
        "VERDI",
        "deployed",
        ["100"],
    )
    actions = [e["action"] for e in device["history"]]
    assert "device.returned" in actions and actions[-1] == "device.assigned"


async def test_a_move_whose_assignment_fails_records_no_return(server, store):
    add_user(store, "alice", "support")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    add_customer(store, "VERDI")
    add_line(store, "VERDI", "100", "Verdi", SIP_PASSWORD)
    await sign_in(client := server.client, "alice")
    before = services.show_device(store, "805EC0000001")
    page = await post(
        client, "/console/devices/805EC0000001/move", {"customer": "VERDI", "lines": "999", "condition": "ok"}
    )
    assert flash(await page.text()).startswith("error: Nothing was changed: ")
    after = services.show_device(store, "805EC0000001")
    assert (after["customer"]["code"], after["state"], after["history"]) == ("ROSSI", "deployed", before["history"])
    assert [line["extension"] for line in after["lines"]] == ["201"]

"""Programmable keys over the admin API: a device's own keys and its customer's profile set, listed and
removed over real HTTP, checked in the Yealink file the same server then serves (parsed); bad input
refused with the field and the reason, by role, and nothing changed."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner import function_keys, services

from .conftest import ACTOR, add_customer, add_line, key_path

T46U = "001565A1B2C3"  # line 201
T46S = "001565A1B2C4"  # line 203, takes expansion modules


@pytest.fixture
def office(store):
    add_customer(store, "ROSSI", name="Studio Rossi", sip_server="pbx.rossi.example.net")
    for ext, name in (("201", "Reception"), ("202", "Niccolò Università"), ("203", "Magazzino")):
        add_line(store, "ROSSI", ext, name, f"pw-{ext}-secret")
    services.add_device(store, ACTOR, T46U, model="T46U", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, T46S, model="T46S", customer="ROSSI", lines=["203"])


async def yealink(server, store, mac: str) -> dict[str, str]:
    """The phone's own file as the phone fetches it, parsed into its ``key = value`` pairs."""
    await server.sync()
    response = await server.client.get(f"/{key_path(store, mac)}{mac.lower()}.cfg")
    assert response.status == 200, await response.text()
    text = (await response.read()).decode("utf-8")
    assert text.startswith("#!version:1.0.0.1\n")
    return dict(line.split(" = ", 1) for line in text.splitlines()[1:] if line and not line.startswith("#"))


def linekey(pairs: dict[str, str], n: int) -> tuple[str | None, ...]:
    return tuple(pairs.get(f"linekey.{n}.{field}") for field in ("type", "value", "label", "line"))


def last_event_id(store) -> int:
    with store.reading() as tx:
        return tx.last_event_id()


async def test_a_blf_set_over_the_api_is_in_the_phone_file(server, store, api, office):
    tech = api.as_("technician")
    assert linekey(await yealink(server, store, T46U), 3) == (None, None, None, None)
    key = await tech.put("/devices/00-15-65-a1-b2-c3/keys/3", {"type": "blf", "value": "202"})
    assert key == {"module": 0, "position": 3, "type": "blf", "value": "202", "label": None, "line": 1}
    # The label follows the watched line's name; the line key of the phone's own account stays.
    pairs = await yealink(server, store, T46U)
    assert linekey(pairs, 3) == ("16", "202", "Niccolò Università", "1")
    assert linekey(pairs, 1)[0] == "15"
    listed = await api.as_("viewer").get(f"/devices/{T46U}/keys")
    assert listed == {
        "items": [
            {
                "module": 0,
                "position": 3,
                "type": "blf",
                "value": "202",
                "label": "Niccolò Università",
                "line": 1,
                "source": "device",
            }
        ]
    }
    history = (await api.get(f"/devices/{T46U}/history"))["items"]
    assert (history[-1]["action"], history[-1]["actor"]) == ("device.key", "user:technician-user")
    assert history[-1]["after"]["value"] == "202" and history[-1]["before"] is None
    # An expansion module key, chosen with ?module= as the CLI's --module.
    await tech.put(f"/devices/{T46S}/keys/40", {"type": "speed-dial", "value": "0612345678"}, params={"module": "2"})
    pairs = await yealink(server, store, T46S)
    assert (pairs["expansion_module.2.key.40.type"], pairs["expansion_module.2.key.40.value"]) == ("13", "0612345678")
    assert [(k["module"], k["position"]) for k in (await tech.get(f"/devices/{T46S}/keys"))["items"]] == [(2, 40)]


async def test_a_profile_key_is_inherited_overridden_by_a_device_key_and_comes_back(server, store, api, office):
    support, tech = api.as_("support"), api.as_("technician")
    key = await support.put("/customers/ROSSI/keys/4", {"type": "park", "value": "700", "label": "Parcheggio"})
    assert (key["type"], key["value"], key["label"]) == ("park", "700", "Parcheggio")
    await support.put("/customers/ROSSI/keys/5", {"type": "blf", "value": "201"})
    assert (await support.get("/customers/ROSSI/keys"))["items"] == [
        {"module": 0, "position": 4, "type": "park", "value": "700", "label": "Parcheggio", "line": 1},
        {"module": 0, "position": 5, "type": "blf", "value": "201", "label": None, "line": 1},
    ]
    events = (await api.get("/events", params={"customer": "ROSSI", "action": "customer.key"}))["items"]
    assert [e["actor"] for e in events] == ["user:support-user"] * 2
    # Both phones inherit the profile; the BLF on 201 is left off the phone that holds 201.
    t46u, t46s = await yealink(server, store, T46U), await yealink(server, store, T46S)
    assert linekey(t46u, 4) == ("10", "700", "Parcheggio", "1") == linekey(t46s, 4)
    assert linekey(t46u, 5)[0] is None and linekey(t46s, 5) == ("16", "201", "Reception", "1")

    await tech.put(f"/devices/{T46U}/keys/4", {"type": "speed-dial", "value": "0612345678", "label": "Ufficio"})
    assert linekey(await yealink(server, store, T46U), 4) == ("13", "0612345678", "Ufficio", "1")
    assert linekey(await yealink(server, store, T46S), 4)[0] == "10"  # the other phone keeps the profile's
    listed = (await tech.get(f"/devices/{T46U}/keys"))["items"]
    assert [(k["position"], k["type"], k["source"]) for k in listed] == [(4, "speed-dial", "device")]

    assert await tech.delete(f"/devices/{T46U}/keys/4", expect=204) == b""
    assert linekey(await yealink(server, store, T46U), 4) == ("10", "700", "Parcheggio", "1")
    listed = (await tech.get(f"/devices/{T46U}/keys"))["items"]
    assert [(k["position"], k["type"], k["source"]) for k in listed] == [(4, "park", "customer")]
    gone = await tech.delete(f"/devices/{T46U}/keys/4", expect=404)
    assert gone == {
        "error": "not_found",
        "message": "device 001565A1B2C3 has no own key 4",
        "field": "position",
    }

    await support.delete("/customers/ROSSI/keys/4", expect=204)
    assert linekey(await yealink(server, store, T46U), 4)[0] is None
    assert [k["position"] for k in (await support.get("/customers/ROSSI/keys"))["items"]] == [5]
    gone = await support.delete("/customers/ROSSI/keys/4", params={"module": "1"}, expect=404)
    assert (gone["field"], gone["message"]) == ("position", "customer ROSSI has no profile key 4 of expansion module 1")


async def test_bad_keys_are_refused_naming_the_field_and_change_nothing(server, store, api, office):
    tech = api.as_("technician")
    await tech.put(f"/devices/{T46U}/keys/3", {"type": "blf", "value": "202"})
    await api.put("/customers/ROSSI/keys/4", {"type": "park", "value": "700"})
    before_file = await yealink(server, store, T46U)
    before_keys = function_keys.device_keys(store, T46U)
    before_profile = function_keys.customer_keys(store, "ROSSI")
    before_event = last_event_id(store)
    types = "line, blf, speed-dial, park, dtmf, url, none"
    cases: list[tuple[Any, str, dict[str, Any], dict[str, str], int, str, str]] = [
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "intercom", "value": "202"},
            {},
            400,
            "type",
            f"type must be one of: {types}",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/28",
            {"type": "blf", "value": "202"},
            {},
            400,
            "position",
            "the T46U has 27 programmable keys: no key 28",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "blf", "value": "202"},
            {"module": "1"},
            400,
            "module",
            "the T46U takes 0 expansion modules: no module 1",
        ),
        (
            tech,
            f"/devices/{T46S}/keys/41",
            {"type": "blf", "value": "202"},
            {"module": "1"},
            400,
            "position",
            "an expansion module of the T46S has 40 keys: no key 41",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "blf", "value": "201"},
            {},
            400,
            "value",
            "key 3: a BLF key on the phone's own extension 201 would watch itself",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "dtmf", "value": "123"},
            {},
            400,
            "type",
            "yealink phones take no 'dtmf' keys (they take: blf, line, none, park, speed-dial)",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "speed-dial"},
            {},
            400,
            "value",
            "a speed-dial key needs a value: a number or extension",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "blf", "value": "202", "colour": "red"},
            {},
            400,
            "colour",
            "unknown field 'colour' (accepted: type, value, label, line)",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/0",
            {"type": "blf", "value": "202"},
            {},
            400,
            "position",
            "position must be 1 or more",
        ),
        (
            tech,
            f"/devices/{T46U}/keys/3",
            {"type": "blf", "value": "202", "line": 17},
            {},
            400,
            "line",
            "line must be 16 or less",
        ),
        (
            tech,
            "/devices/001565FFFFFF/keys/3",
            {"type": "blf", "value": "202"},
            {},
            404,
            "mac",
            "no device with MAC 001565FFFFFF",
        ),
        (api, "/customers/NOBODY/keys/3", {"type": "blf", "value": "202"}, {}, 404, "customer", "no customer 'NOBODY'"),
        (api, "/customers/ROSSI/keys/3", {"type": "intercom"}, {}, 400, "type", f"type must be one of: {types}"),
    ]
    for client, path, body, params, status, field, message in cases:
        error = await client.put(path, body, params=params, expect=status)
        assert (error["field"], error["message"]) == (field, message), path
        assert error["error"] == ("invalid" if status == 400 else "not_found")
    # Roles: devices.write (admin, technician) for a phone's keys, customers.write (admin, support)
    # for a customer's profile, like the other device and customer changes.
    for role, method, path in (
        ("viewer", "PUT", f"/devices/{T46U}/keys/3"),
        ("support", "PUT", f"/devices/{T46U}/keys/3"),
        ("support", "DELETE", f"/devices/{T46U}/keys/3"),
        ("viewer", "PUT", "/customers/ROSSI/keys/4"),
        ("technician", "PUT", "/customers/ROSSI/keys/4"),
        ("technician", "DELETE", "/customers/ROSSI/keys/4"),
    ):
        body = {"type": "speed-dial", "value": "999"} if method == "PUT" else None
        error = await api.as_(role).request(method, path, json=body, expect=403)
        assert error["error"] == "forbidden" and f"role {role!r} may not" in error["message"], (role, path)
    assert (await api.as_("viewer").get(f"/devices/{T46U}/keys", expect=200))["items"]
    assert (await api.get("/devices/001565FFFFFF/keys", expect=404))["field"] == "mac"
    assert (await api.get("/customers/NOBODY/keys", expect=404))["field"] == "customer"
    # Nothing changed: no event, the same keys, the same file.
    assert last_event_id(store) == before_event
    assert function_keys.device_keys(store, T46U) == before_keys
    assert function_keys.customer_keys(store, "ROSSI") == before_profile
    assert await yealink(server, store, T46U) == before_file


async def test_the_key_routes_are_in_the_document(api):
    paths = (await api.get("/openapi.json"))["paths"]
    assert set(paths["/devices/{mac}/keys"]) == {"get"}
    assert set(paths["/devices/{mac}/keys/{position}"]) == {"put", "delete"}
    assert set(paths["/customers/{code}/keys"]) == {"get"}
    assert set(paths["/customers/{code}/keys/{position}"]) == {"put", "delete"}
    put = paths["/devices/{mac}/keys/{position}"]["put"]
    assert [p["name"] for p in put["parameters"]] == ["mac", "position", "module"]
    assert put["requestBody"]["content"]["application/json"]["schema"]["required"] == ["type"]
    assert "devices.write" in put["description"]
    assert "customers.write" in paths["/customers/{code}/keys/{position}"]["put"]["description"]

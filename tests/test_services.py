"""Customers, lines, devices: validation names the field, nothing half-applied, every change audited."""

import json

import pytest

from provisioner import render_data, services
from provisioner.errors import Conflict, Invalid, NotFound

from .conftest import ACTOR, add_customer, add_line

PASSWORD = "s3cr3t-Pa55!"


def test_customer_defaults_and_event(store):
    row = add_customer(store)
    assert (row["sip_port"], row["sip_transport"], row["timezone"], row["language"]) == (
        5060,
        "udp",
        "Europe/Rome",
        "it",
    )
    with store.reading() as tx:
        events = tx.conn.exec_driver_sql("SELECT action, actor, customer_id FROM events").fetchall()
    assert events == [("customer.created", ACTOR, row["id"])]


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("sip_server", "pbx rossi", "sip_server"),
        ("sip_port", 70000, "between 1 and 65535"),
        ("sip_transport", "sctp", "must be one of: udp, tcp, tls"),
        ("timezone", "Europe/Atlantis", "unknown time zone"),
        ("name", "Rossi\nEvil", "one line"),
    ],
)
def test_bad_customer_fields_are_named(store, field, value, message):
    with pytest.raises(Invalid, match=message) as err:
        add_customer(store, **{field: value})
    assert err.value.field == field
    with store.reading() as tx:
        assert tx.list_customers() == [] and tx.last_event_id() == 0


def test_duplicate_customer_conflicts(store):
    add_customer(store)
    with pytest.raises(Conflict, match="already exists"):
        add_customer(store)


def test_line_defaults_user_and_auth_id_to_extension(store):
    add_customer(store)
    line = add_line(store, "ROSSI", "201", "Reception", PASSWORD)
    assert (line["sip_username"], line["auth_id"], line["label"]) == ("201", "201", None)


def test_line_with_line_break_in_display_name_is_refused(store):
    add_customer(store)
    with pytest.raises(Invalid, match="display_name"):
        add_line(store, "ROSSI", "201", "Reception\naccount.1.password = x", PASSWORD)


def test_password_never_in_errors_or_events(store):
    add_customer(store)
    with pytest.raises(Invalid) as err:
        add_line(store, "ROSSI", "201", "Reception", "bad\npassword-XYZ")
    assert "password-XYZ" not in str(err.value) and err.value.field == "password"
    add_line(store, "ROSSI", "201", "Reception", PASSWORD)
    services.update_line(store, ACTOR, "ROSSI", "201", password="N3w-" + PASSWORD)
    with store.reading() as tx:
        rows = tx.conn.exec_driver_sql("SELECT summary, before, after FROM events").fetchall()
    dumped = json.dumps([list(r) for r in rows])
    assert PASSWORD not in dumped
    assert "password_changed" in dumped


def test_device_with_two_lines_in_order(store):
    add_customer(store)
    add_line(store, "ROSSI", "201", "A", PASSWORD)
    add_line(store, "ROSSI", "202", "B", PASSWORD)
    device = services.add_device(
        store, ACTOR, "00-15-65-ab-cd-ef", model="sip-t46u", customer="ROSSI", lines=["202", "201"]
    )
    assert (device["mac"], device["vendor"], device["model"], device["state"]) == (
        "001565ABCDEF",
        "yealink",
        "T46U",
        "deployed",
    )
    shown = services.show_device(store, "0015.65ab.cdef")
    assert [(ln["position"], ln["extension"]) for ln in shown["lines"]] == [(1, "202"), (2, "201")]
    assert shown["history"][0]["action"] == "device.created"
    assert shown["history"][0]["after"]["lines"] == ["202", "201"]


def test_device_errors_change_nothing(store):
    add_customer(store)
    add_line(store, "ROSSI", "201", "A", PASSWORD)
    services.add_device(store, ACTOR, "001565000001", model="T46U", customer="ROSSI", lines=["201"])
    cases = [
        (dict(mac="00:15:65", model="T46U"), Invalid, "not a MAC address"),
        (dict(mac="001565000002", model="T99X"), Invalid, "unknown phone model 'T99X'"),
        (dict(mac="001565000002", model="T46U", customer="NOPE"), NotFound, "no customer 'NOPE'"),
        (dict(mac="001565000002", model="T46U", customer="ROSSI", lines=["999"]), NotFound, "no extension"),
        (
            dict(mac="001565000002", model="T46U", customer="ROSSI", lines=["201"]),
            Conflict,
            "already on device 001565000001",
        ),
        (dict(mac="001565000001", model="T46U"), Conflict, "already exists"),
        (dict(mac="001565000002", model="T46U", lines=["201"]), Invalid, "need a customer"),
    ]
    with store.reading() as tx:
        before = tx.last_event_id()
    for kwargs, error, message in cases:
        with pytest.raises(error, match=message):
            services.add_device(store, ACTOR, **kwargs)
    with store.reading() as tx:
        assert tx.last_event_id() == before
        assert tx.count_devices() == 1


def test_more_lines_than_the_model_has_accounts(store):
    add_customer(store)
    for ext in ("201", "202", "203"):
        add_line(store, "ROSSI", ext, ext, PASSWORD)
    with pytest.raises(Invalid, match="GXP1625 has 2 SIP accounts"):
        services.add_device(
            store, ACTOR, "000B82000001", model="GXP1625", customer="ROSSI", lines=["201", "202", "203"]
        )


def test_render_data_falls_back_to_customer_server(store):
    add_customer(store, sip_port=5080, sip_transport="tls")
    add_line(store, "ROSSI", "201", "A", PASSWORD, label="Front desk")
    add_line(store, "ROSSI", "202", "B", PASSWORD, sip_server="other.example.net", sip_port=5062)
    services.add_device(store, ACTOR, "001565000001", model="T46U", customer="ROSSI", lines=["201", "202"])
    with store.reading() as tx:
        data = render_data.device_data(tx, "001565000001", ntp_server="ntp.example.net")
    a, b = data.accounts
    assert (a.server, a.port, a.transport, a.label) == ("pbx.rossi.example.net", 5080, "tls", "Front desk")
    assert (b.server, b.port, b.transport, b.label) == ("other.example.net", 5062, "tls", "202")
    assert data.ntp_server == "ntp.example.net" and not data.deprovisioned


def test_device_without_customer_is_deprovisioned(store):
    services.add_device(store, ACTOR, "001565000009", model="T46U")
    with store.reading() as tx:
        data = render_data.device_data(tx, "001565000009", ntp_server="ntp.example.net")
    assert data.deprovisioned and data.accounts == ()


def test_show_device_gives_the_state_of_today(store):
    from datetime import timedelta

    from provisioner import rental_services, rentals

    add_customer(store)
    add_line(store, "ROSSI", "201", "A", PASSWORD)
    services.add_device(store, ACTOR, "001565000001", model="T46U", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, "001565000002", model="T46U", customer="ROSSI", ownership="owned")
    rental_services.terminate(store, ACTOR, "ROSSI", (rentals.today() - timedelta(days=1)).isoformat())
    assert services.show_device(store, "001565000001")["state"] == "return_due"
    assert services.show_device(store, "001565000002")["state"] == "deployed"  # the customer's own phone

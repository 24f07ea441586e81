"""The render input read in batches: per-customer work done once per batch and shared."""

from __future__ import annotations

from provisioner import render_data, services
from provisioner.fields import DEFAULT_COUNTRY

from .conftest import ACTOR, add_customer, add_line


def test_a_batch_shares_each_customers_part(store):
    add_customer(store, "ROSSI", path_key="new", codecs="g722,pcma", check_hour=3)
    add_customer(store, "BIANCHI", path_key="new", country="DE")
    for ext in ("201", "202", "203"):
        add_line(store, "ROSSI", ext, f"Rossi & {ext}", f"pw-{ext}")
    add_line(store, "BIANCHI", "301", "Bianchi", "pw-301")
    for mac, customer, lines in (
        ("001565000001", "ROSSI", ["201"]),
        ("001565000002", "ROSSI", ["202", "203"]),
        ("001565000003", "BIANCHI", ["301"]),
        ("001565000004", None, []),
    ):
        services.add_device(store, ACTOR, mac, model="T46U", customer=customer, lines=lines)
    with store.reading() as tx:
        found = render_data.devices_data(
            tx, ["001565000001", "001565000002", "001565000003", "001565000004", "0015650000FF"], ntp_server="ntp.x"
        )
    a, b, c, stock = (found[m] for m in ("001565000001", "001565000002", "001565000003", "001565000004"))
    assert set(found) == {"001565000001", "001565000002", "001565000003", "001565000004"}
    # one object per customer, not one per phone
    assert a.policy is b.policy and a.check_defaults is b.check_defaults and a.codecs is b.codecs
    assert a.policy is not None and c.policy is not None and a.policy is not c.policy
    assert a.codecs == ("g722", "pcma") and a.check_defaults == {"check_hour": "3"} and a.country == DEFAULT_COUNTRY
    assert c.country == "DE" and c.codecs == () and c.check_defaults == {}
    assert [x.extension for x in b.accounts] == ["202", "203"] and [x.index for x in b.accounts] == [1, 2]
    assert b.accounts[1].password == "pw-203" and b.accounts[0].display_name == "Rossi & 202"
    assert b.accounts[0].server == "pbx.rossi.example.net" and b.accounts[0].port == 5060
    assert a.phonebook is b.phonebook and {p.number for p in a.phonebook} == {"201", "202", "203"}
    assert stock.deprovisioned and stock.accounts == () and stock.policy is None and stock.customer_id is None
    assert stock.country == DEFAULT_COUNTRY and stock.timezone == "UTC" and stock.phonebook == ()


def test_render_rows_read_only_what_a_render_uses(store):
    """No date column a render does not read is parsed per row (created_at, last_seen_at, ...)."""
    add_customer(store, "ROSSI")
    add_line(store, "ROSSI", "201", "Rossi", "pw-201")
    services.add_device(store, ACTOR, "001565000001", model="T46U", customer="ROSSI", lines=["201"])
    with store.reading() as tx:
        device, customer, lines = tx.render_rows(["001565000001"])["001565000001"]
    assert set(device) == {
        "id",
        "mac",
        "vendor",
        "model",
        "state",
        "customer_id",
        "settings",
        "assigned_at",
        "window_closed_at",
    }
    assert [line["password"] for line in lines] == ["pw-201"] and "created_at" not in lines[0]
    assert customer is not None and customer["code"] == "ROSSI"

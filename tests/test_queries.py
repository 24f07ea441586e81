"""Finding devices and events (provisioner.queries) on a real SQLite store."""

from __future__ import annotations

from datetime import date

import pytest

from provisioner import queries, rental_services, services
from provisioner.errors import Invalid, NotFound

from .conftest import ACTOR, add_customer, add_line


@pytest.fixture
def fleet(store):
    add_customer(store, "ROSSI", name="Studio Rossi & Associati")
    add_customer(store, "BIANCHI", name="Bianchi Srl")
    add_line(store, "ROSSI", "201", "Anna <Reception>", "pw-anna-1")
    add_line(store, "ROSSI", "202", "Niccolò Università", "pw-nicc-2")
    add_line(store, "BIANCHI", "301", "Carlo Bianchi", "pw-carlo-3")
    services.add_device(
        store, ACTOR, "00:15:65:AB:CD:EF", model="T46U", customer="ROSSI", lines=["201", "202"], serial="SN-777"
    )
    services.add_device(store, ACTOR, "000413112233", model="D785", customer="BIANCHI", lines=["301"])
    services.add_device(store, ACTOR, "0004f2000001", model="VVX450")
    return store


@pytest.mark.parametrize(
    ("q", "macs"),
    [
        ("00-15-65-ab-cd-ef", ["001565ABCDEF"]),
        ("0015.65ab.cdef", ["001565ABCDEF"]),
        ("ab:cd", ["001565ABCDEF"]),
        ("202", ["001565ABCDEF"]),
        ("università", ["001565ABCDEF"]),
        ("sn-777", ["001565ABCDEF"]),
        ("bianchi", ["000413112233"]),
        ("nothing-like-it", []),
    ],
)
def test_find_devices_by_whatever_is_typed(fleet, q, macs):
    found = queries.find_devices(fleet, q)
    assert [d["mac"] for d in found["items"]] == macs
    assert found["total"] == len(macs)


def test_find_devices_item_shape_and_filters(fleet):
    item = queries.find_devices(fleet, "001565abcdef")["items"][0]
    assert (item["customer"], item["extensions"], item["state"], item["model"]) == (
        "ROSSI",
        ["201", "202"],
        "deployed",
        "T46U",
    )
    assert [d["mac"] for d in queries.find_devices(fleet, state="in_stock")["items"]] == ["0004F2000001"]
    assert [d["mac"] for d in queries.find_devices(fleet, customer="BIANCHI")["items"]] == ["000413112233"]
    page = queries.find_devices(fleet, limit=2, offset=2)
    assert (len(page["items"]), page["total"], page["offset"]) == (1, 3, 2)


def test_a_terminated_contract_makes_its_rented_phones_return_due(fleet):
    rental_services.terminate(fleet, ACTOR, "ROSSI", "2026-01-31")
    due = queries.find_devices(fleet, state="return_due", today=date(2026, 2, 1))
    assert [d["mac"] for d in due["items"]] == ["001565ABCDEF"]
    counts = queries.device_counts(fleet, today=date(2026, 2, 1))
    assert counts["return_due"] == 1 and counts["deployed"] == 1 and counts["in_stock"] == 1
    assert queries.device_counts(fleet, today=date(2026, 1, 30))["deployed"] == 2


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "x"}, "limit"),
        ({"limit": 201}, "limit"),
        ({"offset": "-1"}, "offset"),
        ({"state": "lost"}, "state"),
        ({"q": "x" * 101}, "q"),
    ],
)
def test_bad_search_arguments_name_the_field(fleet, kwargs, field):
    with pytest.raises(Invalid) as caught:
        queries.find_devices(fleet, **kwargs)
    assert caught.value.field == field


def test_unknown_customer_is_not_found(fleet):
    with pytest.raises(NotFound):
        queries.find_devices(fleet, customer="NOPE")


def test_events_newest_first_filtered_and_paged(fleet):
    everything = queries.events(fleet, limit=200)["items"]
    assert everything[0]["id"] > everything[-1]["id"]
    of_device = queries.events(fleet, device="00-15-65-ab-cd-ef")["items"]
    assert {e["device_mac"] for e in of_device} == {"001565ABCDEF"}
    assert [e["action"] for e in queries.events(fleet, action="customer")["items"]] == ["customer.created"] * 2
    first = queries.events(fleet, limit=2)
    second = queries.events(fleet, limit=2, before=first["next_before"])
    assert [e["id"] for e in first["items"] + second["items"]] == [e["id"] for e in everything[:4]]
    assert "pw-anna-1" not in str(everything)
    with pytest.raises(Invalid):
        queries.events(fleet, device="not-a-mac")

"""One home per rule: one device snapshot for services, rentals and imports; one not-found rule;
the render context below the use cases."""

import ast
from pathlib import Path

import pytest

import provisioner
from provisioner import importing, rental_services, security_services, services
from provisioner.changes import device_snapshot
from provisioner.errors import NotFound

from .conftest import ACTOR, add_customer, add_line

PACKAGE = Path(provisioner.__file__).parent


def imported_modules(path: Path) -> set[str]:
    """The provisioner modules ``path`` imports (``from . import x``, ``from .x import y``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            if node.module:
                names.add(node.module.split(".")[0])
            else:
                names.update(alias.name for alias in node.names)
    return names


@pytest.mark.parametrize("module", ["cache.py", "render_data.py", "rendering.py", "fields.py"])
def test_render_context_and_validators_sit_below_the_use_cases(module):
    assert not imported_modules(PACKAGE / module) & {"services", "rental_services", "security_services"}


def test_an_imported_device_is_recorded_as_a_device_made_by_hand(store):
    add_customer(store)
    add_line(store, "ROSSI", "201", "Reception", "s3cr3t-Pa55!")
    services.add_device(store, ACTOR, "001565000001", model="T46U", customer="ROSSI", lines=["201"], serial="SN1")
    csv = (
        b"mac,model,customer,extension,display_name,sip_password,serial\n"
        b"001565000002,T46U,ROSSI,202,Office,s3cr3t-Pa55!,SN2\n"
    )
    checked = importing.check(importing.read(csv, "phones.csv"))
    plan, applied = importing.run(store, checked, actor=ACTOR)
    assert applied, plan.problems
    with store.reading() as tx:
        events = {}
        for mac in ("001565000001", "001565000002"):
            events[mac] = next(e for e in tx.events_of_device(mac) if e["action"] == "device.created")
            stored = device_snapshot(tx, tx.device(mac))
            assert {key: events[mac]["after"][key] for key in stored} == stored  # an import adds new_lines
    assert list(events["001565000002"]["after"])[:9] == list(events["001565000001"]["after"])
    assert events["001565000002"]["after"]["lines"] == ["202"]


@pytest.mark.parametrize(
    "call",
    [
        lambda store: services.show_device(store, "001565FFFFFF"),
        lambda store: services.set_device_settings(store, ACTOR, "001565FFFFFF", {"a": "b"}),
        lambda store: rental_services.unassign(store, ACTOR, "001565FFFFFF"),
        lambda store: rental_services.history(store, "001565FFFFFF"),
        lambda store: security_services.device_downloads(store, "001565FFFFFF"),
        lambda store: security_services.reopen_window(store, ACTOR, "001565FFFFFF"),
    ],
)
def test_an_unknown_device_is_named_the_same_way_everywhere(store, call):
    with pytest.raises(NotFound) as err:
        call(store)
    assert (err.value.message, err.value.field) == ("no device with MAC 001565FFFFFF", "mac")

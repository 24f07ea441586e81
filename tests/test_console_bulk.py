"""Bulk actions on ticked devices in the console: each device done or refused with its reason,
a refused one unchanged; the returns list's rows actioned in place; the selection downloaded."""

from __future__ import annotations

import csv
import html
import io
import re

from openpyxl import load_workbook

from provisioner import services

from .conftest import ACTOR
from .test_console import (  # noqa: F401
    SIP_PASSWORD,
    add_user,
    csrf_of,
    deployed_phone,
    settings,
    sign_in,
)

ROW = re.compile(
    r'<tr class="(done|refused)"><td><a class="mono" href="/console/devices/(\w+)">.*?</a></td>'
    r"<td>(.*?)</td><td>(.*?)</td></tr>",
    re.DOTALL,
)


def outcomes(text: str) -> dict[str, tuple[str, str]]:
    return {mac: (kind, html.unescape(what)) for kind, mac, _, what in ROW.findall(text)}


async def bulk(client, action: str, macs: list[str], token: str, **extra: str):
    data = [("csrf_token", token), ("back", "/console/search"), *(("mac", m) for m in macs), *extra.items()]
    return await client.post(f"/console/bulk/{action}", data=data)


async def test_bulk_unassign_and_return_report_each_device_and_skip_the_refused(server, store):
    add_user(store, "alice", "support")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    deployed_phone(store, "805EC0000002", "ROSSI", ("202",))
    services.add_device(store, ACTOR, "805EC0000003", model="T54W")  # in stock: nothing to unassign
    await sign_in(client := server.client, "alice")
    search = await (await client.get("/console/search?q=ROSSI")).text()
    assert 'id="bulk"' in search and search.count('name="mac" value=') == 2
    token = await csrf_of(client, "/console/search")

    before = services.show_device(store, "805EC0000003")
    page = await bulk(client, "unassign", ["805EC0000001", "80-5e-c0-00-00-02", "805EC0000003"], token)
    text = await page.text()
    assert page.status == 200
    found = outcomes(text)
    assert found["805EC0000001"][0] == found["805EC0000002"][0] == "done"
    assert found["805EC0000001"][1].startswith("Lines off; return due by ")
    assert found["805EC0000003"] == ("refused", "device 805EC0000003 is in_stock: it is not assigned to anyone")
    assert "2 device(s) done, 1 refused" in text
    assert services.show_device(store, "805EC0000001")["state"] == "return_due"
    assert services.show_device(store, "805EC0000001")["lines"] == []
    after = services.show_device(store, "805EC0000003")
    assert (after["state"], after["history"]) == (before["state"], before["history"])  # refused: untouched

    # the returns list: the rows are there to tick, and one row's own button returns only that device
    returns = await (await client.get("/console/returns")).text()
    assert returns.count('name="one" value=') == 2
    page = await client.post(
        "/console/bulk/return",
        data={"csrf_token": token, "one": "805EC0000002", "condition": "faulty", "mac": "805EC0000001"},
    )
    found = outcomes(await page.text())
    assert list(found) == ["805EC0000002"]
    assert found["805EC0000002"] == ("done", "Returned from ROSSI: now retired.")
    assert services.show_device(store, "805EC0000001")["state"] == "return_due"

    page = await bulk(client, "return", ["805EC0000001", "805EC0000002", "nonsense"], token)
    found = outcomes(await page.text())
    assert found["805EC0000001"] == ("done", "Returned from ROSSI: now in stock.")
    assert found["805EC0000002"][0] == "refused" and "retired" in found["805EC0000002"][1]
    assert found["nonsense"][0] == "refused" and "nonsense" in found["nonsense"][1]
    assert services.show_device(store, "805EC0000002")["state"] == "retired"


async def test_bulk_resync_refuses_a_phone_never_seen_and_nothing_selected_says_so(server, store):
    add_user(store, "alice", "support")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    await sign_in(client := server.client, "alice")
    token = await csrf_of(client, "/console/search")
    found = outcomes(await (await bulk(client, "resync", ["805EC0000001"], token)).text())
    assert found["805EC0000001"][0] == "refused"
    assert "no address known for 805EC0000001" in found["805EC0000001"][1]
    empty = await bulk(client, "unassign", [], token)
    assert empty.status == 400 and "No device was selected" in await empty.text()


async def test_bulk_needs_the_role_and_the_token(server, store):
    add_user(store, "vic", "viewer")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    await sign_in(client := server.client, "vic")
    search = await (await client.get("/console/search?q=ROSSI")).text()
    assert "/console/bulk/unassign" not in search and "/console/bulk/csv" in search
    token = await csrf_of(client, "/console/search")
    assert (await bulk(client, "unassign", ["805EC0000001"], token)).status == 403
    assert (await bulk(client, "csv", ["805EC0000001"], "")).status == 403
    assert services.show_device(store, "805EC0000001")["state"] == "deployed"


async def test_export_the_selected_devices_as_csv_and_xlsx(server, store):
    add_user(store, "vic", "viewer")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201", "202"))
    services.add_device(store, ACTOR, "805EC0000003", model="T54W", serial="SN-3")
    await sign_in(client := server.client, "vic")
    token = await csrf_of(client, "/console/search")
    response = await bulk(client, "csv", ["805EC0000003", "805EC0000001"], token)
    assert response.headers["Content-Type"].startswith("text/csv")
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ["805EC0000003", "805EC0000001"]  # the order ticked
    header = rows[0]
    first = dict(zip(header, rows[2], strict=True))
    assert header == [
        "MAC",
        "Vendor",
        "Model",
        "Serial",
        "Ownership",
        "State",
        "Customer",
        "Customer name",
        "Lines",
        "Last seen (UTC)",
    ]
    assert (first["Customer"], first["Lines"], first["State"], first["Serial"]) == (
        "ROSSI",
        "201, 202",
        "deployed",
        "SN-805EC0000001",
    )
    assert SIP_PASSWORD not in "\n".join(",".join(r) for r in rows)
    response = await bulk(client, "xlsx", ["805EC0000001"], token)
    sheet = load_workbook(io.BytesIO(await response.read())).active
    values = [[c.value for c in row] for row in sheet.iter_rows()]
    assert values[1][0] == "805EC0000001" and len(values) == 2

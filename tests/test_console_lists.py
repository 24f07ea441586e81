"""Lists that scale in the console: filters, sortable columns, pages everywhere, and downloads of
what is shown."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta

import sqlalchemy as sa
from openpyxl import load_workbook

from provisioner import queries, services
from provisioner.db import schema, utcnow

from .conftest import ACTOR, add_customer
from .test_console import add_user, deployed_phone, settings, sign_in  # noqa: F401

LISTED = re.compile(r'href="/console/devices/(\w{12})"')


def seen(store, mac: str, days_ago: int | None, firmware: str | None = None) -> None:
    with store.transaction() as tx:
        tx.conn.execute(
            sa.update(schema.devices)
            .where(schema.devices.c.mac == mac)
            .values(last_seen_at=None if days_ago is None else utcnow() - timedelta(days=days_ago), firmware=firmware)
        )


def fleet(store) -> None:
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    deployed_phone(store, "805EC0000002", "ROSSI", ("202",))
    services.add_device(store, ACTOR, "000413000003", model="D385")  # snom, in stock
    add_customer(store, "VERDI")
    services.add_device(store, ACTOR, "805EC0000004", model="T46U", customer="VERDI")
    seen(store, "805EC0000001", 1, "108.86.0.20")
    seen(store, "805EC0000002", 40, "108.85.0.5")
    seen(store, "805EC0000004", 10, "108.86.0.20")


def listed(text: str) -> list[str]:
    table = text.split('id="results"', 1)[1].split("</table>", 1)[0] if 'id="results"' in text else ""
    return list(dict.fromkeys(LISTED.findall(table)))


async def test_filters_narrow_the_list(server, store):
    add_user(store, "vic", "viewer")
    fleet(store)
    await sign_in(client := server.client, "vic")

    async def show(query: str) -> list[str]:
        response = await client.get("/console/search?" + query)
        assert response.status == 200, await response.text()
        return sorted(listed(await response.text()))

    assert await show("customer=ROSSI") == ["805EC0000001", "805EC0000002"]
    assert await show("vendor=snom") == ["000413000003"]
    assert await show("model=t46u") == ["805EC0000004"]
    assert await show("state=in_stock") == ["000413000003"]
    assert await show("seen_days=30") == ["000413000003", "805EC0000002"]  # never seen counts as not seen
    assert await show("firmware=108.86") == ["805EC0000001", "805EC0000004"]
    assert await show("firmware=108.86&customer=VERDI") == ["805EC0000004"]
    bad = await client.get("/console/search?seen_days=soon")
    assert bad.status == 400 and "seen_days must be a whole number of days" in await bad.text()
    bad = await client.get("/console/search?vendor=nokia")
    assert bad.status == 400 and "vendor must be one of" in await bad.text()


async def test_columns_sort_both_ways_and_pages_keep_the_filters(server, store):
    add_user(store, "vic", "viewer")
    fleet(store)
    await sign_in(client := server.client, "vic")
    text = await (await client.get("/console/search?sort=mac")).text()
    assert listed(text) == ["000413000003", "805EC0000001", "805EC0000002", "805EC0000004"]
    assert 'href="/console/search?sort=-mac" aria-sort="ascending"' in text  # the header sorts the other way
    text = await (await client.get("/console/search?sort=-last_seen")).text()
    assert listed(text) == ["805EC0000001", "805EC0000004", "805EC0000002", "000413000003"]  # never seen last
    for n in range(5, 31):
        services.add_device(store, ACTOR, f"805EC00001{n:02d}", model="T54W")
    text = await (await client.get("/console/search?model=T54W&sort=mac")).text()
    assert len(listed(text)) == 25 and "28 device(s), showing 1–25" in text  # two T54W of ROSSI and 26 more
    nxt = re.search(r'<a rel="next" href="([^"]+)"', text).group(1).replace("&amp;", "&")
    assert "model=T54W" in nxt and "sort=mac" in nxt
    assert listed(await (await client.get(nxt)).text()) == ["805EC0000128", "805EC0000129", "805EC0000130"]
    bad = await client.get("/console/search?sort=password")
    assert bad.status == 400 and "sort must be one of" in await bad.text()


async def test_download_what_is_shown_every_page_of_it(server, store):
    add_user(store, "vic", "viewer")
    fleet(store)
    for n in range(5, 40):
        services.add_device(store, ACTOR, f"805EC00001{n:02d}", model="T54W", customer="ROSSI")
    await sign_in(client := server.client, "vic")
    response = await client.get("/console/search.csv?customer=ROSSI&sort=mac")
    assert response.status == 200, await response.text()
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert len(rows) == 1 + 2 + 35  # more than one page of the list
    assert [r[0] for r in rows[1:3]] == ["805EC0000001", "805EC0000002"]
    response = await client.get("/console/search.xlsx?firmware=108.86")
    sheet = load_workbook(io.BytesIO(await response.read())).active
    assert sorted(row[0].value for row in list(sheet.iter_rows())[1:]) == ["805EC0000001", "805EC0000004"]
    customer = await (await client.get("/console/customers/ROSSI")).text()
    assert 'href="/console/search.csv?customer=ROSSI"' in customer


async def test_returns_lists_download_as_the_office_report(server, store):
    add_user(store, "vic", "viewer")
    fleet(store)
    from provisioner import rental_services

    rental_services.unassign(store, ACTOR, "805EC0000001")
    await sign_in(client := server.client, "vic")
    text = await (await client.get("/console/returns")).text()
    assert "/console/returns/due.csv?as_of=" in text and "/console/returns/overdue.xlsx?as_of=" in text
    response = await client.get("/console/returns/due.csv")
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0][0] == "MAC" and [r[0] for r in rows[1:]] == ["805EC0000001"]


async def test_the_customer_list_has_pages(server, store):
    add_user(store, "vic", "viewer")
    for n in range(55):
        add_customer(store, f"C{n:03d}")
    await sign_in(client := server.client, "vic")
    text = await (await client.get("/console/customers")).text()
    assert "55 customer(s), showing 1–50" in text and ">C049<" in text and ">C050<" not in text
    text = await (await client.get("/console/customers?offset=50")).text()
    assert ">C050<" in text and ">C054<" in text and ">C000<" not in text
    assert queries.customers_page(store, limit=10, offset=50)["total"] == 55

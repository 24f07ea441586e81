"""The audit log page (filters, pages, download) and the API tokens page (create, shown once,
list, revoke) through the real server."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, timedelta

from provisioner import accounts, queries, rentals

from .conftest import ACTOR, add_customer
from .test_console import (  # noqa: F401
    add_user,
    csrf_of,
    deployed_phone,
    flash,
    post,
    settings,
    sign_in,
)

ROW = re.compile(r"<tr><td>[^<]*</td><td>([^<]*)</td><td class=\"mono\">([^<]*)</td>")


def shown(text: str) -> list[tuple[str, str]]:
    table = text.split('id="events"', 1)[1].split("</table>", 1)[0] if 'id="events"' in text else ""
    return ROW.findall(table)


async def test_audit_log_filters_pages_and_downloads(server, store):
    add_user(store, "alice", "support")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    add_customer(store, "VERDI")
    await sign_in(client := server.client, "alice")
    await post(client, "/console/devices/805EC0000001/unassign", {})
    text = await (await client.get("/console/audit?device=80-5e-c0-00-00-01")).text()
    assert shown(text) == [("user:alice", "device.unassigned"), (ACTOR, "device.created")]
    text = await (await client.get("/console/audit?actor=user:alice")).text()
    assert shown(text) == [("user:alice", "device.unassigned")]
    assert [a for _, a in shown(await (await client.get("/console/audit?action=customer")).text())] == [
        "customer.created",
        "customer.created",
    ]
    assert shown(await (await client.get("/console/audit?since=2001-01-01&until=2001-12-31")).text()) == []
    assert len(shown(await (await client.get("/console/audit?until=2999-01-01")).text())) >= 4
    bad = await client.get("/console/audit?since=yesterday")
    assert bad.status == 400 and "since" in await bad.text()

    for n in range(60):
        add_customer(store, f"C{n:03d}")
    first = await (await client.get("/console/audit?action=customer.created")).text()
    assert len(shown(first)) == 50
    older = re.search(r'<a rel="next" href="([^"]+)"', first).group(1).replace("&amp;", "&")
    assert len(shown(await (await client.get(older)).text())) == 12

    response = await client.get("/console/audit.csv?device=805EC0000001")
    rows = list(csv.reader(io.StringIO((await response.read()).decode("utf-8-sig"))))
    assert rows[0] == ["When (UTC)", "Who", "Action", "Device", "What"]
    assert [(r[1], r[2], r[3]) for r in rows[1:]] == [
        ("user:alice", "device.unassigned", "805EC0000001"),
        (ACTOR, "device.created", "805EC0000001"),
    ]


async def test_api_tokens_are_shown_once_listed_and_revoked(server, store, caplog):
    add_user(store, "root", "admin")
    add_user(store, "bot", "viewer")
    await sign_in(client := server.client, "root")
    token = await csrf_of(client, "/console/tokens")
    response = await client.post(
        "/console/tokens", data={"csrf_token": token, "user": "bot", "label": "billing export"}
    )
    text = await response.text()
    assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    value = re.search(r'value="(prov_[^"]+)" size="60" id="token-value"', text).group(1)
    assert accounts.user_for_token(store, value).name == "bot"
    assert "Set-Cookie" not in response.headers or value not in response.headers.get("Set-Cookie", "")
    listing = await (await client.get("/console/tokens")).text()
    assert "billing export" in listing and value not in listing and "active" in listing
    assert value not in caplog.text
    api = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {value}"})
    assert api.status == 200

    token_id = accounts.get_user(store, "bot")["tokens"][0]["id"]
    page = await post(client, f"/console/tokens/bot/{token_id}/revoke", {})
    assert flash(await page.text()) == f"ok: Token {token_id} of bot revoked: it no longer opens the API."
    assert accounts.user_for_token(store, value) is None
    api = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {value}"})
    assert api.status == 401

    page = await post(client, "/console/tokens", {"user": "bot", "label": ""})
    assert flash(await page.text()).startswith("error: Nothing was changed: label must be")
    assert len(accounts.get_user(store, "bot")["tokens"]) == 1


async def test_only_admins_see_and_use_the_tokens_page(server, store):
    add_user(store, "alice", "support")
    await sign_in(client := server.client, "alice")
    assert (await client.get("/console/tokens")).status == 403
    assert "/console/tokens" not in await (await client.get("/console/")).text()
    assert "/console/audit" in await (await client.get("/console/")).text()


async def test_api_tokens_expire_after_their_last_day(server, store, run_cli, monkeypatch):
    add_user(store, "root", "admin")
    add_user(store, "bot", "viewer")
    await sign_in(client := server.client, "root", lang="en")
    last = rentals.today() + timedelta(days=30)
    response = await client.post(
        "/console/tokens",
        data={
            "csrf_token": await csrf_of(client, "/console/tokens"),
            "user": "bot",
            "label": "quarter report",
            "expires": last.isoformat(),
        },
    )
    value = re.search(r'value="(prov_[^"]+)" size="60" id="token-value"', await response.text()).group(1)
    csrf = await csrf_of(client, "/console/tokens")
    never = await client.post("/console/tokens", data={"csrf_token": csrf, "user": "bot", "label": "forever"})
    assert never.status == 200
    listing = await (await client.get("/console/tokens")).text()
    assert f"after {last.isoformat()}" in listing and "never expires" in listing and ">expired<" not in listing
    tokens = {t["label"]: t for t in accounts.get_user(store, "bot")["tokens"]}
    assert accounts.last_day(tokens["quarter report"]["expires_at"]) == last
    assert tokens["forever"]["expires_at"] is None
    assert (await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {value}"})).status == 200

    # a past date or a word that is no date: refused, nothing made
    page = await post(client, "/console/tokens", {"user": "bot", "label": "old", "expires": "2020-01-01"})
    assert flash(await page.text()) == (
        "error: Nothing was changed: expires: 2020-01-01 is in the past; give today or a later date"
    )
    page = await post(client, "/console/tokens", {"user": "bot", "label": "odd", "expires": "soon"})
    assert "expires must be a date like 2027-01-31" in flash(await page.text())
    assert len(accounts.get_user(store, "bot")["tokens"]) == 2

    # the day after its last day: 401 saying why, an audit event, the list says "expired"
    later = accounts.utcnow() + timedelta(days=32)
    monkeypatch.setattr(accounts, "utcnow", lambda: later)
    for _ in range(3):
        api = await client.get("/api/v1/devices", headers={"Authorization": f"Bearer {value}"})
        assert api.status == 401
    body = await api.json()
    assert body["message"] == (
        f"this API token ('quarter report') expired after {last.isoformat()}: ask an admin for a new one"
    )
    assert value not in body["message"]
    events = queries.events(store, action="token.expired")["items"]
    assert len(events) == 1 and events[0]["actor"] == "user:bot"  # once a minute, not once a call
    await sign_in(client, "root", lang="en")  # a month later: the session has ended too
    listing = await (await client.get("/console/tokens")).text()
    assert "<strong>expired</strong>" in listing

    # the CLI: --expires DATE or --expires-in 90d
    out = run_cli("user", "token", "bot", "--label", "cli", "--expires-in", "90d")
    assert f"valid through {(rentals.today() + timedelta(days=90)).isoformat()}" in out.output
    out = run_cli("user", "token", "bot", "--label", "cli1", "--expires-in", "30")
    assert f"valid through {(rentals.today() + timedelta(days=30)).isoformat()}" in out.output
    out = run_cli("user", "token", "bot", "--label", "cli2", "--expires-in", "soon", ok=False)
    assert out.exit_code == 1 and "--expires-in must be a date like 2027-01-31, a number of days" in out.output
    out = run_cli("user", "token", "bot", "--label", "cli2", "--expires", "yesterday", ok=False)
    assert out.exit_code == 1 and "--expires must be a date like 2027-01-31" in out.output


async def test_api_creates_a_token_with_an_expiry(api):
    last = (rentals.today() + timedelta(days=90)).isoformat()
    body = await api.post("/users/viewer-user/tokens", {"label": "ninety", "expires": last}, expect=201)
    assert body["expires_at"] is not None and accounts.last_day(datetime.fromisoformat(body["expires_at"])) == (
        date.fromisoformat(last)
    )
    past = await api.post("/users/viewer-user/tokens", {"label": "old", "expires": "2020-01-01"}, expect=400)
    assert past["field"] == "expires" and "in the past" in past["message"]
    assert [t["label"] for t in (await api.get("/users/viewer-user"))["tokens"]] == ["tests", "ninety"]

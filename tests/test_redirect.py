"""Vendor redirect services: devices registered and deregistered as a consequence of their lifecycle,
through the outbox, against stand-ins speaking Yealink RPS's and Snom's XML-RPC with Basic auth."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
import structlog

from provisioner import rental_services, security_services, services
from provisioner.db import Store, utcnow
from provisioner.db import redirect as tables
from provisioner.redirect import support
from provisioner.redirect.worker import Pacing, Worker
from tests.conftest import ACTOR, SAMPLES, add_customer, add_line, load_expected
from tests.redirect_standin import Service, start

BASE = "https://prov.example.net/"
FAST = Pacing(rate=10_000, backoff=0.0, backoff_cap=0.0, max_attempts=3, timeout=5.0)
YEALINK_MAC = "001565ABCDEF"
SNOM_MAC = "000413A1B2C3"


@pytest.fixture
def yealink():
    service = Service()
    server, url = start(service)
    service.url = url
    yield service
    server.shutdown()
    server.server_close()


@pytest.fixture
def snom():
    service = Service(username="snom-acme", password="snom-Pa55!word")
    server, url = start(service)
    service.url = url
    yield service
    server.shutdown()
    server.server_close()


def set_account(run_cli, vendor: str, service: Service, password: str | None = None, **kw):
    return run_cli(
        "redirect",
        "set",
        vendor,
        "--rpc-url",
        service.url,
        "--username",
        service.username,
        "--password-stdin",
        input=(password or service.password) + "\n",
        **kw,
    )


def deliver(store: Store, pacing: Pacing = FAST) -> Worker:
    worker = Worker(store, BASE, pacing)
    asyncio.run(worker.deliver())
    return worker


def states(store: Store) -> dict[str, str]:
    with store.reading() as tx:
        return {r["mac"]: r["state"] for r in tables.status(tx)}


def test_an_import_registers_every_mac_once_with_its_url(store, run_cli, yealink, snom):
    set_account(run_cli, "yealink", yealink)
    set_account(run_cli, "snom", snom)
    run_cli("import", str(SAMPLES / "deployment.xlsx"))
    expected = load_expected()["files"]["deployment.xlsx"]["devices"]
    wanted = {
        v: sorted(m for m, d in expected.items() if d["vendor"] == v and d.get("customer")) for v in ("yealink", "snom")
    }
    assert wanted["yealink"] and wanted["snom"]
    deliver(store)
    assert sorted(yealink.registered) == wanted["yealink"]
    assert sorted(snom.registered) == wanted["snom"]
    urls = {**yealink.registered, **snom.registered}
    with store.reading() as tx:  # customers an import creates get a path key: the URL carries it
        keys = {mac: tx.customer_security(tx.device(mac)["customer_id"])["path_key"] for mac in urls}
    assert all(keys.values())
    assert urls == {mac: f"{BASE}p/{key}/" for mac, key in keys.items()}
    calls = [c for c in yealink.calls + snom.calls]
    assert len(calls) == len(wanted["yealink"]) + len(wanted["snom"])  # once each
    # Importing the same sheet again changes nothing and calls nobody.
    run_cli("import", str(SAMPLES / "deployment.xlsx"))
    deliver(store)
    assert len(yealink.calls + snom.calls) == len(calls)
    assert set(states(store).values()) == {"registered"}


def test_the_registered_url_carries_the_path_key_or_the_customers_own_host(store, run_cli, yealink):
    set_account(run_cli, "yealink", yealink)
    add_customer(store)
    view = security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="new", auth="digest")
    key = view["secrets"]["path_key"] if "secrets" in view else view.get("path_key")
    with store.reading() as tx:
        key = tx.customer_security(tx.customer_by_code("ROSSI")["id"])["path_key"]
    add_line(store, "ROSSI", "201", "Reception", "p9MrgPW*UfhMg+")
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI", lines=["201"])
    deliver(store)
    url = yealink.registered[YEALINK_MAC]
    assert url == f"{BASE}p/{key}/"
    assert "p9MrgPW" not in url and "@" not in url  # no SIP password, no credentials
    run_cli("redirect", "customer-url", "ROSSI", "https://prov.rossi.example.net/")
    deliver(store)
    assert yealink.registered[YEALINK_MAC] == f"https://prov.rossi.example.net/p/{key}/"


def test_return_swap_and_termination_deregister_and_register(store, run_cli, yealink, snom):
    set_account(run_cli, "yealink", yealink)
    set_account(run_cli, "snom", snom)
    add_customer(store)
    add_line(store, "ROSSI", "201", "Reception", "pw-201-secret")
    add_line(store, "ROSSI", "202", "Office", "pw-202-secret")
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, SNOM_MAC, model="D385", customer="ROSSI", lines=["202"])
    services.add_device(store, ACTOR, "001565000001", model="T46U")  # stock: nothing to register
    deliver(store)
    assert set(yealink.registered) == {YEALINK_MAC} and set(snom.registered) == {SNOM_MAC}

    # A swap deregisters the old phone and registers its replacement.
    rental_services.swap(store, ACTOR, YEALINK_MAC, "001565000001")
    deliver(store)
    assert set(yealink.registered) == {"001565000001"}
    assert states(store)[YEALINK_MAC] == "deregistered"
    # Returned: deregistered.
    rental_services.return_device(store, ACTOR, YEALINK_MAC)
    deliver(store)
    assert set(yealink.registered) == {"001565000001"}
    # Given to the customer again from stock: registered again.
    rental_services.assign(store, ACTOR, YEALINK_MAC, "ROSSI", [])
    deliver(store)
    assert set(yealink.registered) == {"001565000001", YEALINK_MAC}
    # A contract ended today: every phone of the customer is deregistered.
    rental_services.terminate(store, ACTOR, "ROSSI", rental_services._today().isoformat())
    deliver(store)
    assert yealink.registered == {} and snom.registered == {}
    assert set(states(store).values()) == {"deregistered"}
    assert ("register", "001565000001") in yealink.calls


def test_a_vendor_down_loses_nothing_across_a_restart_and_keeps_the_order(data_dir, run_cli, yealink):
    set_account(run_cli, "yealink", yealink)
    store = Store.open(data_dir)
    add_customer(store)
    for n in range(5):
        services.add_device(store, ACTOR, f"0015650000{n:02d}", model="T46U", customer="ROSSI")
    yealink.down = True
    rental_services.unassign(store, ACTOR, "001565000003")  # register then deregister, both queued
    worker = deliver(store, Pacing(rate=10_000, backoff=60.0, max_attempts=3))
    assert worker.calls == 5  # one try per MAC, then each waits its backoff (the 2nd change waits behind the 1st)
    assert yealink.registered == {}
    with store.reading() as tx:
        rows = tables.status(tx, state="pending")
        assert len(rows) == 5 and all(r["attempts"] == 1 for r in rows)
        assert "503" in rows[0]["last_error"]
    store.close()  # the server stops

    yealink.down = False
    store = Store.open(data_dir)  # ... and starts again, once the backoff has passed
    with store.transaction() as tx:
        tx.conn.execute(tables.redirect_outbox.update().values(next_attempt_at=utcnow() - timedelta(minutes=2)))
    deliver(store)
    assert sorted(yealink.registered) == [f"0015650000{n:02d}" for n in (0, 1, 2, 4)]
    assert yealink.history("001565000003") == ["register", "deregister"]  # in order, never left registered
    for n in (0, 1, 2, 4):
        assert yealink.history(f"0015650000{n:02d}") == ["register"]  # once (the 503s never reached it)
    with store.reading() as tx:
        assert tables.outbox_rows(tx) == []
    store.close()


def test_retries_stop_after_the_last_attempt_until_a_retry(store, run_cli, yealink):
    set_account(run_cli, "yealink", yealink)
    add_customer(store)
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
    yealink.down = True
    for _ in range(5):
        deliver(store)
    assert len(yealink.calls) == 0  # 503 answers are not recorded by the stand-in's methods
    row = support.status(store, YEALINK_MAC)[0]
    assert row["state"] == "failed" and row["attempts"] == 3 and row["next_attempt_at"] is None
    out = run_cli("redirect", "status", "--state", "failed").output
    assert YEALINK_MAC in out and "HTTP 503" in out and "what to do" in out
    yealink.down = False
    run_cli("redirect", "retry", YEALINK_MAC, "--public-url", BASE)
    assert yealink.registered == {YEALINK_MAC: BASE}


def test_a_mac_owned_by_another_provider_is_a_conflict_with_the_vendors_message(store, run_cli, yealink):
    set_account(run_cli, "yealink", yealink)
    yealink.owned_by_other.add(YEALINK_MAC)
    add_customer(store)
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
    deliver(store)
    deliver(store)
    assert yealink.history(YEALINK_MAC) == ["register"]  # not retried
    out = run_cli("redirect", "status", "--state", "conflict").output
    assert YEALINK_MAC in out and "owned_by_other_user" in out and "another provider" in out
    status = json.loads(run_cli("redirect", "status", YEALINK_MAC, "--json").stdout)
    assert status[0]["state"] == "conflict" and "registered by another user" in status[0]["message"]


def test_wrong_credentials_break_the_account_and_hold_deliveries(store, run_cli, yealink):
    set_account(run_cli, "yealink", yealink, password="not-the-password")
    add_customer(store)
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
    services.add_device(store, ACTOR, "001565000001", model="T46U", customer="ROSSI")
    calls = sum(deliver(store).calls for _ in range(5))
    assert calls == 1  # the first refusal holds everything: no loop through retries
    show = run_cli("redirect", "show").output
    assert "BROKEN" in show and "401" in show
    row = support.status(store, YEALINK_MAC)[0]
    assert row["state"] == "pending" and row["attempts"] == 0 and "set it again" in row["held"]
    set_account(run_cli, "yealink", yealink)  # fixed: held deliveries go out
    deliver(store)
    assert set(yealink.registered) == {YEALINK_MAC, "001565000001"}


def test_the_account_password_appears_in_no_log_no_output_no_event(store, run_cli, yealink):
    secret = "Wr0ng-but-SECRET-pw"
    with structlog.testing.capture_logs() as logs:
        out = set_account(run_cli, "yealink", yealink, password=secret).output
        out += run_cli("redirect", "show", "--json").output + run_cli("redirect", "show").output
        add_customer(store)
        services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
        deliver(store)
        out += run_cli("redirect", "status", "--json").output + run_cli("redirect", "status").output
        set_account(run_cli, "yealink", yealink, password=yealink.password)
        deliver(store)
    assert "redirect_account_broken" in {e["event"] for e in logs}
    assert secret not in out and secret not in json.dumps(logs, default=str)
    with store.reading() as tx:
        events = json.dumps([dict(r._mapping) for r in tx.conn.execute(sa.text("SELECT * FROM events"))], default=str)
        raw = tx.conn.execute(sa.text("SELECT password FROM redirect_accounts")).scalar_one()
    assert secret not in events and yealink.password not in events
    assert raw.startswith("g1.")  # sealed at rest


def test_polycom_and_grandstream_are_refused_as_not_supported_yet(run_cli):
    for vendor in ("polycom", "grandstream"):
        result = run_cli(
            "redirect",
            "set",
            vendor,
            "--rpc-url",
            "https://example.net/x",
            "--username",
            "u",
            "--password-stdin",
            input="pw\n",
            ok=False,
        )
        assert result.exit_code != 0 and "not supported yet" in result.output


def test_bad_account_input_is_named_and_changes_nothing(store, run_cli):
    result = run_cli(
        "redirect",
        "set",
        "yealink",
        "--rpc-url",
        "ftp://x",
        "--username",
        "u",
        "--password-stdin",
        input="pw\n",
        ok=False,
    )
    assert result.exit_code != 0 and "rpc_url" in result.output
    result = run_cli(
        "redirect",
        "set",
        "yealink",
        "--rpc-url",
        "https://u:p@rps.example.net/",
        "--username",
        "u",
        "--password-stdin",
        input="pw\n",
        ok=False,
    )
    assert "must not hold credentials" in result.output
    assert run_cli("redirect", "show", "--json").output.strip() == "[]"


def test_sync_registers_what_the_vendor_lacks_and_deregisters_what_it_should_not_hold(store, run_cli, snom):
    add_customer(store)
    services.add_device(store, ACTOR, SNOM_MAC, model="D385", customer="ROSSI")  # before the account: not queued
    services.add_device(store, ACTOR, "000413000001", model="D385")  # in stock
    snom.registered["000413000001"] = BASE  # left over at the vendor
    set_account(run_cli, "snom", snom)
    counts = json.loads(run_cli("redirect", "sync", "--public-url", BASE, "--json").stdout)
    assert counts["checked"] == 2 and counts["register"] == 1 and counts["deregister"] == 1
    assert snom.registered == {SNOM_MAC: BASE}
    counts = json.loads(run_cli("redirect", "sync", "--public-url", BASE, "--json").stdout)
    assert counts["in_sync"] == 2 and counts["register"] == counts["deregister"] == 0


async def test_the_server_delivers_by_itself(server, yealink, data_dir):
    store = Store.open(data_dir)
    try:
        from provisioner.redirect import accounts

        accounts.set_account(
            store, ACTOR, "yealink", rpc_url=yealink.url, username=yealink.username, password=yealink.password
        )
        add_customer(store)
        services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
        for _ in range(200):  # the worker looks every second; bounded wait, no timing assert
            if yealink.registered:
                break
            await asyncio.sleep(0.05)
        assert yealink.registered == {YEALINK_MAC: "http://prov.test:8080/"}
    finally:
        store.close()


async def test_the_api_sets_accounts_shows_states_and_retries_without_showing_the_password(api, store, yealink):
    put = {"rpc_url": yealink.url, "username": yealink.username, "password": yealink.password}
    await api.as_("support").put("/redirect/accounts/yealink", json=put, expect=403)
    view = await api.put("/redirect/accounts/yealink", json=put)
    assert view["vendor"] == "yealink" and view["broken"] is False
    body = await api.put("/redirect/accounts/polycom", json=put, expect=400)
    assert "not supported yet" in body["message"]
    yealink.down = True
    add_customer(store)
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
    await asyncio.to_thread(deliver, store, Pacing(rate=10_000, backoff=600.0))
    state = await api.as_("viewer").get(f"/devices/{YEALINK_MAC.lower()}/redirect")
    assert state["state"] == "pending" and state["attempts"] == 1 and "503" in state["last_error"]
    pending = await api.get("/redirect/devices", params={"state": "pending", "customer": "ROSSI"})
    assert [r["mac"] for r in pending["items"]] == [YEALINK_MAC]
    yealink.down = False
    assert (await api.as_("support").post(f"/devices/{YEALINK_MAC}/redirect/retry"))["due"] == 1
    for _ in range(200):  # the server's worker delivers it
        if yealink.registered:
            break
        await asyncio.sleep(0.05)
    assert yealink.registered == {YEALINK_MAC: "http://prov.test:8080/"}
    listed = await api.get("/redirect/accounts")
    assert yealink.password not in json.dumps(listed) and "password" not in listed["items"][0]
    counts = await api.as_("support").post("/redirect/sync", json={})
    assert counts["checked"] == 1 and counts["in_sync"] == 1


async def test_the_console_shows_the_state_lists_what_is_not_registered_and_retries(server, store, yealink):
    from tests.test_console import add_user, flash, post, sign_in

    add_user(store, "sue", "support")
    from provisioner.redirect import accounts

    accounts.set_account(
        store, ACTOR, "yealink", rpc_url=yealink.url, username=yealink.username, password=yealink.password
    )
    yealink.owned_by_other.add(YEALINK_MAC)
    add_customer(store)
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
    client = server.client
    await sign_in(client, "sue")
    for _ in range(200):  # the server's worker tries it
        if yealink.calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    page = await (await client.get(f"/console/devices/{YEALINK_MAC}")).text()
    assert 'id="redirect"' in page and "conflict" in page and "registered by another user" in page
    assert "another provider" in page and 'id="redirect-retry-form"' in page
    listing = await (await client.get("/console/redirect")).text()
    assert YEALINK_MAC in listing.replace(":", "").upper() and "conflict" in listing
    yealink.owned_by_other.clear()  # released by its previous owner
    after = await post(client, f"/console/devices/{YEALINK_MAC}/redirect/retry", {})
    assert flash(await after.text()).startswith("ok: Redirect of")
    for _ in range(200):
        if yealink.registered:
            break
        await asyncio.sleep(0.05)
    assert yealink.registered == {YEALINK_MAC: "http://prov.test:8080/"}

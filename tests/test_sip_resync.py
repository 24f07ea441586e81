"""SIP NOTIFY resync: a fake phone (a real UDP socket) answers, stays silent, challenges."""

from __future__ import annotations

import asyncio
import itertools
import time
from datetime import UTC, datetime

import pytest

from provisioner import fields, services
from provisioner.sip import message as sip
from provisioner.sip import resync
from provisioner.sip.notify import send_notify

from .conftest import ACTOR, add_customer, add_line
from .sip_phone import FakePhone

PASSWORD = "Pw-201-very-secret"


def _seen(store, mac: str, ip: str = "127.0.0.1") -> None:
    with store.transaction() as tx:
        tx.record_seen(
            [{"mac": fields.mac(mac), "at": datetime.now(UTC), "ip": ip, "user_agent": None, "firmware": None}]
        )


@pytest.fixture
def phone_db(store):
    add_customer(store, "ROSSI")
    add_line(store, "ROSSI", "201", "Reception", PASSWORD, auth_id="auth201")
    services.add_device(store, ACTOR, "00:15:65:AB:CD:EF", model="T46U", customer="ROSSI", lines=["201"])
    services.add_device(store, ACTOR, "0004f2abcdef", model="VVX450")
    services.add_device(store, ACTOR, "c074ad0b63ee", model="GRP2614")
    services.add_device(store, ACTOR, "000413aabbcc", model="D785")
    for mac in ("001565abcdef", "0004f2abcdef", "c074ad0b63ee"):
        _seen(store, mac)
    return store


def test_resync_answered_2xx(phone_db, run_cli):
    with FakePhone("ok") as phone:
        out = run_cli("device", "resync", "00-15-65-ab-cd-ef", "--to", f"127.0.0.1:{phone.port}").output
    assert "answered 200 OK" in out and "check-sync;reboot=false" in out
    [notify] = phone.notifies
    assert notify.uri == f"sip:201@127.0.0.1:{phone.port}"
    assert notify.get("Event") == "check-sync;reboot=false"
    assert notify.branch.startswith("z9hG4bK")
    assert notify.get("Via").startswith("SIP/2.0/UDP 127.0.0.1:")
    assert ";tag=" in notify.get("From") and notify.get("To") == f"<sip:201@127.0.0.1:{phone.port}>"
    assert notify.cseq == (1, "NOTIFY") and notify.get("Call-ID")
    assert notify.get("Subscription-State") == "terminated" and notify.get("Max-Forwards") == "70"


@pytest.mark.parametrize(("mac", "event"), [("0004f2abcdef", "check-sync"), ("c074ad0b63ee", "resync")])
def test_resync_uses_the_vendor_event(phone_db, run_cli, mac, event):
    with FakePhone("ok") as phone:
        run_cli("device", "resync", mac, "--to", f"127.0.0.1:{phone.port}")
        run_cli("device", "resync", mac, "--to", f"127.0.0.1:{phone.port}", "--reboot")
    assert [n.get("Event") for n in phone.notifies] == [event, "check-sync;reboot=true"]
    assert phone.notifies[0].uri == f"sip:127.0.0.1:{phone.port}"  # no line: no user part


def test_resync_without_a_known_address(phone_db, run_cli):
    result = run_cli("device", "resync", "000413aabbcc", ok=False)
    assert result.exit_code == 1
    assert "no address known for 000413AABBCC" in result.output
    result = run_cli("device", "resync", "000413aabbcc", "--to", "host:99999", ok=False)
    assert result.exit_code != 0 and "not HOST or HOST:PORT" in result.output


def test_resync_timeout_retransmits_per_timer_e(phone_db, run_cli):
    with FakePhone("silent") as phone:
        result = run_cli(
            "device", "resync", "001565abcdef", "--to", f"127.0.0.1:{phone.port}", "--timeout", "4", ok=False
        )
    assert result.exit_code == 1
    assert "no answer within 4 s" in result.output
    sent = phone.received
    # T1 = 0.5 s: sent at 0, 0.5, 1.5, 3.5 s; a busy machine may fire late, never early.
    assert 2 <= len(sent) <= 4
    assert len({r.msg.encode() for r in sent}) == 1  # retransmissions are the same request
    gaps = [b.at - a.at for a, b in itertools.pairwise(sent)]
    for i, gap in enumerate(gaps):
        assert gap >= 0.5 * 2**i * 0.9


def test_resync_answers_a_digest_challenge(phone_db, run_cli):
    with FakePhone("challenge", username="auth201", password=PASSWORD) as phone:
        out = run_cli("device", "resync", "001565abcdef", "--to", f"127.0.0.1:{phone.port}").output
    assert "answered 200 OK" in out and PASSWORD not in out
    first, second = phone.notifies
    assert first.get("Authorization") is None and second.get("Authorization").startswith("Digest ")
    assert second.cseq == (2, "NOTIFY") and second.get("Call-ID") == first.get("Call-ID")
    assert second.branch != first.branch
    assert PASSWORD not in second.encode().decode()


def test_resync_wrong_credentials_and_refusals_exit_non_zero(phone_db, run_cli):
    with FakePhone("challenge", username="auth201", password="another") as phone:
        result = run_cli("device", "resync", "001565abcdef", "--to", f"127.0.0.1:{phone.port}", ok=False)
    assert result.exit_code == 1 and "401 Unauthorized (wrong NOTIFY credentials)" in result.output
    assert len(phone.notifies) == 2 and PASSWORD not in result.output
    with FakePhone("busy") as phone:
        result = run_cli("device", "resync", "001565abcdef", "--to", f"127.0.0.1:{phone.port}", ok=False)
    assert result.exit_code == 1 and "486 Busy Here" in result.output


async def test_provisional_answer_then_final():
    with FakePhone("provisional") as phone:
        outcome = await send_notify("127.0.0.1", phone.port, event="check-sync", timeout=2)
    assert outcome.ok and outcome.status == 200 and outcome.transmissions == 1


async def test_bulk_resync_is_paced(phone_db):
    for i in range(8):
        services.add_device(phone_db, ACTOR, f"0015650000{i:02x}", model="T46U", customer="ROSSI")
        _seen(phone_db, f"0015650000{i:02x}")
    with FakePhone("ok") as phone:
        targets, skipped = resync.targets_of(phone_db, customer="ROSSI", macs=["000413aabbcc"], port=phone.port)
        rate = 20.0
        started = time.monotonic()  # the loop's clock and the phone's: both time.monotonic
        outcomes = await resync.resync_many(targets, rate=rate)
        await asyncio.sleep(0.05)
    assert skipped == [("000413AABBCC", "no address known (never fetched a file)")]
    assert len(targets) == 9 and all(o.ok for o in outcomes) and len(outcomes) == 9
    arrivals = sorted(r.at for r in phone.received)
    assert len(arrivals) == 9 and len({r.msg.get("Call-ID") for r in phone.received}) == 9
    # No more than `rate` per second: the k-th NOTIFY is sent no sooner than k/rate s after the start.
    # A lower bound from the start, not from the first arrival: a busy machine can only delay a
    # NOTIFY, so it cannot make this fail, while sending them all at once does.
    for k, at in enumerate(arrivals):
        assert at - started >= k / rate * 0.99


def test_bulk_resync_cli(phone_db, run_cli):
    with FakePhone("ok") as phone:
        result = run_cli(
            "devices",
            "resync",
            "--customer",
            "ROSSI",
            "c074ad0b63ee",
            "000413aabbcc",
            "--port",
            str(phone.port),
            "--rate",
            "50",
            ok=False,
        )
    assert result.exit_code == 1  # one phone could not be reached
    assert "001565ABCDEF: 127.0.0.1:" in result.output and "C074AD0B63EE: 127.0.0.1:" in result.output
    assert "000413AABBCC: skipped, no address known" in result.output
    assert "2 of 3 phones answered 2xx, 1 skipped" in result.output
    assert sorted(n.get("Event") for n in phone.notifies) == ["check-sync;reboot=false", "resync"]


def test_digest_matches_rfc2617_example():
    # RFC 2617 3.5: Mufasa / "Circle Of Life".
    challenge = {
        "realm": "testrealm@host.com",
        "qop": "auth,auth-int",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
    }
    value = sip.digest_response(
        challenge, method="GET", uri="/dir/index.html", username="Mufasa", password="Circle Of Life", cnonce="0a4f113b"
    )
    assert 'response="6629fae49393a05397450978507c4ef1"' in value


# --- the API and the console call the same service -----------------------------------------------


async def test_api_resync(server, api, phone_db):
    with FakePhone("ok") as phone:
        body = await api.post("/devices/001565abcdef/resync", {"to": f"127.0.0.1:{phone.port}"})
        assert body == {
            "mac": "001565ABCDEF",
            "target": f"127.0.0.1:{phone.port}",
            "event": "check-sync;reboot=false",
            "ok": True,
            "status": 200,
            "reason": "OK",
            "transmissions": 1,
        }
        body = await api.as_("support").post(
            "/devices/001565abcdef/resync", {"to": f"127.0.0.1:{phone.port}", "reboot": True}
        )
        assert body["event"] == "check-sync;reboot=true" and body["ok"] is True
    assert [n.get("Event") for n in phone.notifies] == ["check-sync;reboot=false", "check-sync;reboot=true"]
    body = await api.post("/devices/000413aabbcc/resync", expect=409)
    assert body["error"] == "conflict" and "no address known" in body["message"]
    await api.post("/devices/001565000001/resync", expect=404)
    await api.as_("viewer").post("/devices/001565abcdef/resync", expect=403)
    body = await api.post("/devices/001565abcdef/resync", {"to": "bad host:1"}, expect=400)
    assert body.get("field") == "to"


async def test_api_resync_silent_phone_is_reported_not_an_error(server, api, phone_db, monkeypatch):
    monkeypatch.setattr(resync.resync, "__kwdefaults__", {"timeout": 0.6})  # the API waits 4 s
    with FakePhone("silent") as phone:
        body = await api.post("/devices/001565abcdef/resync", {"to": f"127.0.0.1:{phone.port}"})
    assert body["ok"] is False and body["status"] is None and body["reason"] == "no answer within 0.6 s"
    assert body["transmissions"] >= 1


async def test_api_bulk_resync(server, api, phone_db, monkeypatch):
    with FakePhone("ok") as phone:
        # Bulk goes to the last-seen address, port 5060; tests never use 5060: the fake phone's port instead.
        monkeypatch.setattr(resync, "SIP_PORT", phone.port)
        monkeypatch.setattr(
            resync.targets_of, "__kwdefaults__", {"reboot": False, "port": phone.port, "customer": None, "macs": ()}
        )
        body = await api.post(
            "/devices/resync", {"customer": "ROSSI", "macs": ["0004f2abcdef", "000413aabbcc"], "rate": 50}
        )
    assert sorted((r["mac"], r["ok"], r["event"]) for r in body["results"]) == [
        ("0004F2ABCDEF", True, "check-sync"),
        ("001565ABCDEF", True, "check-sync;reboot=false"),
    ]
    assert body["skipped"] == [{"mac": "000413AABBCC", "reason": "no address known (never fetched a file)"}]
    body = await api.post("/devices/resync", {"customer": "NOPE"}, expect=404)
    body = await api.post("/devices/resync", {}, expect=400)


async def test_console_resync_button(server, phone_db):
    from .test_console import add_user, flash, post, sign_in

    add_user(phone_db, "sam", "support")
    client = server.client
    await sign_in(client, "sam")
    page = await client.get("/console/devices/001565ABCDEF")
    assert 'id="resync-form"' in await page.text()
    with FakePhone("ok") as phone:
        page = await post(client, "/console/devices/001565ABCDEF/resync", {"to": f"127.0.0.1:{phone.port}"})
    assert flash(await page.text()) == f"ok: Resync sent to 001565ABCDEF: 127.0.0.1:{phone.port} answered 200 OK."
    assert len(phone.notifies) == 1
    page = await post(client, "/console/devices/000413AABBCC/resync", {})
    assert flash(await page.text()).startswith("error: Nothing was sent: no address known for 000413AABBCC")

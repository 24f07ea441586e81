"""SIP plug-and-play: a fake phone (a real UDP socket) SUBSCRIBEs to the real server's responder on a
free port, gets 200 OK, then the NOTIFY carrying the provisioning URL, and answers it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import socket

import pytest

from provisioner import lifecycle, services
from provisioner.sip import message as sip
from provisioner.sip import pnp

from .conftest import ACTOR, add_customer, add_line

URL = "http://prov.test:8080/"


@pytest.fixture
def settings(settings):
    return dataclasses.replace(settings, pnp=True, pnp_port=0)


def _subscribe(
    port: int, uri_user: str, vendor: str, model: str, *, from_user: str = "anonymous", call_id: str = "cid-1@10.0.0.9"
) -> sip.Message:
    return sip.Message(
        method="SUBSCRIBE",
        uri=f"sip:{uri_user}@224.0.1.75",
        headers=[
            ("Via", f"SIP/2.0/UDP 127.0.0.1:{port};branch={sip.new_branch()};rport"),
            ("From", f"<sip:{from_user}@127.0.0.1>;tag=ph1"),
            ("To", f"<sip:{uri_user}@224.0.1.75>"),
            ("Call-ID", call_id),
            ("CSeq", "1 SUBSCRIBE"),
            ("Contact", f"<sip:127.0.0.1:{port}>"),
            ("Event", f'ua-profile;profile-type="device";vendor="{vendor}";model="{model}";version="1.2.3"'),
            ("Expires", "0"),
            ("Accept", "application/url"),
            ("User-Agent", f"{vendor} {model} 1.2.3"),
        ],
    )


def _phone_boots(server_port: int, make, *, answer_notify: bool = True) -> tuple[sip.Message, sip.Message, list]:
    """Send the SUBSCRIBE from a phone socket; (the 200, the NOTIFY, every datagram received)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        request = make(sock.getsockname()[1])
        sock.sendto(request.encode(), ("127.0.0.1", server_port))
        got = []
        ok = notify = None
        while ok is None or notify is None:
            data, addr = sock.recvfrom(65535)
            msg = sip.parse(data)
            got.append(msg)
            if msg.status is not None:
                ok = msg
            elif msg.method == "NOTIFY":
                notify = msg
                if answer_notify:
                    sock.sendto(sip.response(msg, 200, "OK").encode(), addr)
        return ok, notify, got
    finally:
        sock.close()


@pytest.fixture
def devices(store):
    add_customer(store, "ROSSI")
    from provisioner.security_services import set_customer_security

    # The customer's path key must never be sent: anyone on the LAN may SUBSCRIBE with this MAC.
    set_customer_security(store, ACTOR, "ROSSI", path_key="new", window_hours=48)
    add_line(store, "ROSSI", "201", "Reception", "Pw-201-very-secret")
    services.add_device(store, ACTOR, "00:15:65:AB:CD:EF", model="T46U", customer="ROSSI", lines=["201"])
    return store


@pytest.mark.parametrize(
    ("uri_user", "from_user", "vendor", "model", "mac"),
    [
        ("MAC%3A001565ABCDEF", "MAC%3A001565ABCDEF", "Yealink", "T46U", "001565ABCDEF"),
        ("MAC%3a000413aabbcc", "MAC%3a000413aabbcc", "snom", "D785", "000413AABBCC"),
        ("anonymous", "0004f2abcdef", "Polycom", "VVX450", "0004F2ABCDEF"),
        ("MACc074ad0b63ee", "anonymous", "Grandstream", "GRP2614", "C074AD0B63EE"),
        ("MAC:C0:74:AD:0B:63:EF", "anonymous", "Grandstream", "GRP2612W", "C074AD0B63EF"),
    ],
)
async def test_subscribe_gets_200_then_notify_with_the_url(
    devices, server, uri_user, from_user, vendor, model, mac, run_cli
):
    responder = server.app[lifecycle.PNP]
    assert responder.port not in (None, 5060)

    def make(port: int) -> sip.Message:
        return _subscribe(port, uri_user, vendor, model, from_user=from_user)

    ok, notify, _ = await asyncio.to_thread(_phone_boots, responder.port, make)
    assert ok.status == 200 and ok.cseq == (1, "SUBSCRIBE") and ok.get("Expires") == "0"
    assert ok.get("Call-ID") == "cid-1@10.0.0.9" and ";tag=" in ok.get("To")
    assert notify.uri.startswith("sip:127.0.0.1:")
    assert notify.get("Content-Type") == "application/url"
    assert notify.body.decode() == URL  # the plain base: no path key, no token, nothing secret
    assert notify.get("Event").startswith("ua-profile") and f'vendor="{vendor}"' in notify.get("Event")
    assert notify.get("Subscription-State") == "terminated;reason=timeout"
    assert notify.get("Call-ID") == "cid-1@10.0.0.9"  # in the SUBSCRIBE's dialog
    assert notify.get("To") == f"<sip:{from_user}@127.0.0.1>;tag=ph1"
    assert notify.get("From") == ok.get("To")  # our tag, as in the 200
    assert notify.cseq[1] == "NOTIFY"
    for _ in range(100):  # the phone's 200 to the NOTIFY reaches the responder
        if responder.notified:
            break
        await asyncio.sleep(0.02)
    assert responder.notified == 1 and responder.answered == 1
    await server.flush()
    unknown = json.loads(run_cli("devices", "unknown", "--json").output)
    if mac == "001565ABCDEF":
        assert unknown == []
    else:
        [row] = unknown
        assert (row["mac"], row["vendor"], row["model"], row["ip"]) == (mac, vendor.lower(), model, "127.0.0.1")
        assert row["last_file"] == "SUBSCRIBE ua-profile"


async def test_a_retransmitted_subscribe_gets_200_but_one_notify(devices, server):
    responder = server.app[lifecycle.PNP]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5)
    try:
        request = _subscribe(sock.getsockname()[1], "MAC%3A001565ABCDEF", "Yealink", "T46U").encode()

        def boot() -> list[sip.Message]:
            sock.sendto(request, ("127.0.0.1", responder.port))
            sock.sendto(request, ("127.0.0.1", responder.port))
            got = []
            while len(got) < 3:
                data, addr = sock.recvfrom(65535)
                msg = sip.parse(data)
                got.append(msg)
                if msg.method == "NOTIFY":
                    sock.sendto(sip.response(msg, 200, "OK").encode(), addr)
            sock.settimeout(0.5)
            with contextlib.suppress(TimeoutError):
                got.append(sip.parse(sock.recvfrom(65535)[0]))
            return got

        got = await asyncio.to_thread(boot)
    finally:
        sock.close()
    assert sorted(m.status or 0 for m in got) == [0, 200, 200]
    assert [m.method for m in got if m.method] == ["NOTIFY"]
    assert len({m.get("To") for m in got if m.status}) == 1  # the same tag for the same transaction


async def test_garbage_and_other_datagrams_are_ignored(devices, server):
    responder = server.app[lifecycle.PNP]
    junk = [
        b"",
        b"\x00\xff" * 40,
        b"hello",
        b"SUBSCRIBE sip:x SIP/2.0\r\nCSeq: nope\r\nEvent: ua-profile\r\n\r\n",
        _subscribe(9, "MAC%3A001565ABCDEF", "Cisco", "7960").encode(),  # not one of our vendors
        _subscribe(9, "nobody", "Yealink", "T46U").encode(),  # no MAC anywhere
        _subscribe(9, "MAC%3A001565ABCDEF", "Yealink", "T46U").encode().replace(b"ua-profile", b"presence"),
        sip.Message(method="OPTIONS", uri="sip:x@y", headers=[("CSeq", "1 OPTIONS")]).encode(),
    ]
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    try:
        for data in junk:
            sock.sendto(data, ("127.0.0.1", responder.port))
        for _ in range(100):
            if responder.ignored == len(junk):
                break
            await asyncio.sleep(0.02)
        assert responder.ignored == len(junk) and responder.answered == 0
    finally:
        sock.close()
    # ... and it still answers a phone afterwards
    ok, notify, _ = await asyncio.to_thread(
        _phone_boots, responder.port, lambda port: _subscribe(port, "MAC%3A001565ABCDEF", "Yealink", "T46U")
    )
    assert ok.status == 200 and notify.body == URL.encode()


async def test_a_forged_contact_is_not_used_as_a_reflector(devices, server):
    """The NOTIFY goes back to the SUBSCRIBE's source address, whatever its Contact claims."""
    responder = server.app[lifecycle.PNP]

    def make(port: int) -> sip.Message:
        msg = _subscribe(port, "MAC%3A001565ABCDEF", "Yealink", "T46U")
        msg.headers = [(k, f"<sip:192.0.2.1:{port}>" if k == "Contact" else v) for k, v in msg.headers]
        return msg

    ok, notify, _ = await asyncio.to_thread(_phone_boots, responder.port, make)
    assert ok.status == 200 and notify.body == URL.encode()


async def test_multicast_join_failure_is_logged_and_unicast_still_works(monkeypatch, caplog):
    def refuse(sock):
        raise OSError(19, "No such device")

    monkeypatch.setattr(pnp, "join_group", refuse)
    seen: list[str] = []

    async def known(mac: str) -> bool:
        return True

    responder = pnp.PnpResponder(URL, known=known, unknown=lambda sub, ip: seen.append(sub.mac))
    port = await responder.start("127.0.0.1", 0, multicast=True)
    try:
        assert responder.multicast is False
        ok, notify, _ = await asyncio.to_thread(
            _phone_boots, port, lambda p: _subscribe(p, "MAC%3A001565ABCDEF", "Yealink", "T46U")
        )
        assert ok.status == 200 and notify.body == URL.encode() and seen == []
    finally:
        await responder.stop()


def test_serve_flags_reach_the_settings(monkeypatch, data_dir):
    from click.testing import CliRunner

    from provisioner import http_server
    from provisioner.cli import cli

    captured = {}

    def fake_run(app, settings, ssl_context):
        captured["settings"] = settings

        async def nothing() -> None:
            return None

        return nothing()

    monkeypatch.setattr(http_server, "run", fake_run)
    runner = CliRunner(
        env={
            "PROVISIONER_DATA_DIR": str(data_dir),
            "PROVISIONER_PNP_PORT": "5070",
            "PROVISIONER_PNP": None,
            "PROVISIONER_MDNS": None,
        }
    )  # the defaults, not conftest's
    result = runner.invoke(cli, ["serve", "--log-format", "console"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    s = captured["settings"]
    assert (s.pnp, s.pnp_port, s.mdns) == (True, 5070, True)
    result = runner.invoke(
        cli, ["serve", "--pnp", "off", "--mdns", "off", "--pnp-port", "5062"], catch_exceptions=False
    )
    s = captured["settings"]
    assert (s.pnp, s.pnp_port, s.mdns) == (False, 5062, False)
    result = runner.invoke(cli, ["serve", "--pnp-port", "70000"])
    assert result.exit_code == 2 and "--pnp-port" in result.output


def test_a_vendor_added_to_the_registry_is_recognised_in_pnp(monkeypatch):
    """A fifth vendor is one module (CONTRIBUTING.md): PnP knows it from the registry, no list to extend."""
    from provisioner import vendors

    acme = dataclasses.replace(vendors.get("snom"), name="acme")
    known = vendors.all_vendors()
    monkeypatch.setattr(vendors, "all_vendors", lambda: (*known, acme))
    said = {v: pnp.read_subscription(_subscribe(5060, "MAC001565AABBCC", v, "X1")) for v in ("acme", "poly", "cisco")}
    assert said["acme"] is not None and said["acme"].vendor == "acme"
    assert said["poly"] is not None and said["poly"].vendor == "polycom"
    assert said["cisco"] is None

"""Scan defence: a scanner guessing MACs is banned fast and gets no password, over HTTP and TFTP,
while real phones (one office behind one NAT address among them) are all served."""

from __future__ import annotations

import asyncio
import json
import random
import re

import aiohttp
import pytest
import structlog

from provisioner import keys, security_services, services, vendors
from provisioner.access import Digest, Policy, ScanGuard, ScanSettings, Verdict, networks
from provisioner.vendors.polycom import SETTINGS_SUFFIX
from tests.conftest import ACTOR, add_customer, add_line
from tests.test_phone_security import has_password, prov_credentials
from tests.test_phones import PASSWORD_1, PHONES
from tests.tftp_client import UdpSocket
from tests.tftp_client import fetch as tftp_fetch

SCANNER, OFFICE = "127.0.0.2", "127.0.0.3"
# The documented fail2ban filter (README, "Securing provisioning"), for the JSON log format.
FAIL2BAN_JSON = r'^\{"ip": "<HOST>", .*"event": "phone_ip_banned"'


def settings_file(vendor: str, mac: str) -> str:
    return {
        "yealink": f"{mac.lower()}.cfg",
        "snom": f"{mac.upper()}.xml",
        "polycom": f"{mac.lower()}{SETTINGS_SUFFIX}",
        "grandstream": f"cfg{mac.lower()}.xml",
    }[vendor]


async def test_scanner_is_banned_and_gets_nothing_while_real_phones_are_served(server, store):
    rng = random.Random(6)
    # Customer ROSSI: no extra protection (the default); BIANCHI: Digest, its office behind one NAT.
    add_customer(store)
    add_customer(store, "BIANCHI", name="Bianchi", sip_server="pbx.bianchi.example.net")
    real = []
    for n, (vendor, phones) in enumerate(PHONES.items()):
        for m, phone in enumerate(phones):
            ext = str(300 + n * 10 + m)
            add_line(store, "ROSSI", ext, f"Desk {ext}", PASSWORD_1)
            services.add_device(store, ACTOR, phone.mac, model=phone.model, customer="ROSSI", lines=[ext])
            real.append((vendor, phone.mac, phone.user_agent))
    office = []
    for n in range(24):
        mac = f"805EC0{n:06X}"
        add_line(store, "BIANCHI", str(100 + n), f"Office {n}", PASSWORD_1)
        services.add_device(store, ACTOR, mac, model="T46U", customer="BIANCHI", lines=[str(100 + n)])
        office.append(mac)
    password = security_services.set_customer_security(store, ACTOR, "BIANCHI", auth="digest")["new_secrets"][
        "password"
    ]
    await server.sync()
    known = {mac for _, mac, _ in real} | set(office)
    url = f"http://127.0.0.1:{server.http_port}"

    # 5,000 guesses in the four vendors' prefixes, a third of them over TFTP; two real MACs among them.
    guesses = []
    while len(guesses) < 5000:
        vendor = rng.choice(vendors.all_vendors())
        mac = rng.choice(vendor.ouis) + f"{rng.getrandbits(24):06X}"
        if mac not in known:
            guesses.append((vendor.name, mac))
    guesses[100] = (real[0][0], real[0][1])
    guesses[2500] = ("yealink", office[0])

    async def scan() -> list[tuple[int, bytes]]:
        results = []
        connector = aiohttp.TCPConnector(local_addr=(SCANNER, 0), limit=1)
        async with aiohttp.ClientSession(connector=connector) as client:
            for i, (vendor, mac) in enumerate(guesses):
                name = settings_file(vendor, mac)
                if i % 3 == 2:
                    sock = await UdpSocket.open(SCANNER)
                    transfer = await tftp_fetch(("127.0.0.1", server.tftp_port), name, sock=sock)
                    results.append(
                        (
                            403 if transfer.error and transfer.error[0] == 2 else 404 if transfer.error else 200,
                            transfer.data,
                        )
                    )
                else:
                    async with client.get(f"{url}/{name}", headers={"User-Agent": "python-requests/2.31"}) as resp:
                        results.append((resp.status, await resp.read()))
                if i % 50 == 0:
                    await asyncio.sleep(0)  # let the real phones in between
        return results

    async def real_phones() -> list[bool]:
        served = []
        async with aiohttp.ClientSession() as client:
            for round_ in range(3):
                for vendor, mac, user_agent in real:
                    name = settings_file(vendor, mac)
                    if round_ == 1:
                        transfer = await tftp_fetch(("127.0.0.1", server.tftp_port), name)
                        served.append(transfer.error is None and has_password(transfer.data))
                    else:
                        async with client.get(f"{url}/{name}", headers={"User-Agent": user_agent}) as resp:
                            served.append(resp.status == 200 and has_password(await resp.read()))
                await asyncio.sleep(0.05)
        return served

    async def office_boots() -> list[bool]:
        # 24 phones behind one address boot together, each with the Digest exchange (a 401 first).
        connector = aiohttp.TCPConnector(local_addr=(OFFICE, 0))
        digest = aiohttp.DigestAuthMiddleware("BIANCHI", password)
        async with aiohttp.ClientSession(connector=connector, middlewares=(digest,)) as client:

            async def boot(mac: str) -> bool:
                ok = True
                for name in (f"{mac.lower()}.boot", "y000000000000.boot", "y000000000108.cfg", f"{mac.lower()}.cfg"):
                    ua = f"Yealink SIP-T46U 108.86.0.20 {mac.lower()}"
                    async with client.get(f"{url}/{name}", headers={"User-Agent": ua}) as resp:
                        body = await resp.read()
                        ok = ok and resp.status == 200
                return ok and has_password(body) and prov_credentials("yealink", body)[:2] == ("BIANCHI", password)

            return list(await asyncio.gather(*(boot(mac) for mac in office)))

    with structlog.testing.capture_logs() as logs:
        scanned, served, booted = await asyncio.gather(scan(), real_phones(), office_boots())

    statuses = [status for status, _ in scanned]
    assert not any(has_password(body) for _, body in scanned), "the scanner got a password"
    assert 200 not in statuses
    first_ban = statuses.index(403)
    assert first_ban < 19, f"banned only at guess {first_ban + 1}"
    assert set(statuses[first_ban:]) == {403}, "once banned, everything is refused"
    assert set(statuses[:first_ban]) == {404}
    assert all(served) and len(served) == 3 * len(real)
    assert all(booted) and len(booted) == len(office)
    guard = server.app[keys.RESOLVER].guard
    assert guard.banned(SCANNER) and not guard.banned(OFFICE) and not guard.banned("127.0.0.1")
    bans = [e for e in logs if e["event"] == "phone_ip_banned"]
    assert [e["ip"] for e in bans] == [SCANNER]
    # The line the log carries (JSON format) matches the documented fail2ban filter.
    line = json.dumps({k: v for k, v in bans[0].items() if k != "log_level"})
    assert re.search(FAIL2BAN_JSON.replace("<HOST>", r"(?P<host>[0-9.]+)"), line).group("host") == SCANNER


def test_failures_slide_out_of_the_window_and_bans_end():
    now = [0.0]
    guard = ScanGuard(ScanSettings(failures=3, window=60, ban=600), clock=lambda: now[0])
    for _ in range(2):
        assert not guard.failed("198.51.100.7", "unknown-device")
        now[0] += 40
    # The first failure is 80 s old when the third comes: no ban.
    assert not guard.failed("198.51.100.7", "unknown-device") and not guard.banned("198.51.100.7")
    now[0] += 1
    assert guard.failed("198.51.100.7", "unknown-device")  # three within 60 s
    assert guard.banned("198.51.100.7") and not guard.banned("198.51.100.8")
    now[0] += 599
    assert guard.banned("198.51.100.7")
    now[0] += 2
    assert not guard.banned("198.51.100.7")


def test_memory_stays_bounded_under_many_addresses():
    guard = ScanGuard(ScanSettings(failures=2, window=60, ban=600, max_tracked=1000), clock=lambda: 0.0)
    for n in range(50_000):
        guard.failed(f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}", "unknown-device")
    assert guard.tracked <= 1000
    for n in range(5_000):
        ip = f"172.16.{n >> 8 & 255}.{n & 255}"
        guard.failed(ip, "unknown-device")
        guard.failed(ip, "unknown-device")
    assert guard.banned_count <= 1000 and guard.banned("172.16.19.135")  # the latest bans are kept


def test_disabled_guard_never_bans():
    guard = ScanGuard(ScanSettings(failures=1, enabled=False))
    assert not guard.failed("192.0.2.1", "unknown-device") and not guard.banned("192.0.2.1")


def test_exempt_networks_are_never_counted_nor_banned():
    guard = ScanGuard(ScanSettings(failures=2, exempt=networks("192.0.2.0/24, 2001:db8::/48")))
    for ip in ("192.0.2.50", "::ffff:192.0.2.51", "2001:db8:0:1::9"):
        for _ in range(5):
            assert not guard.failed(ip, "unknown-device")
        assert not guard.banned(ip)
    guard.failed("192.0.3.1", "unknown-device")
    assert guard.failed("192.0.3.1", "unknown-device") and guard.banned("192.0.3.1")


def test_exempt_networks_setting_names_a_bad_entry(tmp_path):
    from click.testing import CliRunner

    from provisioner.cli import cli

    with pytest.raises(ValueError, match=r"'10\.0\.0\.0/33' is not an IP network"):
        networks("192.0.2.0/24,10.0.0.0/33")
    result = CliRunner().invoke(cli, ["serve", "--data-dir", str(tmp_path), "--scan-exempt", "workshop"])
    assert result.exit_code == 2 and "--scan-exempt" in result.output and "'workshop'" in result.output


def test_an_old_nonce_is_stale_and_a_forged_one_bad():
    now = [1_800_000_000.0]
    digest = Digest("shared-secret", nonce_lifetime=300, clock=lambda: now[0])
    policy = Policy.from_row({"auth": "digest", "username": "u", "password": "p" * 22})
    nonce = digest.nonce()

    def header(nonce_: str) -> str:
        import hashlib

        def md5(t: str) -> str:
            return hashlib.md5(t.encode()).hexdigest()

        ha1, ha2 = md5(f"u:provisioner:{'p' * 22}"), md5("GET:/x.cfg")
        response = md5(f"{ha1}:{nonce_}:00000001:c:auth:{ha2}")
        return (
            f'Digest username="u", realm="provisioner", nonce="{nonce_}", uri="/x.cfg", qop=auth, '
            f'nc=00000001, cnonce="c", response="{response}"'
        )

    assert digest.check(header(nonce), method="GET", policy=policy, secure=False) is Verdict.OK
    now[0] += 301
    assert digest.check(header(nonce), method="GET", policy=policy, secure=False) is Verdict.STALE
    # Another node with the same secret accepts a fresh nonce of this one.
    other = Digest("shared-secret", clock=lambda: now[0])
    assert other.check(header(digest.nonce()), method="GET", policy=policy, secure=False) is Verdict.OK
    stranger = Digest("another-secret", clock=lambda: now[0])
    assert stranger.check(header(digest.nonce()), method="GET", policy=policy, secure=False) is Verdict.BAD
    assert digest.check(None, method="GET", policy=policy, secure=False) is Verdict.MISSING
    assert "stale=true" in digest.challenge(stale=True)


async def test_user_agents_naming_other_macs_count_toward_a_ban(server, store):
    add_customer(store)
    add_line(store, "ROSSI", "200", "Desk", PASSWORD_1)
    services.add_device(store, ACTOR, "001565A1B2C3", model="T46U", customer="ROSSI", lines=["200"])
    await server.sync()
    statuses = []
    for n in range(12):  # a known MAC in the path, another phone's MAC in the User-Agent
        resp = await server.client.get(
            "/001565a1b2c3.cfg", headers={"User-Agent": f"Yealink SIP-T46U 108.86.0.20 001565{n:06x}"}
        )
        statuses.append(resp.status)
        assert not has_password(await resp.read())
    assert statuses == [403] * 12
    guard = server.app[keys.RESOLVER].guard
    assert guard.banned("127.0.0.1")
    # Now even the right User-Agent gets nothing from this address, over HTTP and TFTP alike.
    resp = await server.client.get(
        "/001565a1b2c3.cfg", headers={"User-Agent": "Yealink SIP-T46U 108.86.0.20 001565a1b2c3"}
    )
    assert resp.status == 403
    transfer = await tftp_fetch(("127.0.0.1", server.tftp_port), "001565a1b2c3.cfg")
    assert transfer.error[0] == 2 and transfer.data == b""
    guard.unban("127.0.0.1")
    resp = await server.client.get(
        "/001565a1b2c3.cfg", headers={"User-Agent": "Yealink SIP-T46U 108.86.0.20 001565a1b2c3"}
    )
    assert resp.status == 200


async def test_a_server_told_the_workshop_network_serves_it_after_many_unknown_phones(aiohttp_client, settings, store):
    from dataclasses import replace

    from provisioner.web import create_app

    add_customer(store)
    add_line(store, "ROSSI", "201", "Desk", PASSWORD_1)
    services.add_device(store, ACTOR, "001565000201", model="T46U", customer="ROSSI", lines=["201"])
    app = create_app(replace(settings, scan_failures=3, scan_exempt="127.0.0.0/8"))
    client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
    for n in range(12):  # a bench of phones not imported yet
        assert (await client.get(f"/0015650009{n:02d}.cfg")).status == 404
    served = await client.get("/001565000201.cfg")
    assert served.status == 200 and PASSWORD_1 in await served.text()

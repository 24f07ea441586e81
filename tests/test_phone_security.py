"""Phone-facing security against the real server: Digest with each vendor's request pattern,
secret path, device token and first-contact window, IP allowlist, HTTPS with a self-signed
certificate, the download audit, and deprovisioned devices.

Client addresses differ by binding the client socket to another loopback address (127.0.0.2,
127.0.0.3: loopback on Linux); nothing in the server trusts a header for the peer address.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import ssl
import xml.etree.ElementTree as ET
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from provisioner import keys, rental_services, security_services, services
from provisioner.db import utcnow
from provisioner.web import create_app, tls_context
from tests.conftest import ACTOR, add_customer
from tests.test_phones import PASSWORD_1, PASSWORD_2, PHONES, provision
from tests.tftp_client import UdpSocket
from tests.tftp_client import fetch as tftp_fetch

ONE_PER_VENDOR = [(vendor, phones[0]) for vendor, phones in PHONES.items()]


def session(ip: str = "127.0.0.1", **kw) -> aiohttp.ClientSession:
    """A client whose connections leave from ``ip``."""
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(local_addr=(ip, 0), force_close=True), **kw)


def base(server) -> str:
    return f"http://127.0.0.1:{server.http_port}"


def has_password(body: bytes) -> bool:
    return any(
        p.encode() in body or p.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").encode() in body
        for p in (PASSWORD_1, PASSWORD_2)
    )


async def tftp_from(server, name: str, ip: str = "127.0.0.1"):
    sock = await UdpSocket.open(ip)
    return await tftp_fetch(("127.0.0.1", server.tftp_port), name, sock=sock)


def prov_credentials(vendor: str, body: bytes) -> tuple[str | None, str | None, str]:
    """(user, password, server URL or path) a settings file gives the phone for provisioning."""
    if vendor == "yealink":
        pairs = dict(line.split(" = ", 1) for line in body.decode().splitlines()[1:] if " = " in line)
        return (
            pairs.get("static.auto_provision.server.username"),
            pairs.get("static.auto_provision.server.password"),
            pairs["static.auto_provision.server.url"],
        )
    root = ET.fromstring(body)
    if vendor == "snom":
        url = root.find("phone-settings").findtext("setting_server")
        m = re.match(r"https?://([^:@/]+):([^@/]+)@", url)
        return (m.group(1), m.group(2), url) if m else (None, None, url)
    if vendor == "polycom":
        attrs: dict[str, str] = {}
        for el in root.iter():
            attrs.update(el.attrib)
        return attrs.get("device.prov.user"), attrs.get("device.prov.password"), attrs["device.prov.serverName"]
    p = {el.tag: el.text or "" for el in root.find("config")}
    return p.get("P1360"), p.get("P1361"), p["P237"]


# --- Digest, per vendor -----------------------------------------------------------------------


@pytest.mark.parametrize("vendor,phone", ONE_PER_VENDOR, ids=[v for v, _ in ONE_PER_VENDOR])
async def test_digest_with_each_vendors_request_pattern(server, store, vendor, phone):
    add_customer(store)
    provision(store, phone, 200)
    made = security_services.set_customer_security(store, ACTOR, "ROSSI", auth="digest")
    user, password = "ROSSI", made["new_secrets"]["password"]
    await server.sync()
    headers = {"User-Agent": phone.user_agent}

    async with session() as plain, session(middlewares=(aiohttp.DigestAuthMiddleware(user, password),)) as digest:
        for name in phone.files:
            first = await plain.get(f"{base(server)}/{name}", headers=headers)
            is_device_file = phone.mac.lower() in name.lower()
            if is_device_file:
                # The phone's first request has no credentials: a challenge, not a failure.
                assert first.status == 401, name
                challenge = first.headers["WWW-Authenticate"]
                assert challenge.startswith("Digest ") and 'qop="auth"' in challenge and "algorithm=MD5" in challenge
                assert not has_password(await first.read())
            else:  # common files hold no secret and need no credentials
                assert first.status == 200, name
            # The phone retries with a Digest response (aiohttp computes it per RFC 7616).
            second = await digest.get(f"{base(server)}/{name}", headers=headers)
            assert second.status == 200, name
            body = await second.read()
        assert has_password(body)
        # The settings file gives the phone the same credentials for its next fetches.
        got_user, got_password, url = prov_credentials(vendor, body)
        assert (got_user, got_password) == (user, password)
        assert "prov.test" in url

        # A wrong password: 401 again, and it counts toward a ban of that address.
        async with session(middlewares=(aiohttp.DigestAuthMiddleware(user, "wrong-" + password),)) as bad:
            resp = await bad.get(f"{base(server)}/{phone.files[-1]}", headers=headers)
            assert resp.status == 401 and not has_password(await resp.read())
        # Basic over plain HTTP is never accepted, even with the right password.
        basic = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
        resp = await plain.get(f"{base(server)}/{phone.files[-1]}", headers={**headers, "Authorization": basic})
        assert resp.status == 401
    guard = server.app[keys.RESOLVER].guard
    assert guard.tracked == 1  # 127.0.0.1: the wrong password only; challenges did not count
    # TFTP cannot carry credentials: refused (access violation), and no password leaves.
    transfer = await tftp_from(server, phone.files[-1])
    assert transfer.error is not None and transfer.error[0] == 2 and not has_password(transfer.data)


async def test_digest_response_computed_by_hand_per_rfc_7616(server, store):
    phone = PHONES["yealink"][0]
    add_customer(store)
    provision(store, phone, 200)
    password = security_services.set_customer_security(store, ACTOR, "ROSSI", auth="digest", username="rossi-prov")[
        "new_secrets"
    ]["password"]
    await server.sync()
    path = f"/{phone.mac.lower()}.cfg"
    first = await server.client.get(path, headers={"User-Agent": phone.user_agent})
    assert first.status == 401
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', first.headers["WWW-Authenticate"]))

    def md5(text: str) -> str:
        return hashlib.md5(text.encode()).hexdigest()

    ha1 = md5(f"rossi-prov:{params['realm']}:{password}")
    ha2 = md5(f"GET:{path}")
    cnonce, nc = "0a4f113b", "00000001"
    response = md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    header = (
        f'Digest username="rossi-prov", realm="{params["realm"]}", nonce="{params["nonce"]}", uri="{path}", '
        f'algorithm=MD5, qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}", '
        f'opaque="{params["opaque"]}"'
    )
    ok = await server.client.get(path, headers={"User-Agent": phone.user_agent, "Authorization": header})
    assert ok.status == 200 and has_password(await ok.read())
    # The same response sent for another file is refused: it was computed for this URI only.
    other = await server.client.get(
        f"/{phone.mac.lower()}.boot", headers={"User-Agent": phone.user_agent, "Authorization": header}
    )
    assert other.status == 401
    # A nonce the server did not make is refused, however well the rest is computed.
    forged = params["nonce"].split(".")[0] + ".0000"
    response = md5(f"{ha1}:{forged}:{nc}:{cnonce}:auth:{ha2}")
    bad = header.replace(params["nonce"], forged).rsplit('response="', 1)[0] + f'response="{response}", opaque="x"'
    refused = await server.client.get(path, headers={"User-Agent": phone.user_agent, "Authorization": bad})
    assert refused.status == 401


# --- secret path -------------------------------------------------------------------------------


async def test_secret_path_prefix(server, store):
    phone = PHONES["polycom"][0]
    add_customer(store)
    provision(store, phone, 200)
    key = security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="new")["new_secrets"]["path_key"]
    assert len(base64.urlsafe_b64decode(key + "==")) >= 16  # at least 128 bits
    await server.sync()
    settings_file = phone.files[-1]
    headers = {"User-Agent": phone.user_agent}
    for path, status in (
        (f"/{settings_file}", 403),
        (f"/p/{'A' * 22}/{settings_file}", 403),
        (f"/p/{key}/000000000000.cfg", 200),
        ("/000000000000.cfg", 200),
    ):
        resp = await server.client.get(path, headers=headers)
        assert resp.status == status, path
        assert not has_password(await resp.read())
    resp = await server.client.get(f"/p/{key}/{settings_file}", headers=headers)
    assert resp.status == 200
    body = await resp.read()
    assert has_password(body)
    assert prov_credentials("polycom", body)[2] == f"http://prov.test:8080/p/{key}/"
    import structlog

    with structlog.testing.capture_logs() as logs:
        over_tftp = await tftp_fetch(("127.0.0.1", server.tftp_port), f"p/{key}/{settings_file}")
        assert over_tftp.error is None and over_tftp.data == body
        wrong = await tftp_fetch(("127.0.0.1", server.tftp_port), f"p/{key[:-1]}x/{settings_file}")
        assert wrong.error[0] == 2
        refused = await tftp_fetch(("127.0.0.1", server.tftp_port), settings_file)
        assert refused.error[0] == 2 and refused.data == b""
    assert logs and not any(key[:-1] in str(entry) for entry in logs), "a path key reached the logs"


# --- device token and first-contact window --------------------------------------------------------


async def test_device_token_and_first_contact_window(server, store):
    yealink, grandstream = PHONES["yealink"][0], PHONES["grandstream"][0]
    add_customer(store)
    provision(store, yealink, 200)
    provision(store, grandstream, 210)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    await server.sync()
    resolver = server.app[keys.RESOLVER]
    mac_cfg = f"{yealink.mac.lower()}.cfg"
    headers = {"User-Agent": yealink.user_agent}

    # Within the window the phone fetches with just its MAC: the boot file (no password) first ...
    boot = await server.client.get(f"/{yealink.mac.lower()}.boot", headers=headers)
    assert boot.status == 200 and not has_password(await boot.read())
    # ... then its settings, which hold its own URL with its token; that closes the window.
    first = await server.client.get(f"/{mac_cfg}", headers=headers)
    assert first.status == 200
    body = await first.read()
    assert has_password(body)
    url = prov_credentials("yealink", body)[2]
    token = re.fullmatch(r"http://prov\.test:8080/d/([A-Za-z0-9_-]{22})/", url).group(1)
    again = await server.client.get(f"/{mac_cfg}", headers=headers)
    assert again.status == 403 and not has_password(await again.read())
    wrong = await server.client.get(f"/d/{'B' * 22}/{mac_cfg}", headers=headers)
    assert wrong.status == 403
    with_token = await server.client.get(f"/d/{token}/{mac_cfg}", headers=headers)
    assert with_token.status == 200 and await with_token.read() == body

    # The closed window is written down (an event): a fresh cache, or another node, sees it too.
    await server.flush()
    await server.sync()
    assert services.show_device(store, yealink.mac)["window_closed_at"] is not None
    assert any(e["action"] == "device.window_closed" for e in services.show_device(store, yealink.mac)["history"])
    still = await server.client.get(f"/{mac_cfg}", headers=headers)
    assert still.status == 403
    assert (await server.client.get(f"/d/{token}/{mac_cfg}", headers=headers)).status == 200

    # The other phone never fetched; its window runs out after 24 hours (the clock is moved, not waited for).
    gs_file = grandstream.files[-1]
    resolver.now = lambda: utcnow() + dt.timedelta(hours=24, minutes=1)
    late = await server.client.get(f"/{gs_file}", headers={"User-Agent": grandstream.user_agent})
    assert late.status == 403 and not has_password(await late.read())
    resolver.now = utcnow
    early = await server.client.get(f"/{gs_file}", headers={"User-Agent": grandstream.user_agent})
    assert early.status == 200

    # Reassigning the device gives it a new token: the old one stops working.
    add_customer(store, "BIANCHI", name="Bianchi", sip_server="pbx.bianchi.example.net")
    security_services.set_customer_security(store, ACTOR, "BIANCHI", window_hours=1)
    rental_services.unassign(store, ACTOR, yealink.mac)
    rental_services.return_device(store, ACTOR, yealink.mac)
    rental_services.assign(store, ACTOR, yealink.mac, "BIANCHI")
    await server.sync()
    assert (await server.client.get(f"/d/{token}/{mac_cfg}", headers=headers)).status == 403
    # ... and a new window: the phone, reset at the new customer, fetches with its MAC again.
    fresh = await server.client.get(f"/{mac_cfg}", headers=headers)
    assert fresh.status == 200
    assert token not in prov_credentials("yealink", await fresh.read())[2]


# --- IP allowlist ----------------------------------------------------------------------------------


async def test_ip_allowlist(server, store):
    phone = PHONES["snom"][0]
    add_customer(store)
    provision(store, phone, 200)
    url = f"{base(server)}/{phone.files[-1]}"
    headers = {"User-Agent": phone.user_agent}
    security_services.set_customer_security(store, ACTOR, "ROSSI", allow=["10.0.0.0/8", "127.0.0.2/32"])
    await server.sync()
    async with session("127.0.0.1") as office, session("127.0.0.2") as allowed:
        resp = await office.get(url, headers=headers)
        assert resp.status == 403 and not has_password(await resp.read())
        resp = await allowed.get(url, headers=headers)
        assert resp.status == 200 and has_password(await resp.read())
    transfer = await tftp_from(server, phone.files[-1], "127.0.0.2")
    assert transfer.error is None and has_password(transfer.data)
    transfer = await tftp_from(server, phone.files[-1], "127.0.0.3")
    assert transfer.error is not None and transfer.error[0] == 2


def test_bad_security_input_is_refused_naming_the_field(store, run_cli):
    add_customer(store)
    for args, field in (
        (["--allow", "10.0.0.300/8"], "allow"),
        (["--window", "soon"], "window"),
        (["--window", "0.5"], "window"),
        (["--user", "a b"], "username"),
    ):
        result = run_cli("customer", "security", "ROSSI", *args, ok=False)
        assert result.exit_code != 0 and field in result.output, (args, result.output)
    result = run_cli("customer", "security", "NOBODY", "--auth", "digest", ok=False)
    assert result.exit_code != 0 and "NOBODY" in result.output
    # Nothing was half-applied.
    assert security_services.customer_security(store, "ROSSI")["allow"] == []


def test_cli_sets_and_shows_rules_and_never_prints_secrets_unasked(store, run_cli):
    add_customer(store)
    out = run_cli(
        "customer",
        "security",
        "ROSSI",
        "--auth",
        "digest",
        "--path-key",
        "new",
        "--window",
        "24",
        "--allow",
        "203.0.113.0/24",
        "--public-url",
        "https://prov.example.net/",
    ).output
    made = re.search(r"new password: (\S+)", out).group(1)
    key = re.search(r"new path key: (\S+)", out).group(1)
    assert f"https://ROSSI:{made}@prov.example.net/p/{key}/" in out
    shown = run_cli("customer", "show", "ROSSI").output
    assert "digest" in shown and "24 h" in shown and "203.0.113.0/24" in shown
    as_json = run_cli("customer", "show", "ROSSI", "--json").output
    assert json.loads(as_json)["security"]["password_set"] is True
    for text in (shown, as_json, run_cli("customer", "security", "ROSSI", "--json").output):
        assert made not in text and key not in text
    assert made in run_cli("customer", "security", "ROSSI", "--reveal").output
    # The audit event says what changed, never the secret.
    with store.reading() as tx:
        events = tx.conn.exec_driver_sql("SELECT summary, before, after FROM events").fetchall()
    assert not any(made in str(e) or key in str(e) for e in events)


# --- HTTPS ---------------------------------------------------------------------------------------------


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "provisioner test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_https_with_a_self_signed_certificate(store, settings, tmp_path):
    phone = PHONES["yealink"][0]
    add_customer(store)
    provision(store, phone, 200)
    password = security_services.set_customer_security(store, ACTOR, "ROSSI", auth="digest")["new_secrets"]["password"]
    cert, key = self_signed(tmp_path)
    https = settings.__class__(
        **{
            **settings.__dict__,
            "public_url": None,
            "host": "127.0.0.1",
            "http_port": None,
            "https_port": 8443,
            "tls_cert": cert,
            "tls_key": key,
            "tftp_port": None,
        }
    )
    assert https.provisioning_url == "https://127.0.0.1:8443/"
    runner = web.AppRunner(create_app(https))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(https))
    await site.start()
    port = runner.addresses[0][1]
    client_tls = ssl.create_default_context(cafile=str(cert))
    try:
        url = f"https://127.0.0.1:{port}/{phone.mac.lower()}.cfg"
        async with aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware("ROSSI", password),)) as client:
            resp = await client.get(url, ssl=client_tls, headers={"User-Agent": phone.user_agent})
            assert resp.status == 200
            body = await resp.read()
        assert has_password(body)
        assert prov_credentials("yealink", body)[2] == "https://127.0.0.1:8443/"
        # Over TLS, Basic credentials are accepted too.
        basic = "Basic " + base64.b64encode(f"ROSSI:{password}".encode()).decode()
        async with aiohttp.ClientSession() as client:
            resp = await client.get(
                url, ssl=client_tls, headers={"User-Agent": phone.user_agent, "Authorization": basic}
            )
            assert resp.status == 200 and await resp.read() == body
            # A client that does not trust the certificate gets nothing.
            with pytest.raises(aiohttp.ClientConnectorCertificateError):
                await client.get(url, ssl=ssl.create_default_context())
    finally:
        await runner.cleanup()


# --- audit -----------------------------------------------------------------------------------------------


async def test_download_audit_and_two_addresses_within_an_hour(server, store, run_cli):
    import structlog

    phone = PHONES["grandstream"][0]
    add_customer(store)
    provision(store, phone, 200)
    await server.sync()
    url = f"{base(server)}/{phone.files[-1]}"
    with structlog.testing.capture_logs() as logs:
        async with session("127.0.0.2") as office:
            assert (await office.get(url, headers={"User-Agent": phone.user_agent})).status == 200
        transfer = await tftp_from(server, phone.files[-1], "127.0.0.2")
        assert transfer.error is None
        async with session("127.0.0.3") as elsewhere:
            assert (await elsewhere.get(url, headers={"User-Agent": "curl/8"})).status == 200
    warnings = [e for e in logs if e["event"] == "device_fetched_from_two_ips"]
    assert len(warnings) == 1 and warnings[0]["ip"] == "127.0.0.3" and warnings[0]["previous_ip"] == "127.0.0.2"
    await server.flush()

    rows = json.loads(run_cli("device", "downloads", phone.mac, "--json").output)
    assert [(r["ip"], r["transport"], r["user_agent"]) for r in rows] == [
        ("127.0.0.2", "http", phone.user_agent),
        ("127.0.0.2", "tftp", None),
        ("127.0.0.3", "http", "curl/8"),
    ]
    assert all(r["file"] == phone.files[-1] and r["at"] for r in rows)
    assert all(r["flagged"] for r in rows)
    table = run_cli("device", "downloads", phone.mac).output
    assert "127.0.0.3" in table and table.count("\n! ") + table.startswith("! ") >= 1
    shown = run_cli("device", "show", phone.mac).output
    assert "WARNING: fetched from different addresses within an hour: 127.0.0.2, 127.0.0.3" in shown
    assert services.show_device(store, phone.mac)["downloads"]["count"] == 3


def test_downloads_an_hour_apart_are_not_flagged():
    from provisioner.activity import flag_downloads

    t = dt.datetime(2026, 11, 23, 9, 0, tzinfo=dt.UTC)
    rows = [
        {"at": t, "ip": "a"},
        {"at": t + dt.timedelta(minutes=61), "ip": "b"},
        {"at": t + dt.timedelta(minutes=70), "ip": "b"},
        {"at": t + dt.timedelta(minutes=100), "ip": "c"},
    ]
    assert [r["flagged"] for r in flag_downloads(rows)] == [False, True, True, True]


# --- deprovisioned devices -------------------------------------------------------------------------------------


async def test_deprovisioned_devices_get_no_credentials_of_any_kind(server, store):
    phone = PHONES["snom"][0]
    add_customer(store)
    provision(store, phone, 200)
    made = security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="new", window_hours=24)
    key = made["new_secrets"]["path_key"]
    await server.sync()
    path = f"/p/{key}/{phone.files[-1]}"
    headers = {"User-Agent": phone.user_agent}
    resp = await server.client.get(path, headers=headers)
    first = await resp.read()
    assert resp.status == 200 and has_password(first)
    token = re.search(r"/d/([A-Za-z0-9_-]{22})/", prov_credentials("snom", first)[2]).group(1)
    # The contract ends: the phone is due back and gets no SIP password, nor its token or the key.
    rental_services.terminate(store, ACTOR, "ROSSI", dt.date.today() - dt.timedelta(days=1))
    await server.sync()
    resp = await server.client.get(f"/d/{token}/{phone.files[-1]}", headers=headers)
    body = await resp.read()
    assert resp.status == 200 and not has_password(body)
    setting_server = ET.fromstring(body).find("phone-settings").findtext("setting_server")
    assert setting_server == "http://prov.test:8080/" and key not in body.decode() and token not in body.decode()


# --- admin API ----------------------------------------------------------------------------------------------------


async def test_security_over_the_admin_api(server, store, api):
    phone = PHONES["yealink"][0]
    add_customer(store)
    provision(store, phone, 200)
    made = await api.put(
        "/customers/ROSSI/security", json={"auth": "digest", "path_key": "new", "allow": ["127.0.0.0/8"]}
    )
    key, password = made["new_secrets"]["path_key"], made["new_secrets"]["password"]
    assert made["provisioning_url"] == f"http://ROSSI:{password}@prov.test:8080/p/{key}/"
    shown = await api.as_("viewer").get("/customers/ROSSI/security")
    assert shown == {
        "customer": "ROSSI",
        "auth": "digest",
        "username": "ROSSI",
        "password_set": True,
        "path_key_set": True,
        "window_hours": None,
        "allow": ["127.0.0.0/8"],
        "warnings": [],
    }
    for body, field in (
        ({"allow": ["10.0.0.300/8"]}, "allow"),
        ({"colour": "red"}, "colour"),
        ({"window_hours": "soon"}, "window_hours"),
        ({"auth": "kerberos"}, "auth"),
    ):
        bad = await api.put("/customers/ROSSI/security", json=body, expect=400)
        assert field in bad["field"], (body, bad)
    # Viewers and technicians may not change the rules; nobody unsigned may read them.
    await api.as_("viewer").put("/customers/ROSSI/security", json={"auth": "none"}, expect=403)
    assert (await server.client.get("/api/v1/customers/ROSSI/security")).status == 401
    # The phone, with the key and its digest response, is served; the download is listed.
    async with aiohttp.ClientSession(middlewares=(aiohttp.DigestAuthMiddleware("ROSSI", password),)) as client:
        resp = await client.get(
            f"http://127.0.0.1:{server.http_port}/p/{key}/{phone.files[-1]}", headers={"User-Agent": phone.user_agent}
        )
        assert resp.status == 200 and has_password(await resp.read())
    items = (await api.as_("viewer").get(f"/devices/{phone.mac}/downloads"))["items"]
    assert [(i["ip"], i["transport"], i["file"]) for i in items] == [("127.0.0.1", "http", phone.files[-1])]


def test_serve_refuses_bad_https_settings_before_binding(run_cli, tmp_path):
    result = run_cli("serve", "--https-port", "8443", ok=False)
    assert result.exit_code == 2 and "--tls-cert" in result.output
    result = run_cli("serve", "--http-port", "off", ok=False)
    assert result.exit_code == 2 and "both --http-port and --https-port are off" in result.output
    result = run_cli("serve", "--https-port", "https", ok=False)
    assert result.exit_code == 2 and "--https-port" in result.output
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    result = run_cli("serve", "--https-port", "8443", "--tls-cert", str(junk), "--tls-key", str(junk), ok=False)
    assert result.exit_code == 2 and "cannot load --tls-cert/--tls-key" in result.output
    result = run_cli("serve", "--scan-window", "0", ok=False)
    assert result.exit_code == 2 and "--scan-window" in result.output


async def test_turning_tokens_on_and_reopening_a_window(server, store, run_cli):
    phone = PHONES["polycom"][0]
    add_customer(store)
    provision(store, phone, 200)
    with store.transaction() as tx:  # deployed long ago
        tx.conn.exec_driver_sql("UPDATE devices SET assigned_at = '2026-01-01 00:00:00'")
    # A Polycom User-Agent carries no MAC: the window alone is not proof enough, the office network is.
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=2, allow=["127.0.0.0/8"])
    await server.sync()
    path, headers = f"/{phone.files[-1]}", {"User-Agent": phone.user_agent}
    # Its config had no token yet: turning tokens on opened a fresh window for it.
    first = await server.client.get(path, headers=headers)
    assert first.status == 200
    token = re.search(r"/d/([A-Za-z0-9_-]{22})/", prov_credentials("polycom", await first.read())[2]).group(1)
    assert (await server.client.get(path, headers=headers)).status == 403
    await server.flush()

    # Reset to factory settings, the phone lost its token: support reopens its window.
    out = run_cli("device", "reopen", phone.mac).output
    assert "may fetch with its MAC for 2 h" in out
    await server.sync()
    again = await server.client.get(path, headers=headers)
    assert again.status == 200
    assert (await server.client.get(f"/d/{token}{path}", headers=headers)).status == 403  # the old token is gone
    refused = run_cli("device", "reopen", "001565FFFFFF", ok=False)
    assert refused.exit_code != 0 and "001565FFFFFF" in refused.output


async def test_snom_token_window_closes_when_the_token_is_first_used(server, store):
    phone = PHONES["snom"][0]  # snomD785.htm, snomD785-<MAC>.htm (lists <MAC>.xml at the token URL), <MAC>.xml
    add_customer(store)
    provision(store, phone, 200)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    await server.sync()
    headers = {"User-Agent": phone.user_agent}
    assert (await server.client.get(f"/{phone.files[0]}", headers=headers)).status == 200
    listing = await server.client.get(f"/{phone.files[1]}", headers=headers)
    assert listing.status == 200
    url = ET.fromstring(await listing.read()).find("file").get("url")
    token, name = re.fullmatch(r"http://prov\.test:8080/d/([A-Za-z0-9_-]{22})/(\S+)", url).groups()
    assert name == phone.files[2]
    settings = await server.client.get(f"/d/{token}/{name}", headers=headers)
    assert settings.status == 200 and has_password(await settings.read())
    # The phone now holds its token: nobody gets its settings with just the MAC any more.
    late = await server.client.get(f"/{name}", headers=headers)
    assert late.status == 403 and not has_password(await late.read())


async def test_rules_can_change_without_locking_out_phones_that_hold_a_token(server, store):
    phone = PHONES["grandstream"][0]
    add_customer(store)
    provision(store, phone, 200)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    await server.sync()
    headers = {"User-Agent": phone.user_agent}
    name = phone.files[-1]
    body = await (await server.client.get(f"/{name}", headers=headers)).read()
    server_path = prov_credentials("grandstream", body)[2]  # P237: host[:port]/path
    token = re.fullmatch(r"prov\.test:8080/d/([A-Za-z0-9_-]{22})", server_path).group(1)
    # A path key added later: the token stands in for it; the bare MAC does not.
    key = security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="new")["new_secrets"]["path_key"]
    await server.sync()
    assert (await server.client.get(f"/d/{token}/{name}", headers=headers)).status == 200
    assert (await server.client.get(f"/{name}", headers=headers)).status == 403
    # Tokens turned off: the token URL still works, and the next config moves the phone to the key URL.
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=None)
    await server.sync()
    resp = await server.client.get(f"/d/{token}/{name}", headers=headers)
    assert resp.status == 200
    assert prov_credentials("grandstream", await resp.read())[2] == f"prov.test:8080/p/{key}"
    assert (await server.client.get(f"/p/{key}/{name}", headers=headers)).status == 200

"""The first-contact window against the real server: a stranger who asks first must not take it.

During a window a request fetching by MAC must name that MAC itself: in its User-Agent, or in a
factory certificate verified over HTTPS against --client-ca; where neither can (Polycom), another
rule of the customer must hold. A window closed from another address than the one that later asks
with the MAC is reported loudly (a warning and an audit event on the device).
"""

from __future__ import annotations

import datetime as dt
import ssl
from pathlib import Path

import aiohttp
import pytest
import structlog
from aiohttp import web

from provisioner import keys, security_services, services
from provisioner.web import create_app, tls_context
from tests.conftest import ACTOR, add_customer
from tests.test_phone_security import has_password, self_signed, session
from tests.test_phones import PHONES, provision


async def test_a_stranger_cannot_take_the_window_and_a_taken_window_is_reported(server, store):
    phone = PHONES["yealink"][0]  # its User-Agent names its MAC
    add_customer(store)
    provision(store, phone, 200)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    await server.sync()
    url = f"http://127.0.0.1:{server.http_port}/{phone.files[-1]}"

    async with session("127.0.0.2") as stranger:
        for agent in ("curl/8.5", "Yealink SIP-T46U 108.86.0.20"):  # no MAC: proves nothing
            resp = await stranger.get(url, headers={"User-Agent": agent})
            assert resp.status == 403 and not has_password(await resp.read())
    # The window is still open: the real phone, naming its MAC, gets its config.
    async with session("127.0.0.3") as office:
        resp = await office.get(url, headers={"User-Agent": phone.user_agent})
        assert resp.status == 200 and has_password(await resp.read())

    # A stranger who copies the User-Agent can still be first; then the real phone asks.
    other = PHONES["yealink"][1]
    provision(store, other, 210)
    await server.sync()
    other_url = f"http://127.0.0.1:{server.http_port}/{other.files[-1]}"
    async with session("127.0.0.2") as stranger:
        assert (await stranger.get(other_url, headers={"User-Agent": other.user_agent})).status == 200
    with structlog.testing.capture_logs() as logs:
        async with session("127.0.0.3") as office:
            for _ in range(3):
                resp = await office.get(other_url, headers={"User-Agent": other.user_agent})
                assert resp.status == 403 and not has_password(await resp.read())
    taken = [e for e in logs if e["event"] == "window_taken_from_another_address"]
    assert len(taken) == 3 and taken[0]["log_level"] == "warning"
    assert (taken[0]["mac"], taken[0]["closed_from"], taken[0]["ip"]) == (other.mac, "127.0.0.2", "127.0.0.3")
    assert f"provisioner device reopen {other.mac}" in taken[0]["fix"]
    # One audit event on the device per (device, address), not one per retry.
    events = [e for e in services.show_device(store, other.mac)["history"] if e["action"] == "device.window_taken"]
    assert len(events) == 1
    assert (events[0]["after"]["closed_from"], events[0]["after"]["asked_from"]) == ("127.0.0.2", "127.0.0.3")
    # The real phone's retries are not counted toward a ban of its office.
    assert not server.app[keys.RESOLVER].guard.banned("127.0.0.3")
    assert server.app[keys.RESOLVER].guard.tracked == 0


async def test_a_window_closed_here_stays_closed_when_the_cache_reloads_before_the_write(server, store):
    """The window is closed in memory at once and written with the next activity flush: a cache
    entry re-read from the store before that write (another change synced) must not reopen it."""
    phone = PHONES["yealink"][0]
    add_customer(store)
    provision(store, phone, 200)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    await server.sync()
    activity = server.app[keys.ACTIVITY]

    def database_down(*_args, **_kwargs):
        raise OSError("the store is not written in this test")

    activity._write = database_down  # the closing stays pending (kept for the next flush)
    url = f"http://127.0.0.1:{server.http_port}/{phone.files[-1]}"
    async with session("127.0.0.2") as first:
        assert (await first.get(url, headers={"User-Agent": phone.user_agent})).status == 200
    server.app[keys.CACHE].invalidate_device(phone.mac)  # as a sync of another change does
    async with session("127.0.0.3") as second:
        resp = await second.get(url, headers={"User-Agent": phone.user_agent})
        assert resp.status == 403 and not has_password(await resp.read())
    del activity._write
    assert await activity.flush()
    with store.reading() as tx:
        assert tx.device(phone.mac)["window_closed_at"] is not None


async def test_a_polycom_phone_needs_another_rule_than_the_window_and_is_told_why(server, store, run_cli):
    phone = PHONES["polycom"][0]  # FileTransport PolycomVVX-VVX_450-UA/...: no MAC
    add_customer(store)
    provision(store, phone, 200)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    await server.sync()
    path, headers = f"/{phone.files[-1]}", {"User-Agent": phone.user_agent}
    with structlog.testing.capture_logs() as logs:
        resp = await server.client.get(path, headers=headers)
    assert resp.status == 403 and not has_password(await resp.read())
    refused = [e for e in logs if e["event"] == "phone_refused"]
    assert refused and refused[0]["reason"] == "window-proof" and refused[0]["log_level"] == "warning"
    assert "path key" in refused[0]["fix"]
    # Staff are warned where they look at the rules.
    shown = run_cli("customer", "show", "ROSSI").output
    assert "WARNING: the first-contact window is the only rule" in shown and "Polycom" in shown
    assert "WARNING" in run_cli("customer", "security", "ROSSI").output
    # With a path key too, the window works for it (and the warning goes).
    key = security_services.set_customer_security(store, ACTOR, "ROSSI", path_key="new")["new_secrets"]["path_key"]
    await server.sync()
    resp = await server.client.get(f"/p/{key}{path}", headers=headers)
    assert resp.status == 200 and has_password(await resp.read())
    assert "WARNING" not in run_cli("customer", "show", "ROSSI").output


def test_customer_show_warns_when_there_is_no_rule_at_all(store, run_cli):
    add_customer(store)
    assert "WARNING: no rule" in run_cli("customer", "show", "ROSSI").output


# --- factory certificates over HTTPS ------------------------------------------------------------------


def _ca(name: str):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _device_cert(tmp_path: Path, ca, cn: str, san: str | None, stem: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
    )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    cert_path, key_path = tmp_path / f"{stem}.pem", tmp_path / f"{stem}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


async def test_a_factory_certificate_naming_the_mac_proves_the_phone_during_its_window(store, settings, tmp_path):
    from cryptography.hazmat.primitives import serialization

    polycom, yealink = PHONES["polycom"][0], PHONES["yealink"][0]
    add_customer(store)
    provision(store, polycom, 200)
    provision(store, yealink, 210)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    vendor_ca, stranger_ca = _ca("Vendor Device CA"), _ca("Someone Else CA")
    bundle = tmp_path / "device-cas.pem"
    bundle.write_bytes(vendor_ca[0].public_bytes(serialization.Encoding.PEM))
    device = _device_cert(tmp_path, vendor_ca, polycom.mac.lower(), None, "device")  # CN 64167fa1b2c6
    colons = ":".join(yealink.mac[i : i + 2] for i in range(0, 12, 2))  # 00:15:65:A1:B2:C3
    spelled = _device_cert(tmp_path, vendor_ca, "Yealink phone", colons, "spelled")  # the MAC in a SAN
    other_mac = _device_cert(tmp_path, vendor_ca, "0004f2ffffff", None, "other")
    stranger = _device_cert(tmp_path, stranger_ca, polycom.mac.lower(), None, "stranger")
    server_cert, server_key = self_signed(tmp_path)
    https = settings.__class__(
        **{
            **settings.__dict__,
            "host": "127.0.0.1",
            "http_port": None,
            "https_port": 8443,
            "tls_cert": server_cert,
            "tls_key": server_key,
            "tftp_port": None,
            "client_ca": bundle,
        }
    )
    runner = web.AppRunner(create_app(https))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=tls_context(https))
    await site.start()
    port = runner.addresses[0][1]

    def client_tls(cert: tuple[Path, Path] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(server_cert))
        if cert is not None:
            context.load_cert_chain(str(cert[0]), str(cert[1]))
        return context

    async def get(phone, cert):  # type: ignore[no-untyped-def]
        async with aiohttp.ClientSession() as client:
            resp = await client.get(
                f"https://127.0.0.1:{port}/{phone.files[-1]}",
                ssl=client_tls(cert),
                headers={"User-Agent": phone.user_agent},
            )
            return resp.status, await resp.read()

    try:
        # No certificate (it is asked for, not required), or one naming another MAC: no proof.
        status, body = await get(polycom, None)
        assert status == 403 and not has_password(body)
        status, body = await get(polycom, other_mac)
        assert status == 403 and not has_password(body)
        # A certificate from a CA not in --client-ca fails the handshake: nothing is served.
        with pytest.raises(aiohttp.ClientError):
            await get(polycom, stranger)
        # The phone's own factory certificate proves it: its config, which closes the window.
        status, body = await get(polycom, device)
        assert status == 200 and has_password(body)
        status, body = await get(polycom, device)
        assert status == 403  # closed: from now on only its token works
        # The MAC in a SAN, spelled with colons, counts too (and a Yealink would have its UA anyway).
        status, body = await get(yealink, spelled)
        assert status == 200 and has_password(body)
    finally:
        await runner.cleanup()


def test_serve_refuses_a_client_ca_without_https_and_a_bad_unknown_budget(run_cli, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not a certificate")
    result = run_cli("serve", "--client-ca", str(bundle), ok=False)
    assert result.exit_code == 2 and "--client-ca needs --https-port" in result.output
    result = run_cli("serve", "--scan-unknown-rate", "0", ok=False)
    assert result.exit_code == 2 and "--scan-unknown-rate" in result.output

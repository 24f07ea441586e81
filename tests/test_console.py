"""The support console through the real server: sign-in, CSRF, roles, escaping, every action."""

from __future__ import annotations

import html
import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from openpyxl import load_workbook

from provisioner import accounts, keys, rental_services, rental_terms, rentals, services
from provisioner.console.devices import MASK
from provisioner.settings import Settings

from .conftest import ACTOR, SAMPLES, add_customer, add_line

PASSWORD = "correct horse battery"
SIP_PASSWORD = "Sip-Secret&<201>"
CSRF = re.compile(r'name="csrf_token" value="([^"]*)"')


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=None,
        public_url="http://prov.test:8080/",
        sync_interval=0.05,
        flush_interval=0.05,
    )


def add_user(store, name: str, role: str) -> None:
    accounts.add_user(store, ACTOR, name, role_=role, password=PASSWORD)


async def sign_in(client, name: str, password: str = PASSWORD, next_: str = "", lang: str = "en") -> Any:
    client.session.cookie_jar.update_cookies({"provisioner_lang": lang})  # these tests read the English words
    page = await client.get("/console/login" + (f"?next={next_}" if next_ else ""))
    token = re.search(r'name="login_token" value="([^"]+)"', await page.text()).group(1)
    nxt = re.search(r'name="next" value="([^"]*)"', await page.text()).group(1)
    return await client.post(
        "/console/login",
        data={"login_token": token, "name": name, "password": password, "next": html.unescape(nxt)},
        allow_redirects=False,
    )


async def csrf_of(client, path: str) -> str:
    response = await client.get(path)
    assert response.status == 200, (path, response.status)
    return CSRF.search(await response.text()).group(1)


async def post(client, path: str, data: dict[str, str], *, token: str | None = None) -> Any:
    """POST a console form with the session's CSRF token; returns the final page after the redirect."""
    token = token if token is not None else await csrf_of(client, "/console/")
    response = await client.post(path, data={**data, "csrf_token": token}, allow_redirects=False)
    assert response.status == 303, (response.status, await response.text())
    return await client.get(response.headers["Location"])


def flash(text: str) -> str:
    found = re.search(r'<p class="flash (ok|error)" role="status" id="flash">(.*?)</p>', text, re.S)
    assert found, "no message on the page"
    return found.group(1) + ": " + html.unescape(found.group(2))


def deployed_phone(store, mac: str = "805EC0000001", customer: str = "ROSSI", exts=("201",)) -> None:
    if store_has_customer(store, customer) is False:
        add_customer(store, customer)
    for ext in exts:
        add_line(store, customer, ext, f"Line {ext}", SIP_PASSWORD)
    services.add_device(store, ACTOR, mac, model="T54W", customer=customer, lines=list(exts), serial="SN-" + mac)


def store_has_customer(store, code: str) -> bool:
    with store.reading() as tx:
        return tx.customer_by_code(code) is not None


# --- signing in ---------------------------------------------------------------------------------


async def test_pages_need_a_session_and_carry_security_headers(server):
    client = server.client
    root = await client.get("/", allow_redirects=False)
    assert (root.status, root.headers["Location"]) == (303, "/console/")
    page = await client.get("/console/search?q=201", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"] == "/console/login?next=%2Fconsole%2Fsearch%3Fq%3D201"
    login = await client.get("/console/login")
    assert login.status == 200
    for response in (root, page, login):
        assert response.headers["Content-Security-Policy"].startswith("default-src 'self'")
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
        assert response.headers["Cache-Control"] == "no-store"
    scripts = re.findall(r"<script[^>]*>", await login.text())
    assert scripts == ['<script src="/console/static/console.js" defer>']  # one file, nothing inline
    css = await client.get("/console/static/console.css")
    assert css.status == 200 and "text/css" in css.headers["Content-Type"]
    phone = await client.get("/y000000000000.boot")  # the phone route still answers the rest
    assert phone.status == 200
    nowhere = await client.get("/console/no/such/page", allow_redirects=False)
    assert nowhere.status == 303 and nowhere.headers["X-Frame-Options"] == "DENY"


async def test_with_no_user_yet_the_sign_in_page_says_how_to_make_the_first_admin(server, store):
    first = await (await server.client.get("/console/login")).text()
    assert 'id="no-users"' in first and "provisioner user add NAME --role admin" in first
    add_user(store, "root", "admin")
    assert 'id="no-users"' not in await (await server.client.get("/console/login")).text()


async def test_sign_in_ok_goes_to_next_and_signs_out(server, store):
    add_user(store, "alice", "support")
    client = server.client
    response = await sign_in(client, "alice", next_="%2Fconsole%2Fsearch%3Fq%3D201")
    assert (response.status, response.headers["Location"]) == (303, "/console/search?q=201")
    cookie = response.headers.getall("Set-Cookie")
    session = next(c for c in cookie if c.startswith("provisioner_session="))
    assert "HttpOnly" in session and "SameSite=Strict" in session and "Path=/" in session
    assert "Secure" not in session  # plain HTTP: see --secure-cookies
    assert "Max-Age=43200" in session  # 12 hours by default
    dashboard = await client.get("/console/")
    text = await dashboard.text()
    assert dashboard.status == 200 and "alice" in text and "Signed in as alice (support)" in flash(text)
    assert PASSWORD not in text

    token = CSRF.search(text).group(1)
    refused = await client.post("/console/logout", data={}, allow_redirects=False)
    assert refused.status == 403  # logout needs the token too
    assert (await client.get("/console/", allow_redirects=False)).status == 200
    out = await client.post("/console/logout", data={"csrf_token": token}, allow_redirects=False)
    assert (out.status, out.headers["Location"]) == (303, "/console/login")
    assert (await client.get("/console/", allow_redirects=False)).status == 303
    with store.reading() as tx:  # the session is gone from the store, not only from the browser
        assert tx.conn.exec_driver_sql("SELECT count(*) FROM sessions").scalar() == 0


@pytest.mark.parametrize(
    "target",
    ["//evil.example/", "http://evil.example/console/", "/console\\@evil", "/api/v1/devices", "javascript:alert(1)"],
)
async def test_next_is_only_ever_a_console_path(server, store, target):
    add_user(store, "alice", "viewer")
    response = await sign_in(server.client, "alice", next_=target.replace("/", "%2F"))
    assert (response.status, response.headers["Location"]) == (303, "/console/")


async def test_bad_password_then_the_limit_answers_429_with_the_wait(server, store):
    add_user(store, "alice", "admin")
    client = server.client
    bad = await sign_in(client, "alice", "wrong password!", next_="%2Fconsole%2Freturns")
    assert bad.status == 401 and "wrong name or password" in await bad.text()
    assert 'name="next" value="/console/returns"' in await bad.text()  # the next try still goes there
    assert "wrong password!" not in await bad.text()
    for _ in range(4):
        assert (await sign_in(client, "alice", "wrong password!")).status == 401
    limited = await sign_in(client, "alice")  # even the right password waits now
    text = await limited.text()
    assert limited.status == 429 and "too many failed sign-ins" in text
    wait = int(limited.headers["Retry-After"])
    assert 0 < wait <= 900 and f"wait {wait} s" in text
    assert (await client.get("/console/", allow_redirects=False)).status == 303
    other = await sign_in(client, "bob")  # another name from the same address is not yet limited
    assert other.status == 401


async def test_the_sign_in_form_needs_its_own_token(server, store):
    add_user(store, "alice", "admin")
    response = await server.client.post(
        "/console/login", data={"name": "alice", "password": PASSWORD}, allow_redirects=False
    )
    assert response.status == 403
    assert "provisioner_session" not in response.headers.get("Set-Cookie", "")


async def test_secure_cookies_when_asked(aiohttp_client, data_dir, store):
    from provisioner.web import create_app

    add_user(store, "alice", "admin")
    app = create_app(
        Settings(
            data_dir=data_dir,
            host="127.0.0.1",
            http_port=0,
            tftp_port=None,
            secure_cookies="always",
            session_ttl_hours=1.5,
        )
    )
    client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
    page = await client.get("/console/login")
    login_cookie = next(c for c in page.headers.getall("Set-Cookie") if c.startswith("provisioner_login="))
    assert "Secure" in login_cookie
    token = re.search(r'name="login_token" value="([^"]+)"', await page.text()).group(1)
    # The client keeps Secure cookies for HTTPS: send this one back by hand, as a browser on HTTPS would.
    response = await client.post(
        "/console/login",
        data={"login_token": token, "name": "alice", "password": PASSWORD},
        allow_redirects=False,
        headers={"Cookie": f"provisioner_login={token}"},
    )
    session = next(c for c in response.headers.getall("Set-Cookie") if c.startswith("provisioner_session="))
    assert "Secure" in session and "Max-Age=5400" in session
    with store.reading() as tx:
        expires = tx.conn.exec_driver_sql("SELECT expires_at FROM sessions").scalar()
    expires = datetime.fromisoformat(str(expires)).replace(tzinfo=UTC)
    assert abs((expires - datetime.now(UTC)) - timedelta(hours=1.5)) < timedelta(minutes=1)  # the store agrees


# --- CSRF and roles -------------------------------------------------------------------------------


async def test_a_change_without_the_csrf_token_is_refused_and_changes_nothing(server, store):
    add_user(store, "alice", "admin")
    deployed_phone(store)
    client = server.client
    await sign_in(client, "alice")
    for data in ({"new_mac": "805EC0000002"}, {"new_mac": "805EC0000002", "csrf_token": "forged"}):
        response = await client.post("/console/devices/805EC0000001/swap", data=data, allow_redirects=False)
        assert response.status == 403
        assert "reload the page" in await response.text()
    with store.reading() as tx:
        assert tx.device("805EC0000002") is None
    assert services.show_device(store, "805EC0000001")["state"] == "deployed"


async def test_a_viewer_sees_no_action_and_is_refused_one(server, store):
    add_user(store, "vera", "viewer")
    deployed_phone(store)
    client = server.client
    await sign_in(client, "vera")
    page = await client.get("/console/devices/805EC0000001")
    text = await page.text()
    assert page.status == 200 and "Line 201" in text
    assert '/swap"' not in text and '/assign"' not in text and '/return"' not in text and 'id="actions"' not in text
    customer = await (await client.get("/console/customers/ROSSI")).text()
    assert "terminate" not in customer
    assert 'href="/console/imports"' not in text
    token = CSRF.search(text).group(1)  # a valid token does not make a viewer a support agent
    for path, data in (
        ("/console/devices/805EC0000001/swap", {"new_mac": "805EC0000002"}),
        ("/console/customers/ROSSI/terminate", {"on": rentals.today().isoformat()}),
        ("/console/devices/805EC0000001/assign", {"customer": "ROSSI", "lines": ""}),
    ):
        response = await client.post(path, data={**data, "csrf_token": token}, allow_redirects=False)
        assert response.status == 403, path
        assert "role 'viewer' may not do this" in html.unescape(await response.text())
    assert (await client.get("/console/imports")).status == 403
    assert services.show_device(store, "805EC0000001")["lines"][0]["extension"] == "201"
    assert services.get_customer(store, "ROSSI")["contract_end"] is None


async def test_each_role_sees_the_actions_it_may_do(server, store):
    deployed_phone(store)
    for name, role in (("sam", "support"), ("tina", "technician")):
        add_user(store, name, role)
    client = server.client
    await sign_in(client, "sam")
    device = await (await client.get("/console/devices/805EC0000001")).text()
    assert 'id="swap-form"' in device and 'id="assign-form"' in device
    customer = await (await client.get("/console/customers/ROSSI")).text()
    assert 'id="terminate-form"' in customer
    assert (await client.get("/console/imports")).status == 403
    client.session.cookie_jar.clear()
    await sign_in(client, "tina")
    customer = await (await client.get("/console/customers/ROSSI")).text()
    assert 'id="terminate-form"' not in customer  # technicians do devices and imports, not contracts
    assert (await client.get("/console/imports")).status == 200


# --- escaping and secrets -------------------------------------------------------------------------


async def test_script_in_names_comes_out_as_text(server, store):
    add_user(store, "alice", "admin")
    add_customer(store, "EVIL", name="<script>alert('customer')</script>")
    add_line(store, "EVIL", "301", "<script>alert('line')</script>", SIP_PASSWORD, label="<b>bold</b>")
    services.add_device(
        store,
        ACTOR,
        "805EC0000009",
        model="T54W",
        customer="EVIL",
        lines=["301"],
        serial="<img src=x onerror=alert(1)>",
    )
    client = server.client
    await sign_in(client, "alice")
    for path in (
        "/console/devices/805EC0000009",
        "/console/customers/EVIL",
        "/console/search?q=EVIL",
        "/console/customers",
        "/console/search?q=%3Cscript%3E",
    ):
        text = (await (await client.get(path)).text()).replace('<script src="/console/static/console.js" defer>', "")
        assert "<script" not in text and "<img" not in text and "<b>bold" not in text, path
    device = await (await client.get("/console/devices/805EC0000009")).text()
    assert "&lt;script&gt;alert(&#39;line&#39;)&lt;/script&gt;" in device


async def test_device_page_shows_the_phone_file_with_the_password_masked(server, store):
    add_user(store, "alice", "viewer")
    deployed_phone(store, exts=("201", "202"))
    services.set_device_settings(
        store, ACTOR, "805EC0000001", {"static.security.user_password": "admin:Web-Ui-9", "features.dnd.enable": "1"}
    )
    client = server.client
    phone = await (await client.get("/805ec0000001.cfg")).text()
    assert SIP_PASSWORD in phone and "admin:Web-Ui-9" in phone and "features.dnd.enable = 1" in phone
    await sign_in(client, "alice")
    page = await (await client.get("/console/devices/805EC0000001")).text()
    assert "Sip-Secret" not in page  # in no spelling, escaped or not
    shown = re.search(
        r'<summary class="mono">805ec0000001\.cfg</summary>\s*<pre class="file"[^>]*>(.*?)</pre>', page, re.S
    )
    assert shown, "the .cfg file is listed by the name the phone asks for"
    admin = services.admin_password(store, ACTOR, "ROSSI")  # the customer's, in the file too (issue 14)
    assert f"admin:{admin}" in phone and admin not in page
    assert html.unescape(shown.group(1)) == (
        phone.replace(SIP_PASSWORD, MASK).replace("admin:Web-Ui-9", MASK).replace(admin, MASK)
    )
    assert "Web-Ui-9" not in page
    assert phone.count(SIP_PASSWORD) == 2


async def test_device_page_masks_the_token_key_and_credentials_in_the_provisioning_url(server, store):
    from provisioner import security_services

    add_user(store, "alice", "viewer")
    deployed_phone(store)
    made = security_services.set_customer_security(
        store, ACTOR, "ROSSI", auth="digest", new_password=True, path_key="new", window_hours=24
    )
    prov_password, path_key = made["new_secrets"]["password"], made["new_secrets"]["path_key"]
    await server.sync()
    entry = await server.app[keys.CACHE].device("805EC0000001")
    client = server.client
    await sign_in(client, "alice")
    page = html.unescape(await (await client.get("/console/devices/805EC0000001")).text())
    for secret in (prov_password, path_key, entry.access.token, SIP_PASSWORD):
        assert secret not in page
    # The URL has the shape the phone's has: the token's place in the path, the user, the password masked.
    assert f"static.auto_provision.server.url = http://prov.test:8080/d/{MASK}/" in page
    assert f"static.auto_provision.server.password = {MASK}" in page


# --- search --------------------------------------------------------------------------------------


async def test_search_by_any_spelling_and_pages(server, store):
    add_user(store, "alice", "viewer")
    deployed_phone(store)
    for n in range(30):
        services.add_device(store, ACTOR, f"0015650000{n:02X}", model="D785")
    client = server.client
    await sign_in(client, "alice")
    for spelling in ("80-5e-c0-00-00-01", "805E.C000.0001", "80:5E:C0:00:00:01"):
        hit = await client.get(f"/console/search?q={spelling}", allow_redirects=False)
        assert (hit.status, hit.headers["Location"]) == (303, "/console/devices/805EC0000001"), spelling
    for text in ("201", "Line 201", "SN-805EC0000001", "rossi"):
        found = await (await client.get("/console/search", params={"q": text})).text()
        assert "1 device(s)" in found and "/console/devices/805EC0000001" in found, text
    first = await (await client.get("/console/search", params={"q": "00:15:65"})).text()
    assert "30 device(s), showing 1–25" in first and first.count('class="mono" href="/console/devices/') == 25
    following = re.search(r'rel="next" href="([^"]+)"', first).group(1)
    second = await (await client.get(html.unescape(following))).text()
    assert "showing 26–30" in second and second.count('class="mono" href="/console/devices/') == 5
    in_stock = await (await client.get("/console/search", params={"state": "in_stock"})).text()
    assert "30 device(s)" in in_stock
    nowhere = await client.get("/console/no-such-page")
    assert nowhere.status == 404 and "there is no console page" in await nowhere.text()
    missing = await (await client.get("/console/search", params={"q": "00:15:65:99:99:99"})).text()
    assert "No device has the MAC 00:15:65:99:99:99" in missing


# --- actions -------------------------------------------------------------------------------------


def last_event(store, mac: str) -> dict[str, Any]:
    return services.show_device(store, mac)["history"][-1]


async def test_swap_reassign_unassign_return_and_charge_change_data_and_history(server, store):
    add_user(store, "alice", "admin")
    deployed_phone(store, exts=("201", "202"))
    add_line(store, "ROSSI", "203", "Line 203", SIP_PASSWORD)
    rental_terms.set_cost(store, ACTOR, "default", "90")
    client = server.client
    await sign_in(client, "alice")

    page = await post(client, "/console/devices/805EC0000001/swap", {"new_mac": "80-5e-c0-00-00-02"})
    message = flash(await page.text())
    assert message.startswith("ok: Swapped 805EC0000001 for 805EC0000002 (T54W, new) at ROSSI: lines 201, 202")
    assert page.url.path == "/console/devices/805EC0000002"
    assert [line["extension"] for line in services.show_device(store, "805EC0000002")["lines"]] == ["201", "202"]
    assert services.show_device(store, "805EC0000001")["state"] == "return_due"
    event = last_event(store, "805EC0000001")
    assert (event["actor"], event["action"]) == ("user:alice", "device.swapped")
    assert "user:alice" in await page.text() and "device.swapped_in" in await page.text()

    page = await post(client, "/console/devices/805EC0000002/assign", {"customer": "ROSSI", "lines": "203, 201"})
    assert "assigned to ROSSI with 203, 201" in flash(await page.text())
    assert [line["extension"] for line in services.show_device(store, "805EC0000002")["lines"]] == ["203", "201"]
    assert last_event(store, "805EC0000002")["actor"] == "user:alice"

    page = await post(client, "/console/devices/805EC0000002/assign", {"customer": "ROSSI", "lines": "999"})
    assert flash(await page.text()).startswith("error: Nothing was changed: customer ROSSI has no extension '999'")
    assert [line["extension"] for line in services.show_device(store, "805EC0000002")["lines"]] == ["203", "201"]

    page = await post(client, "/console/devices/805EC0000002/unassign", {"on": rentals.today().isoformat()})
    deadline = rentals.deadline(rentals.today(), 60).isoformat()
    assert f"return due by {deadline}" in flash(await page.text())
    assert services.show_device(store, "805EC0000002")["state"] == "return_due"

    past = (rentals.today() - timedelta(days=1)).isoformat()
    page = await post(client, "/console/devices/805EC0000002/charge", {"amount": "12.50", "on": past})
    assert "ROSSI charged 12.50 EUR for 805EC0000002" in flash(await page.text())
    assert services.show_device(store, "805EC0000002")["state"] == "charged"
    assert f'<dd id="device-charged">12.50 EUR on {past}</dd>' in await page.text()
    assert last_event(store, "805EC0000002")["action"] == "device.charged"

    page = await post(client, "/console/devices/805EC0000001/return", {"condition": "faulty"})
    assert "Return of 805EC0000001 recorded" in flash(await page.text()) and "now retired" in flash(await page.text())
    assert services.show_device(store, "805EC0000001")["state"] == "retired"
    assert last_event(store, "805EC0000001")["actor"] == "user:alice"

    page = await post(client, "/console/devices/805EC0000001/return", {"condition": "ok"})
    assert flash(await page.text()).startswith("error: Nothing was changed: cannot return 805EC0000001")


async def test_terminate_and_cancel_from_the_customer_page(server, store):
    add_user(store, "sam", "support")
    deployed_phone(store)
    client = server.client
    await sign_in(client, "sam")
    later = (rentals.today() + timedelta(days=10)).isoformat()
    page = await post(client, "/console/customers/ROSSI/terminate", {"on": later})
    text = await page.text()
    assert f"The contract of ROSSI ends on {later}: 1 device(s) stop, 1 rented device(s) due back" in flash(text)
    assert services.get_customer(store, "ROSSI")["contract_end"].isoformat() == later
    assert 'id="cancel-form"' in text
    page = await post(client, "/console/customers/ROSSI/cancel-termination", {})
    assert "is cancelled: 1 device(s) keep their lines" in flash(await page.text())
    assert services.get_customer(store, "ROSSI")["contract_end"] is None

    today = rentals.today()
    page = await post(client, "/console/customers/ROSSI/terminate", {"on": today.isoformat()})
    text = await page.text()
    deadline = rentals.deadline(today, 60).isoformat()
    assert f"ended on {today.isoformat()}" in flash(text) and f"due back by {deadline}" in flash(text)
    section = text.split('id="customer-returns"')[1].split("</section>")[0]
    assert "/console/devices/805EC0000001" in section and deadline in section
    assert services.show_device(store, "805EC0000001")["state"] == "return_due"
    events = services.show_device(store, "805EC0000001")["history"]
    assert [e["actor"] for e in events if e["action"].startswith("device.contract")] == ["user:sam"] * 3
    returns = await (await client.get("/console/returns")).text()
    assert "Due back (1)" in returns and deadline in returns


async def test_dashboard_counts_unknown_phones_to_claim_and_overdue_amounts(server, store):
    add_user(store, "alice", "admin")
    deployed_phone(store)
    services.add_device(store, ACTOR, "805EC0000003", model="T54W")
    add_customer(store, "OLD", name="Old Customer")
    add_line(store, "OLD", "100", "Old line", SIP_PASSWORD)
    services.add_device(store, ACTOR, "805EC0000004", model="T54W", customer="OLD", lines=["100"])
    rental_terms.set_cost(store, ACTOR, "default", "90")
    rental_services.terminate(store, ACTOR, "OLD", (rentals.today() - timedelta(days=100)).isoformat())
    client = server.client
    unknown = await client.get(
        "/805ec0000005.cfg", headers={"User-Agent": "Yealink SIP-T54W 96.86.0.100 80:5e:c0:00:00:05"}
    )
    assert unknown.status == 404
    hostile = await client.get("/0004130000aa.xml", headers={"User-Agent": "<script>alert('ua')</script>"})
    assert hostile.status == 404
    await server.flush()
    await sign_in(client, "alice")
    text = await (await client.get("/console/")).text()
    assert re.search(r'id="count-deployed">1<', text) and re.search(r'id="count-in_stock">1<', text)
    assert re.search(r'id="count-return_due">1<', text)
    overdue = text.split('id="overdue"')[1].split("</section>")[0]
    assert "805EC0000004" in overdue and "90.00 EUR" in overdue and "1 device(s), 90.00 EUR outstanding" in overdue
    assert "80:5E:C0:00:00:05" in text and "/console/unknown/805EC0000005/claim" in text
    assert "&lt;script&gt;alert(&#39;ua&#39;)&lt;/script&gt;" in text and "<script>" not in text  # phones' words too

    page = await post(
        client, "/console/unknown/805EC0000005/claim", {"customer": "ROSSI", "model": "T54W", "lines": ""}
    )
    assert "Device 805EC0000005 (T54W) claimed for ROSSI" in flash(await page.text())
    assert page.url.path == "/console/devices/805EC0000005"
    assert last_event(store, "805EC0000005")["actor"] == "user:alice"
    text = await (await client.get("/console/")).text()
    assert "/console/unknown/805EC0000005/claim" not in text


# --- imports -------------------------------------------------------------------------------------


async def upload(client, name: str, data: bytes, token: str, **fields: str) -> Any:
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    for key, value in fields.items():
        form.add_field(key, value)
    form.add_field("file", data, filename=name)
    response = await client.post("/console/imports", data=form, allow_redirects=False)
    assert response.status == 303, await response.text()
    return await client.get(response.headers["Location"])


async def test_import_shows_bad_rows_then_applies_the_fixed_file(server, store):
    add_user(store, "tina", "technician")
    client = server.client
    await sign_in(client, "tina")
    token = await csrf_of(client, "/console/imports")
    raw = (SAMPLES / "with_mistakes.csv").read_bytes()
    page = await upload(client, "with_mistakes.csv", raw, token)
    text = await page.text()
    assert page.url.path.startswith("/console/imports/")
    bad_rows = set(re.findall(r'<tr id="row-(\d+)" class="bad">', text))
    assert bad_rows == {"3", "5", "6", "7", "8", "9", "10"} and "in 7 row(s)" in text  # as the API reports
    counts = re.search(r'<th>device</th><td class="num">(\d+)</td><td class="num">(\d+)</td>', text)
    assert counts and counts.groups() == ("3", "0")  # the valid rows' devices, none to update
    assert text.count('class="bad-cell"') >= 7
    assert 'id="apply-form"' not in text
    for secret in ("@@eVxm?XVj4Hg&amp;", "55AKuCP7#24Ejw", "@@eVxm?XVj4Hg&"):
        assert secret not in text  # password cells are never sent back
    assert "=HYPERLINK(&#34;http://evil.example&#34;" in text or "=HYPERLINK(&quot;" in text
    report = await client.get(page.url.path + "/report")
    assert report.status == 200
    sheet = load_workbook(io.BytesIO(await report.read())).active
    errors = [row[-1] for row in sheet.iter_rows(min_row=2, values_only=True) if row[-1]]
    assert len(errors) == len(bad_rows)
    refused = await post(client, page.url.path + "/apply", {}, token=token)
    assert flash(await refused.text()).startswith("error: Nothing was applied")
    with store.reading() as tx:
        assert tx.count_devices() == 0

    good = "\n".join(raw.decode("cp1252").splitlines()[:2]).encode()  # header and the first (good) row
    good += (
        b"\nStudio Rossi & Associati;T54W;80:5E:C0:00:00:21;702;<script>alert(1)</script>;Secret-702;SN-1;"
        b"pbx.rossi.example.net\n"
    )
    page = await upload(client, "fixed.csv", good, token)
    text = await page.text()
    assert "Ready to apply." in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text and "<script>" not in text
    assert "Secret-702" not in text
    applied = await post(client, page.url.path + "/apply", {}, token=token)
    assert "fixed.csv applied in one transaction" in flash(await applied.text())
    device = services.show_device(store, "805EC0000021")
    assert device["lines"][0]["display_name"] == "<script>alert(1)</script>"
    assert device["history"][0]["actor"] == "user:tina import:fixed.csv"
    assert (await client.get(page.url.path)).status == 404  # applied plans are gone


async def test_import_upload_needs_the_token_and_the_role(server, store):
    add_user(store, "sam", "support")
    add_user(store, "tina", "technician")
    client = server.client
    import aiohttp

    form = aiohttp.FormData()
    form.add_field("file", b"MAC;Model\n", filename="x.csv")
    anonymous = await client.post("/console/imports", data=form, allow_redirects=False)
    assert (anonymous.status, anonymous.headers["Location"]) == (303, "/console/login")
    await sign_in(client, "tina")
    broken = await client.post(
        "/console/imports",
        data=b"--x\r\ngarbage",
        allow_redirects=False,
        headers={"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert broken.status == 400 and "not valid multipart/form-data" in await broken.text()

    form = aiohttp.FormData()
    form.add_field("file", b"MAC;Model\n", filename="x.csv")
    response = await client.post("/console/imports", data=form, allow_redirects=False)
    assert response.status == 403
    client.session.cookie_jar.clear()
    await sign_in(client, "sam")
    token = await csrf_of(client, "/console/")
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("file", (SAMPLES / "with_mistakes.csv").read_bytes(), filename="with_mistakes.csv")
    response = await client.post("/console/imports", data=form, allow_redirects=False)
    assert response.status == 403


async def test_apply_after_the_data_changed_shows_the_new_plan_first(server, store):
    add_user(store, "tina", "technician")
    client = server.client
    await sign_in(client, "tina")
    token = await csrf_of(client, "/console/imports")
    page = await upload(client, "it_excel_export.csv", (SAMPLES / "it_excel_export.csv").read_bytes(), token)
    assert "Customers: 1 will be created" in await page.text()
    services.add_customer(
        store, ACTOR, "STUDIO-ROSSI-ASSOCIATI", name="Studio Rossi & Associati", sip_server="pbx.rossi.example.net"
    )  # someone else, meanwhile
    stale = await post(client, page.url.path + "/apply", {}, token=token)
    text = await stale.text()
    assert flash(text).startswith("error: Nothing was applied: the data changed since this plan was made")
    assert "Customers: 0 will be created" in text
    with store.reading() as tx:
        assert tx.count_devices() == 0
    applied = await post(client, page.url.path + "/apply", {}, token=token)
    assert "applied in one transaction" in flash(await applied.text())
    with store.reading() as tx:
        assert tx.count_devices() == 24


# --- users ---------------------------------------------------------------------------------------


async def test_admins_add_users_change_roles_and_passwords(server, store):
    add_user(store, "root", "admin")
    add_user(store, "sam", "support")
    client = server.client
    await sign_in(client, "sam")
    assert (await client.get("/console/users")).status == 403
    assert 'href="/console/users"' not in await (await client.get("/console/")).text()
    client.session.cookie_jar.clear()
    await sign_in(client, "root")
    token = await csrf_of(client, "/console/users")

    page = await post(
        client, "/console/users", {"name": "<b>x</b>", "role": "viewer", "password": "long enough pw"}, token=token
    )
    assert flash(await page.text()).startswith("error: Nothing was changed: name must be")
    page = await post(
        client,
        "/console/users",
        {"name": "tina", "role": "technician", "password": "tina's long password"},
        token=token,
    )
    text = await page.text()
    assert "User tina added with role technician" in flash(text) and "tina&#39;s long password" not in text
    assert accounts.authenticate(store, "tina", "tina's long password").role == "technician"

    page = await post(client, "/console/users/sam", {"role": "viewer", "access": ""}, token=token)
    assert "User sam is now viewer, enabled" in flash(await page.text())
    page = await post(client, "/console/users/sam", {"password": "short"}, token=token)
    assert flash(await page.text()).startswith("error: Nothing was changed: password must be at least 10")
    page = await post(client, "/console/users/sam", {"password": "a brand new password"}, token=token)
    assert "Password of sam changed" in flash(await page.text())
    assert accounts.authenticate(store, "sam", "a brand new password").role == "viewer"
    page = await post(client, "/console/users/root", {"role": "root", "access": "disable"}, token=token)
    assert flash(await page.text()).startswith("error: Nothing was changed: role must be one of")
    page = await post(client, "/console/users/root", {"role": "admin", "access": "disable"}, token=token)
    assert "last enabled admin" in flash(await page.text())
    with store.reading() as tx:
        rows = tx.conn.exec_driver_sql("SELECT actor, action FROM events WHERE action LIKE 'user.%'").fetchall()
        dump = str(tx.conn.exec_driver_sql("SELECT * FROM events").fetchall())
    assert ("user:root", "user.created") in [tuple(r) for r in rows]
    assert ("user:root", "user.password_changed") in [tuple(r) for r in rows]
    assert "a brand new password" not in dump and "tina's long password" not in dump


async def test_a_password_is_taken_as_typed_spaces_included(server, store):
    accounts.add_user(store, ACTOR, "spacey", role_="viewer", password="  spaced out password ")
    assert (await sign_in(server.client, "spacey", "spaced out password")).status == 401
    assert (await sign_in(server.client, "spacey", "  spaced out password ")).status == 303


async def test_an_unexpected_failure_is_a_plain_500_page_and_logged(server, store, monkeypatch):
    from provisioner.console import pages

    def broken(_db):
        raise RuntimeError("boom, with internals")

    add_user(store, "alice", "viewer")
    await sign_in(server.client, "alice")
    monkeypatch.setattr(pages, "dashboard_data", broken)
    response = await server.client.get("/console/")
    text = await response.text()
    assert response.status == 500 and "the error has been logged" in text and "internals" not in text
    assert response.headers["X-Frame-Options"] == "DENY"


async def test_an_xlsx_with_a_title_row_previews_and_applies(server, store):
    add_user(store, "tina", "technician")
    client = server.client
    await sign_in(client, "tina")
    token = await csrf_of(client, "/console/imports")
    page = await upload(client, "deployment.xlsx", (SAMPLES / "deployment.xlsx").read_bytes(), token)
    text = await page.text()
    assert "XLSX" in text and "header on row 3" in text and "Ready to apply." in text
    assert "erkkdm3WfpNGav" not in text and "(hidden)" in text  # password cells stay on the server
    applied = await post(client, page.url.path + "/apply", {}, token=token)
    assert flash(await applied.text()) == (
        "ok: deployment.xlsx applied in one transaction: 1 customer(s) created and 0 "
        "updated, 30 device(s) created and 0 updated, 31 line(s) created and 0 updated."
    )
    with store.reading() as tx:
        assert tx.count_devices() == 30


async def test_grandstream_admin_password_codes_are_masked_too(server, store):
    add_user(store, "alice", "viewer")
    add_customer(store)
    add_line(store, "ROSSI", "201", "Line 201", SIP_PASSWORD)
    services.add_device(
        store,
        ACTOR,
        "000B82000001",
        model="GRP2612",
        customer="ROSSI",
        lines=["201"],
        settings={"P2": "Gs-Admin-Pw", "P64": "CET-1"},
    )
    client = server.client
    phone = await (await client.get("/cfg000b82000001.xml")).text()
    xml_password = html.escape(SIP_PASSWORD, quote=False)  # as XML carries it
    assert "Gs-Admin-Pw" in phone and xml_password in phone
    await sign_in(client, "alice")
    page = await (await client.get("/console/devices/000B82000001")).text()
    assert "Gs-Admin-Pw" not in page and "Sip-Secret" not in page and "CET-1" in page
    shown = re.search(
        r'<summary class="mono">cfg000b82000001\.xml</summary>\s*<pre class="file"[^>]*>(.*?)</pre>', page, re.S
    )
    assert html.unescape(shown.group(1)) == phone.replace(xml_password, MASK).replace("Gs-Admin-Pw", MASK)

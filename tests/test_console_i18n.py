"""The console's words (Italian by default, English on request) and its one labelled time zone."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from provisioner import rental_services, rentals
from provisioner.console import i18n

from .conftest import ACTOR, SAMPLES
from .test_console import CSRF, add_user, deployed_phone, flash, post, settings, sign_in  # noqa: F401
from .test_redirect import yealink  # noqa: F401

TEMPLATES = Path(__file__).resolve().parents[1] / "provisioner" / "console" / "templates"


def test_every_template_text_has_its_italian_sentence():
    said = set()
    for path in TEMPLATES.glob("*.html"):
        said |= set(re.findall(r"""\bt\('((?:[^'\\]|\\.)*)'""", path.read_text()))
        said |= set(re.findall(r'''\bt\("((?:[^"\\]|\\.)*)"''', path.read_text()))
    assert len(said) > 100
    missing = sorted(s for s in said if s not in i18n.IT and not s.endswith(" "))  # "reason " ~ code
    assert missing == []


def test_language_from_cookie_then_browser_then_italian():
    assert i18n.choose(None, None) == "it"
    assert i18n.choose(None, "de-DE,de;q=0.9") == "it"
    assert i18n.choose(None, "en-US,en;q=0.9,it;q=0.8") == "en"
    assert i18n.choose(None, "de;q=0.9,it;q=0.5,en;q=0.7") == "en"
    assert i18n.choose("it", "en-US") == "it"
    assert i18n.choose("fr", "en-US") == "en"  # a cookie the console does not speak is ignored


def test_relative_times_and_presence():
    now = datetime(2025, 1, 15, 12, 0, tzinfo=UTC)
    assert i18n.ago("en", now - timedelta(seconds=20), now) == "just now"
    assert i18n.ago("en", now - timedelta(minutes=3), now) == "3 min ago"
    assert i18n.ago("it", now - timedelta(minutes=3), now) == "3 min fa"
    assert i18n.ago("en", now - timedelta(hours=5), now) == "5 h ago"
    assert i18n.ago("it", now - timedelta(days=4), now) == "4 giorni fa"
    assert i18n.ago("en", None, now) == "never seen"
    assert i18n.presence(now - timedelta(hours=2), now) == "online"
    assert i18n.presence(now - timedelta(days=3), now) == "stale"
    assert i18n.presence(None, now) == "never"
    # stored as text or naive: UTC; shown in the provider's zone with its label
    assert i18n.when("2025-01-15T11:00:00") == "2025-01-15 12:00 CET"
    assert i18n.when(datetime(2025, 7, 1, 10, 0, tzinfo=UTC)) == "2025-07-01 12:00 CEST"


async def test_pages_speak_italian_by_default_and_english_when_asked(server, store):
    add_user(store, "alice", "admin")
    client = server.client
    await sign_in(client, "alice", lang="")  # no cookie: what the browser asks for decides
    client.session.cookie_jar.clear(lambda c: c.key == i18n.COOKIE)
    text = await (await client.get("/console/")).text()
    assert '<html lang="it">' in text and "<h1>Cruscotto</h1>" in text and "Gli orari sono nel fuso Europe/Rome" in text
    text = await (await client.get("/console/", headers={"Accept-Language": "en-GB,en;q=0.8"})).text()
    assert '<html lang="en">' in text and "<h1>Dashboard</h1>" in text and "Times are in Europe/Rome" in text

    # the header's switch remembers the choice and goes back to the same page
    switch = await client.get("/console/lang/en?next=/console/returns", allow_redirects=False)
    assert switch.status == 303 and switch.headers["Location"] == "/console/returns"
    assert (await (await client.get("/console/returns")).text()).count("<h1>Returns") == 1
    away = await client.get("/console/lang/it?next=https://evil.example/", allow_redirects=False)
    assert away.headers["Location"] == "/console/"
    assert (await client.get("/console/lang/de", allow_redirects=False)).status == 404


async def test_messages_and_codes_read_as_italian_sentences(server, store):
    add_user(store, "alice", "admin")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    await sign_in(client := server.client, "alice", lang="it")
    page = await post(client, "/console/devices/805EC0000001/unassign", {})
    message = flash(await page.text())
    assert message.startswith("ok: Linee tolte dal dispositivo 805EC0000001; va restituito entro il "), message
    text = await page.text()
    assert "<dd>" + rentals.today().isoformat() + ": le sue linee sono state tolte</dd>" in text
    assert "unassign)" not in text and "da restituire" in text
    # an error is a sentence too, the reason after it
    page = await post(client, "/console/devices/805EC0000001/charge", {"amount": "-3"})
    assert flash(await page.text()).startswith("error: Non è stato cambiato nulla: ")

    rental_services.terminate(store, ACTOR, "ROSSI", (rentals.today() - timedelta(days=1)).isoformat())
    text = await (await client.get("/console/returns")).text()
    assert "contract_end" not in text


async def test_times_are_labelled_and_relative(server, store):
    add_user(store, "alice", "admin")
    deployed_phone(store, "805EC0000001", "ROSSI", ("201",))
    await sign_in(client := server.client, "alice", lang="en")
    text = await (await client.get("/console/devices/805EC0000001")).text()
    seen = re.search(r'<dd id="device-seen">(.*?)</dd>', text, re.S).group(1)
    assert "never seen" in seen
    # a phone fetches its file: the device is online, seen "just now", the time labelled CET/CEST
    response = await client.get("/805ec0000001.cfg", headers={"User-Agent": "Yealink SIP-T54W 96.86.0.100"})
    assert response.status in (200, 401, 403)
    for _ in range(50):
        text = await (await client.get("/console/devices/805EC0000001")).text()
        seen = re.search(r'<dd id="device-seen">(.*?)</dd>', text, re.S).group(1)
        if "never" not in seen:
            break
        import asyncio

        await asyncio.sleep(0.1)
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d CES?T", seen), seen
    assert "online" in seen and "just now" in seen
    for row in re.findall(r"<tr><td>(\d{4}-[^<]*)</td><td>[^<]*</td><td class=\"mono\">", text):
        assert row.endswith(("CET", "CEST")), row


def _visible(html_text: str) -> str:
    """The page's words: no tags, scripts or attribute values (a placeholder is checked apart)."""
    body = re.sub(r"<script.*?</script>|<style.*?</style>", " ", html_text, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


# Sentences these pages said in English only, whatever the language (issue 17).
ENGLISH_ONLY = (
    "Import a spreadsheet",
    "The file is read and checked against the data first",
    "Skip the bad rows",
    "Upload and preview",
    "header on row",
    "nothing can be applied",
    "Download the error report",
    "Upload another file",
    "Rows with problems",
    "(no such column)",
    "Vendor redirect",
    "attempt(s)",
    "Last error:",
    "Retry",
    "No user exists yet",
    "never expires",
)


def _english_left(text: str) -> list[str]:
    """English sentences of the catalog (and the known English-only ones) still on an Italian page."""
    words = _visible(text)
    catalog = [k for k, v in i18n.IT.items() if len(k) >= 14 and "{" not in k and k != v]
    return sorted({s for s in (*ENGLISH_ONLY, *catalog) if s in words})


async def test_every_page_reads_in_italian(server, store, yealink):  # noqa: F811 (the fixture)
    from provisioner import services
    from provisioner.redirect import accounts as redirect_accounts

    from .conftest import add_customer
    from .test_console import upload
    from .test_redirect import YEALINK_MAC

    client = server.client
    login = await (await client.get("/console/login", headers={"Accept-Language": "it"})).text()
    assert "Non esiste ancora nessun utente" in login and _english_left(login) == []

    add_user(store, "root", "admin")
    redirect_accounts.set_account(
        store, ACTOR, "yealink", rpc_url=yealink.url, username=yealink.username, password=yealink.password
    )
    yealink.down = True  # the vendor answers 503: the device page shows attempts and the last error
    add_customer(store)
    services.add_device(store, ACTOR, YEALINK_MAC, model="T46U", customer="ROSSI")
    await sign_in(client, "root", lang="it")
    for _ in range(200):
        if yealink.calls:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)

    pages = {}
    for path in (
        "/console/",
        "/console/imports",
        "/console/tokens",
        "/console/audit",
        "/console/returns",
        "/console/customers",
        "/console/customers/ROSSI",
        f"/console/devices/{YEALINK_MAC}",
        "/console/users",
        "/console/redirect",
        "/console/search?q=0015",
        "/console/customers/ROSSI/settings",
        "/console/customers/ROSSI/keys",
        "/console/customers/ROSSI/phonebook",
        f"/console/devices/{YEALINK_MAC}/keys",
    ):
        response = await client.get(path)
        assert response.status == 200, path
        pages[path] = await response.text()
    assert "Importa un foglio di calcolo" in pages["/console/imports"]
    assert 'placeholder="quello con la riga di intestazione"' in pages["/console/imports"]
    device = pages[f"/console/devices/{YEALINK_MAC}"]
    assert "Redirect del produttore" in _visible(device) and "Ultimo errore:" in _visible(device), _visible(device)
    assert "tentativo/i" in _visible(device) and "Riprova" in _visible(device)

    token = CSRF.search(pages["/console/imports"]).group(1)
    plan = await upload(client, "with_mistakes.csv", (SAMPLES / "with_mistakes.csv").read_bytes(), token)
    pages["plan"] = await plan.text()
    assert "intestazione alla riga 1" in pages["plan"] and "Il foglio" in pages["plan"]
    assert "<th>dispositivi</th>" in pages["plan"]
    assert {path: _english_left(text) for path, text in pages.items()} == {path: [] for path in pages}

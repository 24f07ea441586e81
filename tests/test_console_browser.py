"""The console in a real browser: Debian's Chromium, headless, driven by Playwright, against
``python server.py`` started as an operator would, with a user made by the CLI.

Chromium comes from the distribution (``apt-get install chromium``; ``.ci/run`` does it), never
from ``playwright install``. Without it these tests are skipped, except under CI where they fail.
Screenshots of the dashboard and a device page go to ``test-artifacts/`` at the repository root.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from provisioner import rental_services, rental_terms, rentals, services
from provisioner.db import Store

from .conftest import SAMPLES

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ADMIN, PASSWORD = "admin", "browser-test password"
SIP_PASSWORD = "Browser-Sip#Secret"


def _missing() -> str | None:
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[test]'"
    return None


if (reason := _missing()) is not None:
    if os.environ.get("CI"):
        raise RuntimeError(f"browser tests cannot run in CI: {reason}")
    pytest.skip(reason, allow_module_level=True)

from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cli(data_dir: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", "from provisioner.cli import main; main()", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PROVISIONER_DATA_DIR": str(data_dir)},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


class Server:
    def __init__(self, url: str, data_dir: Path, log: Path):
        self.url = url
        self.data_dir = data_dir
        self.log = log


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    base = tmp_path_factory.mktemp("browser")
    data_dir = base / "data"
    assert "added" in cli(data_dir, "user", "add", ADMIN, "--role", "admin", "--password-stdin", stdin=PASSWORD + "\n")
    _seed(data_dir)
    port = free_port(socket.SOCK_STREAM)
    log = base / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                sys.executable,
                "server.py",
                "--host",
                "127.0.0.1",
                "--http-port",
                str(port),
                "--tftp-port",
                "off",
                "--data-dir",
                str(data_dir),
                "--public-url",
                "http://prov.test/",
                "--session-ttl",
                "2",
            ],
            cwd=ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    if json.load(resp)["status"] == "ok":
                        break
            except OSError:
                assert proc.poll() is None, log.read_text()
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                time.sleep(0.1)
        # A phone nobody registered asks for its file: the dashboard lists it to claim (after the next flush).
        unknown = urllib.request.Request(
            f"http://127.0.0.1:{port}/805ec0000099.cfg",
            headers={"User-Agent": "Yealink SIP-T54W 96.86.0.100 80:5e:c0:00:00:99"},
        )
        try:
            urllib.request.urlopen(unknown, timeout=5)
        except urllib.error.HTTPError as exc:
            assert exc.code == 404
        time.sleep(1.5)
        yield Server(f"http://127.0.0.1:{port}", data_dir, log)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    text = log.read_text()
    assert PASSWORD not in text and SIP_PASSWORD not in text  # no secret in a log line


def _seed(data_dir: Path) -> None:
    store = Store.open(data_dir)
    try:
        for code, name, mac in (
            ("ROSSI", "Studio Rossi & Associati", "805EC0000001"),
            ("BIANCHI", "Bianchi <Ferramenta>", "805EC0000011"),
        ):
            services.add_customer(store, "seed", code, name=name, sip_server=f"pbx.{code.lower()}.example.net")
            services.add_line(store, "seed", code, "201", display_name=f"Reception {code}", password=SIP_PASSWORD)
            services.add_line(store, "seed", code, "202", display_name=f"Office {code}", password=SIP_PASSWORD)
            services.add_device(
                store, "seed", mac, model="T54W", customer=code, lines=["201", "202"], serial=f"SN-{code}"
            )
        # A customer whose contract ended 90 days ago, with a phone never returned: overdue, with an amount.
        services.add_customer(store, "seed", "VERDI", name="Verdi Srl", sip_server="pbx.verdi.example.net")
        services.add_line(store, "seed", "VERDI", "100", display_name="Verdi", password=SIP_PASSWORD)
        services.add_device(store, "seed", "805EC0000021", model="T54W", customer="VERDI", lines=["100"])
        # For the bulk actions: one phone deployed at GIALLI, one in stock (nothing to unassign).
        services.add_customer(store, "seed", "GIALLI", name="Gialli Snc", sip_server="pbx.gialli.example.net")
        services.add_line(store, "seed", "GIALLI", "301", display_name="Gialli", password=SIP_PASSWORD)
        services.add_device(store, "seed", "805EC0000031", model="T54W", customer="GIALLI", lines=["301"])
        services.add_device(store, "seed", "805EC0000032", model="T54W")
        rental_terms.set_cost(store, "seed", "default", "89.90")
        rental_services.terminate(store, "seed", "VERDI", (rentals.today() - timedelta(days=90)).isoformat())
    finally:
        store.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser, server: Server) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US")  # English words
    context.set_default_timeout(15_000)
    tab = context.new_page()
    tab.asked = []  # type: ignore[attr-defined]  # what each data-confirm form asked

    def accept(dialog: Any) -> None:
        tab.asked.append(dialog.message)  # type: ignore[attr-defined]
        dialog.accept()

    tab.on("dialog", accept)
    yield tab
    context.close()


def sign_in(page: Page, server: Server) -> None:
    page.goto(server.url + "/")
    expect(page).to_have_url(re.compile(r"/console/login"))
    if not (ARTIFACTS / "console-login.png").exists():
        screenshot(page, "console-login.png")
    page.get_by_label("Name").fill(ADMIN)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#flash")).to_contain_text(f"Signed in as {ADMIN} (admin)")


_saved: list[Path] = []


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    _saved.append(path)
    return path


@pytest.fixture(autouse=True)
def _print_screenshots(capsys: pytest.CaptureFixture[str]) -> Iterator[None]:
    """Name every screenshot a test saved on the terminal, even under pytest -q."""
    yield
    with capsys.disabled():
        for path in _saved:
            print(f"\nscreenshot saved: {path}")
    _saved.clear()


def test_find_by_dashed_mac_swap_and_see_history(page: Page, server: Server) -> None:
    sign_in(page, server)
    cookie = next(c for c in page.context.cookies() if c["name"] == "provisioner_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and not cookie["secure"]  # plain HTTP
    assert abs(cookie["expires"] - time.time() - 2 * 3600) < 120  # --session-ttl 2 (hours)
    expect(page.locator("#count-deployed")).to_have_text(re.compile(r"\d+"))
    expect(page.locator("#unknown")).to_contain_text("80:5E:C0:00:00:99")
    expect(page.locator("#overdue")).to_contain_text("89.90 EUR")
    assert screenshot(page, "console-dashboard.png").stat().st_size > 10_000

    page.get_by_label("Search devices").fill("80-5e-c0-00-00-01")
    page.get_by_role("button", name="Search", exact=True).first.click()
    expect(page).to_have_url(server.url + "/console/devices/805EC0000001")
    expect(page.locator("#device-state")).to_have_text("deployed")
    files = page.locator("#files").text_content()
    assert "account.1.password = ********" in files and SIP_PASSWORD not in page.content()
    assert screenshot(page, "console-device.png").stat().st_size > 10_000
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    assert screenshot(page, "console-device-tablet.png").stat().st_size > 10_000
    assert page.evaluate("document.documentElement.scrollWidth") <= 820  # nothing wider than the screen
    page.set_viewport_size({"width": 1280, "height": 900})

    swap = page.locator("#swap-form")
    swap.get_by_label("New MAC").fill("80-5E-C0-00-00-02")
    swap.get_by_role("button").click()
    expect(page).to_have_url(server.url + "/console/devices/805EC0000002")
    expect(page.locator("#flash")).to_contain_text("Swapped 805EC0000001 for 805EC0000002")
    assert page.asked == ["Move every line of 80:5E:C0:00:00:01 to the new phone?"]  # type: ignore[attr-defined]
    expect(page.locator("#lines")).to_contain_text("Reception ROSSI")
    history = page.locator("#history")
    expect(history).to_contain_text("device.swapped_in")
    expect(history).to_contain_text(f"user:{ADMIN}")

    page.locator("#device-customer a").click()  # the customer's page lists both phones
    expect(page.locator("#devices")).to_contain_text("80:5E:C0:00:00:02")
    page.get_by_label("Search devices").fill("805e.c000.0001")
    page.get_by_label("Search devices").press("Enter")
    expect(page.locator("#device-state")).to_have_text("return due")
    expect(page.locator("#history tbody tr").first).to_contain_text("device.swapped")
    expect(page.locator("#history tbody tr").first).to_contain_text(f"user:{ADMIN}")


def _fixed(raw: bytes) -> bytes:
    """with_mistakes.csv with every bad row corrected, as a technician would."""
    text = raw.decode("cp1252")
    for wrong, right in (
        ("24:9A:D8:BF:A1:;", "24:9A:D8:BF:A1:02;"),  # too short
        ("00:15:65:ZZ:12:34", "00:15:65:AA:12:34"),  # not hexadecimal
        ("SNOM D315;00:04:13:97:87:6f;799", "SNOM D315;00:04:13:97:87:70;799"),  # same MAC
        ("Francesca Lombardi;;", "Francesca Lombardi;Lombardi-Pw-707;"),  # no password
        ("Yealink T99X", "Yealink T54W"),  # unknown model
        ("Yealink T31P;001565c644bd;;", "Yealink T31P;001565c644bd;709;"),
    ):  # no extension
        assert wrong in text, wrong
        text = text.replace(wrong, right)
    return text.encode("cp1252")


def test_upload_see_bad_rows_upload_the_fixed_file_and_apply(page: Page, server: Server, tmp_path: Path) -> None:
    sign_in(page, server)
    page.get_by_role("link", name="Import").click()
    page.get_by_label("Spreadsheet").set_input_files(str(SAMPLES / "with_mistakes.csv"))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#plan-status")).to_contain_text("in 7 row(s): nothing can be applied")
    bad = page.locator("table.sheet tr.bad")
    expect(bad).to_have_count(7)
    assert sorted(int(row.get_attribute("id").split("-")[1]) for row in bad.all()) == [3, 5, 6, 7, 8, 9, 10]
    expect(page.locator("#row-3 td.bad-cell")).to_have_text("24:9A:D8:BF:A1:")
    expect(page.locator("#apply-form")).to_have_count(0)
    screenshot(page, "console-import-plan.png")
    with page.expect_download() as download:
        page.locator("#report-link").click()
    assert download.value.suggested_filename == "with_mistakes-errors.xlsx"

    fixed = tmp_path / "with_mistakes_fixed.csv"
    fixed.write_bytes(_fixed((SAMPLES / "with_mistakes.csv").read_bytes()))
    page.get_by_role("link", name="Upload another file").click()
    page.get_by_label("Spreadsheet").set_input_files(str(fixed))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.locator("#plan-status")).to_contain_text("Devices: 10 will be created")
    expect(page.locator("table.sheet tr.bad")).to_have_count(0)
    expect(page.locator("table.sheet")).to_contain_text('=HYPERLINK("http://evil.example","click")')
    page.locator("#apply-form button").click()
    expect(page.locator("#flash")).to_contain_text("with_mistakes_fixed.csv applied in one transaction")

    page.get_by_label("Search devices").fill("00:0b:82:78:86:93")
    page.get_by_label("Search devices").press("Enter")
    expect(page).to_have_url(server.url + "/console/devices/000B82788693")
    expect(page.locator("#lines")).to_contain_text("Luca Gallo")
    expect(page.locator("#history")).to_contain_text(f"user:{ADMIN} import:with_mistakes_fixed.csv")


def test_terminate_a_customer_and_see_the_returns_due(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.get_by_role("link", name="Customers").click()
    page.get_by_role("link", name="BIANCHI").click()
    expect(page.locator("h1")).to_contain_text("Bianchi <Ferramenta>")  # shown as text
    today = rentals.today()
    deadline = rentals.deadline(today, rentals.DEFAULT_WINDOW_DAYS).isoformat()
    page.get_by_label("Contract ends on").fill(today.isoformat())
    page.locator("#terminate-form button").click()
    expect(page.locator("#flash")).to_contain_text(f"ended on {today.isoformat()}")
    assert page.asked == [
        "End the contract of BIANCHI? From that day its phones stop getting their lines and "  # type: ignore[attr-defined]
        "rented phones are due back."
    ]
    expect(page.locator("#flash")).to_contain_text(f"1 rented device(s) due back by {deadline}")
    returns = page.locator("#customer-returns")
    expect(returns).to_contain_text("80:5E:C0:00:00:11")
    expect(returns).to_contain_text(deadline)
    screenshot(page, "console-customer.png")
    page.get_by_role("link", name="Returns").click()
    due = page.locator("#due")
    expect(due).to_contain_text("80:5E:C0:00:00:11")
    expect(due).to_contain_text("the contract ended")  # words, not the code contract_end
    expect(due).not_to_contain_text("contract_end")
    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("#due-soon")).to_contain_text(re.compile(r"All returns: [1-9]\d* device\(s\) due back"))


def test_support_day_in_italian_create_edit_and_move(browser: Browser, server: Server) -> None:
    """Italian by default: add a customer and a line, then move a deployed phone there in one step."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="it-IT")
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        page.goto(server.url + "/")
        page.get_by_label("Nome").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Accedi").click()
        expect(page.locator("#flash")).to_contain_text(f"Accesso effettuato come {ADMIN}")
        expect(page.locator("#time-zone")).to_contain_text("Europe/Rome")
        page.get_by_role("link", name="Clienti").click()
        form = page.locator("#add-customer-form")
        form.get_by_label("Codice").fill("NERI")
        form.get_by_label("Nome").fill("Neri Srl")
        form.get_by_label("Server SIP").fill("pbx.neri.example.net")
        form.get_by_role("button", name="Aggiungi il cliente").click()
        expect(page.locator("#flash")).to_have_text("Cliente NERI (Neri Srl) aggiunto.")
        line = page.locator("#add-line-form")
        line.get_by_label("Interno").fill("301")
        line.get_by_label("Nome").fill("Reception Neri")
        line.get_by_label("Genera una password").check()
        line.get_by_role("button", name="Aggiungi la linea").click()
        expect(page.locator("#flash")).to_contain_text("Linea 301 di NERI aggiunta")
        screenshot(page, "console-customer-edit-it.png")

        device = page.locator("#add-device-form")
        device.get_by_label("MAC").fill("80-5e-c0-00-00-41")
        device.get_by_label("Modello").fill("T54W")
        device.get_by_label("Interni, nell'ordine dei tasti").fill("301")
        device.get_by_role("button", name="Aggiungi il dispositivo").click()
        expect(page.locator("#flash")).to_have_text("Dispositivo 805EC0000041 (T54W) aggiunto a NERI.")

        move = page.locator("#move-form")
        move.get_by_label("Cliente").select_option("ROSSI")
        move.get_by_label("Condizioni al rientro").select_option("ok")
        move.get_by_role("button", name="Registra il rientro e assegna").click()
        expect(page.locator("#flash")).to_contain_text("è rientrato da NERI ed è ora presso ROSSI")
        expect(page.locator("#device-customer")).to_contain_text("ROSSI")
        expect(page.locator("#device-state")).to_have_text("installato")
        screenshot(page, "console-move-it.png")

        page.get_by_role("link", name="EN", exact=True).click()
        expect(page.locator("#device-state")).to_have_text("deployed")
    finally:
        context.close()


def test_bulk_unassign_from_search_then_return_a_row_in_place(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.get_by_label("Search devices").fill("805EC00000")
    page.keyboard.press("Enter")
    page.get_by_label("Select 80:5E:C0:00:00:31").check()
    page.get_by_label("Select 80:5E:C0:00:00:32").check()
    screenshot(page, "console-bulk-select.png")
    page.get_by_role("button", name="Unassign them").click()
    summary = page.locator("#bulk-summary")
    expect(summary).to_contain_text("1 device(s) done, 1 refused")
    results = page.locator("#bulk-results")
    expect(results.locator("tr", has_text="80:5E:C0:00:00:31")).to_contain_text("done")
    expect(results.locator("tr", has_text="80:5E:C0:00:00:32")).to_contain_text("it is not assigned to anyone")
    screenshot(page, "console-bulk-result.png")
    page.get_by_role("link", name="Back to the list").click()
    expect(page.locator("#results")).to_contain_text("return due")

    page.get_by_role("link", name="Returns").click()
    page.get_by_role("button", name="Record return of 80:5E:C0:00:00:31").first.click()
    expect(page.locator("#bulk-results")).to_contain_text("Returned from GIALLI: now in stock.")
    page.get_by_role("link", name="Back to the list").click()
    expect(page.locator("#due")).not_to_contain_text("80:5E:C0:00:00:31")


AXE = ROOT / "tests" / "vendor" / "axe.min.js"  # axe-core 4.14.1, MPL-2.0 (its license header kept)


def axe_problems(page: Page) -> list[str]:
    """The serious and critical accessibility violations axe-core finds on the page."""
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def test_keyboard_slash_search_enter_opens_the_single_result_and_confirm_without_mouse(
    page: Page, server: Server
) -> None:
    sign_in(page, server)
    page.locator("body").click(position={"x": 5, "y": 300})  # focus on the page, not on a field
    page.keyboard.press("/")
    expect(page.get_by_label("Search devices")).to_be_focused()
    page.keyboard.type("SN-BIANCHI")
    page.keyboard.press("Enter")
    expect(page.locator("#result-count")).to_contain_text("1 device(s)")
    page.locator("h1").click()
    page.keyboard.press("Enter")  # the single result opens
    expect(page).to_have_url(re.compile(r"/console/devices/805EC0000011$"))

    page.goto(server.url + "/console/customers/ROSSI")
    page.get_by_label("Contract ends on").fill((rentals.today() + timedelta(days=30)).isoformat())
    page.locator("#terminate-form button").focus()  # where Tab from the date's last part lands
    page.keyboard.press("Enter")  # the confirm dialog comes up and is answered from the keyboard handler
    expect(page.locator("#flash")).to_contain_text("ROSSI")
    assert page.asked and page.asked[-1].startswith("End the contract of ROSSI?")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Cancel the termination").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#flash")).to_contain_text("is cancelled")


def _checked_context(browser: Browser, locale: str) -> Any:
    """A context whose pages may run axe (the console's CSP allows no injected script otherwise)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale=locale, bypass_csp=True)
    context.set_default_timeout(15_000)
    return context


def test_keys_of_a_profile_and_a_phone_with_the_error_next_to_the_field(browser: Browser, server: Server) -> None:
    context = _checked_context(browser, "en-US")
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    try:
        sign_in(page, server)
        page.goto(server.url + "/console/customers/BIANCHI")
        page.get_by_role("link", name="Key profile").click()
        form = page.get_by_role("form", name="Set a key")
        form.get_by_label("Position (from 1)").fill("5")
        form.get_by_label("Type").select_option("speed-dial")
        form.get_by_label("Value (number, extension, DTMF or URL)").fill("0612345678")
        form.get_by_label("Label on the phone").fill("Centralino")
        form.get_by_role("button", name="Save the key").click()
        expect(page.locator("#flash")).to_have_text("Key 5 is now speed dial.")
        expect(page.locator("#keys")).to_contain_text("Centralino")
        assert axe_problems(page) == []
        screenshot(page, "console-key-profile.png")

        page.goto(server.url + "/console/devices/805EC0000011")
        page.get_by_role("link", name="Programmable keys").click()
        expect(page.locator("#keys")).to_contain_text("the customer’s profile")
        form = page.get_by_role("form", name="Set a key")
        form.get_by_label("Position (from 1)").fill("6")
        form.get_by_label("Type").select_option("blf")
        form.get_by_label("Value (number, extension, DTMF or URL)").fill("201")  # its own line
        form.get_by_role("button", name="Save the key").click()
        error = page.locator("#error-value")
        expect(error).to_contain_text("would watch itself")
        expect(page.get_by_label("Value (number, extension, DTMF or URL)")).to_have_attribute("aria-invalid", "true")
        expect(page.get_by_label("Value (number, extension, DTMF or URL)")).to_have_value("201")
        assert axe_problems(page) == []
        screenshot(page, "console-device-key-error.png")
        page.get_by_label("Value (number, extension, DTMF or URL)").fill("0698765432")
        page.get_by_label("Type").select_option("speed-dial")
        page.get_by_role("button", name="Save the key").click()
        expect(page.locator("#flash")).to_have_text("Key 6 is now speed dial.")
        page.get_by_role("button", name="Remove key 6").click()
        expect(page.locator("#flash")).to_have_text("Key 6 removed.")
        expect(page.locator("#keys")).not_to_contain_text("0698765432")
    finally:
        context.close()


def test_phonebook_and_phone_settings_in_italian(browser: Browser, server: Server, tmp_path: Path) -> None:
    context = _checked_context(browser, "it-IT")
    page = context.new_page()
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    try:
        page.goto(server.url + "/")
        page.get_by_label("Nome").fill(ADMIN)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Accedi").click()
        page.goto(server.url + "/console/customers/BIANCHI")
        page.get_by_role("link", name="Rubrica").click()
        expect(page.locator("#phonebook")).to_contain_text("Reception BIANCHI")  # its extensions
        form = page.get_by_role("form", name="Aggiungi un contatto")
        form.get_by_label("Nome").fill("Idraulico Neri")
        form.get_by_label("Numero").fill("+39 06 1234 5678")
        form.get_by_label("Gruppo").fill("Fornitori")
        form.get_by_role("button", name="Aggiungi il contatto").click()
        expect(page.locator("#flash")).to_have_text("Idraulico Neri aggiunto alla rubrica.")
        sheet = tmp_path / "contatti.csv"
        sheet.write_text("nome;numero;gruppo\nElettricista Rossi;0698765432;Fornitori\n", encoding="utf-8")
        page.get_by_label("File dei contatti").set_input_files(str(sheet))
        page.get_by_role("button", name="Importa i contatti").click()
        expect(page.locator("#flash")).to_have_text("Rubrica importata: 1 contatto/i aggiunti, 0 già presenti.")
        with page.expect_download() as download:
            page.get_by_role("link", name="Scarica la rubrica (CSV)").click()
        assert "Elettricista Rossi;0698765432" in Path(download.value.path()).read_text("utf-8-sig").replace(",", ";")
        page.get_by_role("button", name="Togli Idraulico Neri").click()
        expect(page.locator("#flash")).to_have_text("1 contatto/i tolti dalla rubrica.")
        assert asked[-1] == "Togliere Idraulico Neri (+390612345678) dalla rubrica?"
        assert axe_problems(page) == []
        screenshot(page, "console-phonebook-it.png")

        page.goto(server.url + "/console/customers/BIANCHI")
        page.get_by_role("link", name="Impostazioni dei telefoni").click()
        expect(page.locator("#admin-password-state")).to_contain_text("Impostata")
        settings = page.get_by_role("form", name="Impostazioni di base")
        settings.get_by_label("Toni di chiamata (paese)").select_option("DE")
        settings.get_by_label("Ora in cui i telefoni cercano modifiche (0-23, vuoto: 3)").fill("5")
        settings.get_by_label("Invia subito ogni modifica ai telefoni").select_option("on")
        settings.get_by_role("button", name="Salva le impostazioni").click()
        expect(page.locator("#flash")).to_contain_text("Impostazioni dei telefoni di BIANCHI salvate")
        expect(page.get_by_label("Toni di chiamata (paese)")).to_have_value("DE")
        page.get_by_role("button", name="Genera una nuova password di amministrazione").click()
        expect(page.locator("#flash")).to_contain_text("Generata una nuova password di amministrazione")
        assert asked[-1] == "Generare una nuova password di amministrazione per ogni telefono di BIANCHI?"
        assert axe_problems(page) == []
        screenshot(page, "console-phone-settings-it.png")
    finally:
        context.close()


def test_an_api_token_with_an_expiry_date(page: Page, server: Server) -> None:
    sign_in(page, server)
    page.get_by_role("link", name="API tokens").click()
    form = page.get_by_role("form", name="New API token")
    form.get_by_label("For user").select_option(ADMIN)
    form.get_by_label("What it is for").fill("quarterly export")
    last = (rentals.today() + timedelta(days=90)).isoformat()
    form.get_by_label("Last day it works (empty: never expires)").fill(last)
    form.get_by_role("button", name="Create the token").click()
    expect(page.get_by_label("New token")).to_have_value(re.compile(r"^prov_"))
    expect(page.locator("#tokens tr", has_text="quarterly export")).to_contain_text(f"after {last}")
    screenshot(page, "console-token-expiry.png")


@pytest.mark.parametrize(
    "path",
    [
        "/console/",
        "/console/search?q=805EC",
        "/console/devices/805EC0000021",
        "/console/customers",
        "/console/customers/VERDI",
        "/console/returns",
        "/console/audit",
        "/console/tokens",
        "/console/imports",
        "/console/users",
        "/console/customers/BIANCHI/settings",
        "/console/customers/BIANCHI/keys",
        "/console/customers/BIANCHI/phonebook",
        "/console/devices/805EC0000011/keys",
    ],
)
def test_main_pages_have_no_serious_accessibility_violations(browser: Browser, server: Server, path: str) -> None:
    # The console's CSP allows no injected script: this context alone bypasses it to run axe.
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="en-US", bypass_csp=True)
    context.set_default_timeout(15_000)
    tab = context.new_page()
    try:
        sign_in(tab, server)
        tab.goto(server.url + path)
        problems = axe_problems(tab)
        assert problems == [], "\n".join(problems)
    finally:
        context.close()

"""Typing the phones' admin password on a customer's phone settings page, in a real browser:
found by its label and role, never shown back, the page passes axe (issue 17)."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Browser, expect

from provisioner import services
from provisioner.db import Store

from .test_console_browser import (  # noqa: F401  (fixtures)
    Server,
    _checked_context,
    axe_problems,
    browser,
    screenshot,
    server,
    sign_in,
)

TYPED = "Typed-Admin-Pw-4711"


def test_type_an_admin_password_for_a_customers_phones(browser: Browser, server: Server) -> None:  # noqa: F811
    context = _checked_context(browser, "en-US")
    page = context.new_page()
    try:
        _steps(page, server)
    finally:
        context.close()


def _steps(page: Any, server: Server) -> None:  # noqa: F811
    sign_in(page, server)
    page.goto(server.url + "/console/customers/BIANCHI/settings")
    box = page.get_by_label("Admin password (8 characters or more)")
    expect(box).to_have_attribute("type", "password")
    expect(box).to_have_attribute("autocomplete", "new-password")
    expect(page.get_by_role("button", name="Generate a new admin password")).to_be_visible()
    assert axe_problems(page) == []

    box.fill(TYPED)
    page.get_by_role("button", name="Set this admin password").click()
    expect(page.locator("#flash")).to_contain_text("The admin password you typed is set for the phones of BIANCHI")
    expect(page.locator("#admin-password-state")).to_contain_text("Set: the phones")
    assert TYPED not in page.content()
    screenshot(page, "console-admin-password.png")
    store = Store.open(server.data_dir)
    try:
        assert services.admin_password(store, "test", "BIANCHI") == TYPED
    finally:
        store.close()

    # too short: refused with the reason, in Italian on an Italian page; the password set stays
    page.goto(server.url + "/console/lang/it?next=/console/customers/BIANCHI/settings")
    page.get_by_label("Password di amministrazione (almeno 8 caratteri)").fill("corta12")
    page.get_by_role("button", name="Imposta questa password di amministrazione").click()
    expect(page.locator("#flash")).to_have_text(
        "Non è stato cambiato nulla: il campo «password di amministrazione» deve avere almeno 8 caratteri"
    )
    assert axe_problems(page) == []
    page.goto(server.url + "/console/lang/en?next=/console/")
    store = Store.open(server.data_dir)
    try:
        assert services.admin_password(store, "test", "BIANCHI") == TYPED
    finally:
        store.close()
    assert TYPED not in server.log.read_text()

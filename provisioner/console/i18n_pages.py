"""Italian sentences of the later console pages (API token expiry, imports, vendor redirect, keys,
phonebook, customer settings): :data:`provisioner.console.i18n.IT` takes them all in."""

from __future__ import annotations

IT_PAGES: dict[str, str] = {
    # API tokens: expiry
    "Expires": "Scade",
    "after {day}": "dopo il {day}",
    "never expires": "non scade",
    "expired": "scaduto",
    "Last day it works (empty: never expires)": "Ultimo giorno valido (vuoto: non scade)",
}

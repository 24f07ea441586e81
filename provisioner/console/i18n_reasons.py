"""The reasons the services and the import give, in the console's language.

The services and the import speak English (the CLI, the API and the logs keep it). The console
shows their reasons next to its own Italian sentence, so :func:`reason` gives them in Italian too:

* a message chosen from a fixed set is translated by key: the import's fixes per field
  (:data:`FIXES`), the parts of a plan's summary (:func:`plan_summary`);
* a message built with an f-string is matched against :data:`.i18n_patterns.PATTERNS`: its English text with
  ``{name}`` where a value goes (the value is kept as written; a ``{field}`` is a field name, shown
  in Italian), and the Italian sentence with the same names.

A message no pattern matches shows in English: never an empty or broken sentence. The test
``test_console_reasons`` walks every ``raise Invalid(...)`` of the package and lists those with no
pattern.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from .i18n_patterns import PATTERNS

# Field names as the services write them (``{field} is required``), in Italian.
FIELD_NAMES = {
    "code": "codice",
    "name": "nome",
    "customer": "cliente",
    "mac": "MAC",
    "new_mac": "nuovo MAC",
    "old_mac": "vecchio MAC",
    "vendor": "produttore",
    "model": "modello",
    "line": "linea",
    "extension": "interno",
    "display_name": "nome visualizzato",
    "sip_username": "utente SIP",
    "auth_id": "ID di autenticazione",
    "password": "password",
    "sip_password": "password SIP",
    "sip_server": "server SIP",
    "sip_port": "porta SIP",
    "sip_transport": "trasporto SIP",
    "label": "etichetta",
    "serial": "numero di serie",
    "ownership": "proprietà",
    "timezone": "fuso orario",
    "language": "lingua",
    "country": "paese",
    "codecs": "codec",
    "ntp_server": "server NTP",
    "check_hour": "ora del controllo",
    "check_interval_hours": "intervallo del controllo",
    "resync_after_change": "invio immediato delle modifiche",
    "voicemail": "segreteria",
    "number": "numero",
    "value": "valore",
    "type": "tipo",
    "position": "posizione",
    "module": "modulo",
    "role": "ruolo",
    "expires": "scadenza",
    "on": "data",
    "day": "data",
    "end": "data di fine",
    "contract_end": "fine del contratto",
    "amount": "importo",
    "window_days": "giorni per il rientro",
    "penalty_per_day": "penale giornaliera",
    "replacement_cost": "costo del telefono",
    "admin_password": "password di amministrazione",
    "settings": "impostazioni",
    "limit": "limite",
    "state": "stato",
    "sort": "ordinamento",
    "q": "ricerca",
}

# What to do about a bad value in a spreadsheet, per field (:data:`provisioner.importing.problems.FIXES`).
FIXES = {
    "customer": "scrivi il codice o il nome del cliente (uno nuovo è creato con il server SIP delle sue righe)",
    "mac": "scrivi le 12 cifre esadecimali stampate sull'etichetta del telefono, es. 00:15:65:AB:CD:EF",
    "vendor": "scrivi yealink, snom, polycom o grandstream, oppure lascia vuoto",
    "model": "scrivi un modello che il server conosce (imports/README.md li elenca), es. T54W, D785, VVX450, GRP2614",
    "line": "scrivi 1 per il primo account del telefono, 2 per il secondo, ...",
    "extension": "scrivi l'interno, es. 201 (solo lettere, cifre e * # + . _ -)",
    "display_name": "scrivi il nome che il telefono mostra, su una riga",
    "sip_username": "lascia vuoto per usare l'interno, o scrivi l'utente SIP senza spazi né virgolette",
    "auth_id": "lascia vuoto per usare l'utente SIP, o scrivilo senza spazi né virgolette",
    "sip_password": "scrivi la password SIP della linea, su una riga",
    "sip_server": "scrivi un nome host o un indirizzo IP, es. pbx.example.com, o lascia vuoto per il server "
    "del cliente",
    "label": "scrivi un'etichetta breve su una riga, oppure lascia vuoto",
    "serial": "scrivi il numero di serie su una riga, oppure lascia vuoto",
    "ownership": "scrivi rental (telefono del fornitore) o owned (del cliente)",
}

# Fixed fixes and hints the import writes besides :data:`FIXES`.
_FIXED = {
    "format the column as Text and type the MAC again": "formatta la colonna come Testo e riscrivi il MAC",
    "fix the other rows of this MAC": "correggi le altre righe di questo MAC",
    "write the customer's code instead of its name": "scrivi il codice del cliente invece del nome",
    "give every row of a new customer the same SIP server, or create the customer first": "dai a ogni riga di un "
    "cliente nuovo lo stesso server SIP, o crea prima il cliente",
    "number the lines of a phone 1, 2, 3, ... without gaps": "numera le linee di un telefono 1, 2, 3, ... senza salti",
    "keep one row per line of a phone (the line column numbers a phone's accounts)": "tieni una riga per linea di un "
    "telefono (la colonna line numera gli account del telefono)",
    "a line is on one phone only: correct the extension or remove the other row": "una linea sta su un solo "
    "telefono: correggi l'interno o togli l'altra riga",
    "give this phone fewer lines, or use a model with more accounts": "dai meno linee a questo telefono, o usa un "
    "modello con più account",
    "write TYPE:VALUE[:LABEL], e.g. blf:202": "scrivi TIPO:VALORE[:ETICHETTA], es. blf:202",
    "leave the cell empty, or use a key this phone can hold": "lascia vuota la cella, o usa un tasto che questo "
    "telefono può avere",
    "it is due back from its customer: record its return (provisioner device return MAC) first": "deve rientrare "
    "dal suo cliente: registra prima il rientro",
    "record where it went (provisioner device return MAC) first": "registra prima dove è andato",
    "its customer was charged for it: record its return first": "è stato addebitato al cliente: registra prima il "
    "rientro",
    "it was retired as faulty: import another phone": "è stato ritirato perché guasto: importa un altro telefono",
    "SIP password": "password SIP",
    "display name": "nome visualizzato",
    "sip username": "utente SIP",
    "auth id": "ID di autenticazione",
    "sip server": "server SIP",
    "none yet": "ancora nessuno",
}

_PLACE = re.compile(r"\{(\w+)\}")


@lru_cache(maxsize=1)
def _compiled() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for english, italian in PATTERNS:
        parts = _PLACE.split(english)
        regex = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.+?)" for i, p in enumerate(parts))
        out.append((re.compile(regex, re.DOTALL), italian))
    return tuple(out)


def _value(name: str, text: str) -> str:
    if name == "field":
        return FIELD_NAMES.get(text, text)
    return _FIXED.get(text, text)


def italian(text: str) -> str | None:
    """The Italian of an English reason, or None when no pattern says it."""
    text = text.strip()
    if text in _FIXED:
        return _FIXED[text]
    for regex, template in _compiled():
        found = regex.fullmatch(text)
        if found:
            values = {k: _value(k, v) for k, v in found.groupdict().items()}
            # a reason inside a reason ("… would be left with no valid policy: {why}")
            if "why" in values:
                values["why"] = italian(values["why"]) or values["why"]
            return template.format(**values)
    return None


def reason(text: Any, lang: str) -> str:
    """A service's or the import's reason in ``lang``; in English when no pattern says it."""
    english = "" if text is None else str(text)
    if lang != "it" or not english:
        return english
    return italian(english) or english


def fix(field: str, text: str, lang: str) -> str:
    """What to do about a bad cell, by its field when it is that field's usual fix."""
    if lang != "it":
        return text
    from ..importing.problems import FIXES as ENGLISH_FIXES

    if ENGLISH_FIXES.get(field) == text and field in FIXES:
        return FIXES[field]
    return reason(text, lang)


_KINDS = {
    "customer": ("Customers", "Clienti"),
    "device": ("Devices", "Dispositivi"),
    "line": ("Lines", "Linee"),
    "key": ("Keys", "Tasti"),
}


def plan_summary(counts: Mapping[str, Mapping[str, int]], lang: str) -> str:
    """What a plan will do, in sentences: "Customers: 2 will be created, 1 updated, 0 stay as they are." """
    it = lang == "it"
    out = []
    for kind, (en_word, it_word) in _KINDS.items():
        if kind not in counts:
            continue
        c = counts[kind]
        same = c.get("unchanged", 0)
        if kind == "key":
            set_, removed = c.get("create", 0) + c.get("update", 0), c.get("delete", 0)
            out.append(
                f"{it_word}: {set_} saranno impostati, {removed} tolti, {same} restano come sono."
                if it
                else f"{en_word}: {set_} will be set, {removed} removed, {same} stay as they are."
            )
            continue
        create, update = c.get("create", 0), c.get("update", 0)
        out.append(
            f"{it_word}: {create} saranno creati, {update} aggiornati, {same} restano come sono."
            if it
            else f"{en_word}: {create} will be created, {update} updated, {same} stay as they are."
        )
    return " ".join(out)

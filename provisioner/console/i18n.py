"""The console's words in Italian (the default for this market) and English, and its times.

A page's language is the ``provisioner_lang`` cookie (the switch in the header), else the
browser's ``Accept-Language``, else Italian. Texts are written in English in the code and the
templates (``t("Devices per state")``, ``t("Device {mac} unassigned.", mac=mac)``); :data:`IT`
gives each its Italian sentence. A text missing from :data:`IT` shows in English (the test
``test_console_i18n`` lists the templates' texts that have no translation).

Every time is shown in one zone, the provider's (:data:`provisioner.rentals.PROVIDER_ZONE`),
labelled with its abbreviation (CET/CEST), and a last-seen time also relative ("3 min ago").
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from .. import rentals
from . import i18n_reasons
from .i18n_pages import EN_PAGES, IT_PAGES

LANGS = ("it", "en")
DEFAULT = "it"
COOKIE = "provisioner_lang"
# A phone checks for changes at least daily (README "Changes reach phones"): one not seen for a day
# and an hour has missed a check.
ONLINE_WITHIN = timedelta(hours=25)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the cookie, else the first supported language the browser asks for."""
    if cookie in LANGS:
        return cookie  # type: ignore[return-value]
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        ranked.append((-q, i, tag.strip().lower()[:2]))
    for _, _, lang in sorted(ranked):
        if lang in LANGS:
            return lang
    return DEFAULT


def translate(lang: str, text: str, /, **params: Any) -> str:
    """``text`` in ``lang`` with ``params``; a ``reason`` (a service's or the import's English message)
    is given in ``lang`` too (:func:`.i18n_reasons.reason`)."""
    if "reason" in params:
        params["reason"] = i18n_reasons.reason(params["reason"], lang)
    template = IT.get(text, text) if lang == "it" else EN.get(text, text)
    return template.format(**params) if params else template


def zone_label(at: datetime | None = None) -> str:
    return (at or datetime.now(UTC)).astimezone(rentals.PROVIDER_ZONE).strftime("%Z")


def as_datetime(value: Any) -> datetime | None:
    """A stored time (datetime or ISO text, naive meaning UTC) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def when(value: Any) -> str:
    """A time in the provider's zone, labelled: ``2025-03-01 14:05 CET``."""
    at = as_datetime(value)
    if at is None:
        return "-" if value in (None, "") else str(value)
    local = at.astimezone(rentals.PROVIDER_ZONE)
    return local.strftime("%Y-%m-%d %H:%M ") + local.strftime("%Z")


def ago(lang: str, value: Any, now: datetime | None = None) -> str:
    """How long ago, in words: "3 min ago", "2 h ago", "5 days ago" (Italian: "3 min fa")."""
    at = as_datetime(value)
    if at is None:
        return translate(lang, "never")
    seconds = max(0, int(((now or datetime.now(UTC)) - at).total_seconds()))
    if seconds < 60:
        return translate(lang, "just now")
    if seconds < 3600:
        return translate(lang, "{n} min ago", n=seconds // 60)
    if seconds < 86400:
        return translate(lang, "{n} h ago", n=seconds // 3600)
    days = seconds // 86400
    return translate(lang, "1 day ago") if days == 1 else translate(lang, "{n} days ago", n=days)


def presence(value: Any, now: datetime | None = None) -> str:
    """online (seen within :data:`ONLINE_WITHIN`), stale (seen before) or never."""
    at = as_datetime(value)
    if at is None:
        return "never"
    return "online" if (now or datetime.now(UTC)) - at <= ONLINE_WITHIN else "stale"


# Codes shown as words (English keeps its own words for these).
EN: dict[str, str] = {
    "reason contract_end": "the contract ended",
    "reason swap": "the phone was swapped",
    "reason unassign": "its lines were taken off",
    "condition ok": "in working order",
    "condition faulty": "faulty",
    "online": "online",
    "stale": "not seen lately",
    "never": "never seen",
    "role admin": "admin",
    "role technician": "technician",
    "role support": "support",
    "role viewer": "viewer",
    **EN_PAGES,
}

IT: dict[str, str] = {
    # states, ownership, reasons, presence
    "in stock": "in magazzino",
    "deployed": "installato",
    "return due": "da restituire",
    "returned": "restituito",
    "retired": "dismesso",
    "charged": "addebitato",
    "overdue": "in ritardo",
    "rental": "noleggio",
    "owned": "di proprietà del cliente",
    "reason contract_end": "il contratto è terminato",
    "reason swap": "il telefono è stato sostituito",
    "reason unassign": "le sue linee sono state tolte",
    "condition ok": "funzionante",
    "condition faulty": "guasto",
    "online": "in linea",
    "stale": "non visto di recente",
    "never": "mai visto",
    "just now": "adesso",
    "{n} min ago": "{n} min fa",
    "{n} h ago": "{n} h fa",
    "1 day ago": "1 giorno fa",
    "{n} days ago": "{n} giorni fa",
    "Times are in {zone} ({label}).": "Gli orari sono nel fuso {zone} ({label}).",
    # header, navigation, titles
    "Console": "Console",
    "Dashboard": "Cruscotto",
    "Devices": "Dispositivi",
    "Customers": "Clienti",
    "Returns": "Rientri",
    "Redirects": "Reindirizzamenti",
    "Import": "Importa",
    "Users": "Utenti",
    "MAC, extension, name, serial": "MAC, interno, nome, seriale",
    "Search devices": "Cerca dispositivi",
    "Search": "Cerca",
    "Language": "Lingua",
    "Sign out": "Esci",
    "Sign in": "Accedi",
    "Name": "Nome",
    "Password": "Password",
    "Not allowed": "Non consentito",
    "Not found": "Non trovato",
    "Conflict": "Conflitto",
    "Too many attempts": "Troppi tentativi",
    "Server error": "Errore del server",
    "Something is wrong": "Qualcosa non va",
    "Back to the dashboard": "Torna al cruscotto",
    "Redirects not registered": "Reindirizzamenti non registrati",
    # dashboard
    "Devices per state": "Dispositivi per stato",
    "Unknown devices seen in the last 24 hours": "Dispositivi sconosciuti visti nelle ultime 24 ore",
    "Seen": "Visto",
    "From": "Da",
    "Asked for": "Ha chiesto",
    "Claim": "Registra",
    "Customer": "Cliente",
    "Model": "Modello",
    "Lines": "Linee",
    "code (empty: stock)": "codice (vuoto: magazzino)",
    "{n} request(s)": "{n} richiesta/e",
    "No unknown phone asked for a file in the last 24 hours.": "Nessun telefono sconosciuto ha chiesto un file nelle ultime 24 ore.",
    "Returns due this week": "Rientri in scadenza questa settimana",
    "deadline by {day}": "scadenza entro il {day}",
    "No return deadline falls this week.": "Nessuna scadenza di rientro cade questa settimana.",
    "All returns: {due} device(s) due back, {overdue} overdue": "Tutti i rientri: {due} dispositivo/i da restituire, {overdue} in ritardo",
    "Overdue": "In ritardo",
    "{n} device(s), {amount} outstanding": "{n} dispositivo/i, {amount} da incassare",
    "Nothing is overdue.": "Niente è in ritardo.",
    # tables
    "Device": "Dispositivo",
    "Due because": "Da restituire perché",
    "Deadline": "Scadenza",
    "Days late": "Giorni di ritardo",
    "Owed": "Dovuto",
    "Charged": "Addebitato",
    "Outstanding": "Da incassare",
    "State": "Stato",
    "Serial": "Seriale",
    "Last seen": "Ultimo contatto",
    "Extension": "Interno",
    "Label": "Etichetta",
    "SIP user": "Utente SIP",
    "Server": "Server",
    "customer default": "quello del cliente",
    # search
    "Devices matching “{q}”": "Dispositivi che corrispondono a “{q}”",
    "Search text": "Testo da cercare",
    "any state": "qualsiasi stato",
    "{n} device(s)": "{n} dispositivo/i",
    "showing {first}–{last}": "mostrati {first}–{last}",
    "Pages": "Pagine",
    "Previous": "Precedente",
    "Next": "Successiva",
    "No device has the MAC {mac}.": "Nessun dispositivo ha il MAC {mac}.",
    "If the phone has asked for its file it is listed on the dashboard to claim.": "Se il telefono ha chiesto il suo file, è nel cruscotto da registrare.",
    # returns
    "as of {day}": "al {day}",
    "As of": "Al",
    "Show": "Mostra",
    "Due back": "Da restituire",
    "No device is awaiting return.": "Nessun dispositivo è in attesa di rientro.",
    "Nobody has been charged.": "Non è stato addebitato nessuno.",
    # device page
    "Ownership": "Proprietà",
    "Due from": "Da restituire dal",
    "{amount} on {day}": "{amount} il {day}",
    "When": "Quando",
    "No lines.": "Nessuna linea.",
    "Actions": "Azioni",
    "Reassign lines": "Riassegna le linee",
    "Assign to a customer": "Assegna a un cliente",
    "Extensions, in slot order": "Interni, nell'ordine dei tasti",
    "Free lines": "Linee libere",
    "Save lines": "Salva le linee",
    "Move every line of {mac} to the new phone?": "Spostare tutte le linee di {mac} sul nuovo telefono?",
    "Swap for another phone": "Sostituisci con un altro telefono",
    "New MAC": "Nuovo MAC",
    "Model, if new": "Modello, se nuovo",
    "Swap: move every line": "Sostituisci: sposta tutte le linee",
    "Take every line off {mac}?": "Togliere tutte le linee da {mac}?",
    "Unassign": "Togli le linee",
    "On": "Il giorno",
    "Take its lines off": "Togli le sue linee",
    "Record its return": "Registra il rientro",
    "Returned on": "Rientrato il",
    "Condition": "Condizioni",
    "ok: back in stock": "funzionante: torna in magazzino",
    "faulty: retire": "guasto: da dismettere",
    "Record return": "Registra il rientro",
    "Charge the customer": "Addebita al cliente",
    "Amount in EUR": "Importo in EUR",
    "what the policy says": "quanto prevede il contratto",
    "Charge": "Addebita",
    "Resync": "Risincronizza",
    "Sends a SIP NOTIFY so the phone fetches its files now, to {to} (port 5060 unless given).": "Invia un SIP NOTIFY perché il telefono scarichi subito i suoi file, a {to} (porta 5060 se non indicata).",
    "the address given": "l'indirizzo indicato",
    "To (HOST[:PORT], optional)": "A (HOST[:PORTA], facoltativo)",
    "Reboot too": "Riavvia anche",
    "Resync now": "Risincronizza ora",
    "Files as the phone gets them": "I file come li riceve il telefono",
    "passwords masked": "password nascoste",
    "No per-device file.": "Nessun file per dispositivo.",
    "History": "Cronologia",
    "Who": "Chi",
    "What": "Cosa",
    "Summary": "Riepilogo",
    # create and edit
    "Code": "Codice",
    "SIP server": "Server SIP",
    "Contract end": "Fine del contratto",
    "No customers yet: add one below or import a spreadsheet.": "Ancora nessun cliente: aggiungine uno qui sotto o importa un foglio di calcolo.",
    "Add a customer": "Aggiungi un cliente",
    "SIP port": "Porta SIP",
    "Add the customer": "Aggiungi il cliente",
    "Contract": "Contratto",
    "Time zone": "Fuso orario",
    "ended": "terminato",
    "scheduled": "programmato",
    "open-ended": "a tempo indeterminato",
    "Return policy": "Condizioni di rientro",
    "End the contract of {code}? From that day its phones stop getting their lines and rented phones are due back.": "Terminare il contratto di {code}? Da quel giorno i suoi telefoni non ricevono più le linee e quelli a "
    "noleggio vanno restituiti.",
    "Contract ends on": "Il contratto termina il",
    "Move the end date": "Sposta la data di fine",
    "Terminate": "Termina il contratto",
    "Cancel the termination": "Annulla la cessazione",
    "Nothing is due back.": "Niente da restituire.",
    "No devices.": "Nessun dispositivo.",
    "On device": "Sul dispositivo",
    "Edit": "Modifica",
    "free": "libera",
    "Edit line {ext}": "Modifica la linea {ext}",
    "New SIP password (empty: keep it)": "Nuova password SIP (vuota: resta quella)",
    "Generate a new password": "Genera una nuova password",
    "Save line {ext}": "Salva la linea {ext}",
    "Edit the customer": "Modifica il cliente",
    "Details": "Dati",
    "Save the customer": "Salva il cliente",
    "Return terms": "Condizioni di rientro",
    "Days to return a phone": "Giorni per restituire un telefono",
    "Charge when not returned": "Addebito se non restituito",
    "unchanged": "invariato",
    "charge replacement": "il costo del telefono",
    "charge penalty": "una penale giornaliera",
    "charge both": "entrambi",
    "Penalty per day late, EUR": "Penale per giorno di ritardo, EUR",
    "Back to the provider default": "Torna alle condizioni predefinite",
    "Save the return terms": "Salva le condizioni di rientro",
    "Add a line": "Aggiungi una linea",
    "SIP password": "Password SIP",
    "Generate a password": "Genera una password",
    "Add the line": "Aggiungi la linea",
    "Add a device": "Aggiungi un dispositivo",
    "Add the device": "Aggiungi il dispositivo",
    "Settings of this phone": "Impostazioni di questo telefono",
    "One per line: name = value. Secrets show as ******** and stay as they are unless you type a new one.": "Una per riga: nome = valore. I segreti appaiono come ******** e restano invariati se non ne scrivi uno nuovo.",
    "Settings": "Impostazioni",
    "Save the settings": "Salva le impostazioni",
    "Move to another customer": "Sposta a un altro cliente",
    "It is with {customer}: its return is recorded first, then it goes to the new customer.": "È presso {customer}: prima si registra il rientro, poi passa al nuovo cliente.",
    "Condition on return": "Condizioni al rientro",
    "Return and assign": "Registra il rientro e assegna",
    "Record the return of {mac} from {customer} and assign it to the new customer?": "Registrare il rientro di {mac} da {customer} e assegnarlo al nuovo cliente?",
    "Customer {code} ({name}) added.": "Cliente {code} ({name}) aggiunto.",
    "Customer {code} saved.": "Cliente {code} salvato.",
    "Return terms of {code}: {terms}.": "Condizioni di rientro di {code}: {terms}.",
    "Line {ext} of {code} added; its password is set and not shown.": "Linea {ext} di {code} aggiunta; la password è impostata e non viene mostrata.",
    "Line {ext} of {code} saved with a new password (not shown).": "Linea {ext} di {code} salvata con una nuova password (non mostrata).",
    "Line {ext} of {code} saved.": "Linea {ext} di {code} salvata.",
    "Device {mac} ({model}) added to {code}.": "Dispositivo {mac} ({model}) aggiunto a {code}.",
    "Settings of {mac} saved: {n} setting(s).": "Impostazioni di {mac} salvate: {n} impostazione/i.",
    "Device {mac} came back from {old} and is now at {customer} with {lines}.": "Il dispositivo {mac} è rientrato da {old} ed è ora presso {customer} con le linee {lines}.",
    # messages after an action
    "Nothing was changed: {reason}": "Non è stato cambiato nulla: {reason}",
    "Nothing was sent: {reason}": "Non è stato inviato nulla: {reason}",
    "Signed in as {name} ({role}).": "Accesso effettuato come {name} ({role}).",
    "Signed out.": "Sei uscito.",
    "Device {mac} assigned to {customer} with no lines.": "Dispositivo {mac} assegnato a {customer} senza linee.",
    "Device {mac} assigned to {customer} with {lines}.": "Dispositivo {mac} assegnato a {customer} con le linee {lines}.",
    "Device {mac} unassigned: its lines are off; return due by {day}.": "Linee tolte dal dispositivo {mac}; va restituito entro il {day}.",
    "Device {mac} unassigned: its lines are off.": "Linee tolte dal dispositivo {mac}.",
    "Swapped {old} for {new} ({model}) at {customer}: lines {lines} moved.": "{old} sostituito con {new} ({model}) presso {customer}: linee {lines} spostate.",
    "Swapped {old} for {new} ({model}, new) at {customer}: lines {lines} moved.": "{old} sostituito con {new} ({model}, nuovo) presso {customer}: linee {lines} spostate.",
    "{mac} is due back by {day}.": "{mac} va restituito entro il {day}.",
    "Return of {mac} recorded on {day} from {customer} ({condition}): now {state}.": "Rientro di {mac} registrato il {day} da {customer} ({condition}): ora è {state}.",
    "It came back {days} days late (penalty {amount}).": "È rientrato con {days} giorni di ritardo (penale {amount}).",
    "{customer} charged {amount} for {mac} (total {total}, {days} days late).": "Addebitati a {customer} {amount} per {mac} (totale {total}, {days} giorni di ritardo).",
    "Device {mac} ({model}) claimed for {customer}.": "Dispositivo {mac} ({model}) registrato per {customer}.",
    "Device {mac} ({model}) claimed into stock.": "Dispositivo {mac} ({model}) registrato in magazzino.",
    "Resync sent to {mac}: {answer}.": "Risincronizzazione inviata a {mac}: {answer}.",
    "Resync of {mac} failed: {answer}.": "Risincronizzazione di {mac} non riuscita: {answer}.",
    "The contract of {customer} ended on {day}: {n} device(s) stop, {rented} rented device(s) due back by {deadline}.": "Il contratto di {customer} è terminato il {day}: {n} dispositivo/i si fermano, {rented} a noleggio da "
    "restituire entro il {deadline}.",
    "The contract of {customer} ended on {day}: {n} device(s) stop, {rented} rented device(s) due back.": "Il contratto di {customer} è terminato il {day}: {n} dispositivo/i si fermano, {rented} a noleggio da "
    "restituire.",
    "The contract of {customer} ends on {day}: {n} device(s) stop, {rented} rented device(s) due back by {deadline}.": "Il contratto di {customer} termina il {day}: {n} dispositivo/i si fermano, {rented} a noleggio da "
    "restituire entro il {deadline}.",
    "The contract of {customer} ends on {day}: {n} device(s) stop, {rented} rented device(s) due back.": "Il contratto di {customer} termina il {day}: {n} dispositivo/i si fermano, {rented} a noleggio da "
    "restituire.",
    "The termination of {customer} on {day} is cancelled: {n} device(s) keep their lines.": "La cessazione di {customer} del {day} è annullata: {n} dispositivo/i mantengono le linee.",
    # bulk actions
    "Bulk action": "Azione su più dispositivi",
    "Return of the selected devices": "Rientro dei dispositivi selezionati",
    "Unassigning the selected devices": "Linee tolte ai dispositivi selezionati",
    "Resync of the selected devices": "Risincronizzazione dei dispositivi selezionati",
    "Download of the selected devices": "Scaricamento dei dispositivi selezionati",
    "Select": "Seleziona",
    "Action": "Azione",
    "Outcome": "Esito",
    "What happened": "Cosa è successo",
    "done": "fatto",
    "refused": "rifiutato",
    "Select {mac}": "Seleziona {mac}",
    "Selected devices": "Dispositivi selezionati",
    "With the selected devices:": "Con i dispositivi selezionati:",
    "Record their return": "Registra il rientro",
    "Unassign them": "Togli le linee",
    "Resync them": "Risincronizza",
    "Download CSV": "Scarica CSV",
    "Download XLSX": "Scarica XLSX",
    "Record return of {mac}": "Registra il rientro di {mac}",
    "Back to the list": "Torna all'elenco",
    "{done} device(s) done, {refused} refused (a refused device was not changed).": "{done} dispositivo/i fatti, {refused} rifiutati (un dispositivo rifiutato non è stato cambiato).",
    "No device was selected: tick the devices first.": "Nessun dispositivo selezionato: spunta prima i dispositivi.",
    "Select at most {n} devices at once; {m} were selected.": "Seleziona al massimo {n} dispositivi alla volta; ne sono stati selezionati {m}.",
    "Returned from {customer}: now {state}.": "Restituito da {customer}: ora {state}.",
    "Lines off; return due by {day}.": "Linee tolte; da restituire entro il {day}.",
    "Lines off.": "Linee tolte.",
    "Resync sent: {answer}.": "Risincronizzazione inviata: {answer}.",
    "Resync failed: {answer}.": "Risincronizzazione non riuscita: {answer}.",
    # lists: filters, sorting, pages, downloads
    "Download what is shown:": "Scarica quello che è mostrato:",
    "Download:": "Scarica:",
    "Filters": "Filtri",
    "Firmware": "Firmware",
    "Firmware target": "Firmware previsto",
    "upgrade due": "aggiornamento da fare",
    "none": "nessuno",
    "Not seen for days": "Non visto da giorni",
    "Vendor": "Produttore",
    "any vendor": "qualsiasi produttore",
    "filter and sort them": "filtrali e ordinali",
    "{n} customer(s)": "{n} cliente/i",
    # audit log and API tokens
    "API tokens": "Token API",
    "Audit log": "Registro delle modifiche",
    "Copy it now: it is shown this once and cannot be shown again.": "Copialo ora: è mostrato solo questa volta e non si potrà rivedere.",
    "Create the token": "Crea il token",
    "Created": "Creato",
    "For user": "Per l'utente",
    "Last used": "Ultimo uso",
    "New API token": "Nuovo token API",
    "New token": "Nuovo token",
    "No API tokens yet.": "Ancora nessun token API.",
    "No event matches.": "Nessun evento corrisponde.",
    "Older": "Più vecchi",
    "Revoke": "Revoca",
    "Revoke the token “{label}” of {user}? Scripts using it stop working.": "Revocare il token “{label}” di {user}? Gli script che lo usano smettono di funzionare.",
    "Revoke token {label} of {user}": "Revoca il token {label} di {user}",
    "To": "Al",
    "Token “{label}” for {user}": "Token “{label}” per {user}",
    "User": "Utente",
    "What it is for": "A cosa serve",
    "not yet": "non ancora",
    "active": "attivo",
    "revoked on {at}": "revocato il {at}",
    "Token {id} of {user} revoked: it no longer opens the API.": "Token {id} di {user} revocato: non apre più l'API.",
    # users, import, redirect messages
    "role admin": "amministratore",
    "role technician": "tecnico",
    "role support": "assistenza",
    "role viewer": "sola lettura",
    "User {name} added with role {role}.": "Utente {name} aggiunto con il ruolo {role}.",
    "Password of {name} changed; their open sessions ended.": "Password di {name} cambiata; le sue sessioni aperte sono chiuse.",
    "User {name} is now {role}, disabled.": "L'utente {name} è ora {role}, disabilitato.",
    "User {name} is now {role}, enabled.": "L'utente {name} è ora {role}, abilitato.",
    "Choose a spreadsheet file to upload.": "Scegli un foglio di calcolo da caricare.",
    "The file {name} cannot be imported: {reason}": "Il file {name} non si può importare: {reason}",
    "{name} read: {rows} row(s), {problems} problem(s). Nothing is changed until you apply.": "{name} letto: {rows} riga/e, {problems} problema/i. Nulla cambia finché non applichi.",
    "Nothing was applied: the file has {count} problem(s). Fix them and upload it again, or upload it with "
    "'skip the bad rows'.": "Non è stato applicato nulla: il file ha {count} problema/i. Correggili e caricalo di nuovo, oppure "
    "caricalo con 'salta le righe errate'.",
    "Nothing was applied: the data changed since this plan was made. Review the new plan below and apply again.": "Non è stato applicato nulla: i dati sono cambiati da quando è stato fatto questo piano. Controlla il "
    "nuovo piano qui sotto e applica di nuovo.",
    "{name} applied in one transaction: {customers_new} customer(s) created and {customers_changed} updated, "
    "{devices_new} device(s) created and {devices_changed} updated, {lines_new} line(s) created and "
    "{lines_changed} updated.": "{name} applicato in una sola transazione: {customers_new} cliente/i creati e {customers_changed} "
    "aggiornati, {devices_new} dispositivo/i creati e {devices_changed} aggiornati, {lines_new} linea/e "
    "create e {lines_changed} aggiornate.",
    "{n} bad row(s) were left out.": "{n} riga/e errate sono state escluse.",
    "Redirect of {mac}: {count} change(s) will be sent within a second.": "Redirect di {mac}: {count} modifica/e saranno inviate entro un secondo.",
    # users and redirect pages
    "Access": "Accesso",
    "Access of {name}": "Accesso di {name}",
    "Add a user": "Aggiungi un utente",
    "Add user": "Aggiungi l'utente",
    "Attempts": "Tentativi",
    "Change": "Modifica",
    "Devices whose vendor redirect service (Yealink RPS, Snom) does not yet point at this server, or still holds "
    "a device taken back.": "Dispositivi per cui il servizio di redirect del produttore (Yealink RPS, Snom) non punta ancora a questo "
    "server, o tiene ancora un dispositivo rientrato.",
    "Every redirect is as it should be.": "Ogni redirect è come deve essere.",
    "Last sign-in": "Ultimo accesso",
    "New password": "Nuova password",
    "New password for {name}": "Nuova password per {name}",
    "Password (10 characters or more)": "Password (almeno 10 caratteri)",
    "Role": "Ruolo",
    "Role of {name}": "Ruolo di {name}",
    "Save": "Salva",
    "Set": "Imposta",
    "Vendor's message": "Messaggio del produttore",
    "What to do": "Cosa fare",
    "disable": "disabilita",
    "disabled": "disabilitato",
    "enable": "abilita",
    "enabled": "abilitato",
    "keep access": "accesso invariato",
    "{n} queued": "{n} in coda",
    **IT_PAGES,
}

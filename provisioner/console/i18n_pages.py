"""Sentences of the later console pages (API token expiry, imports, vendor redirect, sign-in, keys,
phonebook, customer settings): :data:`provisioner.console.i18n.IT` and ``EN`` take them all in."""

from __future__ import annotations

# Codes shown as words: English keeps its own words for these.
EN_PAGES: dict[str, str] = {
    "kind customer": "customer",
    "kind device": "device",
    "kind line": "line",
    "redirect pending": "pending",
    "redirect registered": "registered",
    "redirect deregistered": "deregistered",
    "redirect failed": "failed",
    "redirect conflict": "conflict",
    "redirect rejected": "rejected",
}

IT_PAGES: dict[str, str] = {
    # API tokens: expiry
    "Expires": "Scade",
    "after {day}": "dopo il {day}",
    "never expires": "non scade",
    "expired": "scaduto",
    "Last day it works (empty: never expires)": "Ultimo giorno valido (vuoto: non scade)",
    # sign-in
    "No user exists yet. On the server, create the first admin with": (
        "Non esiste ancora nessun utente. Sul server crea il primo amministratore con"
    ),
    ", then sign in here.": ", poi accedi qui.",
    "(wait {n} s)": "(attendi {n} s)",
    # import: upload
    "Import a spreadsheet": "Importa un foglio di calcolo",
    "CSV, XLS, XLSX or ODS, up to {size}. The file is read and checked against the data first: nothing changes "
    "until you review the plan and apply it, all in one transaction.": (
        "CSV, XLS, XLSX o ODS, fino a {size}. Il file viene prima letto e controllato rispetto ai dati: nulla cambia "
        "finché non rivedi il piano e lo applichi, tutto in una sola transazione."
    ),
    "Spreadsheet": "Foglio di calcolo",
    "Sheet": "Foglio",
    "the one with the header row": "quello con la riga di intestazione",
    "Skip the bad rows (apply the others)": "Salta le righe errate (applica le altre)",
    "Upload and preview": "Carica e mostra l'anteprima",
    # import: the plan
    "Import {name}": "Importa {name}",
    "{kind} ({detail}), header on row {row}, {n} rows.": "{kind} ({detail}), intestazione alla riga {row}, {n} righe.",
    "Bad rows are skipped.": "Le righe errate vengono saltate.",
    "Records": "Dati",
    "create": "da creare",
    "update": "da aggiornare",
    "unchanged": "invariati",
    "kind customer": "clienti",
    "kind device": "dispositivi",
    "kind line": "linee",
    "{n} problem(s) in {rows} row(s): nothing can be applied. Fix the rows marked below and upload the file again.": (
        "{n} problema/i in {rows} riga/e: non si può applicare nulla. Correggi le righe segnate qui sotto e "
        "carica di nuovo il file."
    ),
    "Or upload it with “skip the bad rows”.": "Oppure caricalo con “salta le righe errate”.",
    "Ready:": "Pronto:",
    "{n} bad row(s) will be left out": "{n} riga/e errate saranno escluse",
    "Apply {n} change(s)": "Applica {n} modifica/e",
    "Download the error report (XLSX)": "Scarica il rapporto degli errori (XLSX)",
    "Upload another file": "Carica un altro file",
    "Problems": "Problemi",
    "Row {n}": "Riga {n}",
    "column “{name}” ({letter})": "colonna “{name}” ({letter})",
    "{field} (no such column)": "{field} (colonna assente)",
    "Fix:": "Come correggere:",
    "The sheet": "Il foglio",
    "Rows with problems": "Righe con problemi",
    "Row": "Riga",
    "Changes": "Modifiche",
    "… and {n} more": "… e altre {n}",
    # a device's vendor redirect
    "Vendor redirect": "Redirect del produttore",
    "redirect pending": "in attesa",
    "redirect registered": "registrato",
    "redirect deregistered": "tolto",
    "redirect failed": "non riuscito",
    "redirect conflict": "tenuto da un altro account",
    "redirect rejected": "rifiutato",
    "to": "verso",
    "{n} change(s) queued, {attempts} attempt(s)": "{n} modifica/e in coda, {attempts} tentativo/i",
    "next {at}": "prossimo {at}",
    "The vendor says:": "Il produttore risponde:",
    "Last error:": "Ultimo errore:",
    "Retry": "Riprova",
}

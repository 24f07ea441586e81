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
    "key line": "line",
    "key blf": "BLF (busy lamp)",
    "key speed-dial": "speed dial",
    "key park": "call park",
    "key dtmf": "DTMF",
    "key url": "URL",
    "key none": "none",
    "entry extension": "extension",
    "entry contact": "contact",
}

IT_PAGES: dict[str, str] = {
    # device page: config downloads (repeats of one fetch are one row with a count)
    "Config downloads": "Scaricamenti della configurazione",
    "Times": "Volte",
    "Last time": "Ultima volta",
    "Via": "Via",
    "File": "File",
    "No download recorded.": "Nessuno scaricamento registrato.",
    "Fetched from different addresses within an hour: {ips}. Check where the phone is.": (
        "Scaricata da indirizzi diversi entro un'ora: {ips}. Verificare dove si trova il telefono."
    ),
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
    "Ready to apply.": "Pronto da applicare.",
    "Type an admin password": "Scrivi una password di amministrazione",
    "Admin password (8 characters or more)": "Password di amministrazione (almeno 8 caratteri)",
    "Set this admin password": "Imposta questa password di amministrazione",
    "The admin password you typed is set for the phones of {code}; they get it at their next check.": "La "
    "password di amministrazione che hai scritto è impostata per i telefoni di {code}; la ricevono al prossimo "
    "controllo.",
    "{n} bad row(s) will be left out.": "{n} riga/e errate saranno escluse.",
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
    # programmable keys
    "Key profile": "Profilo dei tasti",
    "Key profile of {code}": "Profilo dei tasti di {code}",
    "Keys of {mac}": "Tasti di {mac}",
    "Programmable keys": "Tasti programmabili",
    "More about this device": "Altro su questo dispositivo",
    "More about {code}": "Altro su {code}",
    "Every phone of {code} gets these keys where its model has room, unless the phone has its own key there.": (
        "Ogni telefono di {code} riceve questi tasti dove il modello ha posto, salvo che il telefono abbia lì un "
        "tasto proprio."
    ),
    "What this phone gets: its customer’s key profile with the phone’s own keys laid over it.": (
        "Cosa riceve questo telefono: il profilo dei tasti del cliente, con sopra i tasti propri del telefono."
    ),
    "Module": "Modulo",
    "Position": "Posizione",
    "Type": "Tipo",
    "Value": "Valore",
    "Line": "Linea",
    "phone": "telefono",
    "this phone": "questo telefono",
    "the customer’s profile": "il profilo del cliente",
    "No keys yet.": "Ancora nessun tasto.",
    "Set a key": "Imposta un tasto",
    "Position (from 1)": "Posizione (da 1)",
    "Value (number, extension, DTMF or URL)": "Valore (numero, interno, DTMF o URL)",
    "Label on the phone": "Etichetta sul telefono",
    "Line (account, from 1)": "Linea (account, da 1)",
    "Expansion module (0: the phone)": "Modulo di espansione (0: il telefono)",
    "Save the key": "Salva il tasto",
    "Remove": "Togli",
    "Remove key {position}": "Togli il tasto {position}",
    "Remove key {position}?": "Togliere il tasto {position}?",
    "This key cannot be set: {reason}": "Questo tasto non si può impostare: {reason}",
    "Key {position} is now {type}.": "Il tasto {position} ora è {type}.",
    "Key {position} removed.": "Tasto {position} tolto.",
    "key line": "linea",
    "key blf": "BLF (spia di occupato)",
    "key speed-dial": "chiamata rapida",
    "key park": "parcheggio di chiamata",
    "key dtmf": "DTMF",
    "key url": "URL",
    "key none": "nessuno",
    # phonebook
    "Phonebook": "Rubrica",
    "Phonebook of {code}": "Rubrica di {code}",
    "What the phones of {code} show: its extensions, then its contacts.": (
        "Cosa mostrano i telefoni di {code}: i suoi interni, poi i suoi contatti."
    ),
    "Download the phonebook (CSV)": "Scarica la rubrica (CSV)",
    "Number": "Numero",
    "Group": "Gruppo",
    "Kind": "Tipo",
    "entry extension": "interno",
    "entry contact": "contatto",
    "Remove {name}": "Togli {name}",
    "Remove {name} ({number}) from the phonebook?": "Togliere {name} ({number}) dalla rubrica?",
    "The phonebook is empty.": "La rubrica è vuota.",
    "Add a contact": "Aggiungi un contatto",
    "Add the contact": "Aggiungi il contatto",
    "Import contacts": "Importa contatti",
    "A CSV or XLSX with the columns name, number and (optional) group; contacts already there are skipped; "
    "nothing is added if a row is wrong.": (
        "Un CSV o XLSX con le colonne nome, numero e (facoltativa) gruppo; i contatti già presenti sono saltati; "
        "se una riga è errata non si aggiunge nulla."
    ),
    "File of contacts": "File dei contatti",
    "Import the contacts": "Importa i contatti",
    "Choose a CSV or XLSX file of contacts to import.": "Scegli un file CSV o XLSX di contatti da importare.",
    "{name} added to the phonebook.": "{name} aggiunto alla rubrica.",
    "{n} contact(s) removed from the phonebook.": "{n} contatto/i tolti dalla rubrica.",
    "Phonebook imported: {added} contact(s) added, {skipped} already there.": (
        "Rubrica importata: {added} contatto/i aggiunti, {skipped} già presenti."
    ),
    # a customer's phone settings
    "Phone settings": "Impostazioni dei telefoni",
    "Phone settings of {code}": "Impostazioni dei telefoni di {code}",
    "What every phone of {code} gets, unless a phone has its own setting.": (
        "Cosa riceve ogni telefono di {code}, salvo che un telefono abbia una sua impostazione."
    ),
    "Admin password of the phones": "Password di amministrazione dei telefoni",
    "Set: the phones’ web page and menu ask for it. It is never shown here.": (
        "Impostata: la pagina web e il menu dei telefoni la chiedono. Qui non viene mai mostrata."
    ),
    "Not set: the phones keep their own.": "Non impostata: i telefoni tengono la propria.",
    "Generate a new admin password": "Genera una nuova password di amministrazione",
    "Generate a new admin password for every phone of {code}?": (
        "Generare una nuova password di amministrazione per ogni telefono di {code}?"
    ),
    "To read it, an admin runs: provisioner customer admin-password {code} --reveal": (
        "Per leggerla, un amministratore esegue: provisioner customer admin-password {code} --reveal"
    ),
    "Baseline": "Impostazioni di base",
    "Time zone (IANA name)": "Fuso orario (nome IANA)",
    "Language of the phones": "Lingua dei telefoni",
    "SIP transport": "Trasporto SIP",
    "Call-progress tones (country)": "Toni di chiamata (paese)",
    "default (IT)": "predefiniti (IT)",
    "Codec order (empty: each phone’s own)": "Ordine dei codec (vuoto: quello di ogni telefono)",
    "NTP server (empty: the server’s)": "Server NTP (vuoto: quello del server)",
    "Hour the phones check for changes (0-23, empty: 3)": "Ora in cui i telefoni cercano modifiche (0-23, vuoto: 3)",
    "Check every N hours (1-168, empty: 24)": "Controlla ogni N ore (1-168, vuoto: 24)",
    "Push each change to the phones at once": "Invia subito ogni modifica ai telefoni",
    "as the server is set": "come impostato sul server",
    "yes": "sì",
    "no": "no",
    "Save the settings": "Salva le impostazioni",
    "Phone settings of {code} saved: its phones get them at their next check.": (
        "Impostazioni dei telefoni di {code} salvate: i telefoni le ricevono al prossimo controllo."
    ),
    "A new admin password was generated for the phones of {code}; they get it at their next check.": (
        "Generata una nuova password di amministrazione per i telefoni di {code}; la ricevono al prossimo controllo."
    ),
}

"""The services' and the import's English messages as patterns, with their Italian
(:func:`.i18n_reasons.reason` applies them)."""

from __future__ import annotations

# English text with {name} where a value goes -> Italian. The first that matches the whole message wins,
# so a longer, more specific text comes before a shorter one it would also match.
PATTERNS: tuple[tuple[str, str], ...] = (
    # fields.py: the values every form and every spreadsheet cell goes through
    ("{field} is required", "il campo «{field}» è obbligatorio"),
    (
        "{field} must be one line of text without control characters",
        "il campo «{field}» deve stare su una riga, senza caratteri di controllo",
    ),
    ("{field} is longer than {n} characters", "il campo «{field}» supera i {n} caratteri"),
    (
        "{field} must not contain line breaks or control characters",
        "il campo «{field}» non deve contenere a capo né caratteri di controllo",
    ),
    (
        "{field} {value} may only hold digits, * # and + (e.g. *97)",
        "il campo «{field}» ({value}) può contenere solo cifre, * # e + (es. *97)",
    ),
    ("{field} {value} may only hold {allowed}", "il campo «{field}» ({value}) può contenere solo {allowed}"),
    (
        "{field} {value} must not contain spaces, quotes or < >",
        "il campo «{field}» ({value}) non deve contenere spazi, virgolette né < >",
    ),
    (
        "{field} {value} is not a host name or IP address",
        "il campo «{field}» ({value}) non è un nome host né un indirizzo IP",
    ),
    ("{field} {value} is not a port number", "il campo «{field}» ({value}) non è un numero di porta"),
    ("{field} {value} is not between 1 and 65535", "il campo «{field}» ({value}) non è tra 1 e 65535"),
    (
        "{field} {value} is not a MAC address (e.g. 00:15:65:AB:CD:EF)",
        "il campo «{field}» ({value}) non è un indirizzo MAC (es. 00:15:65:AB:CD:EF)",
    ),
    ("unknown vendor {value} (known: {known})", "produttore {value} sconosciuto (noti: {known})"),
    ("unknown phone model {value} (known models: {known})", "modello di telefono {value} sconosciuto (noti: {known})"),
    (
        "unknown time zone {value} (use an IANA name like Europe/Rome)",
        "fuso orario {value} sconosciuto (usa un nome IANA come Europe/Rome)",
    ),
    (
        "setting name {value} may only hold letters, digits and . _ - [ ]",
        "il nome di impostazione {value} può contenere solo lettere, cifre e . _ - [ ]",
    ),
    (
        "{field} must be on, off or server (follow the server's flag), not {value}",
        "il campo «{field}» deve essere on, off o server (come il server), non {value}",
    ),
    ("{field} {value} must be one of: {options}", "il campo «{field}» ({value}) deve essere uno tra: {options}"),
    (
        "{field}: unknown codec {value} (known: {known})",
        "il campo «{field}»: codec {value} sconosciuto (noti: {known})",
    ),
    ("{field}: a codec is listed twice", "il campo «{field}»: un codec compare due volte"),
    (
        "{field} {value} must be a whole number from {low} to {high}",
        "il campo «{field}» ({value}) deve essere un numero intero da {low} a {high}",
    ),
    ("{field} must be one of {options}", "il campo «{field}» deve essere uno tra {options}"),
    # customers, lines, devices
    ("customer {code} already exists", "il cliente {code} esiste già"),
    ("customer {code} already has extension {ext}", "il cliente {code} ha già l'interno {ext}"),
    ("customer {code} has no extension {ext}", "il cliente {code} non ha l'interno {ext}"),
    ("customer {code} has no lines {exts}", "il cliente {code} non ha le linee {exts}"),
    ("the same extension is listed twice", "lo stesso interno è indicato due volte"),
    ("extension {ext} is already on device {mac}", "l'interno {ext} è già sul dispositivo {mac}"),
    ("lines need a customer (--customer)", "le linee richiedono un cliente"),
    ("{model} has {n} SIP accounts; {count} lines given", "il {model} ha {n} account SIP; linee indicate: {count}"),
    ("{model} has {n} SIP account; {count} lines given", "il {model} ha {n} account SIP; linee indicate: {count}"),
    ("device {mac} already exists", "il dispositivo {mac} esiste già"),
    (
        "the contract of {code} ended on {day}: it cannot take devices (cancel the termination first, or add the "
        "device to stock)",
        "il contratto di {code} è terminato il {day}: non può ricevere dispositivi (annulla prima la cessazione, o "
        "aggiungi il dispositivo al magazzino)",
    ),
    ("no customer {code}", "nessun cliente {code}"),
    ("no customer with code {code}", "nessun cliente con codice {code}"),
    ("no device with MAC {mac}", "nessun dispositivo con MAC {mac}"),
    ("no device {mac}", "nessun dispositivo {mac}"),
    (
        "no unknown phone with MAC {mac} was seen (or it is a device already)",
        "non si è visto nessun telefono sconosciuto con MAC {mac} (o è già un dispositivo)",
    ),
    (
        "the phone {mac} did not announce its model: give the model",
        "il telefono {mac} non ha comunicato il suo modello: indica il modello",
    ),
    ("type a SIP password or tick 'generate one'", "scrivi una password SIP o spunta 'genera'"),
    ("settings line {n} must read 'name = value'", "la riga {n} delle impostazioni deve essere 'nome = valore'"),
    # rentals: assign, unassign, swap, return, charge, terminate
    ("a customer is required (--customer)", "serve un cliente"),
    ("choose the customer the phone goes to", "scegli il cliente a cui va il telefono"),
    (
        "the contract of {code} ended on {day}: it cannot take devices",
        "il contratto di {code} è terminato il {day}: non può ricevere dispositivi",
    ),
    ("device {mac} is owned by customer {code}", "il dispositivo {mac} è di proprietà del cliente {code}"),
    (
        "device {mac} is {state} with customer {code}: record its return before assigning it elsewhere",
        "il dispositivo {mac} è {state} presso il cliente {code}: registra il rientro prima di assegnarlo altrove",
    ),
    (
        "device {mac} is {state}: it is not assigned to anyone",
        "il dispositivo {mac} è {state}: non è assegnato a nessuno",
    ),
    ("the old and the new device are the same MAC", "il vecchio e il nuovo dispositivo hanno lo stesso MAC"),
    (
        "cannot swap {mac}: it is not assigned to a customer",
        "non si può sostituire {mac}: non è assegnato a un cliente",
    ),
    (
        "cannot swap {mac}: the contract of {code} ended on {day}",
        "non si può sostituire {mac}: il contratto di {code} è terminato il {day}",
    ),
    ("cannot swap {mac}: it is {state}, not deployed", "non si può sostituire {mac}: è {state}, non installato"),
    ("device {mac} is a {vendor} {model}, not {wanted}", "il dispositivo {mac} è un {vendor} {model}, non un {wanted}"),
    (
        "device {mac} is customer-owned: a replacement must come from the provider's stock",
        "il dispositivo {mac} è del cliente: un ricambio deve venire dal magazzino del fornitore",
    ),
    (
        "device {mac} is customer-owned: it takes no part in returns, so it cannot be {what}",
        "il dispositivo {mac} è del cliente: non rientra nei resi, quindi non può essere {what}",
    ),
    (
        "cannot {verb} {what}: it is {state} ({hint}); {verb2} needs a device that is {allowed}",
        "non si può eseguire «{verb}» su {what}: è {state} ({hint}); serve un dispositivo {allowed}",
    ),
    (
        "cannot {verb} {what}: it is {state}; {verb2} needs a device that is {allowed}",
        "non si può eseguire «{verb}» su {what}: è {state}; serve un dispositivo {allowed}",
    ),
    (
        "{field} {value} is not a date (use YYYY-MM-DD, e.g. 2026-01-31)",
        "il campo «{field}» ({value}) non è una data (usa AAAA-MM-GG, es. 2026-01-31)",
    ),
    (
        "{field} {day} is in the future: record it on the day it happens",
        "il campo «{field}» ({day}) è nel futuro: registralo il giorno in cui avviene",
    ),
    ("{field} is required (euros, e.g. 89.90)", "il campo «{field}» è obbligatorio (euro, es. 89.90)"),
    (
        "{field} {value} is not an amount in euros (e.g. 89.90)",
        "il campo «{field}» ({value}) non è un importo in euro (es. 89.90)",
    ),
    ("{field} {value} has more than two decimal places", "il campo «{field}» ({value}) ha più di due decimali"),
    ("{field} {value} is more than {max} EUR", "il campo «{field}» ({value}) supera {max} EUR"),
    (
        "window_days {value} must be a whole number of days from 0 to {max}",
        "i giorni per il rientro ({value}) devono essere un numero intero da 0 a {max}",
    ),
    ("charge {value} must be one of: {options}", "l'addebito {value} deve essere uno tra: {options}"),
    (
        "charge {value} needs a penalty per day (e.g. --penalty-per-day 10)",
        "l'addebito {value} richiede una penale giornaliera (es. 10)",
    ),
    ("{field} {value} is not a whole number of days", "il campo «{field}» ({value}) non è un numero intero di giorni"),
    ("{field} {value} must be from 0 to {max}", "il campo «{field}» ({value}) deve essere da 0 a {max}"),
    ("amount must be more than 0.00 EUR", "l'importo deve essere maggiore di 0.00 EUR"),
    (
        "no replacement cost is known for {vendor} {model}: set one with `provisioner rentals set-cost {model2} EUR` "
        "or give --amount",
        "non è noto il costo del {vendor} {model}: impostalo (provisioner rentals set-cost {model2} EUR) o indica "
        "l'importo",
    ),
    (
        "nothing is owed for {mac} as of {day} (deadline {deadline}, already charged {charged}); give --amount to "
        "charge anyway",
        "non è dovuto nulla per {mac} al {day} (scadenza {deadline}, già addebitati {charged}); indica l'importo "
        "per addebitare comunque",
    ),
    ("the contract of {code} already ended on {day}", "il contratto di {code} è già terminato il {day}"),
    ("customer {code} has no termination to cancel", "il cliente {code} non ha una cessazione da annullare"),
    (
        "the contract of {code} ended on {day}: a termination can only be cancelled before its date",
        "il contratto di {code} è terminato il {day}: una cessazione si annulla solo prima della sua data",
    ),
    (
        "customer {code} would be left with no valid policy: {why}",
        "il cliente {code} resterebbe senza condizioni valide: {why}",
    ),
    (
        "nothing to change: give --window-days, --charge or --penalty-per-day (or --default)",
        "niente da cambiare: indica i giorni, l'addebito o la penale (o le condizioni predefinite)",
    ),
    ("give either new terms or --default, not both", "indica nuove condizioni o quelle predefinite, non entrambe"),
    # keys
    (
        "{where}: a BLF key on the phone's own extension {ext} would watch itself",
        "{where}: un tasto BLF sull'interno del telefono stesso ({ext}) sorveglierebbe sé stesso",
    ),
    (
        "a BLF key on the phone's own extension {ext} would watch itself",
        "un tasto BLF sull'interno del telefono stesso ({ext}) sorveglierebbe sé stesso",
    ),
    ("no vendor's phones take {type} keys yet", "nessun produttore ha ancora telefoni con tasti {type}"),
    ("device {mac} has no own {where}", "il dispositivo {mac} non ha un suo {where}"),
    ("customer {code} has no profile {where}", "il profilo del cliente {code} non ha {where}"),
    (
        "{vendor} phones take no {type} keys (they take: {types})",
        "i telefoni {vendor} non hanno tasti {type} (hanno: {types})",
    ),
    ("{limit}: no key {n}", "{limit}: nessun tasto {n}"),
    ("the {model} has {n} programmable keys: no key {k}", "il {model} ha {n} tasti programmabili: nessun tasto {k}"),
    (
        "the {model} takes {n} expansion modules: no module {k}",
        "il {model} accetta {n} moduli di espansione: nessun modulo {k}",
    ),
    (
        "an expansion module of the {model} has {n} keys: no key {k}",
        "un modulo di espansione del {model} ha {n} tasti: nessun tasto {k}",
    ),
    ("the {model} has {n} SIP accounts: no line {k}", "il {model} ha {n} account SIP: nessuna linea {k}"),
    # phonebook
    (
        "{field} {value} is not a phone number (digits, + * #, or a SIP user)",
        "il campo «{field}» ({value}) non è un numero di telefono (cifre, + * #, o un utente SIP)",
    ),
    (
        "say which contact to remove: a name, a number or both",
        "indica quale contatto togliere: un nome, un numero o entrambi",
    ),
    (
        "customer {code} has no such contact in its phonebook",
        "la rubrica del cliente {code} non ha questo contatto",
    ),
    ("{name} is not a CSV or XLSX file", "{name} non è un file CSV o XLSX"),
    ("{name} is not a readable XLSX file ({why})", "{name} non è un file XLSX leggibile ({why})"),
    ("{name} is empty", "{name} è vuoto"),
    ("{name}: nothing imported, {n} bad row(s): {shown}", "{name}: nulla importato, {n} riga/e errate: {shown}"),
    ("{name} holds {n} contacts; at most {max} at once", "{name} contiene {n} contatti; al massimo {max} alla volta"),
    (
        "{name}: the first row must name the columns name and number (and optionally group); missing: {cols}",
        "{name}: la prima riga deve nominare le colonne name e number (e facoltativamente group); mancano: {cols}",
    ),
    (
        "{name} is {size} bytes; a phonebook file may be at most {max}",
        "{name} è di {size} byte; un file di rubrica può essere al massimo di {max}",
    ),
    (
        "customer {code} would have {n} contacts; at most {max}",
        "il cliente {code} avrebbe {n} contatti; al massimo {max}",
    ),
    # users, passwords, tokens
    (
        "{field} must be 1-64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit",
        "il campo «{field}» deve avere 1-64 lettere, cifre, '.', '_', '@' o '-', e iniziare con una lettera o cifra",
    ),
    ("{field} must be at least {n} characters", "il campo «{field}» deve avere almeno {n} caratteri"),
    ("{field} must be at most {n} characters", "il campo «{field}» deve avere al massimo {n} caratteri"),
    ("{field} must not be the user name", "il campo «{field}» non deve essere il nome utente"),
    ("{field} must not contain control characters", "il campo «{field}» non deve contenere caratteri di controllo"),
    ("{field} must be one line", "il campo «{field}» deve stare su una riga"),
    ("no user named {name}", "nessun utente di nome {name}"),
    (
        "user {name} is the last enabled admin; make another admin first",
        "l'utente {name} è l'ultimo amministratore abilitato; crea prima un altro amministratore",
    ),
    (
        "{field} must be a date like 2027-01-31, a number of days like 90d, or 'never' (got {value})",
        "il campo «{field}» deve essere una data come 2027-01-31, un numero di giorni come 90d, o 'never' "
        "(non {value})",
    ),
    ("user {name} already exists", "l'utente {name} esiste già"),
    (
        "expires: {day} is in the past; give today or a later date",
        "scadenza: {day} è nel passato; indica oggi o una data successiva",
    ),
    ("expires: {day} is more than 10 years away; use 'never'", "scadenza: {day} è a più di 10 anni; usa 'mai'"),
    ("label must be 1-100 characters on one line", "l'etichetta deve avere 1-100 caratteri su una riga"),
    ("user {name} has no token {id}", "l'utente {name} non ha il token {id}"),
    # lists, searches, selections
    ("the search text is longer than 100 characters", "il testo cercato supera i 100 caratteri"),
    ("state must be one of {options}", "lo stato deve essere uno tra {options}"),
    (
        "sort must be one of {options} (with - before it for descending)",
        "l'ordinamento deve essere uno tra {options} (con - davanti per l'ordine decrescente)",
    ),
    ("vendor must be one of {options}", "il produttore deve essere uno tra {options}"),
    ("the {name} filter is longer than 64 characters", "il filtro {name} supera i 64 caratteri"),
    (
        "seen_days must be a whole number of days from 1 to 3650",
        "i giorni senza contatto devono essere un numero intero da 1 a 3650",
    ),
    ("limit must be a whole number from 1 to {max}", "il limite deve essere un numero intero da 1 a {max}"),
    ("limit must be from 1 to {max}", "il limite deve essere da 1 a {max}"),
    ("offset must be a whole number, 0 or more", "lo scostamento deve essere un numero intero, 0 o più"),
    ("offset must be 0 or more", "lo scostamento deve essere 0 o più"),
    ("{value} is not a MAC address", "{value} non è un indirizzo MAC"),
    (
        "select at most {n} devices at once; {m} were selected",
        "seleziona al massimo {n} dispositivi alla volta; ne sono stati selezionati {m}",
    ),
    (
        "until must be the same day as since or later",
        "la data finale deve essere uguale o successiva a quella iniziale",
    ),
    ("before must be an event id", "«before» deve essere il numero di un evento"),
    ("there is no console page {path}", "non c'è una pagina della console {path}"),
    ("the console speaks {langs}, not {value}", "la console parla {langs}, non {value}"),
    (
        "there is no bulk action {value}; the actions are {options}",
        "non c'è l'azione {value}; le azioni sono {options}",
    ),
    # resync, security
    (
        "--to {value} is not HOST or HOST:PORT (port 1-65535)",
        "{value} non è HOST o HOST:PORTA (porta 1-65535)",
    ),
    ("device {mac} has no customer", "il dispositivo {mac} non ha un cliente"),
    (
        "no address known for {mac}: it has never fetched a file; give one with --to HOST[:PORT]",
        "nessun indirizzo noto per {mac}: non ha mai scaricato un file; indicane uno (HOST[:PORTA])",
    ),
    (
        "another change to the same record landed first: nothing was changed; try again",
        "un'altra modifica allo stesso dato è arrivata prima: non è cambiato nulla; riprova",
    ),
    # the import: what a cell or a row has wrong (provisioner.importing)
    ("MAC missing", "manca il MAC"),
    ("{field} missing", "manca il campo «{field}»"),
    ("customer {name} is new: it will be created as {code}", "il cliente {name} è nuovo: sarà creato come {code}"),
    ("row {row} repeats row {other}: read once", "la riga {row} ripete la riga {other}: letta una volta"),
    ("{value} is a number, not a MAC", "{value} è un numero, non un MAC"),
    ("{digits} is a number of {n} digits, not a MAC", "{digits} è un numero di {n} cifre, non un MAC"),
    (
        "{digits} looks like a MAC whose leading zeros were lost, but {padded} does not start with {whose}",
        "{digits} sembra un MAC che ha perso gli zeri iniziali, ma {padded} non inizia con {whose}",
    ),
    (
        "MAC {value} is not hexadecimal ({ch} is not 0-9 or A-F)",
        "il MAC {value} non è esadecimale ({ch} non è 0-9 o A-F)",
    ),
    ("MAC {value} is too short ({n} of 12 hex digits)", "il MAC {value} è troppo corto ({n} cifre esadecimali su 12)"),
    (
        "MAC {value} is too long ({n} hex digits, a MAC has 12)",
        "il MAC {value} è troppo lungo ({n} cifre esadecimali, un MAC ne ha 12)",
    ),
    ("MAC {value} is not spelled like a MAC address", "il MAC {value} non è scritto come un indirizzo MAC"),
    ("ownership {value} is not rental or owned", "la proprietà {value} non è rental né owned"),
    ("extension missing (a line needs one)", "manca l'interno (una linea ne ha bisogno)"),
    ("extension missing: add an Extension column", "manca l'interno: aggiungi una colonna Extension"),
    ("extension missing: other rows of this MAC have lines", "manca l'interno: altre righe di questo MAC hanno linee"),
    ("customer missing: a line belongs to a customer", "manca il cliente: una linea appartiene a un cliente"),
    (
        "customer missing: add a Customer column with the customer's code or name",
        "manca il cliente: aggiungi una colonna Customer con il codice o il nome del cliente",
    ),
    ("model missing: a new phone needs its model", "manca il modello: un telefono nuovo ha bisogno del suo modello"),
    (
        "model missing: add a Model column (a new phone needs its model)",
        "manca il modello: aggiungi una colonna Model (un telefono nuovo ha bisogno del suo modello)",
    ),
    ("skipped: another row of the same MAC has a problem", "saltata: un'altra riga dello stesso MAC ha un problema"),
    ("customers {codes} are all named {name}", "i clienti {codes} si chiamano tutti {name}"),
    (
        "customer {name} is new and no SIP server is given for it",
        "il cliente {name} è nuovo e non ha un server SIP indicato",
    ),
    (
        "customer {name} is new and its rows name {n} SIP servers ({servers})",
        "il cliente {name} è nuovo e le sue righe indicano {n} server SIP ({servers})",
    ),
    ("line {n} but no line 1 for this MAC", "linea {n} ma nessuna linea 1 per questo MAC"),
    ("line {n} but no line {k} for this MAC", "linea {n} ma nessuna linea {k} per questo MAC"),
    (
        "same MAC as row {row} with another {what} on line {n}",
        "stesso MAC della riga {row} con un altro valore di «{what}» sulla linea {n}",
    ),
    ("same MAC as row {rows} with another {what}", "stesso MAC della riga {rows} con un altro valore di «{what}»"),
    ("extension {ext} of {code} is also on {others}", "l'interno {ext} di {code} è anche su {others}"),
    ("row {row} gives this MAC another key {n}", "la riga {row} dà a questo MAC un altro tasto {n}"),
    ("device {mac} is {state}: {why}", "il dispositivo {mac} è {state}: {why}"),
)

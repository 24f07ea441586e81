"""The services' and the import's reasons in Italian in the console (issue 17, "Words, not codes"):
each bad form is submitted over real HTTP to the real server, each bad sheet imported, and the page
read back in Italian; and every ``raise Invalid/NotFound/Conflict`` of the package has a pattern."""

from __future__ import annotations

import ast
import html
import re
from pathlib import Path

from provisioner import importing, services
from provisioner.console import i18n_reasons
from provisioner.importing import problems as import_problems

from .conftest import ACTOR, SAMPLES, add_customer
from .test_console import add_user, csrf_of, deployed_phone, flash, post, sign_in, upload

PACKAGE = Path(__file__).resolve().parent.parent / "provisioner"

# Messages no console form can produce: the CLI's, the API's, the server's own (why, per module).
NOT_IN_THE_CONSOLE = {
    "firmware.py": "firmware images are added with the CLI only",
    "redirect/accounts.py": "redirect accounts are set with the CLI only",
    "redirect/worker.py": "the redirect worker's own errors, shown in the log",
    "redirect/support.py": "the CLI's and the API's redirect commands",
    "rental_reports.py": "report files are written by the CLI",
    "importing/exporting.py": "the CLI's export to a named file",
    "security_services.py": "sealing keys and the phone-path allow list are CLI-only",
    "sip/resync.py:bulk": "the CLI's bulk resync (rate, customer) only",
    "phonebook.py:file": "reading a phonebook file by path: the CLI; the console sends bytes",
    "rental_returns.py:amount": "CLI --amount wording",
    "key_layout.py": "raises a message built by _misfit, covered by the patterns for its parts",
    "fields.py:str(exc)": "re-raises a time zone error, covered by its own pattern",
}


def _sample(node: ast.expr) -> str | None:
    """The message a raise builds, with 7 where a value goes ('7' for a !r value); None when it is no
    literal (a variable, str(exc))."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        out = []
        for part in node.values:
            if isinstance(part, ast.Constant):
                out.append(str(part.value))
            else:
                assert isinstance(part, ast.FormattedValue)
                out.append("'7'" if part.conversion == ord("r") else "7")
        return "".join(out)
    if isinstance(node, ast.IfExp):  # the text when the condition holds
        return _sample(node.body)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _sample(node.left), _sample(node.right)
        return None if left is None or right is None else left + right
    return None


def raised_messages() -> list[tuple[str, int, str | None]]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel.startswith(("api/", "cli/", "db/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Raise) or not isinstance(node.exc, ast.Call):
                continue
            func = node.exc.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name in ("Invalid", "NotFound", "Conflict") and node.exc.args:
                found.append((rel, node.lineno, _sample(node.exc.args[0])))
    return found


def _excused(rel: str, message: str | None) -> bool:
    if rel in NOT_IN_THE_CONSOLE:
        return True
    if message is None:
        return any(k.startswith(rel + ":") for k in NOT_IN_THE_CONSOLE) or rel == "fields.py"
    if rel == "sip/resync.py" and ("rate" in message or "name a customer" in message or "no customer" in message):
        return True
    return rel == "phonebook.py" and message.startswith(("cannot read", "7 is not a readable"))


def test_every_raised_reason_has_an_italian_pattern():
    missing = []
    for rel, line, message in raised_messages():
        if _excused(rel, message):
            continue
        if message is None or i18n_reasons.italian(message) is None:
            missing.append(f"{rel}:{line}: {message!r}")
    assert not missing, "no Italian pattern for:\n" + "\n".join(missing)
    assert len(raised_messages()) > 100  # the walk found the package's raises


def test_a_reason_keeps_its_values_and_an_unknown_one_stays_english():
    said = i18n_reasons.reason("extension '20 1' may only hold letters, digits and * # + . _ -", "it")
    assert said == "il campo «interno» ('20 1') può contenere solo letters, digits and * # + . _ -"
    assert (
        i18n_reasons.reason("customer ROSSI already has extension 201", "it") == "il cliente ROSSI ha già l'interno 201"
    )
    assert i18n_reasons.reason("customer ROSSI already has extension 201", "en") == (
        "customer ROSSI already has extension 201"
    )
    assert i18n_reasons.reason("something nobody wrote a pattern for", "it") == "something nobody wrote a pattern for"
    assert i18n_reasons.reason(None, "it") == ""
    # every import fix per field has its Italian
    assert set(i18n_reasons.FIXES) == set(import_problems.FIXES)
    for field_, english in import_problems.FIXES.items():
        assert i18n_reasons.fix(field_, english, "it") == i18n_reasons.FIXES[field_]
        assert i18n_reasons.fix(field_, english, "en") == english


def _flash_it(text: str) -> str:
    said = flash(text)
    assert said.startswith("error: Non è stato cambiato nulla: "), said
    return said.removeprefix("error: Non è stato cambiato nulla: ")


# (form, fields, the Italian reason shown): each one a service error a console form can hit.
FORMS = [
    (
        "/console/customers",
        {"code": "ROSSI", "name": "Altro", "sip_server": "pbx.example.net"},
        "il cliente 'ROSSI' esiste già",
    ),
    (
        "/console/customers",
        {"code": "NEW1", "name": "", "sip_server": "pbx.example.net"},
        "il campo «nome» è obbligatorio",
    ),
    (
        "/console/customers",
        {"code": "NEW2", "name": "Nuovo", "sip_server": "pbx bad"},
        "il campo «server SIP» ('pbx bad') non è un nome host né un indirizzo IP",
    ),
    (
        "/console/customers/ROSSI/lines",
        {"extension": "201", "display_name": "Doppio", "password": "Secret-12345"},
        "il cliente ROSSI ha già l'interno 201",
    ),
    (
        "/console/customers/ROSSI/lines",
        {"extension": "301", "display_name": "Senza", "password": ""},
        "scrivi una password SIP o spunta 'genera'",
    ),
    (
        "/console/customers/ROSSI/devices",
        {"mac": "00:15:65:ZZ:00:01", "model": "T54W", "lines": ""},
        "il campo «MAC» ('00:15:65:ZZ:00:01') non è un indirizzo MAC (es. 00:15:65:AB:CD:EF)",
    ),
    (
        "/console/customers/ROSSI/devices",
        {"mac": "805EC0000001", "model": "T54W", "lines": ""},
        "il dispositivo 805EC0000001 esiste già",
    ),
    (
        "/console/customers/ROSSI/settings",
        {"country": "XX"},
        "il campo «paese» ('XX') deve essere uno tra: ",
    ),
    (
        "/console/customers/ROSSI/settings",
        {"check_hour": "25"},
        "il campo «ora del controllo» ('25') deve essere un numero intero da 0 a 23",
    ),
    (
        "/console/customers/ROSSI/phonebook",
        {"name": "Idraulico", "number": "chiama-mi!"},
        "il campo «numero» ('chiama-mi!') non è un numero di telefono (cifre, + * #, o un utente SIP)",
    ),
    (
        "/console/customers/ROSSI/admin-password",
        {"how": "set", "admin_password": "corta"},
        ("il campo «password di amministrazione» deve avere almeno 8 caratteri"),
    ),
    (
        "/console/users",
        {"name": "bob", "role": "admin", "password": "short"},
        ("il campo «password» deve avere almeno 10 caratteri"),
    ),
    (
        "/console/users",
        {"name": "bob", "role": "boss", "password": "a-long-password-1"},
        ("il campo «ruolo» deve essere uno tra "),
    ),
    (
        "/console/devices/805EC0000001/unassign",
        {"on": "2099-01-01"},
        ("il campo «data» (2099-01-01) è nel futuro: registralo il giorno in cui avviene"),
    ),
    (
        "/console/devices/805EC0000001/swap",
        {"new_mac": "805EC0000001", "on": ""},
        ("il vecchio e il nuovo dispositivo hanno lo stesso MAC"),
    ),
]


async def test_service_reasons_show_in_italian_next_to_the_console_sentence(server, store):
    add_user(store, "ada", "admin")
    deployed_phone(store)  # ROSSI with extension 201 on 805EC0000001
    client = server.client
    await sign_in(client, "ada", lang="it")
    token = await csrf_of(client, "/console/")
    before = services.get_customer(store, "ROSSI")
    shown = []
    for path, data, italian in FORMS:
        page = await post(client, path, data, token=token)
        said = _flash_it(await page.text())
        assert said.startswith(italian), (path, said)
        shown.append(said)
    # nothing was changed by any of them
    after = services.get_customer(store, "ROSSI")
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    assert "corta" not in " ".join(shown)  # a typed password is never echoed

    # the same forms in English keep the services' English text
    client.session.cookie_jar.update_cookies({"provisioner_lang": "en"})
    page = await post(client, "/console/customers/ROSSI/lines", FORMS[3][1], token=token)
    assert flash(await page.text()) == "error: Nothing was changed: customer ROSSI already has extension 201"


async def test_import_problems_fixes_and_summary_in_italian(server, store):
    add_user(store, "tina", "technician")
    client = server.client
    await sign_in(client, "tina", lang="it")
    token = await csrf_of(client, "/console/imports")
    raw = (SAMPLES / "with_mistakes.csv").read_bytes()
    page = await upload(client, "with_mistakes.csv", raw, token, skip_invalid="on")
    text = html.unescape(await page.text())
    plan = importing.preview(store, importing.check(importing.read(raw, "with_mistakes.csv")), skip_invalid=True)
    assert len(plan.problems) >= 5
    for problem in plan.problems:
        italian = i18n_reasons.italian(problem.message)
        assert italian is not None, problem.message
        assert f"— {italian}." in text, italian
        fix = i18n_reasons.fix(problem.field, problem.fix, "it")
        assert fix != problem.fix or problem.fix in i18n_reasons.FIXES.values(), problem.fix
        assert f"Correzione: {fix}" in text or f"{fix}</em>" in text, fix
        assert f"— {problem.message}." not in text  # not in English after the Italian
    counts = plan.counts()
    status = re.search(r'id="plan-status">(.*?)</p>', text, re.S).group(1)
    assert status.startswith("Pronto da applicare. Clienti: ")
    assert f"Dispositivi: {counts['device']['create']} saranno creati" in status
    assert "to create" not in status and "riga/e errate saranno escluse." in status

    # the message after applying reads as sentences, in Italian
    pending = re.search(r'action="(/console/imports/[^"]+/apply)"', text).group(1)
    page = await post(client, pending, {}, token=token)
    said = flash(await page.text())
    assert said.startswith("ok: with_mistakes.csv applicato in una sola transazione: 1 cliente/i creati e 0 aggiornati")
    assert "to create" not in said and said.endswith("riga/e errate sono state escluse.")


async def test_import_summary_in_english_reads_as_sentences(server, store):
    add_user(store, "tina", "technician")
    add_customer(store, "ROSSI")
    client = server.client
    await sign_in(client, "tina", lang="en")
    token = await csrf_of(client, "/console/imports")
    raw = b"Customer,Model,MAC,Extension,Name,SIP password\nROSSI,T54W,805EC0000009,401,Anna,Secret-12345\n"
    page = await upload(client, "one.csv", raw, token)
    status = re.search(r'id="plan-status">(.*?)</p>', await page.text(), re.S).group(1)
    assert status == (
        "Ready to apply. Customers: 0 will be created, 0 updated, 0 stay as they are. "
        "Devices: 1 will be created, 0 updated, 0 stay as they are. "
        "Lines: 1 will be created, 0 updated, 0 stay as they are."
    )
    assert ACTOR

"""Spreadsheet import rules with no I/O: headers, cells, rows, and plans against a hand-made snapshot."""

from __future__ import annotations

from typing import Any

import pytest

from provisioner.importing import cells, planning, validation
from provisioner.importing.columns import field_for, find_header, letter, normalize
from provisioner.importing.planning import Snapshot
from provisioner.importing.reading import Table, decode, sniff_delimiter

HEADER = ["Customer", "MAC", "Model", "Line", "Extension", "Name", "SIP password", "SIP server"]


def table(*rows: list[Any], header: list[str] = HEADER, titles: int = 0, csv: bool = False) -> Table:
    sheet = [["Title"] for _ in range(titles)] + [list(header)] + [list(r) for r in rows]
    found = find_header(sheet)
    assert found is not None
    return Table("t.xlsx", "xlsx", "Sheet1", "test", sheet, found, csv=csv)


def row(
    mac: str = "001565A1B2C3",
    ext: Any = "201",
    *,
    customer: str = "ACME",
    model: str = "T46U",
    line: Any = 1,
    name: str = "Anna",
    password: str = "secret-1",
    server: str | None = "pbx.acme.test",
) -> list[Any]:
    return [customer, mac, model, line, ext, name, password, server]


def empty() -> Snapshot:
    return Snapshot(customers=[], lines={}, devices={}, line_names={})


def acme(*, server: str | None = "pbx.acme.test") -> dict[str, Any]:
    return {"id": 1, "code": "ACME", "name": "ACME S.p.A.", "sip_server": server}


def line_row(line_id: int, ext: str, holder: str | None, **kw: Any) -> dict[str, Any]:
    return {
        "id": line_id,
        "customer_id": 1,
        "extension": ext,
        "display_name": "Anna",
        "sip_username": ext,
        "auth_id": ext,
        "password": "secret-1",
        "label": None,
        "sip_server": None,
        "sip_port": None,
        "sip_transport": None,
        "holder": holder,
        **kw,
    }


def device_row(
    mac: str, line_ids: list[int], *, device_id: int = 1, state: str = "deployed", model: str = "T46U"
) -> dict[str, Any]:
    return {
        "id": device_id,
        "mac": mac,
        "vendor": "yealink",
        "model": model,
        "serial": None,
        "ownership": "rental",
        "state": state,
        "customer_id": 1,
        "settings_json": "{}",
        "line_ids": line_ids,
    }


def snapshot(
    lines: list[dict[str, Any]], devices: list[dict[str, Any]], customer: dict[str, Any] | None = None
) -> Snapshot:
    return Snapshot(
        customers=[customer or acme()],
        lines={(1, r["extension"]): r for r in lines},
        devices={d["mac"]: d for d in devices},
        line_names={r["id"]: (1, r["extension"]) for r in lines},
    )


def plan_of(t: Table, snap: Snapshot | None = None, **kw: Any) -> planning.Plan:
    return planning.plan(validation.check(t), snap or empty(), **kw)


def problems(plan: planning.Plan) -> set[tuple[int, str]]:
    return {(p.row, p.field) for p in plan.problems}


# --- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header,field",
    [
        ("Indirizzo MAC", "mac"),
        ("mac_address", "mac"),
        ("M.A.C.", "mac"),
        ("Modello", "model"),
        ("Phone model", "model"),
        ("Marca", "vendor"),
        ("Produttore", "vendor"),
        ("Numero interno", "extension"),
        ("EXT", "extension"),
        ("Nome visualizzato", "display_name"),
        ("Password SIP", "sip_password"),
        ("Secret", "sip_password"),
        ("Utente SIP", "sip_username"),
        ("auth-id", "auth_id"),
        ("Dominio", "sip_server"),
        ("Registrar", "sip_server"),
        ("Cliente", "customer"),
        ("Linea", "line"),
        ("Account", "line"),
        ("S/N", "serial"),
        ("Matricola", "serial"),
        ("Etichetta", "label"),
        ("PROPRIETÀ", "ownership"),
        ("Ownership", "ownership"),
        ("Note", None),
        ("", None),
    ],
)
def test_headers_match_in_english_and_italian_ignoring_case_spaces_and_accents(header, field):
    assert field_for(header) == field


def test_header_row_below_title_rows_and_unknown_columns_reported():
    rows = [["Deployment — ACME"], [], ["MAC Address", "Phone model", "Note"], ["001565a1b2c3", "T46U", "x"]]
    header = find_header(rows)
    assert header is not None and header.index == 2
    assert header.fields == {"mac": 0, "model": 1} and header.unknown == (2,)
    assert normalize("Proprietà") == "proprieta" and letter(0) == "A" and letter(27) == "AB"
    assert find_header([["Name", "Surname"], ["a", "b"]]) is None  # no MAC column: not a header


# --- cells ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value", ["00:15:65:AB:CD:EF", "00-15-65-ab-cd-ef", "0015.65ab.cdef", "001565abcdef", " 001565ABCDEF "]
)
def test_mac_in_every_common_spelling(value):
    assert cells.mac(value) == ("001565ABCDEF", False)


def test_numeric_mac_lost_leading_zeros_is_restored_when_unambiguous():
    assert cells.mac(413248232.0, "snom") == ("000413248232", True)  # an Excel number cell
    assert cells.mac("1565427472", None) == ("001565427472", True)  # the same, saved as CSV
    with pytest.raises(cells.CellError, match="does not start with a yealink MAC prefix"):
        cells.mac(413248232, "yealink")  # 000413... is Snom's prefix, not the model's vendor
    with pytest.raises(cells.CellError, match="known vendor"):
        cells.mac(12345678, None)  # 000012345678: no vendor's prefix, so no guess
    with pytest.raises(cells.CellError, match="not a MAC"):
        cells.mac(1.5e14, None)


@pytest.mark.parametrize(
    "value,why",
    [
        ("24:9A:D8:BF:A1:", "too short"),
        ("00:15:65:ZZ:12:34", "not hexadecimal"),
        ("001565ABCDEF01", "too long"),
        ("", "missing"),
    ],
)
def test_bad_macs_say_why(value, why):
    with pytest.raises(cells.CellError, match=why):
        cells.mac(value)


def test_extensions_typed_as_numbers_and_line_numbers():
    assert [cells.number_text(v) for v in (3001, 3001.0, "3001.0", " 3001 ", "30.5", None)] == [
        "3001",
        "3001",
        "3001",
        "3001",
        "30.5",
        None,
    ]
    assert cells.line_number(None) == 1 and cells.line_number(2.0, 2) == 2
    with pytest.raises(cells.CellError, match="2 SIP accounts"):
        cells.line_number(3, 2)


@pytest.mark.parametrize("text", ['=HYPERLINK("http://evil")', "+39 02", "-x", "@SUM(A1)", "'quoted", "plain"])
def test_csv_escape_round_trips_and_keeps_formulas_text(text):
    escaped = cells.escape_csv(text)
    assert cells.unescape_csv(escaped) == text
    assert not escaped.startswith(cells.FORMULA_START)


def test_csv_delimiter_and_encoding_are_sniffed():
    assert sniff_delimiter("Title\nMAC;Model;Name\n1;2;Rossi, Mario\n3;4;x\n") == ";"
    assert sniff_delimiter("MAC,Model\n1,2\n") == ","
    assert sniff_delimiter("MAC\tModel\tName\n1\t2\tRossi; Mario\n") == "\t"
    assert decode("Niccolò".encode("cp1252")) == ("Niccolò", "Windows-1252")
    assert decode("\ufeffNiccolò".encode()) == ("Niccolò", "UTF-8 with BOM")
    assert decode("Niccolò".encode("utf-16")) == ("Niccolò", "UTF-16")


# --- rows ----------------------------------------------------------------------------------


def test_a_row_collects_every_problem_with_row_column_value_and_fix():
    t = table(row(), ["ACME", "00:15:65:ZZ:12:34", "T99X", 1, "20 1", "Anna\nBianchi", "", "bad host!"], titles=2)
    checked = validation.check(t)
    assert [e.row for e in checked.entries] == [4]
    found = {(p.row, p.field): p for p in checked.problems}
    assert set(found) == {(5, "mac"), (5, "model"), (5, "extension"), (5, "display_name"), (5, "sip_server")}
    mac = found[(5, "mac")]
    assert (mac.column, mac.letter, mac.value) == ("MAC", "B", "00:15:65:ZZ:12:34") and "hexadecimal" in mac.message
    assert mac.fix and "control characters" in found[(5, "display_name")].message
    # An empty password is not wrong yet: an existing line keeps its own (the plan decides).
    assert checked.bad_rows == {5: None}


def test_values_are_normalised_like_every_other_interface():
    t = table(["ACME", 1565427472, "yealink t46u", 2.0, 3001.0, "  Anna  ", "=pw+1", None], row(line=1, ext="3000"))
    entry = validation.check(t).entries[0]
    assert (entry.mac, entry.vendor, entry.model, entry.position) == ("001565427472", "yealink", "T46U", 2)
    assert entry.line is not None
    assert (entry.line["extension"], entry.line["display_name"], entry.line["password"]) == ("3001", "Anna", "=pw+1")
    assert (entry.line["sip_username"], entry.line["auth_id"]) == ("3001", "3001")  # defaults: the extension


# --- plans ---------------------------------------------------------------------------------


def test_new_customer_lines_and_a_two_line_phone():
    t = table(
        row("001565A1B2C3", "201", line=1),
        row("00:15:65:a1:b2:c3", "202", line=2),
        row("001565A1B2C4", "203"),
        header=HEADER,
    )
    plan = plan_of(t)
    assert not plan.problems
    assert plan.counts() == {
        "customer": {"create": 1, "update": 0, "unchanged": 0},
        "device": {"create": 2, "update": 0, "unchanged": 0},
        "line": {"create": 3, "update": 0, "unchanged": 0},
    }
    customer = plan.changes[0]
    assert customer.values == {"code": "ACME", "name": "ACME", "sip_server": "pbx.acme.test"}
    phone = next(c for c in plan.changes if c.key == "001565A1B2C3")
    assert phone.after["lines"] == ["201", "202"] and phone.rows == (2, 3)
    assert all(c.values["sip_server"] is None for c in plan.changes if c.kind == "line")  # the customer's default


def test_same_mac_and_line_twice_with_other_data_is_an_error_on_both_rows():
    t = table(row("001565A1B2C3", "201"), row("001565A1B2C3", "299"), row("001565A1B2C4", "203"))
    plan = plan_of(t)
    assert problems(plan) == {(2, "mac"), (3, "mac")} and plan.rejected
    assert "same MAC as row 3 with another extension on line 1" in plan.problems[0].message
    skipped = plan_of(t, skip_invalid=True)
    assert not skipped.rejected and skipped.skipped_rows == [2, 3]
    assert [c.key for c in skipped.changes if c.kind == "device"] == ["001565A1B2C4"]


def test_identical_repeated_row_is_read_once():
    plan = plan_of(table(row(), row()))
    assert not plan.problems and plan.counts()["line"]["create"] == 1
    assert any("repeats row 2" in n for n in plan.notes)
    serials = plan_of(table([*row(), "SN1"], [*row(), "SN2"], header=[*HEADER, "Serial number"]))
    assert problems(serials) == {(2, "mac"), (3, "mac")} and "another serial on line 1" in serials.problems[0].message


def test_one_line_on_two_phones_gaps_and_too_many_lines():
    plan = plan_of(
        table(
            row("001565A1B2C3", "201"),
            row("001565A1B2C4", "201"),
            row("001565A1B2C5", "205", line=2),
            row("805EC0A1B2C6", "206", model="T31P", line=1),
            row("805EC0A1B2C6", "207", model="T31P", line=2),
            row("805EC0A1B2C6", "208", model="T31P", line=3),
        )
    )
    assert {(2, "extension"), (3, "extension"), (4, "line"), (7, "line")} <= problems(plan)


def test_new_customer_needs_one_sip_server_or_names_the_column_to_add():
    no_column = table(row()[:7], header=HEADER[:7])
    problem = plan_of(no_column).problems[0]
    assert (problem.field, problem.column) == ("sip_server", None)
    assert "is new and no SIP server" in problem.message and "add a 'SIP server' column" in problem.fix
    disagree = plan_of(table(row("001565A1B2C3", "201"), row("001565A1B2C4", "202", server="pbx2.acme.test")))
    assert problems(disagree) == {(2, "sip_server"), (3, "sip_server")}
    existing = plan_of(no_column, Snapshot(customers=[acme()], lines={}, devices={}, line_names={}))
    assert not existing.problems  # an existing customer's server applies


def test_customer_found_by_code_or_name_and_a_server_equal_to_its_default_is_the_default():
    snap = Snapshot(customers=[acme()], lines={}, devices={}, line_names={})
    plan = plan_of(
        table(row(customer="acme s.p.a.", server="PBX.acme.test"), row("001565A1B2C4", "202", customer="ACME")), snap
    )
    assert not plan.problems and plan.counts()["customer"]["create"] == 0
    assert {c.customer for c in plan.changes} == {1}
    assert all(c.values["sip_server"] is None for c in plan.changes if c.kind == "line")


def test_reimport_is_unchanged_and_an_edit_is_an_update_without_the_password():
    snap = snapshot([line_row(10, "201", "001565A1B2C3")], [device_row("001565A1B2C3", [10])])
    same = plan_of(table(row()), snap)
    assert not same.changes and same.counts()["device"]["unchanged"] == 1 and same.counts()["line"]["unchanged"] == 1
    edited = plan_of(table(row(name="Anna Rossi", password="new-secret")), snap)
    (change,) = edited.changes
    assert (change.kind, change.action, change.key) == ("line", "update", "ACME 201")
    assert change.before["display_name"] == "Anna" and change.after["display_name"] == "Anna Rossi"
    assert change.after["password_changed"] is True and "new-secret" not in str(change.to_dict())


def test_empty_password_keeps_an_existing_lines_and_is_an_error_for_a_new_one():
    snap = snapshot([line_row(10, "201", "001565A1B2C3")], [device_row("001565A1B2C3", [10])])
    kept = plan_of(table(row(password="")), snap)
    assert not kept.problems and not kept.changes
    new = plan_of(table(row(ext="202", password="")), snap)
    assert [(p.row, p.field, p.message) for p in new.problems] == [(2, "sip_password", "sip_password missing")]


def test_device_moved_to_another_extension_is_an_update_with_old_and_new_values():
    snap = snapshot([line_row(10, "201", "001565A1B2C3")], [device_row("001565A1B2C3", [10])])
    plan = plan_of(table(row(ext="205")), snap)
    device = next(c for c in plan.changes if c.kind == "device")
    assert device.action == "update" and (device.before["lines"], device.after["lines"]) == (["201"], ["205"])


def test_line_on_a_phone_the_file_does_not_list_is_a_conflict_and_retired_phones_are_refused():
    snap = snapshot([line_row(10, "201", "001565FFFFFF")], [device_row("001565FFFFFF", [10])])
    plan = plan_of(table(row("001565A1B2C3", "201")), snap)
    assert (
        problems(plan) == {(2, "extension")}
        and "001565FFFFFF, which this file does not list" in plan.problems[0].message
    )
    # Listing both phones moves the line: both are updates (or a create) in one plan.
    moved = plan_of(table(row("001565A1B2C3", "201"), row("001565FFFFFF", "202")), snap)
    assert not moved.problems
    retired = snapshot([], [device_row("001565A1B2C3", [], state="retired")])
    refused = plan_of(table(row()), retired)
    assert problems(refused) == {(2, "mac")} and "retired" in refused.problems[0].message


def test_skip_invalid_leaves_out_every_row_of_a_phone_with_a_bad_row():
    t = table(
        row("001565A1B2C3", "201", line=1), row("001565A1B2C3", "202", line=2, password=""), row("001565A1B2C4", "203")
    )
    plan = plan_of(t, skip_invalid=True)
    assert plan.skipped_rows == [2, 3] and [c.key for c in plan.changes if c.kind == "device"] == ["001565A1B2C4"]
    assert any(p.row == 2 and "skipped" in p.message for p in plan.problems)


def test_fingerprint_is_stable_and_follows_the_database():
    t = table(row())
    snap = snapshot([line_row(10, "201", "001565A1B2C3")], [device_row("001565A1B2C3", [10])])
    changed = snapshot([line_row(10, "201", "001565A1B2C3", display_name="Other")], [device_row("001565A1B2C3", [10])])
    assert plan_of(t, snap).fingerprint == plan_of(t, snap).fingerprint != plan_of(t, changed).fingerprint


# --- column-by-column checks give what row-by-row checks give --------------------------------


MESSY_HEADER = [*HEADER, "Vendor", "SIP user", "Auth ID", "Label", "Serial", "Ownership"]
MESSY_ROWS = [
    row(),
    row("00:15:65:a1:b2:c4", 202.0),
    row("0015.65a1.b2c5", "203.0", line=2.0),
    row("001565A1B2C5", "204", line=1),
    row(413248232, 205, model="D785"),
    row("00-04-13-12-34-56", "2 06"),
    row("001565A1B2C7", None),
    row("001565A1B2C8", "207", name=""),
    row("001565A1B2C9", "208", password=" "),
    row("001565A1B2CA", "209", name="Line\nbreak"),
    row("001565A1B2CB", "210", server="bad host!"),
    row("001565A1B2CC", "211", customer="Rossi & Figli"),
    row("001565A1B2CD", "=cmd()", model="T99"),
    row("xx:15:65:a1:b2:ce", "212"),
    row("001565A1B2CF", "213", line="seven"),
    row("001565A1B2D0", "x" * 70),
    row("001565A1B2D1", "214", name="n" * 201),
    row("001565A1B2D2", -215.0),
    row("001565A1B2D3", 216.5),
]
MESSY_EXTRA = [
    ["yealink", None, None, None, "SN1", "rental"],
    ["Yealink", "3001.0", None, "Desk", None, "owned"],
    [None, 3002, "a b", None, None, None],
    ["snom", None, None, "l" * 101, None, "borrowed"],
    ["acme", "u<1>", None, None, "s" * 65, None],
]


@pytest.mark.parametrize("source", ["samples", "messy"])
def test_column_checks_give_the_same_entries_problems_and_notes_as_row_checks(source):
    from provisioner.importing import reading
    from tests.conftest import SAMPLES

    if source == "samples":
        tables = [reading.read_path(p) for p in sorted(SAMPLES.iterdir()) if p.suffix in (".csv", ".xlsx", ".xls")]
    else:
        rows = [r + MESSY_EXTRA[i % len(MESSY_EXTRA)] for i, r in enumerate(MESSY_ROWS)]
        tables = [
            table(*rows, header=MESSY_HEADER),
            table(*rows[:3], ["ACME", "'=x", "T46U"], header=MESSY_HEADER, csv=True),
        ]
    for n, t in enumerate(tables):
        by_column, by_row = validation.check(t), validation.check(t, bulk=False)
        assert by_column.entries == by_row.entries and by_column.entries
        assert by_column.problems == by_row.problems and by_column.notes == by_row.notes
        assert by_column.bad_rows == by_row.bad_rows
        if source == "messy" and n == 0:
            assert len(by_row.problems) > 30 and len(by_row.entries) == 3
        if source == "messy" and n == 1:
            assert (5, "mac", "=x") in [(p.row, p.field, p.value) for p in by_row.problems]  # '=x is read as =x

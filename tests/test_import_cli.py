"""``provisioner import`` and ``provisioner export`` on real files and a real database."""

from __future__ import annotations

import csv
import json
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook

from provisioner import services
from provisioner.importing.columns import TEMPLATE_HEADERS, find_header
from tests.conftest import ACTOR, SAMPLES, add_customer, add_line

ROOT = Path(__file__).resolve().parents[1]


def counts(run_cli, *args: str) -> dict:
    result = run_cli("import", *args, "--json")
    return json.loads(result.stdout)["counts"]


def changed(c: dict) -> int:
    return sum(v["create"] + v["update"] for v in c.values())


def write_csv(
    path: Path,
    rows: list[list[str]],
    header: tuple[str, ...] = ("Customer", "MAC", "Model", "Extension", "Name", "SIP password", "SIP server"),
):
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def events(store) -> int:
    with store.reading() as tx:
        return tx.last_event_id()


def test_reimporting_the_same_file_changes_nothing(store, run_cli):
    first = counts(run_cli, str(SAMPLES / "deployment.xlsx"))
    assert first["device"]["create"] == 30 and first["line"]["create"] == 31 and first["customer"]["create"] == 1
    before = events(store)
    again = counts(run_cli, str(SAMPLES / "deployment.xlsx"))
    assert changed(again) == 0 and again["device"]["unchanged"] == 30 and again["line"]["unchanged"] == 31
    assert events(store) == before
    text = run_cli("import", str(SAMPLES / "deployment.xlsx")).output
    assert "applied in one transaction: 0 changes" in text


@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_export_then_import_changes_nothing(store, run_cli, tmp_path, suffix):
    run_cli("import", str(SAMPLES / "it_excel_export.csv"))
    run_cli("import", str(SAMPLES / "deployment.xlsx"))
    # Lines set by hand too: a server other than the customer's, one equal to it, a label, a SIP user.
    add_customer(store, "ROSSI")
    add_line(store, "ROSSI", "301", "=Reception", "+pw@1", sip_server="pbx2.rossi.example.net", label="-Front-")
    add_line(store, "ROSSI", "302", "Sala", "pw", sip_server="pbx.rossi.example.net", sip_username="u302")
    services.add_device(
        store,
        ACTOR,
        "001565AAAA01",
        model="T46U",
        customer="ROSSI",
        lines=["301", "302"],
        serial="@SN1",
        ownership="owned",
    )
    services.add_device(store, ACTOR, "001565AAAA02", model="T31P")  # in stock: no customer, no line
    exported = tmp_path / f"all.{suffix}"
    out = run_cli("export", str(exported)).output
    assert "exported 56 phones and 57 lines" in out and "SIP passwords" in out
    before = events(store)
    again = counts(run_cli, str(exported))
    assert changed(again) == 0 and again["device"]["unchanged"] == 56 and again["line"]["unchanged"] == 57
    assert events(store) == before

    only = tmp_path / f"rossi.{suffix}"
    run_cli("export", str(only), "--customer", "ROSSI")
    assert changed(counts(run_cli, str(only))) == 0
    with store.reading() as tx:
        assert tx.events_since(before)[-1]["action"] == "devices.exported"  # an export holds passwords: recorded


def test_formula_looking_cells_stay_text_in_the_export_and_the_error_report(store, run_cli, tmp_path):
    run_cli("import", str(SAMPLES / "it_excel_export.csv"))  # a password starting with '='
    exported = tmp_path / "out.xlsx"
    run_cli("export", str(exported))
    sheet = load_workbook(exported).active
    password = next(c for c in sheet["J"] if c.value == "=CJ6VLSMcTVYEU")
    assert password.data_type == "s"
    with zipfile.ZipFile(exported) as z:
        assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")
    csv_out = tmp_path / "out.csv"
    run_cli("export", str(csv_out))
    assert "'=CJ6VLSMcTVYEU" in csv_out.read_text(encoding="utf-8-sig")  # Excel opens it as text

    report = tmp_path / "errors.xlsx"
    result = run_cli("import", str(SAMPLES / "with_mistakes.csv"), "--report", str(report), ok=False)
    assert result.exit_code == 1 and f"report: {report}" in result.output
    sheet = load_workbook(report).active
    header = [c.value for c in sheet[1]]
    assert header[:3] == ["Cliente", "Modello", "Indirizzo MAC"] and header[-1] == "errors"
    formula = sheet.cell(row=11, column=5)  # the =HYPERLINK(...) display name on row 11
    assert formula.value.startswith("=HYPERLINK") and formula.data_type == "s"
    with zipfile.ZipFile(report) as z:
        assert b"<f>" not in z.read("xl/worksheets/sheet1.xml")
    bad = sheet.cell(row=3, column=3)  # the short MAC, where the spreadsheet shows it: row 3, column C
    assert bad.value == "24:9A:D8:BF:A1:" and bad.fill.fgColor.rgb.endswith("FFC7CE")
    assert "too short" in sheet.cell(row=3, column=len(header)).value
    assert sheet.cell(row=2, column=len(header)).value is None and sheet.cell(row=2, column=3).fill.fgColor.rgb in (
        None,
        "00000000",
    )


def test_skip_invalid_applies_the_valid_rows_and_reports_the_others(store, run_cli, tmp_path):
    result = run_cli("import", str(SAMPLES / "with_mistakes.csv"), "--skip-invalid", "--json")
    report = json.loads(result.stdout)
    assert report["applied"] and not report["rejected"]
    assert report["skipped_rows"] == [3, 5, 6, 7, 8, 9, 10]
    with store.reading() as tx:
        macs = {d["mac"] for d in tx.devices_by_mac(["000B82788693", "000B827275A1", "000413122773"]).values()}
    assert macs == {"000B82788693", "000B827275A1", "000413122773"}
    shown = services.show_device(store, "000413122773")
    assert shown["lines"][0]["display_name"] == '=HYPERLINK("http://evil.example","click")'


def test_dry_run_changes_nothing_and_lists_the_plan(store, run_cli):
    out = run_cli("import", str(SAMPLES / "deployment.xlsx"), "--dry-run").output
    assert "+ device 805EC05BCEDC yealink T54W for ACME-S-P-A, lines 3001, 3099 (rows 4, 5)" in out
    assert "dry run: nothing was changed" in out and "header on row 3" in out
    assert events(store) == 0


def test_device_moved_to_another_extension_and_customer_is_an_update_with_old_and_new_values(store, run_cli, tmp_path):
    add_customer(store, "ROSSI")
    first = write_csv(tmp_path / "a.csv", [["ROSSI", "001565A1B2C3", "T46U", "201", "Anna", "pw1", ""]])
    run_cli("import", str(first))
    moved = write_csv(tmp_path / "b.csv", [["ROSSI", "001565A1B2C3", "T46U", "205", "Anna", "pw1", ""]])
    c = counts(run_cli, str(moved))
    assert (c["device"]["update"], c["line"]["create"]) == (1, 1)
    history = services.show_device(store, "001565A1B2C3")["history"]
    last = history[-1]
    assert last["action"] == "device.updated" and "moved by import of b.csv (row 2)" in last["summary"]
    assert (last["before"]["lines"], last["after"]["lines"]) == (["201"], ["205"])
    assert last["actor"].endswith("import:b.csv")

    other = write_csv(
        tmp_path / "c.csv", [["Bianchi Srl", "001565A1B2C3", "T46U", "205", "Anna", "pw1", "pbx.bianchi.test"]]
    )
    assert counts(run_cli, str(other))["customer"]["create"] == 1
    last = services.show_device(store, "001565A1B2C3")["history"][-1]
    assert (last["before"]["customer"], last["after"]["customer"]) == ("ROSSI", "BIANCHI-SRL")


def test_unknown_columns_are_reported_not_fatal_and_sheets_can_be_chosen(store, run_cli, tmp_path):
    path = write_csv(
        tmp_path / "x.csv",
        [["ROSSI", "001565A1B2C3", "T46U", "201", "Anna", "pw", "pbx.test", "x"]],
        header=("Customer", "MAC", "Model", "Extension", "Name", "SIP password", "SIP server", "Colore"),
    )
    report = json.loads(run_cli("import", str(path), "--json").stdout)
    assert report["unknown_columns"] == ["Colore"] and any("'Colore' (H)" in n for n in report["notes"])
    result = run_cli("import", str(SAMPLES / "deployment.xlsx"), "--sheet", "Notes", ok=False)
    assert result.exit_code == 1 and "no header row in sheet 'Notes'" in result.output
    result = run_cli("import", str(SAMPLES / "deployment.xlsx"), "--sheet", "Nope", ok=False)
    assert "its sheets are: Devices, Notes" in result.output


def test_blank_templates_have_every_column_and_import_as_nothing(run_cli):
    rows = list(csv.reader((ROOT / "imports" / "phones.csv").read_text(encoding="utf-8-sig").splitlines()))
    assert tuple(rows[0]) == TEMPLATE_HEADERS
    template = load_workbook(ROOT / "imports" / "phones.xlsx").active
    header = find_header([[c.value for c in r] for r in template.iter_rows()])
    assert header is not None and len(header.fields) == len(TEMPLATE_HEADERS) and not header.unknown
    readme = (ROOT / "imports" / "README.md").read_text()
    assert all(h in readme for h in TEMPLATE_HEADERS)
    for name in ("phones.csv", "phones.xlsx"):
        assert changed(counts(run_cli, str(ROOT / "imports" / name))) == 0

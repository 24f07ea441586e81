"""Import 100,000 phones from XLSX and from CSV, timing each step.

    .venv/bin/python benchmarks/import_100k.py [--rows N] [--repeat N] [--keep DIR]

Generates N rows (default 100,000: 50 customers, four vendors, MACs in five spellings,
extensions typed as numbers, one phone in ten with a second line) as XLSX (openpyxl) and
CSV, then, for each file in a fresh process with a fresh SQLite database, times:

- bare read: ``pandas.read_excel(engine="calamine")`` / ``pandas.read_csv`` of the same file
- parse: :func:`provisioner.importing.read_path` (sheet, header row, cells)
- validate: :func:`provisioner.importing.check` (every row, every field)
- plan: the snapshot of the database and the plan against it
- apply: the writes, the audit events and the commit (one transaction)
- checkpoint: SQLite copying the write-ahead log into the database file, which a large
  transaction leaves to a background thread right after its commit (not in "end to end")
- re-import: the same file again (plan only: it must find 0 changes)

and the peak memory (max RSS) of that process. Targets: XLSX end to end (parse + validate
+ plan + apply) at most 10 s and at most 3x the bare read.

The machine may be shared: bare read and import run alternately ``--repeat`` times (3); the
fastest of each is shown, and the ratio of every pair run back to back with their median.
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioner.db import Store

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADERS = [
    "MAC Address",
    "Phone model",
    "Extension",
    "Display name",
    "SIP password",
    "Line",
    "Customer",
    "Serial number",
    "SIP server",
    "Label",
]
MODELS = [
    ("001565", "Yealink T54W"),
    ("000413", "Snom D785"),
    ("0004F2", "Polycom VVX 450"),
    ("C074AD", "Grandstream GRP2614"),
]
NAMES = ["Anna Rossi", "Niccolò Università", "Rossi & Figli <Reception>", "Zoë Conti", "Luca D'Amico"]


def spell(mac: str, i: int) -> str:
    pairs = [mac[k : k + 2] for k in range(0, 12, 2)]
    return [
        mac,
        mac.lower(),
        ":".join(pairs),
        "-".join(pairs).lower(),
        ".".join(mac[k : k + 4] for k in range(0, 12, 4)).lower(),
    ][i % 5]


def generate_rows(count: int) -> list[list[object]]:
    rows: list[list[object]] = []
    phone = 0
    while len(rows) < count:
        prefix, model = MODELS[phone % 4]
        mac = f"{prefix}{phone:06X}"
        customer = phone % 50
        lines = 2 if phone % 10 == 0 else 1
        for slot in range(1, lines + 1):
            if len(rows) == count:
                break
            ext = 10000 + len(rows)
            rows.append(
                [
                    spell(mac, phone),
                    model,
                    float(ext),
                    f"{NAMES[phone % 5]} {ext}",
                    f"=pw{ext:07d}x!",
                    slot,
                    f"Customer {customer:02d} S.r.l.",
                    f"SN{phone:010d}",
                    f"pbx{customer:02d}.example.net",
                    None,
                ]
            )
        phone += 1
    return rows


def write_files(rows: list[list[object]], folder: Path) -> tuple[Path, Path]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    xlsx, csv_path = folder / "phones.xlsx", folder / "phones.csv"
    book = Workbook(write_only=True)
    sheet = book.create_sheet("Phones")
    sheet.append(["Deployment of 100,000 phones"])
    sheet.append([])
    sheet.append(HEADERS)
    for row in rows:
        out = []
        for value in row:
            if isinstance(value, str):
                cell = WriteOnlyCell(sheet, value=value)
                cell.data_type = "s"
                out.append(cell)
            else:
                out.append(value)
        sheet.append(out)
    book.save(xlsx)
    with csv_path.open("w", newline="", encoding="utf-8-sig") as fh:
        writer = csv.writer(fh, delimiter=";")
        writer.writerow(HEADERS)
        for row in rows:
            writer.writerow([int(v) if isinstance(v, float) else "" if v is None else v for v in row])
    return xlsx, csv_path


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_bare(path: Path) -> dict[str, float]:
    import pandas as pd

    start = time.perf_counter()
    frame = pd.read_excel(path, engine="calamine", header=2) if path.suffix == ".xlsx" else pd.read_csv(path, sep=";")
    return {"bare_read": time.perf_counter() - start, "bare_rows": len(frame), "peak_mb": peak_mb()}


def run_import(path: Path) -> dict[str, float]:
    from provisioner.db import Store

    with tempfile.TemporaryDirectory(prefix="import-bench-") as data_dir:
        return _run_import(path, Store.open(Path(data_dir)))


def _run_import(path: Path, store: Store) -> dict[str, float]:
    import pandas  # noqa: F401  (imported before timing, as for the bare read)

    from provisioner import importing
    from provisioner.importing import applying, paused_gc, planning

    out: dict[str, float] = {}
    start = time.perf_counter()
    table = importing.read_path(path)
    out["parse"] = time.perf_counter() - start
    start = time.perf_counter()
    checked = importing.check(table)
    out["validate"] = time.perf_counter() - start
    assert not checked.problems, checked.problems[:3]
    with paused_gc(), store.transaction(large=True) as tx:  # as importing.run, timing plan and apply apart
        start = time.perf_counter()
        plan = planning.plan(checked, applying.snapshot(tx, checked))
        out["plan"] = time.perf_counter() - start
        assert not plan.problems, plan.problems[:3]
        start = time.perf_counter()
        applying.apply(tx, plan, actor="bench", source=path.name)
    out["apply"] = time.perf_counter() - start  # commit included
    start = time.perf_counter()
    store.wait_for_checkpoint()
    out["checkpoint"] = time.perf_counter() - start
    out["changes"] = len(plan.changes)
    with store.reading() as tx:
        out["devices"] = tx.count_devices()
        out["events"] = tx.last_event_id()
    start = time.perf_counter()
    again = importing.preview(store, importing.check(importing.read_path(path)))
    out["reimport"] = time.perf_counter() - start
    out["reimport_changes"] = len(again.changes)
    out["peak_mb"] = peak_mb()
    store.close()
    return out


def child(kind: str, path: Path) -> dict[str, float]:
    result = subprocess.run(
        [sys.executable, __file__, "--child", kind, str(path)], check=True, capture_output=True, text=True
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3, help="Runs of each, alternating (the fastest is shown).")
    parser.add_argument("--keep", type=Path, help="Write the generated files here (default: a temp folder).")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, path = args.child
        print(json.dumps(run_bare(Path(path)) if kind == "bare" else run_import(Path(path))))
        return

    if args.keep is None:
        with tempfile.TemporaryDirectory(prefix="import-bench-files-") as folder:
            report(Path(folder), args.rows, args.repeat)
    else:
        args.keep.mkdir(parents=True, exist_ok=True)
        report(args.keep, args.rows, args.repeat)


def total(run: dict[str, float]) -> float:
    return run["parse"] + run["validate"] + run["plan"] + run["apply"]


def report(folder: Path, rows: int, repeat: int = 1) -> None:
    start = time.perf_counter()
    xlsx, csv_path = write_files(generate_rows(rows), folder)
    print(
        f"generated {rows:,} rows in {time.perf_counter() - start:.1f} s: {xlsx} "
        f"({xlsx.stat().st_size / 1e6:.1f} MB), {csv_path} ({csv_path.stat().st_size / 1e6:.1f} MB)"
    )
    for label, path in (("XLSX", xlsx), ("CSV", csv_path)):
        pairs = [(child("bare", path), child("import", path)) for _ in range(max(repeat, 1))]
        bare = min((b for b, _ in pairs), key=lambda b: b["bare_read"])
        run = min((r for _, r in pairs), key=total)
        each = sorted(total(r) / b["bare_read"] for b, r in pairs)
        median = each[len(each) // 2] if len(each) % 2 else (each[len(each) // 2 - 1] + each[len(each) // 2]) / 2
        ratios = ", ".join(f"{total(r) / b['bare_read']:.1f}x" for b, r in pairs)
        print(
            f"\n{label}: {int(run['devices']):,} devices, {int(run['changes']):,} changes, "
            f"{int(run['events']):,} audit events (fastest of {len(pairs)} runs; end to end / bare read "
            f"of each run: {ratios})"
        )
        print(
            f"  bare read    {bare['bare_read']:6.2f} s   (pandas, {int(bare['bare_rows']):,} rows, "
            f"peak {bare['peak_mb']:.0f} MB)"
        )
        for step in ("parse", "validate", "plan", "apply"):
            print(f"  {step:<12} {run[step]:6.2f} s")
        end = total(run)
        print(
            f"  end to end   {end:6.2f} s   = {end / bare['bare_read']:.1f}x the bare read "
            f"(median of the back-to-back pairs: {median:.1f}x)"
        )
        print(
            f"  checkpoint   {run['checkpoint']:6.2f} s   (after the commit, in the background; end to end with it: "
            f"{(end + run['checkpoint']) / bare['bare_read']:.1f}x)"
        )
        print(f"  re-import    {run['reimport']:6.2f} s   ({int(run['reimport_changes'])} changes)")
        print(f"  peak memory  {run['peak_mb']:6.0f} MB (max RSS of the import process)")


if __name__ == "__main__":
    main()

"""``provisioner import`` and ``provisioner export``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from .. import importing
from ..db import Store
from .base import actor, cli, json_option, print_json, store_options

# Files with more data rows than this get progress bars.
PROGRESS_ROWS = 5000


@contextmanager
def _progress(label: str, length: int, show: bool) -> Iterator[Callable[[int], None] | None]:
    if not show:
        yield None
        return
    with click.progressbar(length=length, label=label, file=sys.stderr) as bar:
        yield bar.update


@cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Show what would change; change nothing.")
@click.option("--sheet", help="The sheet to read (default: the first sheet with a header row).")
@click.option(
    "--skip-invalid",
    is_flag=True,
    help="Apply the valid rows and report the others (default: any problem rejects the whole file).",
)
@click.option(
    "--report",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write an XLSX copy of the sheet with an errors column and the bad cells highlighted.",
)
@click.option("--verbose", "-v", is_flag=True, help="List every change, creates too.")
@click.option(
    "--max-rows",
    type=click.IntRange(1),
    envvar="PROVISIONER_IMPORT_MAX_ROWS",
    show_envvar=True,
    help=f"Refuse files with more data rows [default: {importing.Limits.max_rows}].",
)
@click.option(
    "--max-bytes",
    type=click.IntRange(1),
    envvar="PROVISIONER_IMPORT_MAX_BYTES",
    show_envvar=True,
    help=f"Refuse larger files [default: {importing.Limits.max_bytes}].",
)
@json_option
@store_options
def import_cmd(
    store: Store,
    file: Path,
    dry_run: bool,
    sheet: str | None,
    skip_invalid: bool,
    report: Path | None,
    verbose: bool,
    max_rows: int | None,
    max_bytes: int | None,
    as_json: bool,
) -> None:
    """Import phones and lines from a spreadsheet (CSV, XLSX, XLS, ODS).

    Every row is checked, then compared with the database; the changes are applied in one
    transaction, or none when any row has a problem. Exit status 0 when applied (or a clean
    dry run), 1 when rejected. Columns and rules: imports/README.md.
    """
    limits = importing.Limits.from_env(max_rows=max_rows, max_bytes=max_bytes)
    table = importing.read_path(file, sheet=sheet, limits=limits)
    rows = len(table.rows) - table.header.index - 1
    big = rows > PROGRESS_ROWS
    with _progress("checking rows", rows, big) as tick:
        checked = importing.check(table, progress=tick)

    bar: list = []

    def on_apply(count: int) -> None:
        # One line on stderr as the write begins (scripts and tests watch for it).
        click.echo(f"applying {count} changes in one transaction...", err=True)
        if big:
            bar.append(click.progressbar(length=count, label="applying", file=sys.stderr))
            bar[0].__enter__()

    def progress(n: int) -> None:
        if bar:
            bar[0].update(n)

    try:
        plan, applied = importing.run(
            store,
            checked,
            actor=actor(),
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            on_apply=on_apply,
            progress=progress,
        )
    finally:
        if bar:
            bar[0].__exit__(None, None, None)
    if report is not None:
        report.write_bytes(importing.error_report(table, plan.problems))
    if as_json:
        print_json(importing.plan_dict(table, plan, applied=applied, dry_run=dry_run))
    else:
        for line in importing.text_lines(table, plan, applied=applied, dry_run=dry_run, verbose=verbose or dry_run):
            click.echo(line)
        if report is not None:
            click.echo(f"report: {report}")
    if plan.rejected:
        sys.exit(1)


@cli.command("export")
@click.argument("file", type=click.Path(dir_okay=False, writable=True, path_type=Path))
@click.option("--customer", help="Only this customer's phones (its code).")
@store_options(existing=True)
def export_cmd(store: Store, file: Path, customer: str | None) -> None:
    """Write phones and lines to FILE.xlsx or FILE.csv, in the columns `provisioner import` reads.

    The file holds SIP passwords: keep it as safe as the database. Importing it back changes nothing.
    """
    counts = importing.export(store, actor(), file, customer=customer)
    left = f"; {counts['left_out']} phones with a customer and no line left out" if counts["left_out"] else ""
    click.echo(
        f"exported {counts['devices']} phones and {counts['lines']} lines to {file}{left}. "
        f"It holds SIP passwords: keep it safe."
    )

"""``provisioner phonebook ...``: a customer's phonebook (its extensions plus added contacts)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import phonebook as phonebooks
from ..db import Store
from .base import actor, cli, json_option, print_json, store_options


@cli.group()
def phonebook() -> None:
    """A customer's phonebook: its extensions plus contacts, served to each of its phones."""


@phonebook.command("add")
@click.argument("customer_code", metavar="CUSTOMER")
@click.argument("name")
@click.argument("number")
@click.option("--group", help="Group (folder) the contact is listed under, where the phone shows groups.")
@store_options(existing=True)
def phonebook_add(store: Store, customer_code: str, name: str, number: str, group: str | None) -> None:
    """Add contact NAME with NUMBER to CUSTOMER's phonebook."""
    result = phonebooks.add(store, actor(), customer_code, name, number, group)
    click.echo("contact added" if result["added"] else "already in the phonebook: nothing changed")


@phonebook.command("remove")
@click.argument("customer_code", metavar="CUSTOMER")
@click.option("--name", help="The contact's name.")
@click.option("--number", help="The contact's number.")
@store_options(existing=True)
def phonebook_remove(store: Store, customer_code: str, name: str | None, number: str | None) -> None:
    """Remove the contacts of CUSTOMER matching --name and/or --number (extensions stay: they are its lines)."""
    count = phonebooks.remove(store, actor(), customer_code, name=name, num=number)
    click.echo(f"{count} contact(s) removed")


@phonebook.command("list")
@click.argument("customer_code", metavar="CUSTOMER")
@json_option
@store_options(existing=True)
def phonebook_list(store: Store, customer_code: str, as_json: bool) -> None:
    """The phonebook of CUSTOMER as its phones show it: extensions, then contacts."""
    rows = phonebooks.entries(store, customer_code)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        click.echo(f"{r['number']:<20} {r['name']:<40} {r['group'] or '-':<16} {r['kind']}")


@phonebook.command("import")
@click.argument("customer_code", metavar="CUSTOMER")
@click.argument("sheet", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@store_options(existing=True)
def phonebook_import(store: Store, customer_code: str, sheet: Path) -> None:
    """Add the contacts of SHEET (CSV or XLSX; columns name, number, optional group) to CUSTOMER's
    phonebook: all rows or none; the ones already there are skipped."""
    result = phonebooks.import_file(store, actor(), customer_code, sheet)
    click.echo(f"{result['added']} contact(s) added, {result['skipped']} already there")


@phonebook.command("export")
@click.argument("customer_code", metavar="CUSTOMER")
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="Write the CSV here (default: standard output).",
)
@store_options(existing=True)
def phonebook_export(store: Store, customer_code: str, output: Path | None) -> None:
    """CUSTOMER's phonebook as CSV (name, number, group, kind): `phonebook import` reads it back."""
    body = phonebooks.export_csv(store, customer_code)
    if output is None:
        click.echo(body, nl=False)
    else:
        output.write_text(body, encoding="utf-8-sig")
        click.echo(f"phonebook written to {output}", err=True)

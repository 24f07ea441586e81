"""``provisioner customer ...`` and ``provisioner line ...``."""

from __future__ import annotations

import click

from .. import changes, fields, services
from ..db import Store
from .base import actor, cli, json_option, print_json, store_options

TRANSPORT = click.Choice(fields.TRANSPORTS, case_sensitive=False)


@cli.group()
def customer() -> None:
    """Customers: their PBX (default SIP server), time zone and language."""


@customer.command("add")
@click.argument("code")
@click.option("--name", required=True, help="Company name as shown to staff.")
@click.option("--sip-server", required=True, help="Default registrar for the customer's lines.")
@click.option("--sip-port", type=int, default=5060, show_default=True)
@click.option("--transport", type=TRANSPORT, default="udp", show_default=True)
@click.option("--timezone", default="Europe/Rome", show_default=True, help="IANA time zone name.")
@click.option("--language", type=click.Choice(fields.LANGUAGES), default="it", show_default=True)
@click.option("--ntp-server", default=None, help="NTP server for the phones (default: the server's).")
@click.option("--country", help="Call-progress tones: " + ", ".join(fields.COUNTRIES) + " (default IT).")
@click.option(
    "--codecs",
    help="Codec order, e.g. g722,pcma,pcmu (known: " + ", ".join(fields.CODECS) + "; default: each phone's own).",
)
@click.option("--check-hour", type=int, help="Hour (0-23) its phones check for new files (default 3).")
@click.option("--check-interval-hours", type=int, help="Under 24: check every N hours instead (default 24).")
@click.option(
    "--path-key",
    type=click.Choice(["new", "none"]),
    default="new",
    show_default=True,
    help="A secret path /p/<key>/ its phones must fetch under; 'none': plain paths (no rule).",
)
@click.option(
    "--public-url",
    envvar="PROVISIONER_PUBLIC_URL",
    help="The server's base URL, to print the URL to give phones (as `serve` uses).",
)
@store_options
def customer_add(
    store: Store,
    code: str,
    name: str,
    sip_server: str,
    sip_port: int,
    transport: str,
    timezone: str,
    language: str,
    ntp_server: str | None,
    path_key: str,
    public_url: str | None,
    **baseline: object,
) -> None:
    """Add customer CODE; its phones fetch under a new secret path key unless --path-key none, and
    get a generated admin password (`provisioner customer admin-password CODE --reveal`)."""
    row = services.add_customer(
        store,
        actor(),
        code,
        name=name,
        sip_server=sip_server,
        sip_port=sip_port,
        sip_transport=transport,
        timezone=timezone,
        language=language,
        ntp_server=ntp_server,
        path_key=path_key,
        **{k: v for k, v in baseline.items() if v is not None},
    )
    click.echo(
        f"customer {row['code']} added ({row['name']}, {row['sip_server']}:{row['sip_port']}/{row['sip_transport']})"
    )
    key = row.get("new_path_key")
    if key:
        click.echo(
            f"  path key: {key}   (phones fetch /p/{key}/<file>; shown again by "
            f"`provisioner customer security {row['code']} --reveal`)"
        )
        if public_url:
            base = public_url if public_url.endswith("/") else public_url + "/"
            click.echo(f"  give phones (DHCP option 66, redirect service): {base}p/{key}/")
    else:
        click.echo(
            "  no path key: any request naming one of its MACs gets that phone's passwords "
            "(`provisioner customer security` adds rules)"
        )


@customer.command("update")
@click.argument("code")
@click.option("--name")
@click.option("--sip-server")
@click.option("--sip-port", type=int)
@click.option("--transport", type=TRANSPORT)
@click.option("--timezone")
@click.option("--language", type=click.Choice(fields.LANGUAGES))
@click.option("--ntp-server")
@click.option(
    "--resync-after-change",
    type=click.Choice(["on", "off", "server"]),
    help="NOTIFY this customer's phones after every change; 'server' follows the server's flag.",
)
@click.option("--country", help="Call-progress tones: " + ", ".join(fields.COUNTRIES) + "; '' for IT.")
@click.option("--codecs", help="Codec order, e.g. g722,pcma,pcmu; '' for each phone's own.")
@click.option("--check-hour", help="Hour (0-23) its phones check for new files; '' for the default.")
@click.option("--check-interval-hours", help="Check every N hours (1-168); '' for the default (24).")
@store_options
def customer_update(store: Store, code: str, transport: str | None, **fields: object) -> None:
    """Change customer CODE; its phones get the change at their next fetch."""
    data = {k: v for k, v in fields.items() if v is not None}
    if transport:
        data["sip_transport"] = transport
    row = services.update_customer(store, actor(), code, **data)
    click.echo(f"customer {row['code']} updated")


@customer.command("admin-password")
@click.argument("code")
@click.option("--new", "new", is_flag=True, help="Generate another one; its phones get it at their next fetch.")
@click.option("--set", "set_", is_flag=True, help="Type one (asked twice, not shown); at least 8 characters.")
@click.option("--reveal", is_flag=True, help="Print it.")
@store_options
def customer_admin_password(store: Store, code: str, new: bool, set_: bool, reveal: bool) -> None:
    """The admin password of the web UI and menu of CODE's phones (sealed; printed only with --reveal)."""
    if new and set_:
        raise click.UsageError("give --new (generate one) or --set (type one), not both")
    typed = click.prompt("Admin password", hide_input=True, confirmation_prompt=True) if set_ else None
    password = services.admin_password(store, actor(), code, new=new, password=typed)
    if new or set_:
        click.echo(f"new admin password for the phones of {code}; they get it at their next fetch")
    if password is None:
        click.echo("no admin password: its phones keep their own (`--new` sets one)")
    elif reveal:
        click.echo(
            f"  admin password: {password}   (user admin on Yealink, Grandstream; Polycom and Snom: the admin password)"
        )
    else:
        click.echo("  admin password: set (--reveal prints it)")


@customer.command("list")
@json_option
@store_options(existing=True)
def customer_list(store: Store, as_json: bool) -> None:
    """List customers."""
    with store.reading() as tx:
        rows = [changes.public(r, *changes.CUSTOMER_FIELDS) for r in tx.list_customers()]
    if as_json:
        print_json(rows)
        return
    for r in rows:
        assert r is not None
        click.echo(f"{r['code']:<16} {r['name']:<32} {r['sip_server']}:{r['sip_port']}/{r['sip_transport']}")


@cli.group()
def line() -> None:
    """Lines: a customer's extensions and their SIP credentials."""


@line.command("add")
@click.argument("customer_code", metavar="CUSTOMER")
@click.argument("extension")
@click.option("--name", required=True, help="Display name on the phone.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    help="SIP password (asked for when not given, so it stays out of the shell history).",
)
@click.option("--user", "sip_username", help="SIP user name (default: the extension).")
@click.option("--auth-id", help="Authentication id (default: the SIP user).")
@click.option("--label", help="Label on the line key (default: the extension).")
@click.option("--sip-server", help="Registrar for this line (default: the customer's).")
@click.option("--sip-port", type=int)
@click.option("--transport", type=TRANSPORT)
@click.option("--voicemail", help="Number the message key dials (e.g. *97); turns MWI on.")
@store_options
def line_add(
    store: Store,
    customer_code: str,
    extension: str,
    name: str,
    password: str,
    sip_username: str | None,
    auth_id: str | None,
    label: str | None,
    sip_server: str | None,
    sip_port: int | None,
    transport: str | None,
    voicemail: str | None,
) -> None:
    """Add EXTENSION to CUSTOMER."""
    row = services.add_line(
        store,
        actor(),
        customer_code,
        extension,
        display_name=name,
        password=password,
        sip_username=sip_username,
        auth_id=auth_id,
        label=label,
        sip_server=sip_server,
        sip_port=sip_port,
        sip_transport=transport,
        voicemail=voicemail,
    )
    click.echo(f"line {row['extension']} added to {customer_code} (SIP user {row['sip_username']})")


@line.command("update")
@click.argument("customer_code", metavar="CUSTOMER")
@click.argument("extension")
@click.option("--name", "display_name")
@click.option("--password", help="New SIP password; '-' asks for it.")
@click.option("--user", "sip_username")
@click.option("--auth-id")
@click.option("--label")
@click.option("--sip-server")
@click.option("--sip-port", type=int)
@click.option("--transport", "sip_transport", type=TRANSPORT)
@click.option("--voicemail", help="Number the message key dials (e.g. *97); '' turns voicemail and MWI off.")
@store_options
def line_update(store: Store, customer_code: str, extension: str, password: str | None, **fields: object) -> None:
    """Change EXTENSION of CUSTOMER; the phone gets it at its next fetch."""
    if password == "-":
        password = click.prompt("Password", hide_input=True)
    services.update_line(store, actor(), customer_code, extension, password=password, **fields)
    click.echo(f"line {extension} of {customer_code} updated")


@line.command("list")
@click.argument("customer_code", metavar="CUSTOMER")
@json_option
@store_options(existing=True)
def line_list(store: Store, customer_code: str, as_json: bool) -> None:
    """List the lines of CUSTOMER (passwords are never shown)."""
    with store.reading() as tx:
        cust = services.get_customer(store, customer_code)
        rows = []
        for r in tx.lines_of_customer(cust["id"]):
            holder = tx.device_of_line(r["id"])
            rows.append(
                {**(changes.public(r, *changes.LINE_FIELDS) or {}), "device": holder["mac"] if holder else None}
            )
    if as_json:
        print_json(rows)
        return
    for r in rows:
        click.echo(f"{r['extension']:<8} {r['display_name']:<32} {r['sip_username']:<16} {r['device'] or '-'}")

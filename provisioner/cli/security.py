"""``provisioner customer security|show``, ``provisioner device downloads``, ``provisioner secrets ...``."""

from __future__ import annotations

from typing import Any

import click

from .. import changes, fields, security_services, services
from ..db import Store
from ..sealing import generate_key
from .base import actor, cli, json_option, print_json, store_options
from .customers import customer
from .devices import device

_BASE_URL = click.option(
    "--public-url",
    envvar="PROVISIONER_PUBLIC_URL",
    help="The server's base URL, to print the URL phones are given (as `serve` uses).",
)


def _echo_rules(view: dict[str, Any]) -> None:
    auth = view["auth"]
    click.echo(
        f"  auth: {auth}"
        + (
            f" (user {view['username']}, password {'set' if view['password_set'] else 'NOT SET'})"
            if auth != "none"
            else ""
        )
    )
    click.echo(f"  path key: {'set (/p/<key>/...)' if view['path_key_set'] else 'none'}")
    hours = view["window_hours"]
    click.echo("  device tokens: " + (f"on, first-contact window {hours} h after assignment" if hours else "off"))
    click.echo(f"  allowed addresses: {', '.join(view['allow']) if view['allow'] else 'any'}")
    for warning in view.get("warnings") or ():
        click.echo(f"  WARNING: {warning}")


@customer.command("security")
@click.argument("code")
@click.option("--auth", type=click.Choice(["digest", "none"]), help="HTTP Digest (Basic too, over HTTPS) or none.")
@click.option("--user", "username", help="Provisioning user name (default: the customer code).")
@click.option("--new-password", is_flag=True, help="Make a new provisioning password (printed once).")
@click.option("--path-key", type=click.Choice(["new", "none"]), help="A new secret path /p/<key>/, or none.")
@click.option("--window", help="Per-device tokens with a first-contact window of HOURS after assignment; 'off'.")
@click.option("--allow", multiple=True, metavar="CIDR", help="Only these networks (repeat); replaces the list.")
@click.option("--allow-any", is_flag=True, help="Drop the address allowlist.")
@click.option("--reveal", is_flag=True, help="Print the password, the path key and the URL to give phones.")
@_BASE_URL
@json_option
@store_options
def customer_security(
    store: Store,
    code: str,
    auth: str | None,
    username: str | None,
    new_password: bool,
    path_key: str | None,
    window: str | None,
    allow: tuple[str, ...],
    allow_any: bool,
    reveal: bool,
    public_url: str | None,
    as_json: bool,
) -> None:
    """Show or change how CODE's phones must prove themselves before they get credentials.

    Without options: show the rules. A password or key this command makes is printed once.
    """
    kwargs: dict[str, Any] = {}
    if window is not None:
        kwargs["window_hours"] = None if window.strip().lower() in ("off", "none", "0") else window
    if allow and allow_any:
        raise click.UsageError("--allow and --allow-any exclude each other")
    allow_list = [] if allow_any else (list(allow) if allow else None)
    changing = any(v is not None for v in (auth, username, path_key, allow_list)) or new_password or kwargs
    if changing:
        view = security_services.set_customer_security(
            store,
            actor(),
            code,
            auth=auth,
            username=username,
            new_password=new_password,
            path_key=path_key,
            allow=allow_list,
            base_url=public_url,
            **kwargs,
        )
        if reveal:
            view.update(security_services.customer_security(store, code, reveal=True, base_url=public_url))
    else:
        view = security_services.customer_security(store, code, reveal=reveal, base_url=public_url)
    if as_json:
        print_json(view)
        return
    click.echo(f"customer {view['customer']}" + (" updated" if changing else ""))
    _echo_rules(view)
    for name, value in (view.get("new_secrets") or {}).items():
        click.echo(f"  new {name.replace('_', ' ')}: {value}   (shown once; also in --reveal)")
    if reveal:
        click.echo(f"  password: {view.get('password') or '-'}")
        click.echo(f"  path key: {view.get('path_key') or '-'}")
    if view.get("provisioning_url"):
        click.echo(f"  give phones (factory/redirect): {view['provisioning_url']}")


@customer.command("show")
@click.argument("code")
@click.option("--reveal", is_flag=True, help="Also print its phones' admin password.")
@json_option
@store_options(existing=True)
def customer_show(store: Store, code: str, reveal: bool, as_json: bool) -> None:
    """Show customer CODE with its provisioning security (a secret only with --reveal)."""
    row = services.get_customer(store, code)
    data = {
        **(changes.public(row, *changes.CUSTOMER_FIELDS, "contract_end") or {}),
        "admin_password_set": bool(row.get("admin_password")),
        "security": security_services.customer_security(store, code),
    }
    if reveal:
        data["admin_password"] = row.get("admin_password")
    if as_json:
        print_json(data)
        return
    click.echo(f"{data['code']}  {data['name']}  {data['sip_server']}:{data['sip_port']}/{data['sip_transport']}")
    click.echo(
        f"time zone {data['timezone']}, language {data['language']}, contract end {data.get('contract_end') or '-'}"
    )
    click.echo(
        f"phones: tones {data.get('country') or fields.DEFAULT_COUNTRY}, codecs "
        f"{data.get('codecs') or 'their own'}, check at "
        f"{data.get('check_hour') if data.get('check_hour') is not None else 'default'}"
        f" h every {data.get('check_interval_hours') or 24} h, admin password "
        + (data["admin_password"] or "-" if reveal else "set" if data["admin_password_set"] else "none")
    )
    click.echo("provisioning security:")
    _echo_rules(data["security"])


@device.command("downloads")
@click.argument("mac")
@json_option
@store_options(existing=True)
def device_downloads(store: Store, mac: str, as_json: bool) -> None:
    """Every config download of MAC: when, from where, how; '!' marks fetches from two addresses
    within an hour. Repeats of one fetch are one line: 'x N' and the last time."""
    rows = security_services.device_downloads(store, mac)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no downloads recorded")
        return
    click.echo(f"  {'at (UTC)':<19} {'times, last':<18} {'ip':<40} {'via':<5} {'file':<32} user agent")
    for r in rows:
        mark = "!" if r["flagged"] else " "
        last = r["last_at"]
        repeated = (
            f"x {r['count']}, {last.strftime('%H:%M:%S' if last.date() == r['at'].date() else '%m-%d %H:%M')}"
            if last
            else ""
        )
        click.echo(
            f"{mark} {r['at'].strftime('%Y-%m-%d %H:%M:%S'):<19} {repeated:<18} {r['ip'] or '-':<40} "
            f"{r['transport']:<5} {r['file']:<32} {r['user_agent'] or '-'}"
        )
    if any(r["flagged"] for r in rows):
        click.echo("! fetched from different addresses within an hour: check where the phone is")


@device.command("reopen")
@click.argument("mac")
@store_options
def device_reopen(store: Store, mac: str) -> None:
    """Let MAC fetch with just its MAC again for its customer's window, with a new token (after a
    factory reset)."""
    result = security_services.reopen_window(store, actor(), mac)
    click.echo(
        f"device {result['mac']} may fetch with its MAC for {result['window_hours']} h; its old token no longer works"
    )


@cli.group()
def secrets() -> None:
    """The key that seals SIP and provisioning passwords in the database."""


@secrets.command("generate")
def secrets_generate() -> None:
    """Print a new key (for PROVISIONER_SECRET_KEY)."""
    click.echo(generate_key())


@secrets.command("rotate")
@store_options
def secrets_rotate(store: Store) -> None:
    """Re-seal every password under a new key; the old key is kept only until that is done."""
    result = security_services.rotate_key(store, actor())
    where = result["key_file"] or "PROVISIONER_SECRET_KEY (you may now drop the old key from it)"
    click.echo(f"{result['values']} sealed values re-sealed; key in {where}")

"""``provisioner redirect ...``: the vendors' redirect services (provisioner.redirect)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import click
import structlog

from ..db import Store
from ..redirect import accounts as redirect_accounts
from ..redirect import support, worker
from .base import actor, cli, json_option, print_json, store_options

_PUBLIC_URL = click.option(
    "--public-url",
    envvar="PROVISIONER_PUBLIC_URL",
    show_envvar=True,
    help="The server's public base URL (default: the one the server last started with).",
)


def _stderr_log() -> Any:
    """The worker's log lines on stderr: stdout is the command's answer (JSON with --json)."""
    return structlog.wrap_logger(structlog.PrintLogger(file=sys.stderr))


@cli.group("redirect")
def redirect() -> None:
    """Vendor redirect services: phones shipped to a customer's office find this server."""


@redirect.command("set")
@click.argument("vendor")
@click.option("--rpc-url", help="The service's XML-RPC URL.")
@click.option("--username", help="The provider's account name at the service.")
@click.option("--password-stdin", is_flag=True, help="Read the account's password from standard input.")
@click.option("--server-name", help="Yealink RPS: the name of the server entry (default: provisioner).")
@click.option("--disable", is_flag=True, help="Stop telling this vendor anything (changes are kept, held).")
@json_option
@store_options
def redirect_set(
    store: Store,
    vendor: str,
    rpc_url: str | None,
    username: str | None,
    password_stdin: bool,
    server_name: str | None,
    disable: bool,
    as_json: bool,
) -> None:
    """Store the provider's account at VENDOR's redirect service (yealink, snom)."""
    if disable:
        view = redirect_accounts.disable(store, actor(), vendor)
    else:
        if not password_stdin:
            raise click.UsageError("give the password on standard input with --password-stdin")
        password = sys.stdin.readline().rstrip("\r\n")
        view = redirect_accounts.set_account(
            store, actor(), vendor, rpc_url=rpc_url, username=username, password=password, server_name=server_name
        )
    if as_json:
        print_json(view)
        return
    _echo_account(view)


def _echo_account(view: dict[str, Any]) -> None:
    state = (
        "disabled"
        if not view["enabled"]
        else (f"BROKEN since {view['broken_at']:%Y-%m-%d %H:%M}Z: {view['broken_reason']}" if view["broken"] else "ok")
    )
    click.echo(
        f"{view['vendor']}: {view['protocol']} at {view['rpc_url']}, user {view['username']}"
        + (f", server name {view['server_name']}" if view["server_name"] else "")
        + f" [{state}]"
    )


@redirect.command("show")
@json_option
@store_options
def redirect_show(store: Store, as_json: bool) -> None:
    """The redirect accounts (never their passwords)."""
    views = redirect_accounts.list_accounts(store)
    if as_json:
        print_json(views)
        return
    if not views:
        click.echo("no redirect account: `provisioner redirect set yealink|snom ...`")
    for view in views:
        _echo_account(view)


@redirect.command("status")
@click.argument("mac", required=False)
@click.option("--customer", help="Only this customer's devices.")
@click.option("--state", type=click.Choice(support.STATES), help="Only devices in this state.")
@json_option
@store_options
def redirect_status(store: Store, mac: str | None, customer: str | None, state: str | None, as_json: bool) -> None:
    """Each device's redirect state: registered, pending (attempts, next try), failed or conflict."""
    rows = support.status(store, mac, customer=customer, state=state)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no device has a redirect state")
    for row in rows:
        line = f"{row['mac']}  {row['vendor']:<8} {row['state']:<12} {row['customer'] or '-'}"
        if row["queued"]:
            when = f"{row['next_attempt_at']:%Y-%m-%d %H:%M:%S}Z" if row["next_attempt_at"] else "after a retry"
            line += f"  {row['queued']} queued, {row['attempts']} attempts, next {when}"
        if row["url"] and row["state"] == "registered":
            line += f"  {row['url']}"
        click.echo(line)
        if row["message"] and row["state"] != "registered":
            click.echo(f"    vendor: {row['message']}")
        if row["held"]:
            click.echo(f"    held: {row['held']}")
        if row["hint"]:
            click.echo(f"    what to do: {row['hint']}")


@redirect.command("retry")
@click.argument("mac", required=False)
@click.option("--customer", help="Only this customer's devices.")
@_PUBLIC_URL
@store_options
def redirect_retry(store: Store, mac: str | None, customer: str | None, public_url: str | None) -> None:
    """Deliver waiting and failed changes now (and ask again where the vendor said conflict)."""
    count = support.retry(store, actor(), mac, customer=customer)
    base = worker.base_url_for_cli(store, public_url)
    done = asyncio.run(support.deliver_now(store, base, logger=_stderr_log()))
    click.echo(f"{count} change(s) due; {done} answered by the vendors")


@redirect.command("sync")
@click.option("--customer", help="Only this customer's devices.")
@_PUBLIC_URL
@json_option
@store_options
def redirect_sync(store: Store, customer: str | None, public_url: str | None, as_json: bool) -> None:
    """Read each device's entry at its vendor and register or deregister what differs."""
    base = worker.base_url_for_cli(store, public_url)
    counts = asyncio.run(support.sync(store, actor(), base, customer=customer, logger=_stderr_log()))
    if as_json:
        print_json(counts)
        return
    click.echo(", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in counts.items()))


@redirect.command("customer-url")
@click.argument("customer")
@click.argument("url", required=False)
@click.option("--clear", is_flag=True, help="Back to the server's public URL.")
@store_options
def redirect_customer_url(store: Store, customer: str, url: str | None, clear: bool) -> None:
    """Send CUSTOMER's phones to its own host name URL instead of the public URL."""
    if not url and not clear:
        raise click.UsageError("give URL or --clear")
    result = support.set_customer_url(store, actor(), customer, None if clear else url)
    click.echo(f"{customer}: {result['public_url'] or 'the public URL'} ({result['queued']} registration(s) queued)")

"""``provisioner user ...``: accounts for the console and the admin API.

Passwords are asked at a hidden prompt (twice) or read from standard input with
``--password-stdin`` for scripts; never taken as an argument, which would land
in the shell history and the process list.
"""

from __future__ import annotations

import sys

import click

from .. import accounts
from ..db import Store
from .base import actor, cli, json_option, print_json, store_options

ROLE = click.Choice(accounts.ROLES)


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@cli.group()
def user() -> None:
    """Users of the console and the API, their roles and API tokens."""


@user.command("add")
@click.argument("name")
@click.option(
    "--role",
    "role_",
    type=ROLE,
    required=True,
    help="admin: everything and users; technician: devices and imports; support: find, reassign, "
    "swap, returns; viewer: read only.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@store_options
def user_add(store: Store, name: str, role_: str, password_stdin: bool) -> None:
    """Add user NAME (the first admin is made this way)."""
    row = accounts.add_user(store, actor(), name, role_=role_, password=_password(password_stdin))
    click.echo(f"user {row['name']} added with role {row['role']}")


@user.command("list")
@json_option
@store_options(existing=True)
def user_list(store: Store, as_json: bool) -> None:
    """List users."""
    rows = accounts.list_users(store)
    if as_json:
        print_json(rows)
        return
    for row in rows:
        seen = row["last_login_at"].strftime("%Y-%m-%d %H:%M") if row["last_login_at"] else "never"
        state = "  DISABLED" if row["disabled"] else ""
        click.echo(f"{row['name']:<24} {row['role']:<11} last login {seen}{state}")


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of standard input.")
@store_options
def user_passwd(store: Store, name: str, password_stdin: bool) -> None:
    """Set a new password for NAME; their open sessions end."""
    accounts.set_password(store, actor(), name, _password(password_stdin))
    click.echo(f"password of {name} changed; their sessions ended")


@user.command("update")
@click.argument("name")
@click.option("--role", "role_", type=ROLE)
@click.option("--disable/--enable", "disabled", default=None, help="Lock the user out, or let them back in.")
@store_options
def user_update(store: Store, name: str, role_: str | None, disabled: bool | None) -> None:
    """Change NAME's role, or disable/enable them."""
    row = accounts.update_user(store, actor(), name, role_=role_, disabled=disabled)
    click.echo(f"user {row['name']}: role {row['role']}{', disabled' if row['disabled'] else ''}")


@user.command("token")
@click.argument("name")
@click.option("--label", required=True, help="What the token is for, e.g. 'billing export script'.")
@click.option("--expires", metavar="DATE", help="Last day it works, YYYY-MM-DD (Europe/Rome), or 'never' (default).")
@click.option("--expires-in", metavar="DAYS", help="Works for this many days from today, e.g. 90d.")
@store_options
def user_token(store: Store, name: str, label: str, expires: str | None, expires_in: str | None) -> None:
    """Create an API token for NAME. It is shown once; keep it in the script's secret store."""
    if expires and expires_in:
        raise click.UsageError("give --expires or --expires-in, not both")
    if expires_in:
        days = expires_in.strip()
        last = accounts.parse_expiry(days + "d" if days.isdigit() else days, "--expires-in")
    else:
        last = accounts.parse_expiry(expires, "--expires")
    token, record = accounts.create_token(store, actor(), name, label, last)
    until = f", valid through {last.isoformat()}" if last else ", never expires"
    click.echo(f"token {record['id']} ({record['label']}) for {name}{until}:", err=True)
    click.echo(token)


@user.command("revoke")
@click.argument("name")
@click.argument("token_id", type=int)
@store_options
def user_revoke(store: Store, name: str, token_id: int) -> None:
    """Revoke API token TOKEN_ID of NAME."""
    accounts.revoke_token(store, actor(), name, token_id)
    click.echo(f"token {token_id} of {name} revoked")

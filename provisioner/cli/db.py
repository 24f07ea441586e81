"""``provisioner db current|upgrade|backup``: the schema revision, upgrading it, a copy to roll back to.

These commands open the database without migrating it (every other command, and the server at
start, upgrade it to the newest revision first).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from ..db import Store
from ..db import migrate as migrating
from ..errors import ProvisionerError
from .base import _first_line, cli, database_options


@cli.group("db")
def db() -> None:
    """The database: its schema revision, upgrading it, backing it up."""


def _unmigrated_store(func: Callable[..., Any]) -> Callable[..., Any]:
    """Like ``store_options``, but the store is opened as it is: not upgraded."""

    @database_options
    @functools.wraps(func)
    def wrapper(*args: Any, data_dir: Path, database_url: str | None, **kwargs: Any) -> Any:
        try:
            store = Store.open(data_dir, database_url, migrate=False)
        except Exception as exc:
            raise click.ClickException(f"cannot open the database: {type(exc).__name__}: {_first_line(exc)}") from None
        try:
            return func(*args, store=store, **kwargs)
        except ProvisionerError as exc:
            raise click.ClickException(exc.message) from None
        finally:
            store.close()

    return wrapper


@db.command("current")
@_unmigrated_store
def current(store: Store) -> None:
    """The database's schema revision, and whether an upgrade is pending."""
    revision, head = migrating.current(store), migrating.head()
    if revision == head:
        click.echo(f"revision {head} (the newest): up to date")
    elif revision is None:
        click.echo(f"empty database (no revision): `provisioner db upgrade` creates the schema ({head})")
    elif revision in migrating.revisions():
        click.echo(f"revision {revision}: an upgrade to {head} is pending: back up, then `provisioner db upgrade`")
    else:
        raise click.ClickException(
            f"revision {revision} is unknown to this version (newest {head}): "
            "the database was upgraded by a newer provisioner"
        )


@db.command("upgrade")
@_unmigrated_store
def upgrade(store: Store) -> None:
    """Migrate the schema to the newest revision, in one transaction (all or nothing)."""
    before, after = store.migrate()
    store.check_key()
    if before == after:
        click.echo(f"revision {after}: already the newest, nothing to do")
    else:
        click.echo(f"upgraded from {before or 'an empty database'} to {after}")


@db.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@_unmigrated_store
def backup(store: Store, path: Path) -> None:
    """Copy the SQLite database to PATH (a new file), safely while the server runs.

    To roll back an upgrade, stop the server and put the copy back as provisioner.sqlite3.
    PostgreSQL: use pg_dump.
    """
    size = migrating.backup(store, path)
    click.echo(f"backed up revision {migrating.current(store) or '(empty)'} to {path} ({size:,} bytes)")

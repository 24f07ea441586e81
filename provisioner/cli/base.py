"""The ``provisioner`` command group and what every command shares.

Commands are thin: open the store, call one service, print the result. Domain
errors become one clear line on stderr and a non-zero exit.
"""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import __version__
from ..db import Store, database_exists, describe, unavailable
from ..errors import ProvisionerError, Unavailable
from ..jsonable import dumps


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=__version__, prog_name="provisioner")
def cli() -> None:
    """Phone auto-provisioning server: phones, lines, customers and their files."""


def database_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir and --database-url, the one declaration every command that reaches the store uses
    (``store_options``, ``serve``, ``db ...``): where the data lives is said the same way everywhere."""
    func = click.option(
        "--database-url",
        envvar="PROVISIONER_DATABASE_URL",
        show_envvar=True,
        default=None,
        help="postgresql://user@host/db to share one database between nodes (default: SQLite in --data-dir).",
    )(func)
    return click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("data"),
        envvar="PROVISIONER_DATA_DIR",
        show_default=True,
        show_envvar=True,
        help="Folder for the embedded SQLite database, the secret key and template overrides.",
    )(func)


def store_options(func: Callable[..., Any] | None = None, *, existing: bool = False) -> Any:
    """--data-dir / --database-url on a command; the command receives ``store``.

    Where there is no database yet, a command that writes creates it and says so on stderr; one
    that only reads (``@store_options(existing=True)``) refuses, naming the path: an empty new
    database in the wrong folder would answer "nothing" as if that were the truth.
    """
    if func is None:
        return functools.partial(store_options, existing=existing)

    @database_options
    @functools.wraps(func)
    def wrapper(*args: Any, data_dir: Path, database_url: str | None, **kwargs: Any) -> Any:
        try:
            new = not database_exists(data_dir, database_url)
            if new and existing:
                raise click.ClickException(
                    f"no database at {describe(data_dir, database_url)}: point at yours with --data-dir "
                    "(PROVISIONER_DATA_DIR) or --database-url (PROVISIONER_DATABASE_URL)"
                )
            store = Store.open(data_dir, database_url)
        except click.ClickException:
            raise
        except Exception as exc:  # a bad URL or an unreachable server: say which, not how
            busy = unavailable(exc)
            if busy is not None:
                raise _database_error(busy, data_dir, database_url) from None
            raise click.ClickException(f"cannot open the database: {type(exc).__name__}: {_first_line(exc)}") from None
        if new:
            click.echo(f"new database at {describe(data_dir, database_url)}", err=True)
        try:
            return func(*args, store=store, **kwargs)
        except ProvisionerError as exc:
            if isinstance(exc, Unavailable):
                raise _database_error(exc, data_dir, database_url) from None
            raise click.ClickException(exc.message) from None
        except Exception as exc:
            busy = unavailable(exc)  # locked, read-only, full, unreachable: one line, not a traceback
            if busy is None:
                raise
            raise _database_error(busy, data_dir, database_url) from None
        finally:
            store.close()

    return wrapper


def json_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")(func)


def actor() -> str:
    """Who is acting, for audit events."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = str(os.getuid())
    return f"cli:{user}"


def print_json(data: Any) -> None:
    click.echo(dumps(data, indent=2))


def _database_error(exc: Unavailable, data_dir: Path, database_url: str | None) -> click.ClickException:
    """One line: what happened to the database, and what to do about it."""
    where = "the PostgreSQL database" if database_url else str((data_dir / "provisioner.sqlite3").resolve())
    folder = "the PostgreSQL server's disk" if database_url else f"the disk holding {data_dir.resolve()}"
    fix = {
        "locked": f"{where} is locked by another writer (an import, a busy server): nothing was changed; "
        f"run the command again in a moment (PROVISIONER_SQLITE_BUSY_TIMEOUT_MS waits longer)",
        "read_only": f"{where} is read-only: nothing was changed; check that this user may write it and its "
        f"folder (permissions, a read-only mount)",
        "disk_full": f"{folder} is full: nothing was changed; free some space and run the command again",
        "io_error": f"{where} could not be read or written (disk full, removed or failing): nothing was "
        f"changed; check {folder} and run the command again",
        "unreachable": f"{where} cannot be reached: nothing was changed; check --database-url "
        f"(PROVISIONER_DATABASE_URL) and that the server is up, then run the command again",
    }.get(exc.reason, exc.message)
    return click.ClickException(fix)


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]

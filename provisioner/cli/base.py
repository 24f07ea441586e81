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
from ..errors import ProvisionerError
from ..jsonable import dumps
from ..store import Store


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(version=__version__, prog_name="provisioner")
def cli() -> None:
    """Phone auto-provisioning server: phones, lines, customers and their files."""


def store_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--data-dir / --database-url on a command; the command receives ``store``."""

    @click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("data"),
                  envvar="PROVISIONER_DATA_DIR", show_default=True, show_envvar=True,
                  help="Folder for the embedded SQLite database and template overrides.")
    @click.option("--database-url", envvar="PROVISIONER_DATABASE_URL", show_envvar=True, default=None,
                  help="postgresql://user@host/db to share one database between nodes.")
    @functools.wraps(func)
    def wrapper(*args: Any, data_dir: Path, database_url: str | None, **kwargs: Any) -> Any:
        try:
            store = Store.open(data_dir, database_url)
        except Exception as exc:  # a bad URL or an unreachable server: say which, not how
            raise click.ClickException(f"cannot open the database: {type(exc).__name__}: "
                                       f"{_first_line(exc)}") from None
        try:
            return func(*args, store=store, **kwargs)
        except ProvisionerError as exc:
            raise click.ClickException(exc.message) from None
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


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [""])[0][:300]

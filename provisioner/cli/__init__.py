"""Command line: ``provisioner`` (the console script) and ``python server.py``."""

from __future__ import annotations

from . import (  # noqa: F401  (registers the commands)
    customers,
    db,
    devices,
    firmware,
    imports,
    keys,
    phonebook,
    redirect,
    rentals,
    security,
    serve,
    users,
)
from .base import cli


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="provisioner")

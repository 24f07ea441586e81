"""Command line: ``provisioner`` (the console script) and ``python server.py``."""

from __future__ import annotations

from . import customers, devices, imports, redirect, rentals, security, serve, users  # noqa: F401  (registers the commands)
from .base import cli


def main(argv: list[str] | None = None) -> None:
    cli.main(args=argv, prog_name="provisioner")

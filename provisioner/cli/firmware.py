"""``provisioner firmware ...`` and ``provisioner devices firmware``."""

from __future__ import annotations

from pathlib import Path

import click

from .. import firmware as firmwares
from ..db import Store
from .base import actor, cli, json_option, print_json, store_options
from .devices import devices


@cli.group()
def firmware() -> None:
    """Firmware images and the version each model's phones should run."""


@firmware.command("add")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--vendor", required=True, help="yealink, snom, polycom or grandstream.")
@click.option("--model", "models", required=True, help="Model(s) it is for, comma-separated: T46U,T48U.")
@click.option("--version", required=True, help="The version as the phone reports it in its User-Agent.")
@click.option(
    "--firmware-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="PROVISIONER_FIRMWARE_DIR",
    show_envvar=True,
    help="Where images are kept (default: firmware/ in the data dir).",
)
@click.option(
    "--firmware-max-bytes",
    type=click.IntRange(min=1),
    default=firmwares.DEFAULT_MAX_BYTES,
    envvar="PROVISIONER_FIRMWARE_MAX_BYTES",
    show_default=True,
    show_envvar=True,
)
@store_options
def firmware_add(
    store: Store, file: Path, vendor: str, models: str, version: str, firmware_dir: Path | None, firmware_max_bytes: int
) -> None:
    """Store FILE as VENDOR's firmware VERSION for the given models (copied, SHA-256 checksummed)."""
    folder = firmware_dir or Path(click.get_current_context().params["data_dir"]) / "firmware"
    row = firmwares.add(
        store, actor(), file, folder=folder, vendor=vendor, models=models, version=version, max_bytes=firmware_max_bytes
    )
    click.echo(
        f"{row['vendor']} {row['version']} {row['file_name']} ({row['size']:,} bytes, "
        f"sha256 {row['sha256']}) for {row['models']}"
    )


@firmware.command("list")
@json_option
@store_options(existing=True)
def firmware_list(store: Store, as_json: bool) -> None:
    """The stored images and the targets."""
    rows, targets = firmwares.images(store), firmwares.targets(store)
    if as_json:
        print_json({"images": rows, "targets": targets})
        return
    for r in rows:
        click.echo(
            f"{r['vendor']:<12} {r['version']:<16} {r['file_name']:<32} {r['size']:>12,}  {r['models']}  "
            f"sha256:{r['sha256'][:16]}"
        )
    for t in targets:
        click.echo(f"target: {t['model']} -> {t['version']} ({t['customer'] or 'every customer'})")


@firmware.command("target")
@click.option("--model", required=True)
@click.option("--version", required=True)
@click.option("--customer", help="Only this customer's phones (wins over the target for every customer).")
@store_options(existing=True)
def firmware_target(store: Store, model: str, version: str, customer: str | None) -> None:
    """Say which VERSION the phones of MODEL should run (an image of it must be stored)."""
    row = firmwares.set_target(store, actor(), model=model, version=version, customer=customer)
    click.echo(f"{row['model']} phones of {row['customer'] or 'every customer'} should run {row['version']}")


@devices.command("firmware")
@click.option("--customer", help="Only this customer's phones.")
@json_option
@store_options(existing=True)
def devices_firmware(store: Store, customer: str | None, as_json: bool) -> None:
    """How many phones of each model run each version (as they last reported it), and how many are due
    an upgrade to their target."""
    rows = firmwares.report(store, customer)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        due = f"  target {r['target']}, {r['due']} due" if r["target"] else ""
        click.echo(f"{r['vendor']:<12} {r['model']:<10} {r['firmware'] or '(not seen yet)':<20} {r['count']:>6}{due}")

"""``provisioner device key|keys`` and ``provisioner customer key|keys``: programmable keys."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from .. import fields, function_keys
from ..db import Store
from .base import actor, json_option, print_json, store_options
from .customers import customer
from .devices import device


def _key_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "--type",
                "type_",
                type=click.Choice(fields.KEY_TYPES, case_sensitive=False),
                help="What the key does (required unless --remove).",
            ),
            click.option(
                "--value",
                default="",
                help="Extension to watch (blf), number (speed-dial, park), digits (dtmf), URL (url).",
            ),
            click.option("--label", help="Text beside the key (blf: the watched line's name by default)."),
            click.option("--line", type=int, help="SIP account the key uses, from 1 (default 1)."),
            click.option(
                "--module", type=int, default=0, show_default=True, help="0: the phone; 1..: its expansion modules."
            ),
            click.option("--remove", is_flag=True, help="Remove the key at POSITION instead."),
        )
    ):
        command = option(command)
    return command


def _describe(key: dict[str, Any]) -> str:
    place = f"{key['position']}" if key["module"] == 0 else f"exp{key['module']}-{key['position']}"
    value = f" {key['value']}" if key["value"] else ""
    source = f"  ({key['source']})" if "source" in key else ""
    return f"  key {place:<8} {key['type']:<10}{value:<16} label {key['label'] or '-'}  line {key['line']}{source}"


def _set_or_remove(
    set_key: Callable[..., dict[str, Any]],
    remove_key: Callable[..., Any],
    store: Store,
    owner: str,
    shown: str,
    position: int,
    type_: str | None,
    remove: bool,
    *,
    value: str,
    label: str | None,
    line: int | None,
    module: int,
) -> None:
    """One key of a phone or a customer's profile (``owner``, named ``shown`` in what is printed)."""
    if remove:
        remove_key(store, actor(), owner, position, module)
        click.echo(f"key {position} of {shown} removed")
        return
    if not type_:
        raise click.UsageError("--type is required (or --remove)")
    key = set_key(store, actor(), owner, position, type=type_, value=value, label=label, line=line, module=module)
    click.echo(f"{shown}:" + _describe(key))


@device.command("key")
@click.argument("mac")
@click.argument("position", type=int)
@_key_options
@store_options(existing=True)
def device_key(
    store: Store,
    mac: str,
    position: int,
    type_: str | None,
    value: str,
    label: str | None,
    line: int | None,
    module: int,
    remove: bool,
) -> None:
    """Set (or --remove) the phone's own key at POSITION (from 1); it wins over its customer's profile."""
    _set_or_remove(
        function_keys.set_device_key,
        function_keys.remove_device_key,
        store,
        mac,
        fields.mac(mac),
        position,
        type_,
        remove,
        value=value,
        label=label,
        line=line,
        module=module,
    )


@device.command("keys")
@click.argument("mac")
@json_option
@store_options(existing=True)
def device_keys(store: Store, mac: str, as_json: bool) -> None:
    """The keys the phone gets: its own over its customer's profile (source says which)."""
    keys = function_keys.device_keys(store, mac)
    if as_json:
        print_json(keys)
        return
    if not keys:
        click.echo("no programmable keys (the phone gets one line key per account)")
    for key in keys:
        click.echo(_describe(key))


@customer.command("key")
@click.argument("code")
@click.argument("position", type=int)
@_key_options
@store_options(existing=True)
def customer_key(
    store: Store,
    code: str,
    position: int,
    type_: str | None,
    value: str,
    label: str | None,
    line: int | None,
    module: int,
    remove: bool,
) -> None:
    """Set (or --remove) a key of the customer's profile, which every phone of the customer inherits."""
    _set_or_remove(
        function_keys.set_customer_key,
        function_keys.remove_customer_key,
        store,
        code,
        f"{code} profile",
        position,
        type_,
        remove,
        value=value,
        label=label,
        line=line,
        module=module,
    )


@customer.command("keys")
@click.argument("code")
@json_option
@store_options(existing=True)
def customer_keys(store: Store, code: str, as_json: bool) -> None:
    """The customer's key profile."""
    keys = function_keys.customer_keys(store, code)
    if as_json:
        print_json(keys)
        return
    if not keys:
        click.echo("no profile keys")
    for key in keys:
        click.echo(_describe(key))

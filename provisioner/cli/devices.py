"""``provisioner device ...`` and ``provisioner devices ...``."""

from __future__ import annotations

import asyncio
import sys

import click

from .. import fields, services
from ..activity import Activity
from ..cache import ConfigCache
from ..db import Store
from ..rendering import Renderer
from ..resolver import Request, Resolver
from ..settings import Settings
from ..sip import resync
from .base import actor, cli, json_option, print_json, store_options


@cli.group()
def device() -> None:
    """One phone: add, show, its files, its settings."""


@device.command("add")
@click.argument("mac")
@click.option("--model", required=True, help="Phone model, e.g. T46U, D785, VVX450, GRP2614.")
@click.option("--vendor", help="Only needed when a model name is ambiguous.")
@click.option("--customer", help="Customer code the phone is deployed to.")
@click.option("--line", "lines", multiple=True, help="Extension for the next account (repeat, in order).")
@click.option("--serial", help="Serial number.")
@click.option("--ownership", type=click.Choice(fields.OWNERSHIPS), default="rental", show_default=True)
@store_options
def device_add(
    store: Store,
    mac: str,
    model: str,
    vendor: str | None,
    customer: str | None,
    lines: tuple[str, ...],
    serial: str | None,
    ownership: str,
) -> None:
    """Add the phone with MAC (any spelling)."""
    row = services.add_device(
        store,
        actor(),
        mac,
        model=model,
        vendor=vendor,
        customer=customer,
        lines=lines,
        serial=serial,
        ownership=ownership,
    )
    where = f" for {customer}, lines {', '.join(lines) or 'none'}" if customer else " in stock"
    click.echo(f"device {row['mac']} ({row['vendor']} {row['model']}) added{where}")


@device.command("show")
@click.argument("mac")
@json_option
@store_options(existing=True)
def device_show(store: Store, mac: str, as_json: bool) -> None:
    """Show a phone: customer, lines, last seen and history."""
    data = services.show_device(store, mac)
    if as_json:
        print_json(data)
        return
    customer = data["customer"]
    click.echo(f"{data['mac']}  {data['vendor']} {data['model']}  serial {data['serial'] or '-'}")
    click.echo(
        f"state {data['state']} ({data['ownership']}), customer "
        f"{customer['code'] + ' ' + customer['name'] if customer else '-'}"
    )
    for ln in data["lines"]:
        click.echo(f"  account {ln['position']}: {ln['extension']} {ln['display_name']} (user {ln['sip_username']})")
    seen = data.get("last_seen_at")
    click.echo(
        f"last seen {seen or 'never'}"
        + (f" from {data['last_seen_ip']} ({data['last_seen_user_agent']})" if seen else "")
    )
    target = data["firmware_target"]
    click.echo(
        f"firmware {data['firmware'] or 'not reported'}, target {target or 'none'}"
        + (" (upgrade due)" if data["firmware_upgrade_due"] else " (up to date)" if target and data["firmware"] else "")
    )
    downloads = data["downloads"]
    click.echo(
        f"config downloads {downloads['count']}"
        + (f", last {downloads['last_at']} from {downloads['last_ip']}" if downloads["count"] else "")
    )
    if downloads["flagged"]:
        click.echo(
            f"WARNING: fetched from different addresses within an hour: {', '.join(downloads['flagged_ips'])}"
            f" (see `provisioner device downloads {data['mac']}`)"
        )
    click.echo("history:")
    for event in data["history"]:
        click.echo(f"  {event['at']}  {event['actor']:<16} {event['summary']}")


@device.command("config")
@click.argument("mac")
@click.argument("filename")
@click.option(
    "--public-url", envvar="PROVISIONER_PUBLIC_URL", help="Provisioning URL written into configs (as the server uses)."
)
@click.option("--ntp-server", envvar="PROVISIONER_NTP_SERVER", default="pool.ntp.org")
@store_options(existing=True)
def device_config(store: Store, mac: str, filename: str, public_url: str | None, ntp_server: str) -> None:
    """Print exactly what the phone with MAC gets for FILENAME (it holds its passwords)."""
    canonical = fields.mac(mac)
    if canonical.lower() not in filename.lower():
        raise click.ClickException(
            f"{filename} is not a file of {canonical}: its name must hold the MAC (e.g. {canonical.lower()}.cfg)"
        )
    settings = Settings(public_url=public_url, ntp_server=ntp_server)
    body = asyncio.run(_fetch(store, settings, filename))
    sys.stdout.buffer.write(body)
    sys.stdout.buffer.flush()


async def _fetch(store: Store, settings: Settings, filename: str) -> bytes:
    cache = ConfigCache(
        store,
        Renderer(override=settings.templates_dir),
        provisioning_url=settings.provisioning_url,
        ntp_server=settings.ntp_server,
    )
    # An Activity that is never flushed: looking at a file is not the phone fetching it.
    resolver = Resolver(store, cache, Activity(store))
    reply = await resolver.resolve(Request(filename, "cli", transport="cli", trusted=True))
    if reply.status != 200:
        detail = f": {reply.detail}" if reply.detail else ""
        raise click.ClickException(f"the phone would get {reply.status} for {filename} ({reply.reason}){detail}")
    return bytes(reply.body)


@device.command("set")
@click.argument("mac")
@click.argument("settings", nargs=-1, required=True, metavar="KEY=VALUE...")
@store_options
def device_set(store: Store, mac: str, settings: tuple[str, ...]) -> None:
    """Override settings of one phone: timezone, language, ntp_server, or a vendor's own key.
    An empty value removes the override."""
    pairs = {}
    for item in settings:
        key, sep, value = item.partition("=")
        if not sep:
            raise click.BadParameter(f"{item!r} is not KEY=VALUE", param_hint="SETTINGS")
        pairs[key] = value
    row = services.set_device_settings(store, actor(), mac, pairs)
    click.echo(f"settings of {row['mac']}: " + (", ".join(f"{k}={v}" for k, v in row["settings"].items()) or "none"))


@device.command("resync")
@click.argument("mac")
@click.option(
    "--to",
    "to",
    metavar="HOST[:PORT]",
    help="Send here instead of the phone's last-seen address (port 5060 when not given).",
)
@click.option("--reboot", is_flag=True, help="Ask the phone to reboot too (check-sync;reboot=true).")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=4.0,
    show_default=True,
    help="Seconds to wait for the phone's answer.",
)
@store_options
def device_resync(store: Store, mac: str, to: str | None, reboot: bool, timeout: float) -> None:
    """Send the phone with MAC a SIP NOTIFY so it fetches its files now. Exits 0 when it answers 2xx."""
    target = resync.target_of(store, mac, to=to, reboot=reboot)
    outcome = asyncio.run(resync.resync(target, timeout=timeout))
    if not outcome.ok:
        raise click.ClickException(f"{target.mac}: {outcome.describe()}")
    click.echo(f"{target.mac}: {outcome.describe()} to NOTIFY {target.event}")


@cli.group()
def devices() -> None:
    """Many phones at once."""


@devices.command("unknown")
@json_option
@store_options(existing=True)
def devices_unknown(store: Store, as_json: bool) -> None:
    """Phones that asked for their files but are not in the store."""
    rows = services.unknown_devices(store)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no unknown devices seen")
    for r in rows:
        click.echo(
            f"{r['mac']}  {r['vendor'] or '?':<12} {r['model'] or '?':<8} {r['ip'] or '-':<15} "
            f"{r['requests']:>5}x  last {r['last_seen_at']}  {r['last_file']}  {r['user_agent'] or ''}"
        )


@devices.command("resync")
@click.argument("macs", nargs=-1, metavar="[MAC]...")
@click.option("--customer", help="Every phone of this customer (with or besides the MACs given).")
@click.option(
    "--rate",
    type=click.FloatRange(0.1, 1000),
    default=resync.RATE,
    show_default=True,
    help="Phones per second: a thousand phones must not all fetch at once.",
)
@click.option("--reboot", is_flag=True, help="Ask the phones to reboot too.")
@click.option(
    "--port", type=click.IntRange(1, 65535), default=resync.SIP_PORT, show_default=True, help="The phones' SIP port."
)
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 60),
    default=4.0,
    show_default=True,
    help="Seconds to wait for each phone's answer.",
)
@store_options
def devices_resync(
    store: Store, macs: tuple[str, ...], customer: str | None, rate: float, reboot: bool, port: int, timeout: float
) -> None:
    """NOTIFY many phones, paced, so they fetch their files now. One line per phone; exit 1 if any failed."""
    targets, skipped = resync.targets_of(store, customer=customer, macs=macs, reboot=reboot, port=port)
    for mac, why in skipped:
        click.echo(f"{mac}: skipped, {why}")

    def done(target: resync.Target, outcome: resync.Outcome) -> None:
        click.echo(f"{target.mac}: {outcome.describe()}")

    outcomes = asyncio.run(resync.resync_many(targets, rate=rate, timeout=timeout, done=done))
    good = sum(o.ok for o in outcomes)
    click.echo(
        f"{good} of {len(targets) + len(skipped)} phones answered 2xx"
        + (f", {len(skipped)} skipped" if skipped else "")
    )
    if good < len(targets) + len(skipped):
        raise SystemExit(1)

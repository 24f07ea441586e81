"""Rented-device lifecycle commands: terminate, swap, assign, return, charge, reports.

``customer terminate`` and ``customer policy`` join the ``customer`` group;
``device swap/assign/unassign/return/charge/history`` join the ``device`` group;
``rentals ...`` holds the reports, replacement costs and the default policy.
Each command calls one function of :mod:`provisioner.rental_services`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from .. import rental_reports, rental_services, rental_terms, rentals
from ..db import Store
from .base import actor, cli, json_option, print_json, store_options
from .customers import customer
from .devices import device

CHARGE = click.Choice(rentals.CHARGE_MODES, case_sensitive=False)


# --- customer ------------------------------------------------------------------------


@customer.command("terminate")
@click.argument("code", metavar="CUSTOMER")
@click.option(
    "--on",
    "on",
    metavar="DATE",
    help="Contract end date, YYYY-MM-DD: from that day the phones get no credentials and rented devices are due back.",
)
@click.option("--cancel", is_flag=True, help="Undo a termination whose date has not come yet.")
@json_option
@store_options
def customer_terminate(store: Store, code: str, on: str | None, cancel: bool, as_json: bool) -> None:
    """End the contract of CUSTOMER on a date (or --cancel it before that date)."""
    if cancel == bool(on):
        raise click.UsageError("give either --on DATE or --cancel")
    if cancel:
        result = rental_services.cancel_termination(store, actor(), code)
        if as_json:
            print_json(result)
            return
        click.echo(
            f"termination of {result['customer']} on {result['cancelled']} cancelled; "
            f"{len(result['devices'])} devices keep their lines"
        )
        return
    result = rental_services.terminate(store, actor(), code, on)
    if as_json:
        print_json(result)
        return
    when = "from today" if result["effective"] else f"from {result['contract_end']}"
    click.echo(f"contract of {result['customer']} ends {result['contract_end']}: its phones stop {when}")
    for dev in result["devices"]:
        due = f"return due by {dev['deadline']}" if dev["deadline"] else "customer-owned, no return"
        click.echo(f"  {dev['mac']}  {dev['model']:<8} {due}")


@customer.command("policy")
@click.argument("code", metavar="CUSTOMER")
@click.option("--window-days", type=int, help="Days after the contract end to return a device.")
@click.option(
    "--charge", type=CHARGE, help="What a late device costs: the replacement cost, a penalty per day late, or both."
)
@click.option("--penalty-per-day", metavar="EUR", help="Penalty per day late, in euros.")
@click.option("--default", "reset", is_flag=True, help="Drop the customer's own terms: the provider default applies.")
@json_option
@store_options
def customer_policy(
    store: Store,
    code: str,
    window_days: int | None,
    charge: str | None,
    penalty_per_day: str | None,
    reset: bool,
    as_json: bool,
) -> None:
    """Show or set the return policy of CUSTOMER's contract."""
    if window_days is None and charge is None and penalty_per_day is None and not reset:
        view = rental_terms.customer_policy(store, code)
    else:
        view = rental_terms.set_customer_policy(
            store, actor(), code, window_days=window_days, charge=charge, penalty_per_day=penalty_per_day, reset=reset
        )
    if as_json:
        print_json(view)
        return
    own = ", ".join(f"{k}={v}" for k, v in view["own_terms"].items()) or "none, the provider default applies"
    click.echo(f"{view['customer']}: {view['description']} (own terms: {own})")
    if view["contract_end"]:
        click.echo(f"contract ends {view['contract_end']}")


# --- device --------------------------------------------------------------------------


@device.command("swap")
@click.argument("old_mac")
@click.argument("new_mac")
@click.option("--model", help="Model of NEW when it is not in the store yet (default: OLD's).")
@click.option("--serial", help="Serial number of NEW.")
@click.option("--on", "on", metavar="DATE", help="Date of the swap (default today): OLD is due back from it.")
@json_option
@store_options
def device_swap(
    store: Store, old_mac: str, new_mac: str, model: str | None, serial: str | None, on: str | None, as_json: bool
) -> None:
    """Replace OLD_MAC with NEW_MAC: every line moves, in order; OLD is due back (RMA)."""
    result = rental_services.swap(store, actor(), old_mac, new_mac, model=model, serial=serial, on=on)
    if as_json:
        print_json(result)
        return
    old, new = result["old"], result["new"]
    click.echo(
        f"{new['mac']} ({new['vendor']} {new['model']}{', new' if result['created'] else ''}) now serves "
        f"{new['customer']} lines {', '.join(new['lines']) or 'none'}"
    )
    if result["return_deadline"]:
        click.echo(f"{old['mac']} is return_due: back by {result['return_deadline']}")
    else:
        click.echo(f"{old['mac']} is customer-owned: it stays with {new['customer']}, without lines")


@device.command("assign")
@click.argument("mac")
@click.option("--customer", "customer_code", required=True, help="Customer code.")
@click.option("--line", "lines", multiple=True, help="Extension for the next account (repeat, in order).")
@json_option
@store_options
def device_assign(store: Store, mac: str, customer_code: str, lines: tuple[str, ...], as_json: bool) -> None:
    """Deploy MAC to a customer with these lines (replacing the lines it has)."""
    snap = rental_services.assign(store, actor(), mac, customer_code, lines)
    if as_json:
        print_json(snap)
        return
    click.echo(f"device {snap['mac']} deployed to {snap['customer']}, lines {', '.join(snap['lines']) or 'none'}")


@device.command("unassign")
@click.argument("mac")
@click.option("--on", "on", metavar="DATE", help="Date it was taken out of service (default today).")
@json_option
@store_options
def device_unassign(store: Store, mac: str, on: str | None, as_json: bool) -> None:
    """Take MAC's lines off; a rented phone is then due back from its customer."""
    result = rental_services.unassign(store, actor(), mac, on=on)
    if as_json:
        print_json(result)
        return
    if result["return_deadline"]:
        click.echo(
            f"device {result['mac']} unassigned: return_due from {result['customer']}, back by "
            f"{result['return_deadline']}"
        )
    else:
        click.echo(f"device {result['mac']} unassigned: customer-owned, stays with {result['customer']}")


@device.command("return")
@click.argument("mac")
@click.option("--on", "on", metavar="DATE", help="Date it came back (default today).")
@click.option(
    "--condition",
    type=click.Choice(rentals.CONDITIONS),
    default="ok",
    show_default=True,
    help="ok: back in stock; faulty: retired.",
)
@json_option
@store_options
def device_return(store: Store, mac: str, on: str | None, condition: str, as_json: bool) -> None:
    """Record that a rented phone came back."""
    result = rental_services.return_device(store, actor(), mac, on=on, condition=condition)
    if as_json:
        print_json(result)
        return
    late = f", {result['days_late']} days late" if result["days_late"] else ""
    click.echo(
        f"device {result['mac']} returned {result['returned_on']} by {result['from_customer']}{late}: "
        f"now {result['state']}"
    )
    if result["late_penalty"]:
        click.echo(f"late-return penalty under the policy: {rentals.eur(result['late_penalty'])}")


@device.command("charge")
@click.argument("mac")
@click.option(
    "--amount", metavar="EUR", help="Amount billed (default: what the policy says is owed and not billed yet)."
)
@click.option("--on", "on", metavar="DATE", help="Billing date (default today).")
@json_option
@store_options
def device_charge(store: Store, mac: str, amount: str | None, on: str | None, as_json: bool) -> None:
    """Record that the customer was billed for a phone not returned in time."""
    result = rental_services.charge(store, actor(), mac, amount=amount, on=on)
    if as_json:
        print_json(result)
        return
    click.echo(
        f"{result['customer']} charged {rentals.eur(result['amount'])} for {result['mac']} "
        f"(total charged {rentals.eur(result['total_charged'])})"
    )


@device.command("history")
@click.argument("mac")
@json_option
@store_options(existing=True)
def device_history(store: Store, mac: str, as_json: bool) -> None:
    """Every event of a phone, oldest first."""
    events = rental_services.history(store, mac)
    if as_json:
        print_json(events)
        return
    for event in events:
        click.echo(f"{event['at']}  {event['actor']:<16} {event['action']:<28} {event['summary']}")


# --- rentals -------------------------------------------------------------------------


@cli.group("rentals")
def rentals_group() -> None:
    """Rented phones after their contract: due, overdue, charged; costs and the default policy."""


def _report_command(kind: str, doc: str) -> None:
    @rentals_group.command(kind, help=doc)
    @click.option("--as-of", metavar="DATE", help="Report date, YYYY-MM-DD (default today, Europe/Rome).")
    @click.option("--customer", "customer_code", help="Only this customer.")
    @click.option(
        "--output",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write FILE.xlsx or FILE.csv instead of printing.",
    )
    @json_option
    @store_options(existing=True)
    def command(store: Store, as_of: str | None, customer_code: str | None, output: Path | None, as_json: bool) -> None:
        fmt = rental_reports.format_of(output) if output else None
        rows = rental_services.report(store, kind, as_of=as_of, customer=customer_code)
        if output is not None:
            assert fmt is not None
            output.write_bytes(rental_reports.render(rows, rental_services.REPORT_COLUMNS, fmt, title=kind))
            click.echo(f"{len(rows)} {kind} devices written to {output}")
            return
        if as_json:
            print_json(rows)
            return
        if not rows:
            click.echo(f"no {kind} devices")
            return
        total: Any = sum((r["outstanding"] for r in rows if r["outstanding"] is not None), start=rentals.CENT * 0)
        for r in rows:
            click.echo(
                f"{r['mac']}  {r['customer']:<12} {r['model']:<8} {r['serial'] or '-':<14} "
                f"due from {r['due_from']} ({r['reason']})  deadline {r['deadline']}  "
                f"{r['days_late']:>3} days late  owed {rentals.eur(r['owed'])}"
                + (f"  charged {rentals.eur(r['charged'])}" if r["charged"] else "")
            )
        click.echo(f"{len(rows)} devices, outstanding {rentals.eur(total)}")


_report_command("due", "Rented phones due back and still within their return window.")
_report_command("overdue", "Rented phones past their return deadline and not charged yet, with what is owed.")
_report_command("charged", "Rented phones whose customer was billed for them.")


@rentals_group.command("set-cost")
@click.argument("model")
@click.argument("amount", metavar="EUR")
@click.option("--vendor", help="Only needed when a model name is ambiguous.")
@store_options
def rentals_set_cost(store: Store, model: str, amount: str, vendor: str | None) -> None:
    """Set the replacement cost of MODEL (or 'default': of every model without its own)."""
    row = rental_terms.set_cost(store, actor(), model, amount, vendor=vendor)
    label = "default" if row["model"] == "*" else f"{row['vendor']} {row['model']}"
    click.echo(f"replacement cost of {label}: {rentals.eur(row['cost'])}")


@rentals_group.command("costs")
@json_option
@store_options(existing=True)
def rentals_costs(store: Store, as_json: bool) -> None:
    """List replacement costs per model."""
    rows = rental_terms.costs(store)
    if as_json:
        print_json(rows)
        return
    if not rows:
        click.echo("no replacement costs set (set them with `provisioner rentals set-cost MODEL EUR`)")
    for r in rows:
        label = "default" if r["model"] == "*" else f"{r['vendor']} {r['model']}"
        click.echo(f"{label:<24} {rentals.eur(r['cost'])}")


@rentals_group.command("policy")
@click.option("--window-days", type=int, help="Days after the contract end to return a device.")
@click.option("--charge", type=CHARGE, help="replacement, penalty or both.")
@click.option("--penalty-per-day", metavar="EUR", help="Penalty per day late, in euros.")
@json_option
@store_options
def rentals_policy(
    store: Store, window_days: int | None, charge: str | None, penalty_per_day: str | None, as_json: bool
) -> None:
    """Show or set the provider's default return policy."""
    if window_days is None and charge is None and penalty_per_day is None:
        with store.reading() as tx:
            policy = rental_terms.default_policy(tx)
    else:
        policy = rental_terms.set_default_policy(
            store, actor(), window_days=window_days, charge=charge, penalty_per_day=penalty_per_day
        )
    if as_json:
        print_json(policy.as_dict())
        return
    click.echo(f"default: {policy.describe()}")

"""The vendor redirect services' queries (:mod:`provisioner.redirect`).

The tables are in :mod:`.schema` with the rest (migration ``0007_redirect``) and are re-exported
here for the feature's callers.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from .schema import (
    _as_utc,
    customer_security,
    customers,
    devices,
    redirect_accounts,
    redirect_customer_urls,
    redirect_devices,
    redirect_outbox,
    redirect_settings,
    utcnow,
)

if TYPE_CHECKING:
    from .tx import Tx

__all__ = ["redirect_accounts", "redirect_customer_urls", "redirect_devices", "redirect_outbox", "redirect_settings"]


def _dicts(tx: Tx, query: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in tx.conn.execute(query)]


# --- accounts --------------------------------------------------------------------------------


def accounts(tx: Tx) -> list[dict[str, Any]]:
    rows = _dicts(tx, sa.select(redirect_accounts).order_by(redirect_accounts.c.vendor))
    for row in rows:
        row["broken_at"] = _as_utc(row["broken_at"])
    return rows


def enabled_vendors(tx: Tx) -> set[str]:
    """Vendors whose account is enabled (broken or not: changes are queued either way)."""
    q = sa.select(redirect_accounts.c.vendor).where(redirect_accounts.c.enabled.is_(True))
    return {r[0] for r in tx.conn.execute(q)}


def save_account(tx: Tx, vendor: str, values: Mapping[str, Any]) -> None:
    tx.conn.execute(redirect_accounts.delete().where(redirect_accounts.c.vendor == vendor))
    tx.conn.execute(redirect_accounts.insert().values(vendor=vendor, **values, updated_at=utcnow()))


def update_account(tx: Tx, vendor: str, values: Mapping[str, Any]) -> int:
    q = redirect_accounts.update().where(redirect_accounts.c.vendor == vendor).values(**values, updated_at=utcnow())
    return tx.conn.execute(q).rowcount


# --- settings --------------------------------------------------------------------------------


def setting(tx: Tx, name: str) -> str | None:
    return tx.conn.execute(sa.select(redirect_settings.c.value).where(redirect_settings.c.name == name)).scalar()


def save_setting(tx: Tx, name: str, value: str) -> None:
    tx.conn.execute(redirect_settings.delete().where(redirect_settings.c.name == name))
    tx.conn.execute(redirect_settings.insert().values(name=name, value=value))


def customer_url(tx: Tx, customer_id: int) -> str | None:
    q = sa.select(redirect_customer_urls.c.public_url).where(redirect_customer_urls.c.customer_id == customer_id)
    return tx.conn.execute(q).scalar()


def set_customer_url(tx: Tx, customer_id: int, url: str | None) -> None:
    tx.conn.execute(redirect_customer_urls.delete().where(redirect_customer_urls.c.customer_id == customer_id))
    if url:
        tx.conn.execute(redirect_customer_urls.insert().values(customer_id=customer_id, public_url=url))


def path_key(tx: Tx, customer_id: int) -> str | None:
    q = sa.select(customer_security.c.path_key).where(customer_security.c.customer_id == customer_id)
    return tx.conn.execute(q).scalar()


# --- devices and the outbox ---------------------------------------------------------------------


def _device_rows() -> Any:
    c = devices.c
    return sa.select(
        c.mac,
        c.vendor,
        c.state,
        c.customer_id,
        customers.c.contract_end,
        redirect_devices.c.desired,
        redirect_devices.c.customer_id.label("desired_customer_id"),
    ).select_from(
        devices.outerjoin(redirect_devices, redirect_devices.c.mac == c.mac).outerjoin(
            customers, customers.c.id == c.customer_id
        )
    )


def ended_but_registered(tx: Tx, today: Any) -> list[dict[str, Any]]:
    """Devices registered for a customer whose contract has ended (a termination dated earlier
    whose day has come)."""
    q = _device_rows().where(
        redirect_devices.c.desired == "registered",
        customers.c.contract_end.is_not(None),
        customers.c.contract_end <= today,
    )
    return _dicts(tx, q)


def devices_for(tx: Tx, macs: Sequence[str], vendors: Iterable[str]) -> list[dict[str, Any]]:
    """mac, vendor, state, customer_id of the devices among ``macs`` of ``vendors``, with their
    redirect row's ``desired`` (None: never queued)."""
    vendors = list(vendors)
    out: list[dict[str, Any]] = []
    c = devices.c
    base = _device_rows().where(c.vendor.in_(vendors))
    macs = list(macs)
    for start in range(0, len(macs), 500):
        out += _dicts(tx, base.where(c.mac.in_(macs[start : start + 500])))
    return out


def devices_of(tx: Tx, vendors: Iterable[str], customer_id: int | None = None) -> list[dict[str, Any]]:
    c = devices.c
    q = _device_rows().where(c.vendor.in_(list(vendors))).order_by(c.mac)
    if customer_id is not None:
        q = q.where(c.customer_id == customer_id)
    return _dicts(tx, q)


def enqueue(tx: Tx, rows: Sequence[Mapping[str, Any]]) -> None:
    """Queue changes (mac, vendor, op, customer_id) and set each device's desired state."""
    if not rows:
        return
    now = utcnow()
    tx.conn.execute(
        redirect_outbox.insert(),
        [
            {
                "mac": r["mac"],
                "vendor": r["vendor"],
                "op": r["op"],
                "customer_id": r.get("customer_id"),
                "created_at": now,
                "attempts": 0,
                "next_attempt_at": now,
            }
            for r in rows
        ],
    )
    macs = [r["mac"] for r in rows]
    for start in range(0, len(macs), 500):
        tx.conn.execute(redirect_devices.delete().where(redirect_devices.c.mac.in_(macs[start : start + 500])))
    last = {r["mac"]: r for r in rows}
    tx.conn.execute(
        redirect_devices.insert(),
        [
            {
                "mac": r["mac"],
                "vendor": r["vendor"],
                "desired": "registered" if r["op"] == "register" else "deregistered",
                "customer_id": r.get("customer_id"),
                "state": "pending",
                "updated_at": now,
            }
            for r in last.values()
        ],
    )


def due(tx: Tx, now: datetime, vendors: Sequence[str], limit: int) -> list[dict[str, Any]]:
    """The first undelivered change of each MAC of ``vendors`` that is due and not being delivered,
    oldest first."""
    o = redirect_outbox.c
    heads = sa.select(sa.func.min(o.id).label("id")).group_by(o.mac).subquery()
    q = (
        sa.select(redirect_outbox)
        .join(heads, heads.c.id == o.id)
        .where(
            o.vendor.in_(list(vendors)),
            o.next_attempt_at.is_not(None),
            o.next_attempt_at <= now,
            sa.or_(o.claimed_until.is_(None), o.claimed_until < now),
        )
        .order_by(o.id)
        .limit(limit)
    )
    return _dicts(tx, q)


def claim(tx: Tx, ids: Sequence[int], until: datetime) -> None:
    if ids:
        tx.conn.execute(redirect_outbox.update().where(redirect_outbox.c.id.in_(list(ids))).values(claimed_until=until))


def done(tx: Tx, row_id: int) -> None:
    tx.conn.execute(redirect_outbox.delete().where(redirect_outbox.c.id == row_id))


def update_outbox(tx: Tx, row_id: int, values: Mapping[str, Any]) -> None:
    tx.conn.execute(redirect_outbox.update().where(redirect_outbox.c.id == row_id).values(**values))


def set_device_state(tx: Tx, mac: str, values: Mapping[str, Any]) -> None:
    tx.conn.execute(
        redirect_devices.update().where(redirect_devices.c.mac == mac).values(**values, updated_at=utcnow())
    )


def release_claims(tx: Tx) -> None:
    tx.conn.execute(redirect_outbox.update().values(claimed_until=None))


def retry(tx: Tx, *, macs: Sequence[str] | None = None, vendor: str | None = None) -> int:
    """Make failed and waiting changes due now; how many."""
    o = redirect_outbox.c
    q = redirect_outbox.update().values(next_attempt_at=utcnow(), attempts=0, claimed_until=None)
    if macs is not None:
        q = q.where(o.mac.in_(list(macs)))
    if vendor is not None:
        q = q.where(o.vendor == vendor)
    return tx.conn.execute(q).rowcount


def status(
    tx: Tx, *, mac: str | None = None, customer_id: int | None = None, state: str | None = None
) -> list[dict[str, Any]]:
    """Each device's redirect row with its customer's code, the pending change's attempts, next
    try and last error."""
    d, o = redirect_devices.c, redirect_outbox.c
    pending = (
        sa.select(
            o.mac,
            sa.func.count().label("queued"),
            sa.func.max(o.attempts).label("attempts"),
            sa.func.min(o.next_attempt_at).label("next_attempt_at"),
            sa.func.max(o.last_error).label("last_error"),
        )
        .group_by(o.mac)
        .subquery()
    )
    q = (
        sa.select(
            d.mac,
            d.vendor,
            d.desired,
            d.state,
            d.url,
            d.message,
            d.updated_at,
            customers.c.code.label("customer"),
            pending.c.queued,
            pending.c.attempts,
            pending.c.next_attempt_at,
            pending.c.last_error,
        )
        .select_from(
            redirect_devices.outerjoin(devices, devices.c.mac == d.mac)
            .outerjoin(customers, customers.c.id == devices.c.customer_id)
            .outerjoin(pending, pending.c.mac == d.mac)
        )
        .order_by(d.mac)
    )
    if mac is not None:
        q = q.where(d.mac == mac)
    if customer_id is not None:
        q = q.where(devices.c.customer_id == customer_id)
    if state is not None:
        q = q.where(d.state == state)
    rows = _dicts(tx, q)
    for row in rows:
        row["updated_at"] = _as_utc(row["updated_at"])
        row["next_attempt_at"] = _as_utc(row["next_attempt_at"])
        row["queued"] = row["queued"] or 0
        row["attempts"] = row["attempts"] or 0
    return rows


def outbox_rows(tx: Tx) -> list[dict[str, Any]]:
    return _dicts(tx, sa.select(redirect_outbox).order_by(redirect_outbox.c.id))


def queued(tx: Tx, mac: str) -> int:
    q = sa.select(sa.func.count()).select_from(redirect_outbox).where(redirect_outbox.c.mac == mac)
    return int(tx.conn.execute(q).scalar_one())

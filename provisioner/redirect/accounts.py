"""The provider's accounts at the vendors' redirect services (password sealed, never shown)."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from .. import fields
from ..db import Store
from ..db import redirect as tables
from ..errors import Invalid, NotFound
from . import protocols


def _vendor(name: Any) -> str:
    vendor = str(name or "").strip().lower()
    if vendor in protocols.NOT_SUPPORTED:
        raise Invalid(f"{vendor}: {protocols.NOT_SUPPORTED[vendor]}", field="vendor")
    if vendor not in protocols.PROTOCOLS:
        raise Invalid(f"unknown vendor {name!r}: one of {', '.join(sorted(protocols.PROTOCOLS))}", field="vendor")
    return vendor


def _rpc_url(value: Any) -> str:
    url = str(value or "").strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Invalid("rpc_url must be an http(s) URL such as https://rps.yealink.com/xmlrpc", field="rpc_url")
    if "@" in parts.netloc:
        raise Invalid("rpc_url must not hold credentials: give --username and the password apart", field="rpc_url")
    if len(url) > 400:
        raise Invalid("rpc_url is longer than 400 characters", field="rpc_url")
    return url


def public(row: dict[str, Any]) -> dict[str, Any]:
    """An account as shown anywhere: no password."""
    return {
        "vendor": row["vendor"],
        "rpc_url": row["rpc_url"],
        "username": row["username"],
        "server_name": row["server_name"],
        "enabled": bool(row["enabled"]),
        "broken": row["broken_at"] is not None,
        "broken_at": row["broken_at"],
        "broken_reason": row["broken_reason"],
        "protocol": protocols.PROTOCOLS[row["vendor"]].NAME,
    }


def set_account(
    store: Store, actor: str, vendor: Any, *, rpc_url: Any, username: Any, password: Any, server_name: Any = None
) -> dict[str, Any]:
    """Store (or replace) the account for ``vendor``; it is enabled and no longer broken, and the
    deliveries held for it go out again."""
    name = _vendor(vendor)
    values = {
        "rpc_url": _rpc_url(rpc_url),
        "username": fields.text(username, "username", max_len=128),
        "password": fields.secret(password, "password"),
        "server_name": fields.text(server_name, "server_name", required=False, max_len=128),
        "enabled": True,
        "broken_at": None,
        "broken_reason": None,
    }
    with store.transaction() as tx:
        tables.save_account(tx, name, values)
        tables.retry(tx, vendor=name)
        tx.add_event(
            actor=actor,
            action="redirect.account",
            summary=f"redirect account for {name} set ({values['username']} at {values['rpc_url']})",
            after={
                "vendor": name,
                "rpc_url": values["rpc_url"],
                "username": values["username"],
                "server_name": values["server_name"],
                "password": "changed",
            },
        )
        row = next(a for a in tables.accounts(tx) if a["vendor"] == name)
    return public(row)


def disable(store: Store, actor: str, vendor: Any) -> dict[str, Any]:
    name = str(vendor or "").strip().lower()
    with store.transaction() as tx:
        if not tables.update_account(tx, name, {"enabled": False}):
            raise NotFound(f"no redirect account for {name!r}", field="vendor")
        tx.add_event(
            actor=actor,
            action="redirect.account",
            summary=f"redirect account for {name} disabled",
            after={"vendor": name, "enabled": False},
        )
        row = next(a for a in tables.accounts(tx) if a["vendor"] == name)
    return public(row)


def list_accounts(store: Store) -> list[dict[str, Any]]:
    with store.reading() as tx:
        return [public(a) for a in tables.accounts(tx)]

"""Phone-facing security: each customer's provisioning rules, the download audit, key rotation.

Writes validate first, run in one transaction and append an audit event that never holds a
secret (only whether a password or path key is set). The phone-facing checks themselves are in
:mod:`provisioner.access`; the caches see a change through the event, like any other.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from . import access, fields
from .activity import flag_downloads
from .changes import find_customer, find_device
from .db import Store
from .errors import Invalid
from .sealing import Sealer, SealError, generate_key, write_key_file

MAX_WINDOW_HOURS = 24 * 365
_KEEP = object()


def _view(row: dict[str, Any] | None) -> dict[str, Any]:
    """A customer's rules as staff see them: which secrets are set, never their values."""
    row = row or {}
    return {
        "auth": row.get("auth") or "none",
        "username": row.get("username") if (row.get("auth") or "none") != "none" else None,
        "password_set": bool(row.get("password")),
        "path_key_set": bool(row.get("path_key")),
        "window_hours": row.get("window_hours"),
        "allow": list(row.get("allow") or []),
    }


def warnings(view: dict[str, Any]) -> list[str]:
    """What staff must hear about a customer's rules: a window that is the only rule, or no rule."""
    others = view["auth"] != "none" or view["path_key_set"] or bool(view["allow"])
    if view["window_hours"] is not None and not others:
        return [
            "the first-contact window is the only rule: during it a phone must name its MAC in its User-Agent "
            "(Yealink, Grandstream, Snom 8.x and later) or show its factory certificate over HTTPS "
            "(serve --client-ca); Polycom phones, older Snom and phones on TFTP cannot and are refused "
            "(logged as window-proof), and a stranger who copies a User-Agent can still take the window. "
            "Add --path-key new, --allow CIDR or --auth digest"
        ]
    if view["window_hours"] is None and not others:
        return [
            "no rule: anyone who names one of this customer's MACs gets its SIP passwords (only the scan "
            "defence slows guessing). Add --path-key new (and give phones the URL with the key)"
        ]
    return []


def _revealed(row: dict[str, Any] | None, base_url: str | None) -> dict[str, Any]:
    row = row or {}
    out: dict[str, Any] = {"password": row.get("password"), "path_key": row.get("path_key")}
    if base_url:
        policy = access.Policy.from_row(row)
        # What a phone is given at the factory/redirect stage (no device token yet).
        out["provisioning_url"] = access.provisioning_url(base_url, policy, None)
    return out


def customer_security(store: Store, code: str, *, reveal: bool = False, base_url: str | None = None) -> dict[str, Any]:
    with store.reading() as tx:
        customer = find_customer(tx, code)
        row = tx.customer_security(customer["id"])
    view = {"customer": customer["code"], **_view(row)}
    view["warnings"] = warnings(view)
    if reveal:
        view.update(_revealed(row, base_url))
    return view


def set_customer_security(
    store: Store,
    actor: str,
    code: str,
    *,
    auth: str | None = None,
    username: str | None = None,
    new_password: bool = False,
    password: str | None = None,
    path_key: str | None = None,
    window_hours: Any = _KEEP,
    allow: Sequence[str] | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Change CODE's rules; only what is given changes. ``path_key``: "new" or "none";
    ``window_hours``: hours, or None for no device tokens; ``allow``: CIDR list ([] = anyone).

    Returns the new view plus ``new_secrets``: the password or path key made by this call, shown
    once to whoever asked."""
    values: dict[str, Any] = {}
    made: dict[str, str] = {}
    if auth is not None:
        values["auth"] = fields.choice(auth, access.AUTH_MODES, "auth")
    if username is not None:
        values["username"] = fields.token(username, "username")
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,64}", values["username"]):
            raise Invalid(
                "username may only hold letters, digits, '.', '_' and '-' (it goes into URLs)", field="username"
            )
    if password is not None:
        if not access.valid_secret(password):
            raise Invalid(
                "password must be 22 to 64 characters of letters, digits, '-' and '_' "
                "(it goes into URLs); leave it out to have one made",
                field="password",
            )
        values["password"] = password
    elif new_password:
        values["password"] = made["password"] = access.new_secret()
    if path_key is not None:
        choice = fields.choice(path_key, ("new", "none"), "path_key")
        values["path_key"] = None
        if choice == "new":
            values["path_key"] = made["path_key"] = access.new_secret()
    if window_hours is not _KEEP:
        if window_hours is not None:
            try:
                hours = int(window_hours)
            except (TypeError, ValueError):
                raise Invalid(f"window {window_hours!r} is not a number of hours (or 'off')", field="window") from None
            if not 1 <= hours <= MAX_WINDOW_HOURS:
                raise Invalid(f"window {hours} must be between 1 and {MAX_WINDOW_HOURS} hours", field="window")
            window_hours = hours
        values["window_hours"] = window_hours
    if allow is not None:
        try:
            values["allow"] = access.parse_networks(allow)
        except ValueError as exc:
            raise Invalid(str(exc), field="allow") from None
    with store.transaction() as tx:
        customer = find_customer(tx, code)
        before = tx.customer_security(customer["id"])
        merged = {**(before or {}), **values}
        if merged.get("auth") == "digest":
            if not merged.get("username"):
                values["username"] = merged["username"] = customer["code"]
            if not merged.get("password"):
                values["password"] = merged["password"] = made["password"] = access.new_secret()
        tx.save_customer_security(customer["id"], values)
        after = tx.customer_security(customer["id"])
        assert after is not None  # just saved
        changes = _view(after)
        if after["window_hours"] is not None and (before or {}).get("window_hours") is None:
            # Tokens just turned on: the phones out there have none in their configs yet, so each
            # gets a fresh window to fetch its token with just its MAC.
            changes["windows_opened"] = tx.open_windows(customer_id=customer["id"])
        if "password" in values and before and before.get("password") != values["password"]:
            changes["password_changed"] = True
        if "path_key" in values and before and before.get("path_key") != values["path_key"]:
            changes["path_key_changed"] = True
        tx.add_event(
            actor=actor,
            action="customer.security",
            customer_id=customer["id"],
            summary=f"provisioning security of {customer['code']} changed",
            before=_view(before),
            after=changes,
        )
    view = {"customer": customer["code"], **_view(after), "new_secrets": made}
    view["warnings"] = warnings(view)
    if made and base_url:
        view["provisioning_url"] = _revealed(after, base_url)["provisioning_url"]
    return view


# --- the download audit ------------------------------------------------------------------


def reopen_window(store: Store, actor: str, mac: str) -> dict[str, Any]:
    """Give a device a new first-contact window and a new token (a phone reset to factory settings
    has lost its token); its customer's window length applies."""
    with store.transaction() as tx:
        device = find_device(tx, mac)
        if device["customer_id"] is None:
            raise Invalid(f"device {device['mac']} has no customer", field="mac")
        rules = tx.customer_security(device["customer_id"])
        if not rules or rules.get("window_hours") is None:
            customer = tx.customer_by_id(device["customer_id"])
            assert customer is not None  # the device's own customer
            raise Invalid(
                f"customer {customer['code']} does not use device tokens "
                f"(`provisioner customer security {customer['code']} --window HOURS`)",
                field="mac",
            )
        tx.open_windows(device_id=device["id"])
        tx.add_event(
            actor=actor,
            action="device.window_opened",
            device_mac=device["mac"],
            summary=f"device {device['mac']} may fetch with its MAC for {rules['window_hours']} h (new token)",
            after={"window_hours": rules["window_hours"]},
        )
    return {"mac": device["mac"], "window_hours": rules["window_hours"]}


def device_downloads(store: Store, mac: str) -> list[dict[str, Any]]:
    with store.reading() as tx:
        device = find_device(tx, mac, lock=False)
        rows = tx.downloads_of_device(device["mac"])
    return [
        {
            "at": r["at"],
            "file": r["file"],
            "ip": r["ip"],
            "user_agent": r["user_agent"],
            "transport": r["transport"],
            # Repeats of one fetch are one row: how many, and the last one's time (when more than one).
            "count": r["count"],
            "last_at": (r["last_at"] or r["at"]) if r["count"] > 1 else None,
            "flagged": r["flagged"],
        }
        for r in flag_downloads(rows)
    ]


# --- keys -----------------------------------------------------------------------------------


def rotate_key(store: Store, actor: str) -> dict[str, Any]:
    """Seal every secret again under a new key.

    With the key file: a new key is written first next to the old one (both open values), every
    sealed value is re-sealed under the new key in one transaction, then the old key is dropped
    from the file. With ``PROVISIONER_SECRET_KEY``: the operator lists the new key first and the
    old one after it; this re-seals everything under the first, after which the old can go.
    """
    sealer: Sealer = store.sealer
    old_keys = list(sealer.keys)
    if sealer.source is not None:
        new_key = generate_key().encode("ascii")
        write_key_file(sealer.source, [new_key, *old_keys])
        sealer._set([new_key, *old_keys])
    elif len(old_keys) < 2:
        raise Invalid(
            "PROVISIONER_SECRET_KEY holds one key: put a new key first, then the current one "
            "(NEW,OLD; make one with `provisioner secrets generate`), and run this again",
            field="key",
        )
    try:
        with store.transaction() as tx:
            count = tx.reseal_all(sealer.reseal)
            tx.add_event(
                actor=actor,
                action="secrets.rotated",
                summary=f"{count} sealed values re-sealed under a new key",
                after={"values": count},
            )
    except SealError:
        raise Invalid("a sealed value cannot be opened with the keys given: nothing was changed", field="key") from None
    if sealer.source is not None:
        write_key_file(sealer.source, [sealer.keys[0]])
        sealer._set([sealer.keys[0]])
    return {"values": count, "key_file": str(sealer.source) if sealer.source else None, "at": datetime.now(UTC)}

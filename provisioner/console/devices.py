"""The device page and its actions: reassign, unassign, swap, return, charge; claiming an unknown phone.

The files shown are rendered for the page with every SIP password replaced by
:data:`MASK` *before* rendering: the real password never reaches the browser,
and what is shown is otherwise byte for byte what the phone gets.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
from typing import Any

from aiohttp import web

from .. import access, keys, rental_services, rentals, services, vendors
from ..cache import ConfigCache
from ..errors import Conflict, Invalid, NotFound
from ..rendering import RenderError, device_context
from ..store import Store
from ..sip import resync as sip_resync
from ..vendors import FileKind
from . import PREFIX, acting, call, done, form, page, store, viewer
from .redirects import redirect_state

routes = web.RouteTableDef()

MASK = "********"
# Per-phone settings that hold a secret: by name (Yealink static.security.user_password, Polycom
# device.auth.localAdminPassword, Snom http_pass, ...) or by Grandstream code (P2 admin, P196 user password).
_SECRET_SETTING = re.compile(r"pass|pwd|secret|token|credential", re.IGNORECASE)
_SECRET_CODES = frozenset({"P2", "P196"})


def _masked_settings(settings: dict[str, str]) -> dict[str, str]:
    return {k: MASK if (_SECRET_SETTING.search(k) or k.upper() in _SECRET_CODES) and v else v
            for k, v in settings.items()}
_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")
_ESCAPE = re.compile(r"\\(.)")


def _fill(pattern: str, values: dict[str, str]) -> str:
    """A regular expression's named groups replaced by values, escapes undone: a file name it matches."""
    out, i = [], 0
    while (m := _GROUP.search(pattern, i)) is not None:
        out.append(pattern[i:m.start()])
        depth, j = 1, m.end()
        while depth and j < len(pattern):
            if pattern[j] == "\\":
                j += 2
                continue
            depth += {"(": 1, ")": -1}.get(pattern[j], 0)
            j += 1
        out.append(values.get(m.group("name"), ""))
        i = j
    out.append(pattern[i:])
    return _ESCAPE.sub(r"\1", "".join(out))


def file_name(spec: vendors.ConfigFile, mac: str, model: str) -> str:
    for candidate in (mac.lower(), mac.upper()):
        name = _fill(spec.pattern, {"mac": candidate, "model": model})
        if spec.match(name):
            return name
    return spec.template or spec.pattern


def masked_files(db: Store, cache: ConfigCache, mac: str) -> list[dict[str, Any]]:
    """Each per-device file of MAC as its phone gets it, every SIP password (and every setting that
    holds a secret) replaced by MASK before rendering."""
    with db.reading() as tx:
        data = services.device_data(tx, mac, ntp_server=cache.ntp_server)
    if data is None:
        return []
    masked = dataclasses.replace(data, accounts=tuple(dataclasses.replace(a, password=MASK) for a in data.accounts),
                                 settings=_masked_settings(dict(data.settings)),
                                 admin_password=data.admin_password and MASK)
    vendor = vendors.get(data.vendor)
    # The URL the phone's files carry, its path key, token and provisioning password masked too.
    policy = data.policy and dataclasses.replace(data.policy, password=data.policy.password and MASK,
                                                 path_key=data.policy.path_key and MASK)
    url = access.device_url(cache.provisioning_url, policy, MASK, deprovisioned=data.deprovisioned)
    files = []
    for spec in vendor.files:
        if spec.kind is not FileKind.DEVICE or spec.template is None:
            continue
        entry: dict[str, Any] = {"name": file_name(spec, data.mac, data.model), "template": spec.template,
                                 "body": "", "error": None}
        try:
            context = device_context(vendor, masked, url)
            entry["body"] = cache.renderer.render(vendor.name, spec.template, context, spec.xml).decode("utf-8")
        except RenderError as exc:
            entry["error"] = str(exc)
        files.append(entry)
    return files


def device_page_data(db: Store, cache: ConfigCache, mac: str) -> dict[str, Any]:
    device = services.show_device(db, mac)
    canonical = device["mac"]
    with db.reading() as tx:
        customers = [{"code": r["code"], "name": r["name"]} for r in tx.list_customers()]
        free_lines: list[dict[str, Any]] = []
        if device["customer"]:
            row = tx.customer_by_code(device["customer"]["code"])
            for line in tx.lines_of_customer(row["id"]) if row else []:
                holder = tx.device_of_line(line["id"])
                if holder is None:
                    free_lines.append({"extension": line["extension"], "display_name": line["display_name"]})
    device["history"] = list(reversed(device["history"]))
    state = device["state"]
    rental = device["ownership"] == rentals.RENTAL
    return {
        "device": device,
        "files": masked_files(db, cache, canonical),
        "customers": customers,
        "free_lines": free_lines,
        "can_state": {
            "assign": state in rentals.TRANSITIONS["assign"],
            "unassign": state == rentals.DEPLOYED and device["customer"] is not None,
            "swap": state == rentals.DEPLOYED and device["customer"] is not None,
            "return": rental and state in rentals.TRANSITIONS["return"],
            "charge": rental and state in rentals.TRANSITIONS["charge"],
        },
        "models": {v.name: sorted(v.models) for v in vendors.all_vendors()},
        "today": rentals.today(),
    }


def _device_url(mac: str) -> str:
    return f"{PREFIX}/devices/{mac}"


@routes.get(PREFIX + "/devices/{mac}")
async def device(request: web.Request) -> web.Response:
    await viewer(request)
    mac = services.mac(request.match_info["mac"])
    data = await asyncio.to_thread(device_page_data, store(request), request.app[keys.CACHE], mac)
    data["redirect"] = await asyncio.to_thread(redirect_state, store(request), mac)
    return page(request, "device.html", {"title": f"Device {data['device']['mac']}", **data})


def _extensions(value: Any) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", str(value or "")) if part]


async def _action(request: web.Request, permission: str, run: Any, *, back: str | None = None) -> web.Response:
    """Check the form (permission, CSRF), run the change, and go back to the page saying what was done."""
    data = await form(request)
    user = await acting(request, permission, data)
    mac = services.mac(request.match_info["mac"])
    target = back or _device_url(mac)
    try:
        message, target = await run(user, mac, data, target)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, target, f"Nothing was changed: {exc.message}", "error")
    return done(request, target, message)


@routes.post(PREFIX + "/devices/{mac}/assign")
async def assign(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        after = await call(request, rental_services.assign, store(request), user.actor, mac,
                           data.get("customer"), _extensions(data.get("lines")))
        lines = ", ".join(after["lines"]) or "no lines"
        return f"Device {mac} assigned to {after['customer']} with {lines}.", target

    return await _action(request, "devices.assign", run)


@routes.post(PREFIX + "/devices/{mac}/unassign")
async def unassign(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        after = await call(request, rental_services.unassign, store(request), user.actor, mac, on=data.get("on"))
        deadline = after.get("return_deadline")
        return (f"Device {mac} unassigned: its lines are off"
                + (f"; return due by {deadline.isoformat()}." if deadline else ".")), target

    return await _action(request, "devices.assign", run)


@routes.post(PREFIX + "/devices/{mac}/swap")
async def swap(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        result = await call(request, rental_services.swap, store(request), user.actor, mac, data.get("new_mac"),
                            model=data.get("model") or None, serial=data.get("serial") or None,
                            on=data.get("on") or None)
        new = result["new"]
        lines = ", ".join(new["lines"]) or "none"
        deadline = result["return_deadline"]
        message = (f"Swapped {mac} for {new['mac']} ({new['model']}{', new' if result['created'] else ''}) "
                   f"at {new['customer']}: lines {lines} moved"
                   + (f"; {mac} is due back by {deadline.isoformat()}." if deadline else "."))
        return message, _device_url(new["mac"])

    return await _action(request, "devices.swap", run)


@routes.post(PREFIX + "/devices/{mac}/return")
async def return_device(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        result = await call(request, rental_services.return_device, store(request), user.actor, mac,
                            on=data.get("on") or None, condition=data.get("condition") or "ok")
        late = f", {result['days_late']} days late (penalty {rentals.eur(result['late_penalty'])})" \
            if result["days_late"] else ""
        return (f"Return of {mac} recorded on {result['returned_on']} from {result['from_customer'] or '-'} "
                f"({result['condition']}): now {result['state']}{late}."), target

    return await _action(request, "returns", run)


@routes.post(PREFIX + "/devices/{mac}/charge")
async def charge(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        result = await call(request, rental_services.charge, store(request), user.actor, mac,
                            amount=data.get("amount") or None, on=data.get("on") or None)
        return (f"{result['customer']} charged {rentals.eur(result['amount'])} for {mac} "
                f"(total {rentals.eur(result['total_charged'])}, {result['days_late']} days late)."), target

    return await _action(request, "returns", run)


@routes.post(PREFIX + "/unknown/{mac}/claim")
async def claim(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        row = await call(request, services.claim_unknown, store(request), user.actor, mac,
                         model_=data.get("model") or None, customer=data.get("customer") or None,
                         lines=_extensions(data.get("lines")), serial=data.get("serial") or None,
                         ownership=data.get("ownership") or "rental")
        where = f"for {data.get('customer')}" if data.get("customer") else "in stock"
        return f"Device {row['mac']} ({row['model']}) claimed {where}.", _device_url(row["mac"])

    return await _action(request, "devices.assign", run, back=PREFIX + "/")


@routes.post(PREFIX + "/devices/{mac}/resync")
async def resync_device(request: web.Request) -> web.Response:
    """Send the phone its NOTIFY now; the flash says what the phone answered."""
    data = await form(request)
    await acting(request, "devices.assign", data)
    mac = services.mac(request.match_info["mac"])
    try:
        target = await asyncio.to_thread(sip_resync.target_of, store(request), mac,
                                         to=data.get("to") or None, reboot=bool(data.get("reboot")))
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, _device_url(mac), f"Nothing was sent: {exc.message}", "error")
    outcome = await sip_resync.resync(target)
    if outcome.ok:
        return done(request, _device_url(mac), f"Resync sent to {mac}: {outcome.describe()}.")
    return done(request, _device_url(mac), f"Resync of {mac} failed: {outcome.describe()}.", "error")

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

from .. import access, fields, keys, render_data, rental_services, rentals, security_services, services, vendors
from ..cache import ConfigCache
from ..db import Store
from ..errors import Conflict, Invalid, NotFound
from ..rendering import RenderError, device_context
from ..sip import resync as sip_resync
from ..vendors import FileKind
from . import PREFIX, acting, call, done, form, page, say, store, viewer
from .redirects import redirect_state

routes = web.RouteTableDef()

MASK = "********"
# Per-phone settings that hold a secret: by name (Yealink static.security.user_password, Polycom
# device.auth.localAdminPassword, Snom http_pass, ...) or by Grandstream code (P2 admin, P196 user password).
_SECRET_SETTING = re.compile(r"pass|pwd|secret|token|credential", re.IGNORECASE)
_SECRET_CODES = frozenset({"P2", "P196"})


def _masked_settings(settings: dict[str, str]) -> dict[str, str]:
    return {
        k: MASK if (_SECRET_SETTING.search(k) or k.upper() in _SECRET_CODES) and v else v for k, v in settings.items()
    }


_GROUP = re.compile(r"\(\?P<(?P<name>\w+)>")
_ESCAPE = re.compile(r"\\(.)")


def _fill(pattern: str, values: dict[str, str]) -> str:
    """A regular expression's named groups replaced by values, escapes undone: a file name it matches."""
    out, i = [], 0
    while (m := _GROUP.search(pattern, i)) is not None:
        out.append(pattern[i : m.start()])
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
        data = render_data.device_data(tx, mac, ntp_server=cache.ntp_server)
    if data is None:
        return []
    masked = dataclasses.replace(
        data,
        accounts=tuple(dataclasses.replace(a, password=MASK) for a in data.accounts),
        settings=_masked_settings(dict(data.settings)),
        admin_password=data.admin_password and MASK,
    )
    vendor = vendors.get(data.vendor)
    # The URL the phone's files carry, its path key, token and provisioning password masked too.
    policy = data.policy and dataclasses.replace(
        data.policy, password=data.policy.password and MASK, path_key=data.policy.path_key and MASK
    )
    url = access.device_url(cache.provisioning_url, policy, MASK, deprovisioned=data.deprovisioned)
    files = []
    for spec in vendor.files:
        if spec.kind is not FileKind.DEVICE or spec.template is None:
            continue
        entry: dict[str, Any] = {
            "name": file_name(spec, data.mac, data.model),
            "template": spec.template,
            "body": "",
            "error": None,
        }
        try:
            context = device_context(vendor, masked, url)
            entry["body"] = cache.renderer.render(vendor.name, spec.template, context, spec.xml).decode("utf-8")
        except RenderError as exc:
            entry["error"] = str(exc)
        files.append(entry)
    return files


DOWNLOAD_ROWS = 50  # the device page's latest downloads; `provisioner device downloads MAC` has them all


def device_page_data(db: Store, cache: ConfigCache, mac: str) -> dict[str, Any]:
    device = services.show_device(db, mac)
    canonical = device["mac"]
    with db.reading() as tx:
        # Offer what is allowed: a customer whose contract has ended cannot take devices.
        customers = [
            {"code": r["code"], "name": r["name"]}
            for r in tx.list_customers()
            if not rentals.contract_ended(r["contract_end"], rentals.today())
        ]
        free_lines: list[dict[str, Any]] = []
        if device["customer"]:
            row = tx.customer_by_code(device["customer"]["code"])
            for line in tx.lines_of_customer(row["id"]) if row else []:
                holder = tx.device_of_line(line["id"])
                if holder is None:
                    free_lines.append({"extension": line["extension"], "display_name": line["display_name"]})
    device["history"] = list(reversed(device["history"]))
    # Its config downloads, newest first (repeats of one fetch are one row with a count).
    device["download_rows"] = security_services.device_downloads(db, canonical)[::-1][:DOWNLOAD_ROWS]
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
            # elsewhere in one step: its return recorded, then assigned (a customer's own phone stays theirs)
            "move": rental and state == rentals.DEPLOYED and device["customer"] is not None,
        },
        "move_targets": [c for c in customers if not device["customer"] or c["code"] != device["customer"]["code"]],
        "settings_text": "\n".join(
            f"{k} = {v}" for k, v in _masked_settings(dict(device.get("settings") or {})).items()
        ),
        "models": {v.name: sorted(v.models) for v in vendors.all_vendors()},
        "today": rentals.today(),
    }


def _device_url(mac: str) -> str:
    return f"{PREFIX}/devices/{mac}"


@routes.get(PREFIX + "/devices/{mac}")
async def device(request: web.Request) -> web.Response:
    await viewer(request)
    mac = fields.mac(request.match_info["mac"])
    data = await asyncio.to_thread(device_page_data, store(request), request.config_dict[keys.CACHE], mac)
    data["redirect"] = await asyncio.to_thread(redirect_state, store(request), mac)
    return page(request, "device.html", {"title": f"Device {data['device']['mac']}", **data})


def _extensions(value: Any) -> list[str]:
    return [part for part in re.split(r"[\s,;]+", str(value or "")) if part]


async def _action(request: web.Request, permission: str, run: Any, *, back: str | None = None) -> web.Response:
    """Check the form (permission, CSRF), run the change, and go back to the page saying what was done."""
    data = await form(request)
    user = await acting(request, permission, data)
    mac = fields.mac(request.match_info["mac"])
    target = back or _device_url(mac)
    try:
        message, target = await run(user, mac, data, target)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, target, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(request, target, message)


@routes.post(PREFIX + "/devices/{mac}/assign")
async def assign(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        after = await call(
            request,
            rental_services.assign,
            store(request),
            user.actor,
            mac,
            data.get("customer"),
            _extensions(data.get("lines")),
        )
        if not after["lines"]:
            return say(
                request, "Device {mac} assigned to {customer} with no lines.", mac=mac, customer=after["customer"]
            ), target
        return say(
            request,
            "Device {mac} assigned to {customer} with {lines}.",
            mac=mac,
            customer=after["customer"],
            lines=", ".join(after["lines"]),
        ), target

    return await _action(request, "devices.assign", run)


@routes.post(PREFIX + "/devices/{mac}/move")
async def move(request: web.Request) -> web.Response:
    """A rented phone deployed at one customer goes to another, confirmed once: its lines taken off,
    its return recorded (with the condition asked) and the new assignment, in one transaction
    (:func:`provisioner.rental_services.move`): a refused step changes nothing."""
    data = await form(request)
    user = await acting(request, "devices.assign", data)
    await acting(request, "returns", data)
    mac = fields.mac(request.match_info["mac"])
    try:
        result = await call(
            request,
            rental_services.move,
            store(request),
            user.actor,
            mac,
            data.get("customer"),
            _extensions(data.get("lines")),
            condition=data.get("condition") or "ok",
        )
    except (Invalid, NotFound, Conflict) as exc:
        return done(
            request, _device_url(mac), say(request, "Nothing was changed: {reason}", reason=exc.message), "error"
        )
    after = result["assigned"]
    return done(
        request,
        _device_url(mac),
        say(
            request,
            "Device {mac} came back from {old} and is now at {customer} with {lines}.",
            mac=mac,
            old=result["returned"]["from_customer"],
            customer=after["customer"],
            lines=", ".join(after["lines"]) or "-",
        ),
    )


@routes.post(PREFIX + "/devices/{mac}/unassign")
async def unassign(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        after = await call(request, rental_services.unassign, store(request), user.actor, mac, on=data.get("on"))
        deadline = after.get("return_deadline")
        if deadline:
            return say(
                request,
                "Device {mac} unassigned: its lines are off; return due by {day}.",
                mac=mac,
                day=deadline.isoformat(),
            ), target
        return say(request, "Device {mac} unassigned: its lines are off.", mac=mac), target

    return await _action(request, "devices.assign", run)


@routes.post(PREFIX + "/devices/{mac}/swap")
async def swap(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        result = await call(
            request,
            rental_services.swap,
            store(request),
            user.actor,
            mac,
            data.get("new_mac"),
            model=data.get("model") or None,
            serial=data.get("serial") or None,
            on=data.get("on") or None,
        )
        new = result["new"]
        lines = ", ".join(new["lines"]) or "-"
        deadline = result["return_deadline"]
        message = say(
            request,
            "Swapped {old} for {new} ({model}, new) at {customer}: lines {lines} moved."
            if result["created"]
            else "Swapped {old} for {new} ({model}) at {customer}: lines {lines} moved.",
            old=mac,
            new=new["mac"],
            model=new["model"],
            customer=new["customer"],
            lines=lines,
        )
        if deadline:
            message += " " + say(request, "{mac} is due back by {day}.", mac=mac, day=deadline.isoformat())
        return message, _device_url(new["mac"])

    return await _action(request, "devices.swap", run)


@routes.post(PREFIX + "/devices/{mac}/return")
async def return_device(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        result = await call(
            request,
            rental_services.return_device,
            store(request),
            user.actor,
            mac,
            on=data.get("on") or None,
            condition=data.get("condition") or "ok",
        )
        return _returned(request, mac, result), target

    return await _action(request, "returns", run)


def _returned(request: web.Request, mac: str, result: dict[str, Any]) -> str:
    condition = say(request, "condition " + str(result["condition"]))
    state = say(request, str(result["state"]).replace("_", " "))
    message = say(
        request,
        "Return of {mac} recorded on {day} from {customer} ({condition}): now {state}.",
        mac=mac,
        day=result["returned_on"],
        customer=result["from_customer"] or "-",
        condition=condition,
        state=state,
    )
    if result["days_late"]:
        message += " " + say(
            request,
            "It came back {days} days late (penalty {amount}).",
            days=result["days_late"],
            amount=rentals.eur(result["late_penalty"]),
        )
    return message


@routes.post(PREFIX + "/devices/{mac}/charge")
async def charge(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        result = await call(
            request,
            rental_services.charge,
            store(request),
            user.actor,
            mac,
            amount=data.get("amount") or None,
            on=data.get("on") or None,
        )
        return say(
            request,
            "{customer} charged {amount} for {mac} (total {total}, {days} days late).",
            customer=result["customer"],
            amount=rentals.eur(result["amount"]),
            mac=mac,
            total=rentals.eur(result["total_charged"]),
            days=result["days_late"],
        ), target

    return await _action(request, "returns", run)


@routes.post(PREFIX + "/unknown/{mac}/claim")
async def claim(request: web.Request) -> web.Response:
    async def run(user, mac, data, target):  # type: ignore[no-untyped-def]
        row = await call(
            request,
            services.claim_unknown,
            store(request),
            user.actor,
            mac,
            model=data.get("model") or None,
            customer=data.get("customer") or None,
            lines=_extensions(data.get("lines")),
            serial=data.get("serial") or None,
            ownership=data.get("ownership") or "rental",
        )
        if data.get("customer"):
            message = say(
                request,
                "Device {mac} ({model}) claimed for {customer}.",
                mac=row["mac"],
                model=row["model"],
                customer=data["customer"],
            )
        else:
            message = say(request, "Device {mac} ({model}) claimed into stock.", mac=row["mac"], model=row["model"])
        return message, _device_url(row["mac"])

    return await _action(request, "devices.assign", run, back=PREFIX + "/")


@routes.post(PREFIX + "/devices/{mac}/resync")
async def resync_device(request: web.Request) -> web.Response:
    """Send the phone its NOTIFY now; the flash says what the phone answered."""
    data = await form(request)
    await acting(request, "devices.assign", data)
    mac = fields.mac(request.match_info["mac"])
    try:
        target = await asyncio.to_thread(
            sip_resync.target_of, store(request), mac, to=data.get("to") or None, reboot=bool(data.get("reboot"))
        )
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, _device_url(mac), say(request, "Nothing was sent: {reason}", reason=exc.message), "error")
    outcome = await sip_resync.resync(target)
    if outcome.ok:
        return done(
            request,
            _device_url(mac),
            say(request, "Resync sent to {mac}: {answer}.", mac=mac, answer=outcome.describe()),
        )
    return done(
        request,
        _device_url(mac),
        say(request, "Resync of {mac} failed: {answer}.", mac=mac, answer=outcome.describe()),
        "error",
    )

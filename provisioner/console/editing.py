"""Create and edit from the console: customers, lines (password set or generated, never shown),
devices, per-phone settings and a customer's return terms. Each form calls one service."""

from __future__ import annotations

import re
import secrets
from typing import Any

from aiohttp import web

from .. import fields, rental_terms, services
from ..errors import Conflict, Invalid, NotFound
from . import PREFIX, acting, call, done, form, say, store
from .devices import MASK, _extensions

routes = web.RouteTableDef()

GENERATED_PASSWORD_BYTES = 15  # 20 characters a phone accepts in every vendor's format


def _customer_url(code: str) -> str:
    return f"{PREFIX}/customers/{code}"


async def _change(request: web.Request, permission: str, back: str, run: Any) -> web.Response:
    data = await form(request)
    user = await acting(request, permission, data)
    try:
        message, target = await run(user, data)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, back, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(request, target, message)


def _given(data: dict[str, Any], *names: str) -> dict[str, Any]:
    return {n: data[n] for n in names if data.get(n) not in (None, "")}


@routes.post(PREFIX + "/customers")
async def add_customer(request: web.Request) -> web.Response:
    async def run(user, data):  # type: ignore[no-untyped-def]
        row = await call(
            request,
            services.add_customer,
            store(request),
            user.actor,
            data.get("code", ""),
            path_key="new",
            **_given(data, "name", "sip_server", "sip_port", "sip_transport", "timezone", "language"),
        )
        return say(request, "Customer {code} ({name}) added.", code=row["code"], name=row["name"]), _customer_url(
            row["code"]
        )

    return await _change(request, "customers.write", PREFIX + "/customers", run)


@routes.post(PREFIX + "/customers/{code}/edit")
async def edit_customer(request: web.Request) -> web.Response:
    code = request.match_info["code"]

    async def run(user, data):  # type: ignore[no-untyped-def]
        row = await call(
            request,
            services.update_customer,
            store(request),
            user.actor,
            code,
            **_given(data, "name", "sip_server", "sip_port", "sip_transport", "timezone", "language"),
        )
        return say(request, "Customer {code} saved.", code=row["code"]), _customer_url(row["code"])

    return await _change(request, "customers.write", _customer_url(code), run)


@routes.post(PREFIX + "/customers/{code}/policy")
async def edit_policy(request: web.Request) -> web.Response:
    code = request.match_info["code"]

    async def run(user, data):  # type: ignore[no-untyped-def]
        after = await call(
            request,
            rental_terms.set_customer_policy,
            store(request),
            user.actor,
            code,
            reset=bool(data.get("reset")),
            **_given(data, "window_days", "charge", "penalty_per_day"),
        )
        return say(request, "Return terms of {code}: {terms}.", code=code, terms=after["description"]), _customer_url(
            code
        )

    return await _change(request, "customers.write", _customer_url(code), run)


def _password(data: dict[str, Any], *, required: bool) -> str | None:
    """The typed password, or a new random one when asked; it is never shown back."""
    if data.get("generate"):
        return secrets.token_urlsafe(GENERATED_PASSWORD_BYTES)
    typed = data.get("password") or None
    if typed is None and required:
        raise Invalid("type a SIP password or tick 'generate one'", field="password")
    return typed


@routes.post(PREFIX + "/customers/{code}/lines")
async def add_line(request: web.Request) -> web.Response:
    code = request.match_info["code"]

    async def run(user, data):  # type: ignore[no-untyped-def]
        row = await call(
            request,
            services.add_line,
            store(request),
            user.actor,
            code,
            data.get("extension", ""),
            password=_password(data, required=True),
            **_given(data, "display_name", "label", "sip_username", "auth_id"),
        )
        return say(
            request, "Line {ext} of {code} added; its password is set and not shown.", ext=row["extension"], code=code
        ), _customer_url(code) + "#customer-lines"

    return await _change(request, "customers.write", _customer_url(code), run)


@routes.post(PREFIX + "/customers/{code}/lines/{ext}")
async def edit_line(request: web.Request) -> web.Response:
    code, ext = request.match_info["code"], request.match_info["ext"]

    async def run(user, data):  # type: ignore[no-untyped-def]
        password = _password(data, required=False)
        await call(
            request,
            services.update_line,
            store(request),
            user.actor,
            code,
            ext,
            password=password,
            display_name=data.get("display_name") or None,
            label=data.get("label", None),
        )
        if password:
            return say(
                request, "Line {ext} of {code} saved with a new password (not shown).", ext=ext, code=code
            ), _customer_url(code) + "#customer-lines"
        return say(request, "Line {ext} of {code} saved.", ext=ext, code=code), _customer_url(code) + "#customer-lines"

    return await _change(request, "customers.write", _customer_url(code), run)


@routes.post(PREFIX + "/customers/{code}/devices")
async def add_device(request: web.Request) -> web.Response:
    code = request.match_info["code"]

    async def run(user, data):  # type: ignore[no-untyped-def]
        row = await call(
            request,
            services.add_device,
            store(request),
            user.actor,
            data.get("mac", ""),
            model=data.get("model", ""),
            customer=code,
            lines=_extensions(data.get("lines")),
            serial=data.get("serial") or None,
            ownership=data.get("ownership") or "rental",
        )
        return say(
            request, "Device {mac} ({model}) added to {code}.", mac=row["mac"], model=row["model"], code=code
        ), f"{PREFIX}/devices/{row['mac']}"

    return await _change(request, "devices.assign", _customer_url(code), run)


_SETTING_LINE = re.compile(r"^\s*([^=\s]+)\s*=\s?(.*?)\s*$")


def parse_settings(text: str, current: dict[str, str]) -> dict[str, str]:
    """``name = value`` per line; a masked secret left as it was keeps its stored value."""
    out: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _SETTING_LINE.match(line)
        if m is None:
            raise Invalid(f"settings line {number} must read 'name = value'", field="settings")
        name, value = m.groups()
        out[name] = current.get(name, "") if value == MASK else value
    return out


@routes.post(PREFIX + "/devices/{mac}/settings")
async def edit_settings(request: web.Request) -> web.Response:
    mac = fields.mac(request.match_info["mac"])
    back = f"{PREFIX}/devices/{mac}"

    async def run(user, data):  # type: ignore[no-untyped-def]
        def save() -> dict[str, Any]:
            current = services.show_device(store(request), mac).get("settings") or {}
            return services.set_device_settings(
                store(request), user.actor, mac, parse_settings(data.get("settings", ""), current), replace=True
            )

        row = await call(request, save)
        return say(request, "Settings of {mac} saved: {n} setting(s).", mac=mac, n=len(row["settings"] or {})), back

    return await _change(request, "devices.assign", back, run)

"""Programmable keys in the console: a customer's key profile (every phone of the customer gets it)
and a device's own keys laid over it. List, set a key (position, type, value, label, line), remove
one. Each form calls one service of :mod:`provisioner.function_keys`; a refused key comes back as
the same page with the reason next to the field at fault, and nothing changed."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .. import fields, function_keys, macs, services
from ..errors import Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, say, store, viewer

routes = web.RouteTableDef()

KEY_FORM = ("module", "position", "type", "value", "label", "line")


def _customer_data(db: Any, code: str) -> dict[str, Any]:
    customer = services.get_customer(db, code)
    return {
        "owner": {"kind": "customer", "code": customer["code"], "name": customer["name"]},
        "keys": function_keys.customer_keys(db, customer["code"]),
    }


def _device_data(db: Any, mac: str) -> dict[str, Any]:
    keys = function_keys.device_keys(db, mac)
    return {"owner": {"kind": "device", "mac": macs.parse_mac(mac)}, "keys": keys}


async def _show(
    request: web.Request,
    owner: str,
    data: dict[str, Any],
    given: dict[str, Any] | None = None,
    error: Invalid | NotFound | None = None,
) -> web.Response:
    title = (
        say(request, "Key profile of {code}", code=owner)
        if data["owner"]["kind"] == "customer"
        else say(request, "Keys of {mac}", mac=owner)
    )
    return page(
        request,
        "keys.html",
        {
            "title": title,
            **data,
            "types": fields.KEY_TYPES,
            "given": given or {},
            "error": None if error is None else {"field": error.field or "type", "message": error.message},
        },
        status=200 if error is None else 400,
    )


def _base(kind: str, owner: str) -> str:
    return f"{PREFIX}/customers/{owner}/keys" if kind == "customer" else f"{PREFIX}/devices/{owner}/keys"


@routes.get(PREFIX + "/customers/{code}/keys")
async def customer_keys(request: web.Request) -> web.Response:
    await viewer(request)
    data = await asyncio.to_thread(_customer_data, store(request), request.match_info["code"])
    return await _show(request, data["owner"]["code"], data)


@routes.get(PREFIX + "/devices/{mac}/keys")
async def device_keys(request: web.Request) -> web.Response:
    await viewer(request)
    data = await asyncio.to_thread(_device_data, store(request), request.match_info["mac"])
    return await _show(request, data["owner"]["mac"], data)


async def _set(request: web.Request, kind: str) -> web.Response:
    owner = request.match_info["code" if kind == "customer" else "mac"]
    data = await form(request)
    user = await acting(request, "customers.write" if kind == "customer" else "devices.write", data)
    given = {k: data.get(k, "") for k in KEY_FORM}
    service = function_keys.set_customer_key if kind == "customer" else function_keys.set_device_key
    try:
        key = await call(
            request,
            service,
            store(request),
            user.actor,
            owner,
            given["position"],
            **{k: given[k] for k in ("module", "type", "value", "label", "line") if given[k] != ""},
        )
    except Invalid as exc:
        loader = _customer_data if kind == "customer" else _device_data
        shown = await asyncio.to_thread(loader, store(request), owner)
        return await _show(request, owner, shown, given, exc)
    except NotFound as exc:
        return done(
            request, _base(kind, owner), say(request, "Nothing was changed: {reason}", reason=exc.message), "error"
        )
    return done(
        request,
        _base(kind, owner),
        say(
            request, "Key {position} is now {type}.", position=key["position"], type=say(request, "key " + key["type"])
        ),
    )


async def _remove(request: web.Request, kind: str) -> web.Response:
    owner = request.match_info["code" if kind == "customer" else "mac"]
    data = await form(request)
    user = await acting(request, "customers.write" if kind == "customer" else "devices.write", data)
    module, position = int(request.match_info["module"]), int(request.match_info["position"])
    service = function_keys.remove_customer_key if kind == "customer" else function_keys.remove_device_key
    try:
        await call(request, service, store(request), user.actor, owner, position, module)
    except (Invalid, NotFound) as exc:
        return done(
            request, _base(kind, owner), say(request, "Nothing was changed: {reason}", reason=exc.message), "error"
        )
    return done(request, _base(kind, owner), say(request, "Key {position} removed.", position=position))


@routes.post(PREFIX + "/customers/{code}/keys")
async def set_customer_key(request: web.Request) -> web.Response:
    return await _set(request, "customer")


@routes.post(PREFIX + "/devices/{mac}/keys")
async def set_device_key(request: web.Request) -> web.Response:
    return await _set(request, "device")


@routes.post(PREFIX + "/customers/{code}/keys/{module:\\d+}/{position:\\d+}/remove")
async def remove_customer_key(request: web.Request) -> web.Response:
    return await _remove(request, "customer")


@routes.post(PREFIX + "/devices/{mac}/keys/{module:\\d+}/{position:\\d+}/remove")
async def remove_device_key(request: web.Request) -> web.Response:
    return await _remove(request, "device")

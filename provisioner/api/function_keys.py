"""Programmable keys over HTTP: a device's own keys and its customer's key profile.

The same use cases as ``provisioner device key|keys`` and ``customer key|keys``
(:mod:`provisioner.function_keys`): a key sits at a position (from 1) on the phone, or on
expansion module ``?module=N``; the service validates it, writes it in one transaction
with its audit event, and the phones it concerns get it at their next fetch.
"""

from __future__ import annotations

from aiohttp import web

from .. import fields, function_keys
from . import actor, call, read, reply, store
from . import schemas as s
from .openapi import Answer, Args, ok, operation

routes = web.RouteTableDef()

_KEY_TYPES = "`" + "`, `".join(fields.KEY_TYPES) + "`"


def _module(a: Args) -> int:
    return a.query["module"] or 0


# --- a device's keys ----------------------------------------------------------------------


@operation(
    routes,
    "GET",
    "/devices/{mac}/keys",
    action="read",
    tag="keys",
    summary="The keys a device gets: its own over its customer's profile (source says which)",
    description="Keys the model cannot hold, and profile BLF keys on one of the phone's own extensions, "
    "are left out, as the phone's file leaves them out. A BLF key without its own label shows the "
    "watched line's name.",
    params=(s.MAC_PARAM,),
    answers={200: ok(s.answer({"items": s.array(s.DEVICE_KEY)}, ("items",)))},
    errors=(404,),
)
async def device_keys(request: web.Request, a: Args) -> web.Response:
    return reply({"items": await read(request, function_keys.device_keys, store(request), a.path["mac"])})


@operation(
    routes,
    "PUT",
    "/devices/{mac}/keys/{position}",
    action="devices.write",
    tag="keys",
    summary="Set a device's own key (it wins over its customer's profile at the same place)",
    description=f"`type`: one of {_KEY_TYPES}, those the vendor's files carry. A key the model cannot hold "
    "is refused with the capacity named; so is a BLF key on one of the phone's own extensions.",
    params=(s.MAC_PARAM, s.POSITION_PARAM, s.MODULE),
    body=s.KEY_SET,
    answers={200: ok(s.KEY)},
    errors=(404,),
)
async def set_device_key(request: web.Request, a: Args) -> web.Response:
    key = await call(
        request,
        function_keys.set_device_key,
        store(request),
        actor(request),
        a.path["mac"],
        a.path["position"],
        module=_module(a),
        **a.body,
    )
    return reply(key)


@operation(
    routes,
    "DELETE",
    "/devices/{mac}/keys/{position}",
    action="devices.write",
    tag="keys",
    summary="Remove a device's own key: its customer's profile key there shows again (or nothing)",
    params=(s.MAC_PARAM, s.POSITION_PARAM, s.MODULE),
    answers={204: Answer("Removed")},
    errors=(404,),
)
async def remove_device_key(request: web.Request, a: Args) -> web.Response:
    await call(
        request,
        function_keys.remove_device_key,
        store(request),
        actor(request),
        a.path["mac"],
        a.path["position"],
        _module(a),
    )
    return web.Response(status=204)


# --- a customer's key profile ---------------------------------------------------------------


@operation(
    routes,
    "GET",
    "/customers/{code}/keys",
    action="read",
    tag="keys",
    summary="A customer's key profile, which every phone of the customer inherits",
    params=(s.CODE_PARAM,),
    answers={200: ok(s.answer({"items": s.array(s.KEY)}, ("items",)))},
    errors=(404,),
)
async def customer_keys(request: web.Request, a: Args) -> web.Response:
    return reply({"items": await read(request, function_keys.customer_keys, store(request), a.path["code"])})


@operation(
    routes,
    "PUT",
    "/customers/{code}/keys/{position}",
    action="customers.write",
    tag="keys",
    summary="Set a key of a customer's profile",
    description=f"`type`: one of {_KEY_TYPES}. Every phone of the customer gets the key where its model has "
    "room and its vendor writes the type, unless the device has its own key there; a BLF key is left "
    "off the phone that holds the watched extension.",
    params=(s.CODE_PARAM, s.POSITION_PARAM, s.MODULE),
    body=s.KEY_SET,
    answers={200: ok(s.KEY)},
    errors=(404,),
)
async def set_customer_key(request: web.Request, a: Args) -> web.Response:
    key = await call(
        request,
        function_keys.set_customer_key,
        store(request),
        actor(request),
        a.path["code"],
        a.path["position"],
        module=_module(a),
        **a.body,
    )
    return reply(key)


@operation(
    routes,
    "DELETE",
    "/customers/{code}/keys/{position}",
    action="customers.write",
    tag="keys",
    summary="Remove a key of a customer's profile",
    params=(s.CODE_PARAM, s.POSITION_PARAM, s.MODULE),
    answers={204: Answer("Removed")},
    errors=(404,),
)
async def remove_customer_key(request: web.Request, a: Args) -> web.Response:
    await call(
        request,
        function_keys.remove_customer_key,
        store(request),
        actor(request),
        a.path["code"],
        a.path["position"],
        _module(a),
    )
    return web.Response(status=204)

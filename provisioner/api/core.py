"""Customers, lines and devices over HTTP."""

from __future__ import annotations

from aiohttp import web

from .. import services
from ..errors import Invalid
from ..jsonable import dumps
from . import PREFIX, actor, call, json_body, store

routes = web.RouteTableDef()


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


@routes.get(PREFIX + "/customers")
async def list_customers(request: web.Request) -> web.Response:
    def run() -> list:
        with store(request).reading() as tx:
            return [services.public(r, *services.CUSTOMER_FIELDS) for r in tx.list_customers()]

    return _json({"items": await call(request, run)})


@routes.post(PREFIX + "/customers")
async def add_customer(request: web.Request) -> web.Response:
    data = await json_body(request)
    code = data.pop("code", None)
    row = await call(request, services.add_customer, store(request), actor(request), code, **_only(
        data, services.CUSTOMER_FIELDS))
    return _json(services.public(row, *services.CUSTOMER_FIELDS), 201)


@routes.get(PREFIX + "/customers/{code}")
async def get_customer(request: web.Request) -> web.Response:
    row = await call(request, services.get_customer, store(request), request.match_info["code"])
    return _json(services.public(row, *services.CUSTOMER_FIELDS))


@routes.patch(PREFIX + "/customers/{code}")
async def update_customer(request: web.Request) -> web.Response:
    data = await json_body(request)
    row = await call(request, services.update_customer, store(request), actor(request),
                     request.match_info["code"], **_only(data, services.CUSTOMER_FIELDS))
    return _json(services.public(row, *services.CUSTOMER_FIELDS))


@routes.post(PREFIX + "/customers/{code}/lines")
async def add_line(request: web.Request) -> web.Response:
    data = await json_body(request)
    ext = data.pop("extension", None)
    row = await call(request, services.add_line, store(request), actor(request), request.match_info["code"],
                     ext, **_only(data, (*services.LINE_FIELDS, "password")))
    return _json(services.public(row, *services.LINE_FIELDS), 201)


@routes.patch(PREFIX + "/customers/{code}/lines/{extension}")
async def update_line(request: web.Request) -> web.Response:
    data = await json_body(request)
    row = await call(request, services.update_line, store(request), actor(request), request.match_info["code"],
                     request.match_info["extension"], **_only(data, (*services.LINE_FIELDS, "password")))
    return _json(services.public(row, *services.LINE_FIELDS))


@routes.post(PREFIX + "/devices")
async def add_device(request: web.Request) -> web.Response:
    data = await json_body(request)
    lines = data.get("lines") or []
    if not isinstance(lines, list):
        lines = [lines]
    row = await call(request, services.add_device, store(request), actor(request), data.get("mac"),
                     model_=data.get("model"), vendor=data.get("vendor"), customer=data.get("customer"),
                     lines=[str(x) for x in lines], serial=data.get("serial"),
                     ownership=data.get("ownership") or "rental", settings=data.get("settings"))
    return _json(await call(request, services.show_device, store(request), row["mac"]), 201)


@routes.get(PREFIX + "/devices/unknown")
async def unknown(request: web.Request) -> web.Response:
    return _json({"items": await call(request, services.unknown_devices, store(request))})


@routes.get(PREFIX + "/devices/{mac}")
async def show_device(request: web.Request) -> web.Response:
    return _json(await call(request, services.show_device, store(request), request.match_info["mac"]))


def _only(data: dict, fields: tuple[str, ...]) -> dict:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r} (accepted: {', '.join(fields)})", field=unknown[0])
    return dict(data)

"""Customers, lines and devices over HTTP; finding devices; unknown devices and claiming them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from .. import changes, keys, queries, services
from . import actor, call, page, read, reply, store
from . import schemas as s
from .openapi import Args, ok, operation, query

routes = web.RouteTableDef()


def _customer(row: dict[str, Any]) -> dict[str, Any]:
    return {**(changes.public(row, *changes.CUSTOMER_FIELDS) or {}), "contract_end": row.get("contract_end")}


# --- customers -----------------------------------------------------------------------


@operation(
    routes,
    "GET",
    "/customers",
    action="read",
    tag="customers",
    summary="List customers by code",
    params=(query("q", s.string(100), "part of the code or name (case-insensitive)"), *s.PAGING),
    answers={200: ok(s.page(s.CUSTOMER))},
)
async def list_customers(request: web.Request, a: Args) -> web.Response:
    rows = await read(request, services.list_customers, store(request), a.query["q"])
    return reply(page([_customer(r) for r in rows], a.query["limit"], a.query["offset"]))


# A new customer's phones fetch under a secret path key unless the caller says "path_key": "none".
_CUSTOMER_CREATE = s.body(
    {
        **s.CUSTOMER_CREATE["properties"],
        "path_key": s.string(
            enum=("new", "none"),
            description="default new: its phones fetch under /p/<key>/; none: plain paths, no rule",
        ),
    },
    tuple(s.CUSTOMER_CREATE["required"]),
)
_CUSTOMER_CREATED = s.answer(
    {
        **s.CUSTOMER["properties"],
        "path_key": {
            **s.TEXT,
            "description": "the new path key, answered once (`GET`/`PUT .../security` never shows it)",
        },
        "provisioning_url": {**s.TEXT, "description": "the URL to give its phones (DHCP option 66, redirect services)"},
    },
    tuple(s.CUSTOMER["required"]),
)


@operation(
    routes,
    "POST",
    "/customers",
    action="customers.write",
    tag="customers",
    summary="Add a customer",
    body=_CUSTOMER_CREATE,
    answers={201: ok(_CUSTOMER_CREATED, "Created")},
    errors=(409,),
)
async def add_customer(request: web.Request, a: Args) -> web.Response:
    data = dict(a.body)
    code = data.pop("code")
    data.setdefault("path_key", "new")
    row = await call(request, services.add_customer, store(request), actor(request), code, **data)
    out = _customer(row)
    if row.get("new_path_key"):
        out["path_key"] = row["new_path_key"]
        out["provisioning_url"] = f"{request.config_dict[keys.SETTINGS].provisioning_url}p/{row['new_path_key']}/"
    return reply(out, 201, {"Location": f"{request.path}/{row['code']}"})


@operation(
    routes,
    "GET",
    "/customers/{code}",
    action="read",
    tag="customers",
    summary="A customer",
    params=(s.CODE_PARAM,),
    answers={200: ok(s.CUSTOMER)},
    errors=(404,),
)
async def get_customer(request: web.Request, a: Args) -> web.Response:
    return reply(_customer(await read(request, services.get_customer, store(request), a.path["code"])))


@operation(
    routes,
    "PATCH",
    "/customers/{code}",
    action="customers.write",
    tag="customers",
    summary="Change a customer (the fields given)",
    params=(s.CODE_PARAM,),
    body=s.CUSTOMER_UPDATE,
    answers={200: ok(s.CUSTOMER)},
    errors=(404,),
)
async def update_customer(request: web.Request, a: Args) -> web.Response:
    row = await call(request, services.update_customer, store(request), actor(request), a.path["code"], **a.body)
    return reply(_customer(row))


# --- lines ---------------------------------------------------------------------------


def _line(row: dict[str, Any]) -> dict[str, Any]:
    return {**(changes.public(row, *changes.LINE_FIELDS) or {}), "device": row.get("holder")}


@operation(
    routes,
    "GET",
    "/customers/{code}/lines",
    action="read",
    tag="lines",
    summary="A customer's lines by extension, each with the device it is on (never a password)",
    params=(s.CODE_PARAM, *s.PAGING),
    answers={200: ok(s.page(s.LINE))},
    errors=(404,),
)
async def list_lines(request: web.Request, a: Args) -> web.Response:
    rows = await read(request, services.lines_of_customer, store(request), a.path["code"])
    return reply(page([_line(r) for r in rows], a.query["limit"], a.query["offset"]))


@operation(
    routes,
    "POST",
    "/customers/{code}/lines",
    action="devices.write",
    tag="lines",
    summary="Add a line",
    params=(s.CODE_PARAM,),
    body=s.LINE_CREATE,
    answers={201: ok(s.LINE, "Created")},
    errors=(404, 409),
)
async def add_line(request: web.Request, a: Args) -> web.Response:
    data = dict(a.body)
    ext = data.pop("extension")
    row = await call(request, services.add_line, store(request), actor(request), a.path["code"], ext, **data)
    return reply(_line(row), 201)


@operation(
    routes,
    "PATCH",
    "/customers/{code}/lines/{extension}",
    action="devices.write",
    tag="lines",
    summary="Change a line (the fields given; null leaves a field as it is)",
    params=(s.CODE_PARAM, s.EXTENSION_PARAM),
    body=s.LINE_UPDATE,
    answers={200: ok(s.LINE)},
    errors=(404,),
)
async def update_line(request: web.Request, a: Args) -> web.Response:
    row = await call(
        request, services.update_line, store(request), actor(request), a.path["code"], a.path["extension"], **a.body
    )
    return reply(_line(row))


# --- devices -------------------------------------------------------------------------


@operation(
    routes,
    "GET",
    "/devices",
    action="read",
    tag="devices",
    summary="Find devices",
    description="`q` is a MAC in any spelling (or part of one), an extension, a display name, a label, "
    "a serial, a customer code or name. Newest change first.",
    params=(
        query("q", s.string(100), "what to look for"),
        s.customer_filter(),
        query("state", s.STATE, "the state today"),
        *s.PAGING,
    ),
    answers={200: ok(s.page(s.DEVICE_ITEM))},
    errors=(404,),
)
async def find_devices(request: web.Request, a: Args) -> web.Response:
    return reply(
        await read(
            request,
            queries.find_devices,
            store(request),
            a.query["q"],
            customer=a.query["customer"],
            state=a.query["state"],
            limit=a.query["limit"],
            offset=a.query["offset"],
        )
    )


@operation(
    routes,
    "POST",
    "/devices",
    action="devices.write",
    tag="devices",
    summary="Add a device",
    body=s.DEVICE_CREATE,
    answers={201: ok(s.DEVICE, "Created")},
    errors=(404, 409),
)
async def add_device(request: web.Request, a: Args) -> web.Response:
    data = a.body
    row = await call(
        request,
        services.add_device,
        store(request),
        actor(request),
        data["mac"],
        model=data["model"],
        vendor=data.get("vendor"),
        customer=data.get("customer"),
        lines=data.get("lines") or [],
        serial=data.get("serial"),
        ownership=data.get("ownership") or "rental",
        settings=data.get("settings"),
    )
    view = await read(request, services.show_device, store(request), row["mac"])
    return reply(view, 201, {"Location": f"{request.path}/{row['mac']}"})


@operation(
    routes,
    "GET",
    "/devices/counts",
    action="read",
    tag="devices",
    summary="How many devices in each state today",
    answers={200: ok(s.COUNTS)},
)
async def device_counts(request: web.Request, a: Args) -> web.Response:
    return reply(await read(request, queries.device_counts, store(request)))


@operation(
    routes,
    "GET",
    "/devices/unknown",
    action="read",
    tag="devices",
    summary="Phones that asked for a configuration but are not devices here, last seen first",
    params=(query("hours", s.integer(1, 24 * 366), "only those seen in the last N hours"), *s.PAGING),
    answers={200: ok(s.page(s.UNKNOWN))},
)
async def unknown_devices(request: web.Request, a: Args) -> web.Response:
    since = datetime.now(UTC) - timedelta(hours=a.query["hours"]) if a.query["hours"] else None
    items = await read(request, services.unknown_devices, store(request), since)
    return reply(page(items, a.query["limit"], a.query["offset"]))


@operation(
    routes,
    "POST",
    "/devices/unknown/{mac}/claim",
    action="devices.assign",
    tag="devices",
    summary="Add a phone seen as unknown as a device (its vendor and model as it announced them)",
    params=(s.MAC_PARAM,),
    body=s.CLAIM,
    body_required=False,
    answers={201: ok(s.DEVICE, "Created")},
    errors=(404, 409),
)
async def claim(request: web.Request, a: Args) -> web.Response:
    data = a.body
    row = await call(
        request,
        services.claim_unknown,
        store(request),
        actor(request),
        a.path["mac"],
        model=data.get("model"),
        vendor=data.get("vendor"),
        customer=data.get("customer"),
        lines=data.get("lines") or [],
        serial=data.get("serial"),
        ownership=data.get("ownership") or "rental",
    )
    view = await read(request, services.show_device, store(request), row["mac"])
    return reply(view, 201, {"Location": f"/api/v1/devices/{row['mac']}"})


@operation(
    routes,
    "GET",
    "/devices/{mac}",
    action="read",
    tag="devices",
    summary="A device: customer, lines (no passwords), state today, last seen, history",
    params=(s.MAC_PARAM,),
    answers={200: ok(s.DEVICE)},
    errors=(404,),
)
async def show_device(request: web.Request, a: Args) -> web.Response:
    return reply(await read(request, services.show_device, store(request), a.path["mac"]))


@operation(
    routes,
    "PATCH",
    "/devices/{mac}",
    action="devices.write",
    tag="devices",
    summary="Change a device's vendor settings (merged, or replacing all with replace=true)",
    params=(s.MAC_PARAM,),
    body=s.DEVICE_UPDATE,
    answers={200: ok(s.DEVICE)},
    errors=(404,),
)
async def update_device(request: web.Request, a: Args) -> web.Response:
    row = await call(
        request,
        services.set_device_settings,
        store(request),
        actor(request),
        a.path["mac"],
        a.body["settings"],
        replace=bool(a.body.get("replace")),
    )
    return reply(await read(request, services.show_device, store(request), row["mac"]))

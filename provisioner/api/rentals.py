"""Rented-device lifecycle over HTTP: terminate, swap, assign, return, charge, reports.

Every endpoint is under ``/api/v1`` for signed-in users (see
:mod:`provisioner.api`), calls one function of
:mod:`provisioner.rental_services` and answers JSON (dates ``YYYY-MM-DD``,
amounts in euros as strings with two decimals, ``"100.00"``). Errors are
``{"error", "message", "field"}``: 400 bad input, 404 unknown MAC or customer,
409 a transition the device's state does not allow; nothing is changed.

=======  ==========================================  ===============================================
method   path                                        body / query -> answer
=======  ==========================================  ===============================================
POST     /customers/{code}/termination               ``{"on": "2026-01-31"}`` -> the devices and
                                                     their deadlines
DELETE   /customers/{code}/termination               cancel a termination before its date
GET      /customers/{code}/policy                    the customer's return policy
PUT      /customers/{code}/policy                    ``{"window_days", "charge", "penalty_per_day"}``
                                                     (each optional) or ``{"default": true}``
POST     /devices/{mac}/swap                         ``{"new_mac", "model"?, "serial"?, "on"?}``
POST     /devices/{mac}/assign                       ``{"customer", "lines": ["201", ...]}``
POST     /devices/{mac}/unassign                     ``{"on"?}``
POST     /devices/{mac}/return                       ``{"on"?, "condition": "ok" | "faulty"}``
POST     /devices/{mac}/charge                       ``{"amount"?, "on"?}``
GET      /devices/{mac}/history                      ``{"items": [event, ...]}``
GET      /rentals/{due|overdue|charged}              ``?as_of=DATE&customer=CODE&format=json|csv|xlsx``
                                                     (JSON a page at a time: ``&limit=&offset=``)
GET      /rentals/policy                             the provider's default policy
PUT      /rentals/policy                             ``{"window_days", "charge", "penalty_per_day"}``
GET      /rentals/costs                              replacement costs per model
PUT      /rentals/costs/{model}                      ``{"cost": "89.90", "vendor"?}``; model
                                                     ``default`` for every model without its own
=======  ==========================================  ===============================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import rental_reports, rental_services, rental_terms, rentals
from . import actor, call, page, read, reply, store
from . import schemas as s
from .openapi import Answer, Args, ok, operation, path_param, query

routes = web.RouteTableDef()


# --- customers -----------------------------------------------------------------------


@operation(
    routes,
    "POST",
    "/customers/{code}/termination",
    action="customers.write",
    tag="customers",
    summary="End a customer's contract on a date: lines stop, rented devices become due back",
    params=(s.CODE_PARAM,),
    body=s.TERMINATE,
    answers={200: ok(s.TERMINATION)},
    errors=(404, 409),
)
async def terminate(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(request, rental_services.terminate, store(request), actor(request), a.path["code"], a.body["on"])
    )


@operation(
    routes,
    "DELETE",
    "/customers/{code}/termination",
    action="customers.write",
    tag="customers",
    summary="Cancel a termination before its date",
    params=(s.CODE_PARAM,),
    answers={200: ok(s.CANCELLATION)},
    errors=(404, 409),
)
async def cancel_termination(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(request, rental_services.cancel_termination, store(request), actor(request), a.path["code"])
    )


@operation(
    routes,
    "GET",
    "/customers/{code}/policy",
    action="read",
    tag="customers",
    summary="The customer's return policy (its own terms or the provider default)",
    params=(s.CODE_PARAM,),
    answers={200: ok(s.POLICY)},
    errors=(404,),
)
async def customer_policy(request: web.Request, a: Args) -> web.Response:
    return reply(await read(request, rental_terms.customer_policy, store(request), a.path["code"]))


@operation(
    routes,
    "PUT",
    "/customers/{code}/policy",
    action="customers.write",
    tag="customers",
    summary='Set the customer\'s own return terms (those given), or {"default": true} to follow the provider default',
    params=(s.CODE_PARAM,),
    body=s.CUSTOMER_POLICY_UPDATE,
    answers={200: ok(s.POLICY)},
    errors=(404,),
)
async def set_customer_policy(request: web.Request, a: Args) -> web.Response:
    data = dict(a.body)
    reset = bool(data.pop("default", False))
    return reply(
        await call(
            request,
            rental_terms.set_customer_policy,
            store(request),
            actor(request),
            a.path["code"],
            reset=reset,
            **data,
        )
    )


# --- devices -------------------------------------------------------------------------


@operation(
    routes,
    "POST",
    "/devices/{mac}/swap",
    action="devices.swap",
    tag="devices",
    summary="Replace a device by another (added when new): lines move, the old one is due back",
    params=(s.MAC_PARAM,),
    body=s.SWAP,
    answers={200: ok(s.SWAPPED)},
    errors=(404, 409),
)
async def swap(request: web.Request, a: Args) -> web.Response:
    data = a.body
    return reply(
        await call(
            request,
            rental_services.swap,
            store(request),
            actor(request),
            a.path["mac"],
            data["new_mac"],
            model=data.get("model"),
            serial=data.get("serial"),
            on=data.get("on"),
        )
    )


@operation(
    routes,
    "POST",
    "/devices/{mac}/assign",
    action="devices.assign",
    tag="devices",
    summary="Give a device to a customer with some of its lines",
    params=(s.MAC_PARAM,),
    body=s.ASSIGN,
    answers={200: ok(s.DEVICE_STATE)},
    errors=(404, 409),
)
async def assign(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(
            request,
            rental_services.assign,
            store(request),
            actor(request),
            a.path["mac"],
            a.body["customer"],
            list(a.body.get("lines") or []),
        )
    )


@operation(
    routes,
    "POST",
    "/devices/{mac}/unassign",
    action="devices.assign",
    tag="devices",
    summary="Take a device's lines off; a rented one becomes due back",
    params=(s.MAC_PARAM,),
    body=s.ON,
    body_required=False,
    answers={200: ok(s.DEVICE_STATE)},
    errors=(404, 409),
)
async def unassign(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(
            request, rental_services.unassign, store(request), actor(request), a.path["mac"], on=a.body.get("on")
        )
    )


@operation(
    routes,
    "POST",
    "/devices/{mac}/return",
    action="returns",
    tag="devices",
    summary="Record a rented device as returned",
    params=(s.MAC_PARAM,),
    body=s.RETURN,
    body_required=False,
    answers={200: ok(s.DEVICE_STATE)},
    errors=(404, 409),
)
async def return_device(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(
            request,
            rental_services.return_device,
            store(request),
            actor(request),
            a.path["mac"],
            on=a.body.get("on"),
            condition=a.body.get("condition") or "ok",
        )
    )


@operation(
    routes,
    "POST",
    "/devices/{mac}/charge",
    action="returns",
    tag="devices",
    summary="Charge a device not returned in time",
    params=(s.MAC_PARAM,),
    body=s.CHARGE,
    body_required=False,
    answers={200: ok(s.DEVICE_STATE)},
    errors=(404, 409),
)
async def charge(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(
            request,
            rental_services.charge,
            store(request),
            actor(request),
            a.path["mac"],
            amount=a.body.get("amount"),
            on=a.body.get("on"),
        )
    )


@operation(
    routes,
    "GET",
    "/devices/{mac}/history",
    action="read",
    tag="devices",
    summary="Every event of a device, oldest first (page through /events?device= for long histories)",
    params=(s.MAC_PARAM,),
    answers={200: ok(s.answer({"items": s.array(s.HISTORY_ITEM)}, ("items",)))},
    errors=(404,),
)
async def history(request: web.Request, a: Args) -> web.Response:
    return reply({"items": await read(request, rental_services.history, store(request), a.path["mac"])})


# --- rentals -------------------------------------------------------------------------


@operation(
    routes,
    "GET",
    "/rentals/policy",
    action="read",
    tag="rentals",
    summary="The provider's default return policy",
    answers={200: ok(s.POLICY)},
)
async def default_policy(request: web.Request, a: Args) -> web.Response:
    def run() -> dict[str, Any]:
        with store(request).reading() as tx:
            policy = rental_terms.default_policy(tx)
        return {**policy.as_dict(), "description": policy.describe()}

    return reply(await read(request, run))


@operation(
    routes,
    "PUT",
    "/rentals/policy",
    action="rental.policy",
    tag="rentals",
    summary="Change the provider's default return policy (the terms given)",
    body=s.POLICY_UPDATE,
    answers={200: ok(s.POLICY)},
)
async def set_default_policy(request: web.Request, a: Args) -> web.Response:
    policy = await call(request, rental_terms.set_default_policy, store(request), actor(request), **a.body)
    return reply({**policy.as_dict(), "description": policy.describe()})


@operation(
    routes,
    "GET",
    "/rentals/costs",
    action="read",
    tag="rentals",
    summary="Replacement costs per model",
    answers={200: ok(s.answer({"items": s.array(s.COST)}, ("items",)))},
)
async def costs(request: web.Request, a: Args) -> web.Response:
    return reply({"items": await read(request, rental_terms.costs, store(request))})


@operation(
    routes,
    "PUT",
    "/rentals/costs/{model}",
    action="rental.policy",
    tag="rentals",
    summary="Set a model's replacement cost (model `default`: every model without its own)",
    params=(path_param("model", s.string(64, min_length=1)),),
    body=s.COST_UPDATE,
    answers={200: ok(s.COST)},
)
async def set_cost(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(
            request,
            rental_terms.set_cost,
            store(request),
            actor(request),
            a.path["model"],
            a.body["cost"],
            vendor=a.body.get("vendor"),
        )
    )


_REPORT_MEDIA = ("application/json", *(rental_reports.CONTENT_TYPES[f].split(";")[0] for f in rental_reports.FORMATS))


@operation(
    routes,
    "GET",
    "/rentals/{kind}",
    action="read",
    tag="rentals",
    summary="Rented devices due back, overdue or charged as of a date, with what is owed",
    description="JSON pages through the rows; `format=csv` or `xlsx` downloads all of them.",
    params=(
        path_param("kind", s.string(enum=rental_services.REPORTS)),
        query("as_of", s.DATE, "the day to report on (default today)"),
        s.customer_filter(),
        query("format", s.string(enum=("json", *rental_reports.FORMATS)), "default json"),
        *s.PAGING,
    ),
    answers={200: Answer("The report", s.page(s.REPORT_ROW), _REPORT_MEDIA, ("Content-Disposition",))},
    errors=(404,),
)
async def report(request: web.Request, a: Args) -> web.Response:
    kind = a.path["kind"]
    fmt = a.query["format"] or "json"
    as_of = rentals.parse_date(a.query["as_of"], "as_of") if a.query["as_of"] else rentals.today()
    rows = await read(request, rental_services.report, store(request), kind, as_of=as_of, customer=a.query["customer"])
    if fmt == "json":
        return reply({"as_of": as_of, **page(rows, a.query["limit"], a.query["offset"])})
    body = rental_reports.render(rows, rental_services.REPORT_COLUMNS, fmt, title=kind)
    return web.Response(
        body=body,
        headers={
            "Content-Type": rental_reports.CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="rentals-{kind}.{fmt}"',
        },
    )

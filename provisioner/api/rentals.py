"""Rented-device lifecycle over HTTP: terminate, swap, assign, return, charge, reports.

Every endpoint is under ``/api/v1`` behind the admin bearer token (see
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

from .. import rental_reports, rental_services, rentals
from ..errors import Invalid
from ..jsonable import dumps
from . import PREFIX, actor, call, json_body, store

routes = web.RouteTableDef()


def _json(data: object, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


def _only(data: dict[str, Any], fields: tuple[str, ...]) -> dict[str, Any]:
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise Invalid(f"unknown field {unknown[0]!r} (accepted: {', '.join(fields)})", field=unknown[0])
    return data


# --- customers -----------------------------------------------------------------------


@routes.post(PREFIX + "/customers/{code}/termination")
async def terminate(request: web.Request) -> web.Response:
    data = _only(await json_body(request), ("on",))
    if not data.get("on"):
        raise Invalid("on is required: the contract end date, YYYY-MM-DD", field="on")
    return _json(await call(request, rental_services.terminate, store(request), actor(request),
                            request.match_info["code"], data["on"]))


@routes.delete(PREFIX + "/customers/{code}/termination")
async def cancel_termination(request: web.Request) -> web.Response:
    return _json(await call(request, rental_services.cancel_termination, store(request), actor(request),
                            request.match_info["code"]))


@routes.get(PREFIX + "/customers/{code}/policy")
async def customer_policy(request: web.Request) -> web.Response:
    return _json(await call(request, rental_services.customer_policy, store(request), request.match_info["code"]))


@routes.put(PREFIX + "/customers/{code}/policy")
async def set_customer_policy(request: web.Request) -> web.Response:
    data = _only(await json_body(request), ("window_days", "charge", "penalty_per_day", "default"))
    reset = bool(data.pop("default", False))
    return _json(await call(request, rental_services.set_customer_policy, store(request), actor(request),
                            request.match_info["code"], reset=reset, **data))


# --- devices -------------------------------------------------------------------------


@routes.post(PREFIX + "/devices/{mac}/swap")
async def swap(request: web.Request) -> web.Response:
    data = _only(await json_body(request), ("new_mac", "model", "serial", "on"))
    if not data.get("new_mac"):
        raise Invalid("new_mac is required: the replacement device", field="new_mac")
    return _json(await call(request, rental_services.swap, store(request), actor(request), request.match_info["mac"],
                            data["new_mac"], model=data.get("model"), serial=data.get("serial"), on=data.get("on")))


@routes.post(PREFIX + "/devices/{mac}/assign")
async def assign(request: web.Request) -> web.Response:
    data = _only(await json_body(request), ("customer", "lines"))
    lines = data.get("lines") or []
    if not isinstance(lines, list):
        raise Invalid("lines must be a list of extensions", field="lines")
    return _json(await call(request, rental_services.assign, store(request), actor(request), request.match_info["mac"],
                            data.get("customer"), [str(x) for x in lines]))


@routes.post(PREFIX + "/devices/{mac}/unassign")
async def unassign(request: web.Request) -> web.Response:
    data = _only(await _optional_body(request), ("on",))
    return _json(await call(request, rental_services.unassign, store(request), actor(request),
                            request.match_info["mac"], on=data.get("on")))


@routes.post(PREFIX + "/devices/{mac}/return")
async def return_device(request: web.Request) -> web.Response:
    data = _only(await _optional_body(request), ("on", "condition"))
    return _json(await call(request, rental_services.return_device, store(request), actor(request),
                            request.match_info["mac"], on=data.get("on"), condition=data.get("condition") or "ok"))


@routes.post(PREFIX + "/devices/{mac}/charge")
async def charge(request: web.Request) -> web.Response:
    data = _only(await _optional_body(request), ("amount", "on"))
    return _json(await call(request, rental_services.charge, store(request), actor(request),
                            request.match_info["mac"], amount=data.get("amount"), on=data.get("on")))


@routes.get(PREFIX + "/devices/{mac}/history")
async def history(request: web.Request) -> web.Response:
    return _json({"items": await call(request, rental_services.history, store(request), request.match_info["mac"])})


async def _optional_body(request: web.Request) -> dict[str, Any]:
    return await json_body(request) if request.can_read_body else {}


# --- rentals -------------------------------------------------------------------------


@routes.get(PREFIX + "/rentals/policy")
async def default_policy(request: web.Request) -> web.Response:
    def run() -> dict[str, Any]:
        with store(request).reading() as tx:
            policy = rental_services.default_policy(tx)
        return {**policy.as_dict(), "description": policy.describe()}

    return _json(await call(request, run))


@routes.put(PREFIX + "/rentals/policy")
async def set_default_policy(request: web.Request) -> web.Response:
    data = _only(await json_body(request), ("window_days", "charge", "penalty_per_day"))
    policy = await call(request, rental_services.set_default_policy, store(request), actor(request), **data)
    return _json({**policy.as_dict(), "description": policy.describe()})


@routes.get(PREFIX + "/rentals/costs")
async def costs(request: web.Request) -> web.Response:
    return _json({"items": await call(request, rental_services.costs, store(request))})


@routes.put(PREFIX + "/rentals/costs/{model}")
async def set_cost(request: web.Request) -> web.Response:
    data = _only(await json_body(request), ("cost", "vendor"))
    return _json(await call(request, rental_services.set_cost, store(request), actor(request),
                            request.match_info["model"], data.get("cost"), vendor=data.get("vendor")))


@routes.get(PREFIX + "/rentals/{kind:due|overdue|charged}")
async def report(request: web.Request) -> web.Response:
    kind = request.match_info["kind"]
    query = request.query
    fmt = (query.get("format") or "json").lower()
    if fmt not in ("json", *rental_reports.FORMATS):
        raise Invalid(f"format {fmt!r} must be one of: json, csv, xlsx", field="format")
    as_of = rentals.parse_date(query["as_of"], "as_of") if query.get("as_of") else rentals.today()
    rows = await call(request, rental_services.report, store(request), kind, as_of=as_of,
                      customer=query.get("customer"))
    if fmt == "json":
        return _json({"as_of": as_of, "items": rows})
    body = rental_reports.render(rows, rental_services.REPORT_COLUMNS, fmt, title=kind)
    return web.Response(body=body, headers={
        "Content-Type": rental_reports.CONTENT_TYPES[fmt],
        "Content-Disposition": f'attachment; filename="rentals-{kind}.{fmt}"'})

"""The customer page: devices, lines, contract and returns; terminate and cancel a termination."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .. import changes, queries, rental_services, rental_terms, rentals, services
from ..db import Store
from ..errors import Conflict, Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, say, store, viewer

routes = web.RouteTableDef()


def customer_page_data(db: Store, code: str) -> dict[str, Any]:
    customer = services.get_customer(db, code)
    today = rentals.today()
    devices = queries.find_devices(db, customer=customer["code"], limit=queries.MAX_LIMIT, today=today)
    with db.reading() as tx:
        lines = []
        for line in tx.lines_of_customer(customer["id"]):
            holder = tx.device_of_line(line["id"])
            lines.append(
                {**(changes.public(line, *changes.LINE_FIELDS) or {}), "device": holder["mac"] if holder else None}
            )
    returns = {
        kind: rental_services.report(db, kind, as_of=today, customer=customer["code"])
        for kind in rental_services.REPORTS
    }
    end = customer["contract_end"]
    return {
        "customer": customer,
        "devices": devices,
        "lines": lines,
        "policy": rental_terms.customer_policy(db, customer["code"]),
        "returns": returns,
        "today": today,
        "ended": rentals.contract_ended(end, today),
        "cancellable": end is not None and not rentals.contract_ended(end, today),
    }


def _url(code: str) -> str:
    return f"{PREFIX}/customers/{code}"


@routes.get(PREFIX + "/customers/{code}")
async def customer(request: web.Request) -> web.Response:
    await viewer(request)
    data = await asyncio.to_thread(customer_page_data, store(request), request.match_info["code"])
    return page(request, "customer.html", {"title": f"Customer {data['customer']['code']}", **data})


@routes.post(PREFIX + "/customers/{code}/terminate")
async def terminate(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "customers.write", data)
    code = request.match_info["code"]
    try:
        result = await call(
            request, rental_services.terminate, store(request), user.actor, code, data.get("on") or None
        )
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    rented = [d for d in result["devices"] if d["deadline"]]
    deadlines = sorted({d["deadline"] for d in rented})
    sentence = (
        "The contract of {customer} ended on {day}: {n} device(s) stop, {rented} rented device(s) due back"
        if result["effective"]
        else "The contract of {customer} ends on {day}: {n} device(s) stop, {rented} rented device(s) due back"
    )
    message = say(
        request,
        sentence + (" by {deadline}." if deadlines else "."),
        customer=result["customer"],
        day=result["contract_end"].isoformat(),
        n=len(result["devices"]),
        rented=len(rented),
        deadline=deadlines[0].isoformat() if deadlines else "",
    )
    return done(request, _url(result["customer"]), message)


@routes.post(PREFIX + "/customers/{code}/cancel-termination")
async def cancel_termination(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "customers.write", data)
    code = request.match_info["code"]
    try:
        result = await call(request, rental_services.cancel_termination, store(request), user.actor, code)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(
        request,
        _url(result["customer"]),
        say(
            request,
            "The termination of {customer} on {day} is cancelled: {n} device(s) keep their lines.",
            customer=result["customer"],
            day=result["cancelled"].isoformat(),
            n=len(result["devices"]),
        ),
    )

"""Read-only pages: the dashboard, search, returns and the customer list."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from .. import queries, rental_services, rentals, services, vendors
from ..db import utcnow
from ..macs import try_parse_mac
from . import PREFIX, page, redirect, store, viewer

routes = web.RouteTableDef()

SEARCH_PAGE = 25
DUE_SOON_DAYS = 7


def dashboard_data(db: Any) -> dict[str, Any]:
    today = rentals.today()
    due = rental_services.report(db, "due", as_of=today)
    overdue = rental_services.report(db, "overdue", as_of=today)
    soon = [r for r in due if r["deadline"] is not None and r["deadline"] <= today + timedelta(days=DUE_SOON_DAYS)]
    with db.reading() as tx:
        customers = [{"code": r["code"], "name": r["name"]} for r in tx.list_customers()]
    return {
        "counts": queries.device_counts(db, today),
        "unknown": services.unknown_devices(db, since=utcnow() - timedelta(hours=24)),
        "due_soon": soon,
        "due_total": len(due),
        "overdue": overdue,
        "overdue_total": sum((r["outstanding"] or 0 for r in overdue), Decimal("0.00")),
        "today": today,
        "soon_until": today + timedelta(days=DUE_SOON_DAYS),
        "customers": customers,
        "models": {v.name: sorted(v.models) for v in vendors.all_vendors()},
    }


@routes.get(PREFIX + "/")
async def dashboard(request: web.Request) -> web.Response:
    await viewer(request)
    data = await asyncio.to_thread(dashboard_data, store(request))
    return page(request, "dashboard.html", {"title": "Dashboard", **data})


@routes.get(PREFIX + "/search")
async def search(request: web.Request) -> web.Response:
    await viewer(request)
    q = request.query.get("q", "").strip()
    state = request.query.get("state") or None
    found = await asyncio.to_thread(queries.find_devices, store(request), q, state=state, limit=SEARCH_PAGE,
                                    offset=request.query.get("offset"))
    mac = try_parse_mac(q) if q else None
    if mac and found["total"] == 1 and found["items"][0]["mac"] == mac:
        return redirect(f"{PREFIX}/devices/{mac}")
    return page(request, "search.html", {"title": f"Search: {q}" if q else "Devices", "found": found,
                                         "state": state or "", "exact_mac": mac})


@routes.get(PREFIX + "/returns")
async def returns(request: web.Request) -> web.Response:
    await viewer(request)
    as_of = rentals.parse_date(request.query["as_of"], "as_of") if request.query.get("as_of") else rentals.today()

    def load() -> dict[str, Any]:
        return {kind: rental_services.report(store(request), kind, as_of=as_of) for kind in rental_services.REPORTS}

    reports = await asyncio.to_thread(load)
    return page(request, "returns.html", {"title": "Returns", "reports": reports, "as_of": as_of})


@routes.get(PREFIX + "/customers")
async def customer_list(request: web.Request) -> web.Response:
    await viewer(request)

    def load() -> list[dict[str, Any]]:
        with store(request).reading() as tx:
            return tx.list_customers()

    return page(request, "customers.html", {"title": "Customers", "customers": await asyncio.to_thread(load),
                                            "today": rentals.today()})

"""Read-only pages: the dashboard, search, returns and the customer list."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

from aiohttp import web

from .. import queries, rental_reports, rental_services, rentals, services, vendors
from ..db import utcnow
from ..macs import try_parse_mac
from . import PREFIX, bulk, page, redirect, store, viewer

routes = web.RouteTableDef()

SEARCH_PAGE = 25
CUSTOMER_PAGE = 50
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


FILTERS = ("q", "customer", "vendor", "model", "state", "seen_days", "firmware", "sort")


def _filters(request: web.Request) -> dict[str, str]:
    """The list's filters as given in the address (empty ones left out)."""
    return {k: request.query[k].strip() for k in FILTERS if request.query.get(k, "").strip()}


def _find(db: Any, given: dict[str, str], **page: Any) -> dict[str, Any]:
    return queries.find_devices(
        db,
        given.get("q"),
        customer=given.get("customer"),
        state=given.get("state"),
        vendor=given.get("vendor"),
        model=given.get("model"),
        firmware=given.get("firmware"),
        seen_days=given.get("seen_days"),
        sort=given.get("sort"),
        **page,
    )


@routes.get(PREFIX + "/search")
async def search(request: web.Request) -> web.Response:
    await viewer(request)
    given = _filters(request)
    q = given.get("q", "")
    found = await asyncio.to_thread(_find, store(request), given, limit=SEARCH_PAGE, offset=request.query.get("offset"))
    mac = try_parse_mac(q) if q else None
    if mac and found["total"] == 1 and found["items"][0]["mac"] == mac and len(given) == 1:
        return redirect(f"{PREFIX}/devices/{mac}")
    return page(
        request,
        "search.html",
        {
            "title": f"Search: {q}" if q else "Devices",
            "found": found,
            "state": given.get("state", ""),
            "exact_mac": mac,
            "filters": given,
            "vendor_names": [v.name for v in vendors.all_vendors()],
            "sort": given.get("sort", "-updated"),
        },
    )


@routes.get(PREFIX + "/search.{fmt:csv|xlsx}")
async def search_download(request: web.Request) -> web.Response:
    """What the list shows with these filters, every page of it (up to queries.MAX_EXPORT rows)."""
    await viewer(request)
    given = _filters(request)
    found = await asyncio.to_thread(
        _find, store(request), given, limit=queries.MAX_EXPORT, max_limit=queries.MAX_EXPORT
    )
    return bulk.download(found["items"], bulk.EXPORT_COLUMNS, request.match_info["fmt"], "devices")


@routes.get(PREFIX + "/returns")
async def returns(request: web.Request) -> web.Response:
    await viewer(request)
    as_of = rentals.parse_date(request.query["as_of"], "as_of") if request.query.get("as_of") else rentals.today()

    def load() -> dict[str, Any]:
        return {kind: rental_services.report(store(request), kind, as_of=as_of) for kind in rental_services.REPORTS}

    reports = await asyncio.to_thread(load)
    return page(request, "returns.html", {"title": "Returns", "reports": reports, "as_of": as_of})


@routes.get(PREFIX + "/returns/{kind:due|overdue|charged}.{fmt:csv|xlsx}")
async def returns_download(request: web.Request) -> web.Response:
    """One returns list as shown (as of the date asked), as the office's CSV/XLSX report."""
    await viewer(request)
    kind, fmt = request.match_info["kind"], request.match_info["fmt"]
    rows = await asyncio.to_thread(
        rental_services.report,
        store(request),
        kind,
        as_of=request.query.get("as_of") or None,
        customer=request.query.get("customer") or None,
    )
    body = rental_reports.render(rows, rental_services.REPORT_COLUMNS, fmt, title=f"Returns {kind}")
    return web.Response(
        body=body,
        headers={
            "Content-Type": rental_reports.CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="returns-{kind}-{rentals.today().isoformat()}.{fmt}"',
        },
    )


@routes.get(PREFIX + "/customers")
async def customer_list(request: web.Request) -> web.Response:
    await viewer(request)

    found = await asyncio.to_thread(
        queries.customers_page, store(request), limit=CUSTOMER_PAGE, offset=request.query.get("offset")
    )
    return page(
        request,
        "customers.html",
        {"title": "Customers", "customers": found["items"], "found": found, "today": rentals.today()},
    )

"""Bulk actions on the devices ticked in a list (search results, a customer's phones, the returns):
return, unassign, resync, or download them as CSV/XLSX.

Each device is changed by the same service as on its own page, in its own transaction: one the
service refuses is left exactly as it was, and the page that answers lists every device with what
was done or why it was refused. A row's own button (the returns list) posts the same form with
``one`` = its MAC: the action then takes that device only.
"""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .. import queries, rental_reports, rental_services, rentals
from ..errors import Conflict, Invalid, NotFound
from ..macs import try_parse_mac
from ..sip import resync as sip_resync
from . import PREFIX, acting, call, form, i18n_reasons, lang, local_next, page, say, store

routes = web.RouteTableDef()

# action -> the permission it needs
ACTIONS = {"return": "returns", "unassign": "devices.assign", "resync": "devices.assign", "csv": "read", "xlsx": "read"}
EXPORT_COLUMNS = (
    "mac",
    "vendor",
    "model",
    "serial",
    "ownership",
    "state",
    "customer",
    "customer_name",
    "extensions",
    "last_seen_at",
)
HEADERS = {
    **rental_reports.HEADERS,
    "ownership": "Ownership",
    "state": "State",
    "extensions": "Lines",
    "last_seen_at": "Last seen (UTC)",
}


async def _selected(request: web.Request) -> tuple[dict[str, str], list[str]]:
    """The form and the MACs it names, in the order ticked (or the one row's button), each once."""
    data = await form(request)
    posted = await request.post()
    raw = [data["one"]] if data.get("one") else [str(v).strip() for v in posted.getall("mac", [])]
    macs: list[str] = []
    for value in raw:
        if value and value not in macs:
            macs.append(value)
    return data, macs


@routes.post(PREFIX + "/bulk/{action}")
async def bulk(request: web.Request) -> web.StreamResponse:
    action = request.match_info["action"]
    if action not in ACTIONS:
        raise NotFound(f"there is no bulk action {action!r}; the actions are {', '.join(ACTIONS)}")
    data, macs = await _selected(request)
    user = await acting(request, ACTIONS[action], data)
    back = local_next(data.get("back"))
    if not macs:
        return _result(request, action, back, [], say(request, "No device was selected: tick the devices first."))
    if len(macs) > queries.MAX_SELECTED:
        return _result(
            request,
            action,
            back,
            [],
            say(request, "Select at most {n} devices at once; {m} were selected.", n=queries.MAX_SELECTED, m=len(macs)),
        )
    if action in ("csv", "xlsx"):
        return await _export(request, action, macs)
    results: list[dict[str, Any]] = []
    if action == "resync":
        results = await _resync(request, macs)
    else:
        for mac in macs:
            results.append(await _one(request, action, user.actor, mac, data))
    return _result(request, action, back, results)


async def _one(request: web.Request, action: str, actor: str, mac: str, data: dict[str, str]) -> dict[str, Any]:
    try:
        if action == "return":
            result = await call(
                request,
                rental_services.return_device,
                store(request),
                actor,
                mac,
                condition=data.get("condition") or "ok",
            )
            what = say(
                request,
                "Returned from {customer}: now {state}.",
                customer=result["from_customer"] or "-",
                state=say(request, str(result["state"]).replace("_", " ")),
            )
        else:
            result = await call(request, rental_services.unassign, store(request), actor, mac)
            deadline = result.get("return_deadline")
            what = (
                say(request, "Lines off; return due by {day}.", day=deadline.isoformat())
                if deadline
                else say(request, "Lines off.")
            )
        return {"mac": result["mac"], "ok": True, "what": what}
    except (Invalid, NotFound, Conflict) as exc:
        return {"mac": try_parse_mac(mac) or mac, "ok": False, "what": i18n_reasons.reason(exc.message, lang(request))}


async def _resync(request: web.Request, macs: list[str]) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    targets: list[tuple[int, sip_resync.Target]] = []
    for mac in macs:
        try:
            target = await asyncio.to_thread(sip_resync.target_of, store(request), mac)
        except (Invalid, NotFound, Conflict) as exc:
            results.append(
                {"mac": try_parse_mac(mac) or mac, "ok": False, "what": i18n_reasons.reason(exc.message, lang(request))}
            )
            continue
        targets.append((len(results), target))
        results.append({"mac": target.mac, "ok": False, "what": ""})
    outcomes = await sip_resync.resync_many([t for _, t in targets])
    for (index, _), outcome in zip(targets, outcomes, strict=True):
        results[index] = {
            **results[index],
            "ok": outcome.ok,
            "what": say(request, "Resync sent: {answer}.", answer=outcome.describe())
            if outcome.ok
            else say(request, "Resync failed: {answer}.", answer=outcome.describe()),
        }
    return results


async def _export(request: web.Request, fmt: str, macs: list[str]) -> web.Response:
    rows = await asyncio.to_thread(queries.devices_by_mac, store(request), macs)
    return download(rows, EXPORT_COLUMNS, fmt, "devices")


def download(rows: list[dict[str, Any]], columns: tuple[str, ...], fmt: str, name: str) -> web.Response:
    """Rows as a CSV or XLSX file to save (:mod:`provisioner.rental_reports` writes both)."""
    flat = [
        {
            **r,
            "extensions": ", ".join(r.get("extensions") or ()),
            "last_seen_at": r["last_seen_at"].isoformat() if r.get("last_seen_at") else None,
        }
        for r in rows
    ]
    named = [{HEADERS.get(c, c): r.get(c) for c in columns} for r in flat]
    body = rental_reports.render(named, [HEADERS.get(c, c) for c in columns], fmt, title=name.capitalize())
    day = rentals.today().isoformat()
    return web.Response(
        body=body,
        headers={
            "Content-Type": rental_reports.CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="{name}-{day}.{fmt}"',
        },
    )


def _result(
    request: web.Request, action: str, back: str, results: list[dict[str, Any]], problem: str | None = None
) -> web.Response:
    done_n = sum(1 for r in results if r["ok"])
    return page(
        request,
        "bulk.html",
        {
            "title": "Bulk action",
            "action": action,
            "back": back,
            "results": results,
            "done_n": done_n,
            "refused_n": len(results) - done_n,
            "problem": problem,
        },
        status=400 if problem else 200,
    )

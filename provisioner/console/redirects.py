"""The console's redirect pages: devices whose vendor redirect is not registered, and the retry button."""

from __future__ import annotations

import asyncio

from aiohttp import web

from .. import fields
from ..errors import Conflict, Invalid, NotFound
from ..redirect import support
from . import PREFIX, acting, call, done, form, page, say, store, viewer

routes = web.RouteTableDef()


def redirect_state(db, mac: str) -> dict | None:  # type: ignore[no-untyped-def]
    """The device page's redirect box (None: the device never needed a redirect)."""
    rows = support.status(db, mac)
    return rows[0] if rows else None


@routes.get(PREFIX + "/redirect")
async def not_registered(request: web.Request) -> web.Response:
    await viewer(request)
    rows = await asyncio.to_thread(support.status, store(request))
    rows = [r for r in rows if r["state"] not in ("registered", "deregistered") or r["queued"]]
    return page(request, "redirect.html", {"title": "Redirects not registered", "rows": rows})


@routes.post(PREFIX + "/devices/{mac}/redirect/retry")
async def retry(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "devices.assign", data)
    mac = fields.mac(request.match_info["mac"])
    target = f"{PREFIX}/devices/{mac}"
    try:
        count = await call(request, support.retry, store(request), user.actor, mac)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, target, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(
        request,
        target,
        say(request, "Redirect of {mac}: {count} change(s) will be sent within a second.", mac=mac, count=count),
    )

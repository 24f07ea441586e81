"""The API's own document, who is signed in, and the audit events."""

from __future__ import annotations

from aiohttp import web

from .. import queries
from ..accounts import PERMISSIONS
from . import read, reply, store
from . import schemas as s
from .openapi import Args, document, ok, operation, query

routes = web.RouteTableDef()


@operation(
    routes,
    "GET",
    "/openapi.json",
    action=None,
    tag="meta",
    summary="This document (no sign-in needed)",
    answers={200: ok({"type": "object", "required": ["openapi", "paths"]})},
)
async def openapi_json(request: web.Request, a: Args) -> web.Response:
    return reply(document())


@operation(
    routes,
    "GET",
    "/me",
    action="read",
    tag="meta",
    summary="The signed-in user and what they may do",
    answers={200: ok(s.ME)},
)
async def me(request: web.Request, a: Args) -> web.Response:
    user = a.user
    assert user is not None
    return reply(
        {
            "name": user.name,
            "role": user.role,
            "actor": user.actor,
            "permissions": sorted(action for action in PERMISSIONS if user.can(action)),
        }
    )


@operation(
    routes,
    "GET",
    "/events",
    action="read",
    tag="events",
    summary="Audit events, newest first",
    description="Keyset paging: pass the `next_before` of a page as `before` to get the next one "
    "(null on the last page). `action` matches a whole action (`device.swapped`) or a "
    "prefix of dotted parts (`device`).",
    params=(
        query("device", s.string(32), "a device's MAC, any spelling"),
        s.customer_filter(),
        query("actor", s.string(100), "who: user:NAME, cli:..., import..."),
        query("action", s.string(64), "what, e.g. device.swapped or device"),
        query("before", s.integer(1, 2**62), "only events older than this event id"),
        s.LIMIT,
    ),
    answers={200: ok(s.EVENTS)},
    errors=(404,),
)
async def events(request: web.Request, a: Args) -> web.Response:
    q = a.query
    return reply(
        await read(
            request,
            queries.events,
            store(request),
            device=q["device"],
            customer=q["customer"],
            actor=q["actor"],
            action=q["action"],
            before=q["before"],
            limit=q["limit"],
        )
    )

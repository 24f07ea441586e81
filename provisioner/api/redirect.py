"""Vendor redirect services over HTTP (provisioner.redirect): accounts, each device's state, retry, sync.

=======  ==============================  ===================================================
method   path                            body / query -> answer
=======  ==============================  ===================================================
GET      /redirect/accounts              the accounts (never a password)
PUT      /redirect/accounts/{vendor}     ``{"rpc_url", "username", "password", "server_name"?}``
DELETE   /redirect/accounts/{vendor}     disable the account
GET      /redirect/devices               ``?customer=&state=`` each device's redirect state
GET      /devices/{mac}/redirect         one device's redirect state
POST     /devices/{mac}/redirect/retry   deliver its waiting or failed change now
POST     /redirect/sync                  ``{"customer"?}``: compare with the vendors, fix what differs
=======  ==============================  ===================================================
"""

from __future__ import annotations

from aiohttp import web

from .. import keys
from ..errors import NotFound
from ..redirect import accounts as redirect_accounts
from ..redirect import support
from ..redirect.worker import pacing_of
from . import actor, call, read, reply, store
from . import schemas as s
from .openapi import Args, ok, operation, path_param, query

routes = web.RouteTableDef()

VENDOR_PARAM = path_param("vendor", s.string(32, min_length=1), "yealink or snom (polycom, grandstream: not yet)")
ACCOUNT = s.answer(
    {
        "vendor": s.TEXT,
        "rpc_url": s.TEXT,
        "username": s.TEXT,
        "server_name": s.nullable(s.TEXT),
        "enabled": {"type": "boolean"},
        "broken": {"type": "boolean"},
        "broken_at": s.TIME_OR_NULL,
        "broken_reason": s.nullable(s.TEXT),
        "protocol": s.TEXT,
    },
    ("vendor", "rpc_url", "username", "enabled", "broken"),
)
ACCOUNT_IN = s.body(
    {
        "rpc_url": s.string(400, min_length=1),
        "username": s.string(128, min_length=1),
        "password": s.string(255, min_length=1),
        "server_name": s.nullable(s.string(128)),
    },
    ("rpc_url", "username", "password"),
)
STATE = s.answer(
    {
        "mac": s.TEXT,
        "vendor": s.TEXT,
        "customer": s.nullable(s.TEXT),
        "desired": s.TEXT,
        "state": s.string(enum=support.STATES),
        "url": s.nullable(s.TEXT),
        "message": s.nullable(s.TEXT),
        "queued": s.integer(0),
        "attempts": s.integer(0),
        "next_attempt_at": s.TIME_OR_NULL,
        "last_error": s.nullable(s.TEXT),
        "held": s.nullable(s.TEXT),
        "hint": s.nullable(s.TEXT),
    },
    ("mac", "vendor", "state", "queued", "attempts"),
)
STATES = s.answer({"items": s.array(STATE)}, ("items",))
RETRIED = s.answer({"due": s.integer(0)}, ("due",))
SYNC_IN = s.body({"customer": s.nullable(s.string(64))})
SYNCED = s.answer(
    {k: s.integer(0) for k in ("checked", "register", "deregister", "in_sync", "unreachable", "delivered")},
    ("checked",),
)


@operation(
    routes,
    "GET",
    "/redirect/accounts",
    action="read",
    tag="redirect",
    summary="The provider's accounts at the vendors' redirect services (no password)",
    answers={200: ok(s.answer({"items": s.array(ACCOUNT)}, ("items",)))},
)
async def list_accounts(request: web.Request, a: Args) -> web.Response:
    return reply({"items": await read(request, redirect_accounts.list_accounts, store(request))})


@operation(
    routes,
    "PUT",
    "/redirect/accounts/{vendor}",
    action="redirect",
    tag="redirect",
    summary="Set the account for a vendor's redirect service; held deliveries go out again",
    params=(VENDOR_PARAM,),
    body=ACCOUNT_IN,
    answers={200: ok(ACCOUNT)},
)
async def set_account(request: web.Request, a: Args) -> web.Response:
    return reply(
        await call(
            request,
            redirect_accounts.set_account,
            store(request),
            actor(request),
            a.path["vendor"],
            rpc_url=a.body["rpc_url"],
            username=a.body["username"],
            password=a.body["password"],
            server_name=a.body.get("server_name"),
        )
    )


@operation(
    routes,
    "DELETE",
    "/redirect/accounts/{vendor}",
    action="redirect",
    tag="redirect",
    summary="Disable a vendor's redirect account (changes are kept, held)",
    params=(VENDOR_PARAM,),
    answers={200: ok(ACCOUNT)},
    errors=(404,),
)
async def disable_account(request: web.Request, a: Args) -> web.Response:
    return reply(await call(request, redirect_accounts.disable, store(request), actor(request), a.path["vendor"]))


@operation(
    routes,
    "GET",
    "/redirect/devices",
    action="read",
    tag="redirect",
    summary="Each device's redirect state (registered, pending, failed, conflict, ...)",
    params=(s.customer_filter(), query("state", s.string(enum=support.STATES))),
    answers={200: ok(STATES)},
    errors=(404,),
)
async def device_states(request: web.Request, a: Args) -> web.Response:
    rows = await read(
        request, support.status, store(request), customer=a.query.get("customer"), state=a.query.get("state")
    )
    return reply({"items": rows})


@operation(
    routes,
    "GET",
    "/devices/{mac}/redirect",
    action="read",
    tag="redirect",
    summary="A device's redirect state",
    params=(s.MAC_PARAM,),
    answers={200: ok(STATE)},
    errors=(404,),
)
async def device_state(request: web.Request, a: Args) -> web.Response:
    rows = await read(request, support.status, store(request), a.path["mac"])
    if not rows:
        raise NotFound(f"device {a.path['mac']} has no redirect state", field="mac")
    return reply(rows[0])


@operation(
    routes,
    "POST",
    "/devices/{mac}/redirect/retry",
    action="devices.assign",
    tag="redirect",
    summary="Deliver the device's waiting or failed redirect change now (the server's worker sends it)",
    params=(s.MAC_PARAM,),
    answers={200: ok(RETRIED)},
    errors=(404,),
)
async def retry(request: web.Request, a: Args) -> web.Response:
    return reply({"due": await call(request, support.retry, store(request), actor(request), a.path["mac"])})


@operation(
    routes,
    "POST",
    "/redirect/sync",
    action="devices.assign",
    tag="redirect",
    summary="Read each device's entry at its vendor and register or deregister what differs",
    body=SYNC_IN,
    body_required=False,
    answers={200: ok(SYNCED)},
    errors=(404,),
)
async def sync(request: web.Request, a: Args) -> web.Response:
    settings = request.config_dict[keys.SETTINGS]
    return reply(
        await support.sync(
            store(request),
            actor(request),
            settings.provisioning_url,
            customer=(a.body or {}).get("customer"),
            pacing=pacing_of(settings),
        )
    )

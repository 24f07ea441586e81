"""Users and their API tokens over HTTP: admins only (action ``users``).

Passwords and tokens go in request bodies only, never in a URL; a new token is
shown once, in the answer that creates it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import accounts
from . import actor, call, page, read, reply, store
from . import schemas as s
from .openapi import Answer, Args, ok, operation, path_param

routes = web.RouteTableDef()


def _user(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row[k] for k in ("id", *accounts.USER_FIELDS)}


@operation(
    routes,
    "GET",
    "/users",
    action="users",
    tag="users",
    summary="List users by name",
    params=s.PAGING,
    answers={200: ok(s.page(s.USER))},
)
async def list_users(request: web.Request, a: Args) -> web.Response:
    return reply(page(await read(request, accounts.list_users, store(request)), a.query["limit"], a.query["offset"]))


@operation(
    routes,
    "POST",
    "/users",
    action="users",
    tag="users",
    summary="Add a user",
    body=s.USER_CREATE,
    answers={201: ok(s.USER, "Created")},
    errors=(409,),
)
async def add_user(request: web.Request, a: Args) -> web.Response:
    row = await call(
        request,
        accounts.add_user,
        store(request),
        actor(request),
        a.body["name"],
        role_=a.body["role"],
        password=a.body["password"],
    )
    return reply(_user(row), 201, {"Location": f"{request.path}/{row['name']}"})


@operation(
    routes,
    "GET",
    "/users/{name}",
    action="users",
    tag="users",
    summary="A user and their API tokens",
    params=(s.USER_PARAM,),
    answers={200: ok(s.USER_DETAIL)},
    errors=(404,),
)
async def get_user(request: web.Request, a: Args) -> web.Response:
    return reply(await read(request, accounts.get_user, store(request), a.path["name"]))


@operation(
    routes,
    "PATCH",
    "/users/{name}",
    action="users",
    tag="users",
    summary="Change a user's role or disable them (their sessions end); the last admin stays",
    params=(s.USER_PARAM,),
    body=s.USER_UPDATE,
    answers={200: ok(s.USER)},
    errors=(404, 409),
)
async def update_user(request: web.Request, a: Args) -> web.Response:
    return reply(
        _user(
            await call(
                request,
                accounts.update_user,
                store(request),
                actor(request),
                a.path["name"],
                role_=a.body.get("role"),
                disabled=a.body.get("disabled"),
            )
        )
    )


@operation(
    routes,
    "PUT",
    "/users/{name}/password",
    action="users",
    tag="users",
    summary="Set a user's password (their sessions end)",
    params=(s.USER_PARAM,),
    body=s.PASSWORD_UPDATE,
    answers={204: Answer("Changed")},
    errors=(404,),
)
async def set_password(request: web.Request, a: Args) -> web.Response:
    await call(request, accounts.set_password, store(request), actor(request), a.path["name"], a.body["password"])
    return web.Response(status=204)


@operation(
    routes,
    "POST",
    "/users/{name}/tokens",
    action="users",
    tag="users",
    summary="A new API token for the user, shown this once",
    params=(s.USER_PARAM,),
    body=s.TOKEN_CREATE,
    answers={201: ok(s.NEW_TOKEN, "Created")},
    errors=(404,),
)
async def create_token(request: web.Request, a: Args) -> web.Response:
    expires = accounts.parse_expiry(a.body.get("expires"))
    token, record = await call(
        request, accounts.create_token, store(request), actor(request), a.path["name"], a.body["label"], expires
    )
    return reply({**record, "token": token}, 201, {"Cache-Control": "no-store"})


@operation(
    routes,
    "DELETE",
    "/users/{name}/tokens/{token_id}",
    action="users",
    tag="users",
    summary="Revoke an API token",
    params=(s.USER_PARAM, path_param("token_id", s.integer(1, 2**62))),
    answers={204: Answer("Revoked")},
    errors=(404,),
)
async def revoke_token(request: web.Request, a: Args) -> web.Response:
    await call(request, accounts.revoke_token, store(request), actor(request), a.path["name"], a.path["token_id"])
    return web.Response(status=204)

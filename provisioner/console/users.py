"""Users, for admins: add one, change a role, lock one out or let them back in, set a password.

Passwords travel only in the POST body, are never shown again and never appear in
a message (:mod:`provisioner.accounts` words its errors without them).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .. import accounts, auth
from ..errors import Conflict, Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, say, store

routes = web.RouteTableDef()
URL = PREFIX + "/users"


@routes.get(URL)
async def users(request: web.Request) -> web.Response:
    await auth.require(request, "users")
    rows = await asyncio.to_thread(accounts.list_users, store(request))
    return page(request, "users.html", {"title": "Users", "users": rows, "roles": accounts.ROLES})


@routes.post(URL)
async def add(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "users", data)
    try:
        row = await call(
            request,
            accounts.add_user,
            store(request),
            user.actor,
            data.get("name", ""),
            role_=data.get("role", ""),
            password=data.get("password", ""),
        )
    except (Invalid, Conflict) as exc:
        return done(request, URL, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(
        request,
        URL,
        say(request, "User {name} added with role {role}.", name=row["name"], role=say(request, "role " + row["role"])),
    )


@routes.post(URL + "/{name}")
async def update(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "users", data)
    name = request.match_info["name"]
    try:
        if data.get("password"):
            await call(request, accounts.set_password, store(request), user.actor, name, data["password"])
            return done(request, URL, say(request, "Password of {name} changed; their open sessions ended.", name=name))
        disabled = {"disable": True, "enable": False}.get(data.get("access", ""))
        row = await call(
            request,
            accounts.update_user,
            store(request),
            user.actor,
            name,
            role_=data.get("role") or None,
            disabled=disabled,
        )
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, URL, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    sentence = "User {name} is now {role}, disabled." if row["disabled"] else "User {name} is now {role}, enabled."
    return done(request, URL, say(request, sentence, name=row["name"], role=say(request, "role " + row["role"])))

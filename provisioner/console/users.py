"""Users, for admins: add one, change a role, lock one out or let them back in, set a password.

Passwords travel only in the POST body, are never shown again and never appear in
a message (:mod:`provisioner.accounts` words its errors without them).
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from .. import accounts, auth
from ..errors import Conflict, Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, store

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
        row = await call(request, accounts.add_user, store(request), user.actor, data.get("name", ""),
                         role_=data.get("role", ""), password=data.get("password", ""))
    except (Invalid, Conflict) as exc:
        return done(request, URL, f"Nothing was changed: {exc.message}", "error")
    return done(request, URL, f"User {row['name']} added with role {row['role']}.")


@routes.post(URL + "/{name}")
async def update(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "users", data)
    name = request.match_info["name"]
    try:
        if data.get("password"):
            await call(request, accounts.set_password, store(request), user.actor, name, data["password"])
            return done(request, URL, f"Password of {name} changed; their open sessions ended.")
        disabled = {"disable": True, "enable": False}.get(data.get("access", ""))
        row = await call(request, accounts.update_user, store(request), user.actor, name,
                         role_=data.get("role") or None, disabled=disabled)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, URL, f"Nothing was changed: {exc.message}", "error")
    state = "disabled" if row["disabled"] else "enabled"
    return done(request, URL, f"User {row['name']} is now {row['role']}, {state}.")

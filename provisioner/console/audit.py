"""The audit log (every change, who and when, filtered and downloadable) and API tokens (admins:
create one for a user, shown once; list; revoke)."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from aiohttp import web

from .. import accounts, auth, queries, rental_reports, rentals
from ..errors import Conflict, Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, say, store, viewer

routes = web.RouteTableDef()

AUDIT_PAGE = 50
AUDIT_FILTERS = ("customer", "device", "actor", "action", "since", "until")
AUDIT_COLUMNS = ("at", "actor", "action", "device_mac", "summary")
AUDIT_HEADERS = {"at": "When (UTC)", "actor": "Who", "action": "Action", "device_mac": "Device", "summary": "What"}
TOKENS = PREFIX + "/tokens"


def _audit_filters(request: web.Request) -> dict[str, Any]:
    return {k: request.query[k].strip() for k in AUDIT_FILTERS if request.query.get(k, "").strip()}


@routes.get(PREFIX + "/audit")
async def audit(request: web.Request) -> web.Response:
    await viewer(request)
    given = _audit_filters(request)
    found = await asyncio.to_thread(
        functools.partial(queries.events, store(request), **given, before=request.query.get("before"), limit=AUDIT_PAGE)
    )
    return page(request, "audit.html", {"title": "Audit log", "found": found, "filters": given})


@routes.get(PREFIX + "/audit.{fmt:csv|xlsx}")
async def audit_download(request: web.Request) -> web.Response:
    """The events these filters select, newest first (up to queries.MAX_EXPORT)."""
    await viewer(request)
    fmt = request.match_info["fmt"]
    found = await asyncio.to_thread(
        queries.events,
        store(request),
        **_audit_filters(request),
        limit=queries.MAX_EXPORT,
        max_limit=queries.MAX_EXPORT,
    )
    rows = [{AUDIT_HEADERS[c]: r.get(c) for c in AUDIT_COLUMNS} for r in found["items"]]
    body = rental_reports.render(rows, list(AUDIT_HEADERS.values()), fmt, title="Audit log")
    return web.Response(
        body=body,
        headers={
            "Content-Type": rental_reports.CONTENT_TYPES[fmt],
            "Content-Disposition": f'attachment; filename="audit-{rentals.today().isoformat()}.{fmt}"',
        },
    )


# --- API tokens --------------------------------------------------------------------------------


def _all_tokens(db: Any) -> tuple[list[dict[str, Any]], list[str]]:
    users = accounts.list_users(db)
    tokens = []
    for user in users:
        for token in accounts.get_user(db, user["name"])["tokens"]:
            ends = token.get("expires_at")
            tokens.append(
                {
                    **token,
                    "user": user["name"],
                    "last_day": accounts.last_day(ends),
                    "expired": accounts.is_expired(ends),
                }
            )
    return tokens, [u["name"] for u in users if not u.get("disabled")]


async def _tokens_page(request: web.Request, new: dict[str, str] | None = None) -> web.Response:
    tokens, names = await asyncio.to_thread(_all_tokens, store(request))
    return page(request, "tokens.html", {"title": "API tokens", "tokens": tokens, "names": names, "new": new})


@routes.get(TOKENS)
async def tokens(request: web.Request) -> web.Response:
    await auth.require(request, "users")
    return await _tokens_page(request)


@routes.post(TOKENS)
async def create(request: web.Request) -> web.Response:
    """The token is on this page only, once: never in a redirect, a cookie, a message or a log."""
    data = await form(request)
    user = await acting(request, "users", data)
    try:
        expires = accounts.parse_expiry(data.get("expires"))
        token, record = await call(
            request,
            accounts.create_token,
            store(request),
            user.actor,
            data.get("user", ""),
            data.get("label", ""),
            expires,
        )
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, TOKENS, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return await _tokens_page(request, {"token": token, "label": record["label"], "user": data.get("user", "")})


@routes.post(TOKENS + "/{user}/{id:\\d+}/revoke")
async def revoke(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "users", data)
    name, token_id = request.match_info["user"], int(request.match_info["id"])
    try:
        await call(request, accounts.revoke_token, store(request), user.actor, name, token_id)
    except (Invalid, NotFound, Conflict) as exc:
        return done(request, TOKENS, say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(
        request,
        TOKENS,
        say(request, "Token {id} of {user} revoked: it no longer opens the API.", id=token_id, user=name),
    )

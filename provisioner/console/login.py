"""Signing in and out of the console.

The sign-in form has no session yet, so it carries a pre-session token instead
(the same random value in a cookie and in the form: a page elsewhere can submit
the form but cannot read the cookie, so it cannot sign a browser into another
account). Failed attempts count per client address and per name
(:class:`provisioner.accounts.LoginLimiter`); past the limit the answer is a 429
page saying how long to wait, and the password is not even checked.

The session cookie is HttpOnly and SameSite=Strict, Secure when the request
came over HTTPS (``--secure-cookies always`` behind a TLS-terminating proxy),
and lasts ``--session-ttl`` hours.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets

from aiohttp import web

from .. import accounts, auth
from ..errors import Forbidden, RateLimited
from . import LIMITER, PREFIX, done, form, local_next, log, page, redirect, say, secure_cookies, session_ttl, store

routes = web.RouteTableDef()

LOGIN_COOKIE = "provisioner_login"


@routes.get("/")
async def root(_request: web.Request) -> web.Response:
    return redirect(PREFIX + "/")


@routes.get(PREFIX)
async def console_root(_request: web.Request) -> web.Response:
    return redirect(PREFIX + "/")


async def _login_page(
    request: web.Request,
    *,
    error: str | None = None,
    name: str = "",
    status: int = 200,
    wait: int | None = None,
    target: str | None = None,
) -> web.Response:
    token = secrets.token_urlsafe(32)
    target = local_next(target if target is not None else request.query.get("next"))
    response = page(
        request,
        "login.html",
        {
            "title": "Sign in",
            "error": error,
            "name": name,
            "wait": wait,
            "next": target,
            "login_token": token,
            "no_users": await asyncio.to_thread(_no_users, store(request)),
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        path=PREFIX + "/login",
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        max_age=3600,
    )
    if wait is not None:
        response.headers["Retry-After"] = str(wait)
    return response


@routes.get(PREFIX + "/login")
async def login_form(request: web.Request) -> web.Response:
    if await auth.identify(request) is not None and auth.session(request) is not None:
        return redirect(local_next(request.query.get("next")))
    return await _login_page(request)


@routes.post(PREFIX + "/login")
async def login(request: web.Request) -> web.Response:
    data = await form(request)
    expected = request.cookies.get(LOGIN_COOKIE, "")
    given = data.get("login_token", "")
    if not expected or not hmac.compare_digest(expected.encode(), str(given).encode()):
        raise Forbidden("the sign-in form has expired or did not come from this console: open the sign-in page again")
    name = str(data.get("name", ""))[:100]
    password = str(data.get("password", ""))
    target = local_next(str(data.get("next", "")))
    ip = request.remote or ""
    limiter = request.app[LIMITER]
    try:
        limiter.check(ip, name)
    except RateLimited as exc:
        log.warning("console_login_limited", ip=ip)
        return await _login_page(request, error=exc.message, name=name, status=429, wait=exc.retry_after, target=target)
    db = store(request)
    user = await asyncio.to_thread(accounts.authenticate, db, name, password)
    if user is None:
        limiter.failed(ip, name)
        log.info("console_login_failed", ip=ip)
        return await _login_page(request, error="wrong name or password", name=name, status=401, target=target)
    limiter.succeeded(name)
    old = request.cookies.get(auth.SESSION_COOKIE)
    if old:
        await asyncio.to_thread(accounts.end_session, db, old)
    token, _session = await asyncio.to_thread(
        accounts.start_session, db, user, ip=ip, user_agent=request.headers.get("User-Agent"), ttl=session_ttl(request)
    )
    log.info("console_login", user=user.name, ip=ip)
    response = done(request, target, say(request, "Signed in as {name} ({role}).", name=user.name, role=user.role))
    response.set_cookie(
        auth.SESSION_COOKIE,
        token,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        max_age=int(session_ttl(request).total_seconds()),
    )
    response.del_cookie(LOGIN_COOKIE, path=PREFIX + "/login")
    return response


@routes.post(PREFIX + "/logout")
async def logout(request: web.Request) -> web.Response:
    data = await form(request)
    await auth.identify(request)
    if auth.session(request) is not None:
        auth.check_csrf(request, data.get(auth.CSRF_FIELD) or "")
        await asyncio.to_thread(accounts.end_session, store(request), request.cookies[auth.SESSION_COOKIE])
    response = done(request, PREFIX + "/login", say(request, "Signed out."))
    response.del_cookie(auth.SESSION_COOKIE, path="/")
    return response


def _no_users(db) -> bool:  # type: ignore[no-untyped-def]
    with db.reading() as tx:
        return tx.count_users() == 0

"""The support console under ``/console/``: server-rendered pages over the same services.

Every page needs a signed-in user (a session cookie from :mod:`.login`); every
form carries the session's CSRF token and every action asks
:func:`provisioner.auth.require` for its permission before calling a service with
``actor = user.actor``. Pages are Jinja2 with autoescape on; no page needs
JavaScript. A change answers with a redirect (POST-redirect-GET) and a one-time
message saying what was done.

Console responses carry strict security headers (:data:`SECURITY_HEADERS`) and
domain errors become pages: 401 a redirect to the sign-in page, 403/404/429 an
error page, a bad form value a message on the page the form came from.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
import structlog
from aiohttp import web

from .. import accounts, auth, keys, rentals
from ..accounts import User
from ..db import Store
from ..errors import NotFound, ProvisionerError, RateLimited, Unauthorized, Unavailable
from . import i18n, i18n_reasons

log = structlog.get_logger("provisioner.console")

PREFIX = "/console"
HERE = Path(__file__).resolve().parent
JINJA = web.AppKey("console_jinja", jinja2.Environment)
LIMITER = web.AppKey("console_login_limiter", accounts.LoginLimiter)
FLASH_COOKIE = "provisioner_flash"
T = TypeVar("T")

SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
}


def _ours(path: str) -> bool:
    return path == "/" or path == PREFIX or path.startswith(PREFIX + "/")


@web.middleware
async def middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    if not _ours(request.path):
        return await handler(request)
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        exc.headers.update(SECURITY_HEADERS)
        raise
    except Unauthorized:
        response = redirect(login_url(request))
    except (RateLimited, Unavailable) as exc:
        response = error_page(request, exc, headers={"Retry-After": str(exc.retry_after)})
    except ProvisionerError as exc:
        response = error_page(request, exc)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception:
        log.exception("console_error", method=request.method, path=request.path)
        response = error_page(
            request, ProvisionerError("the server failed to show this page; the error has been logged"), status=500
        )
    response.headers.update(SECURITY_HEADERS)
    return response


def error_page(
    request: web.Request, exc: ProvisionerError, headers: dict[str, str] | None = None, status: int | None = None
) -> web.Response:
    status = status or exc.status
    titles = {403: "Not allowed", 404: "Not found", 409: "Conflict", 429: "Too many attempts", 500: "Server error"}
    response = page(
        request,
        "error.html",
        {"title": say(request, titles.get(status, "Something is wrong")), "message": exc.message, "status": status},
        status=status,
    )
    if headers:
        response.headers.update(headers)
    return response


def login_url(request: web.Request) -> str:
    target = request.path_qs if request.method == "GET" and request.path.startswith(PREFIX + "/") else ""
    return f"{PREFIX}/login" + (f"?next={quote(target, safe='')}" if target and target != PREFIX + "/" else "")


def local_next(value: str | None) -> str:
    """Where to go after signing in: a console path on this server, else the dashboard."""
    if (
        not value
        or not value.startswith(PREFIX + "/")
        or value.startswith("//")
        or "\\" in value
        or any(ord(ch) < 32 or ord(ch) == 127 for ch in value)
        or len(value) > 2000
    ):
        return PREFIX + "/"
    return value


# --- the request's user, forms, messages ---------------------------------------------


def store(request: web.Request) -> Store:
    return request.config_dict[keys.STORE]


async def viewer(request: web.Request) -> User:
    """The signed-in user of a page (any role may read)."""
    return await auth.require(request, "read")


async def form(request: web.Request) -> dict[str, str]:
    """The posted fields, trimmed; passwords exactly as typed."""
    data = await request.post()
    return {
        k: v.strip() if isinstance(v, str) and "password" not in k else v  # type: ignore[misc]
        for k, v in data.items()
    }


async def acting(request: web.Request, action: str, data: dict[str, Any]) -> User:
    """The user doing ``action`` with this form: signed in, allowed, showing the CSRF token."""
    given = data.get(auth.CSRF_FIELD)
    return await auth.require(request, action, csrf=given if isinstance(given, str) else "")


async def call(request: web.Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A synchronous service in a worker thread. What it commits is in the cache before the page is
    sent (:func:`provisioner.web.sync_after_writes`)."""
    return await asyncio.to_thread(func, *args, **kwargs)


def flash(response: web.StreamResponse, request: web.Request, message: str, kind: str = "ok") -> None:
    """A message shown once on the next page (kind: ok | error)."""
    raw = json.dumps({"kind": kind, "message": message[:1500]}).encode()
    response.set_cookie(
        FLASH_COOKIE,
        base64.urlsafe_b64encode(raw).decode(),
        path=PREFIX + "/",
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        max_age=120,
    )


def done(request: web.Request, location: str, message: str, kind: str = "ok") -> web.Response:
    """Redirect (303) to ``location`` with a message saying what was done (or what went wrong)."""
    response = redirect(location)
    flash(response, request, message, kind)
    return response


def redirect(location: str) -> web.Response:
    """303 See Other: after a POST the browser GETs ``location``."""
    return web.Response(status=303, headers={"Location": location})


def _take_flash(request: web.Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(raw.encode()))
        return {"kind": "error" if data.get("kind") == "error" else "ok", "message": str(data["message"])}
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def lang(request: web.Request) -> str:
    """The language of this request's pages (:func:`.i18n.choose`)."""
    return i18n.choose(request.cookies.get(i18n.COOKIE), request.headers.get("Accept-Language"))


def say(request: web.Request, text: str, /, **params: Any) -> str:
    """A sentence for this user, in their language (:data:`.i18n.IT` for Italian)."""
    return i18n.translate(lang(request), text, **params)


def secure_cookies(request: web.Request) -> bool:
    mode = request.config_dict[keys.SETTINGS].secure_cookies
    return mode == "always" or (mode == "auto" and request.secure)


def _base_context(request: web.Request, context: dict[str, Any]) -> dict[str, Any]:
    session = auth.session(request)
    language = lang(request)
    return {
        "user": session.user if session else None,
        "csrf_token": session.csrf_token if session else "",
        "prefix": PREFIX,
        "lang": language,
        "langs": i18n.LANGS,
        "path_qs": request.path_qs,
        "t": lambda text, **params: i18n.translate(language, text, **params),
        "ago": lambda value: i18n.ago(language, value),
        "reason": lambda text: i18n_reasons.reason(text, language),
        "fix": lambda field, text: i18n_reasons.fix(field, text, language),
        "plan_summary": lambda counts: i18n_reasons.plan_summary(counts, language),
        "presence": i18n.presence,
        "zone_name": rentals.PROVIDER_TZ,
        "zone_label": i18n.zone_label(),
        "flash": _take_flash(request),
        "q": request.query.get("q", ""),
        "path": request.path,
        **context,
    }


def page(request: web.Request, template: str, context: dict[str, Any], status: int = 200) -> web.Response:
    if isinstance(context.get("title"), str):
        context = {**context, "title": say(request, context["title"])}
    response = aiohttp_jinja2.render_template(
        template, request, _base_context(request, context), app_key=JINJA, status=status
    )
    if request.cookies.get(FLASH_COOKIE):
        response.del_cookie(FLASH_COOKIE, path=PREFIX + "/")
    return response


# --- template helpers --------------------------------------------------------------


def _mac(value: str | None) -> str:
    if not value:
        return ""
    return ":".join(value[i : i + 2] for i in range(0, len(value), 2))


def _eur(value: Any) -> str:
    return "-" if value is None else rentals.eur(value)


def _cents(value: int | None) -> str:
    return "-" if value is None else rentals.eur(rentals.from_cents(value))


def session_ttl(request: web.Request) -> timedelta:
    return timedelta(hours=request.config_dict[keys.SETTINGS].session_ttl_hours)


def setup(app: web.Application, middlewares: tuple[Any, ...] = ()) -> None:
    """Mount the console as a sub-application under :data:`PREFIX`: its routes, templates, static
    files and middleware (``middlewares``, then ours), which phone requests never pass through.
    The root's redirect (``/``) stays on ``app``, with our middleware around it alone."""
    from ..subapps import outside, relative
    from . import (
        audit,
        bulk,
        customer_settings,
        customers,
        devices,
        editing,
        imports,
        key_pages,
        login,
        pages,
        phonebook_page,
        redirects,
        users,
    )

    sub = web.Application(middlewares=[*middlewares, middleware])
    env = aiohttp_jinja2.setup(
        sub,
        app_key=JINJA,
        autoescape=True,
        loader=jinja2.FileSystemLoader(str(HERE / "templates")),
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(mac=_mac, when=i18n.when, eur=_eur, cents=_cents)
    env.globals.update(states=rentals.STATES)
    sub[LIMITER] = accounts.LoginLimiter()
    for module in (
        login,
        pages,
        devices,
        customers,
        editing,
        imports,
        users,
        redirects,
        bulk,
        audit,
        key_pages,
        phonebook_page,
        customer_settings,
    ):
        sub.add_routes(relative(PREFIX, module.routes))
        for route in outside(PREFIX, module.routes):
            app.router.add_route(
                route.method, route.path, functools.partial(middleware, handler=route.handler), **route.kwargs
            )
    sub.router.add_get("/lang/{lang}", _language)
    sub.router.add_static("/static/", HERE / "static", name="console_static")
    sub.router.add_get("/{tail:.*}", _no_such_page)  # last of ours: not the phone route's 404
    app.add_subapp(PREFIX, sub)


async def _language(request: web.Request) -> web.Response:
    """The header's language switch: remembered in a cookie for a year, back to the same page."""
    chosen = request.match_info["lang"]
    if chosen not in i18n.LANGS:
        raise NotFound(f"the console speaks {' and '.join(i18n.LANGS)}, not {chosen!r}")
    response = redirect(local_next(request.query.get("next")))
    response.set_cookie(
        i18n.COOKIE, chosen, path=PREFIX + "/", samesite="Lax", secure=secure_cookies(request), max_age=365 * 86400
    )
    return response


async def _no_such_page(request: web.Request) -> web.Response:
    await viewer(request)
    raise NotFound(f"there is no console page {request.path!r}")

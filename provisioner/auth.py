"""Who is asking, for the admin API and the console: the user behind an API token
(``Authorization: Bearer prov_...``) or behind a console session cookie.

Handlers call :func:`require` with the action they are about to do
(:data:`provisioner.accounts.PERMISSIONS`). A request signed in by cookie that
changes something must also carry the session's CSRF token, as a form field
``csrf_token`` (console forms) or an ``X-CSRF-Token`` header; a token-signed
request needs none (a browser never adds the header by itself).
"""

from __future__ import annotations

import asyncio
import hmac

from aiohttp import web

from . import accounts, keys
from .accounts import Session, User
from .errors import Forbidden, Unauthorized

SESSION_COOKIE = "provisioner_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_IDENTIFIED = web.RequestKey("auth_identified", bool)
# A union is no `type`, which the key's second argument is typed as: its type comes from the annotation.
_USER: web.RequestKey[User | None] = web.RequestKey("auth_user", User | None)  # type: ignore[arg-type]
_SESSION: web.RequestKey[Session | None] = web.RequestKey("auth_session", Session | None)  # type: ignore[arg-type]


async def identify(request: web.Request) -> User | None:
    """The signed-in user, or None. Looked up once per request."""
    if request.get(_IDENTIFIED):
        return request.get(_USER)
    store = request.config_dict[keys.STORE]
    user: User | None = None
    session: Session | None = None
    scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and credential:
        user = await asyncio.to_thread(accounts.user_for_token, store, credential.strip())
    elif cookie := request.cookies.get(SESSION_COOKIE):
        session = await asyncio.to_thread(accounts.session_for, store, cookie)
        user = session.user if session else None
    request[_IDENTIFIED] = True
    request[_USER] = user
    request[_SESSION] = session
    return user


def session(request: web.Request) -> Session | None:
    """The console session of this request (after :func:`identify`), if it came by cookie."""
    return request.get(_SESSION)


def check_csrf(request: web.Request, given: str | None) -> None:
    """Refuse a change made by cookie without the session's CSRF token."""
    current = session(request)
    if current is None or request.method in SAFE_METHODS:
        return
    if not given or not hmac.compare_digest(given.encode(), current.csrf_token.encode()):
        raise Forbidden(
            "the form has expired or did not come from this console; reload the page and try again", field=CSRF_FIELD
        )


async def require(request: web.Request, action: str, *, csrf: str | None = None) -> User:
    """The user, when signed in, allowed to do ``action`` and (by cookie) showing the CSRF token.

    Raises :class:`Unauthorized` (401) without a valid token or session and
    :class:`Forbidden` (403) for a role that may not, or a missing CSRF token.
    """
    user = await identify(request)
    if user is None:
        raise Unauthorized("sign in first: send 'Authorization: Bearer <API token>' or use the console")
    accounts.require(user, action)
    check_csrf(request, csrf if csrf is not None else request.headers.get(CSRF_HEADER))
    return user

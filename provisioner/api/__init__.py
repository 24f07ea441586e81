"""The admin JSON API under ``/api/v1/``.

Every handler is thin: its declaration (:mod:`provisioner.api.openapi`) signs the
caller in and checks the role and the inputs; the handler calls one service (in a
worker thread, the services are synchronous) and returns JSON. Callers are users:
``Authorization: Bearer prov_...`` (an API token of the user, ``provisioner user
token``) or a console session cookie with its CSRF header. Every change is recorded
with the acting user (``user:NAME``).

Errors are JSON ``{"error": key, "message": ..., "field": ...}`` with the status of
the domain error (see :mod:`provisioner.errors`), also for unknown paths (404), a
method a path does not take (405) and a body too large (413). The OpenAPI document
is at ``/api/v1/openapi.json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from aiohttp import web

from .. import keys, queries
from ..db import Store, unavailable
from ..errors import ProvisionerError, Unauthorized
from ..jsonable import dumps
from .openapi import HANDLERS, PREFIX, USER, allowed_methods

T = TypeVar("T")
log = structlog.get_logger("provisioner.api")

__all__ = ["PREFIX", "actor", "call", "guard", "page", "read", "reply", "setup", "store"]


def reply(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps, headers=headers)


def page(items: list[Any], limit: int | None, offset: int | None) -> dict[str, Any]:
    """One page of a list held in memory, shaped like every paginated answer."""
    size, start = queries.page_args(limit, offset)
    return {"items": items[start : start + size], "total": len(items), "limit": size, "offset": start}


def _error(status: int, key: str, message: str, headers: dict[str, str] | None = None) -> web.Response:
    return reply({"error": key, "message": message}, status, headers)


@web.middleware
async def guard(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """Under /api/v1 every answer is JSON: errors, unknown paths and methods included."""
    if request.match_info.handler not in HANDLERS:  # no route at all
        methods = allowed_methods(request.path)
        if methods:
            return _error(
                405,
                "method_not_allowed",
                f"{request.method} is not allowed here; use {', '.join(methods)}",
                {"Allow": ", ".join(methods)},
            )
        return _error(404, "not_found", f"no API endpoint at {request.path}; see {PREFIX}/openapi.json")
    try:
        return await handler(request)
    except Unauthorized as exc:
        return reply(exc.to_dict(), exc.status, {"WWW-Authenticate": 'Bearer realm="provisioner"'})
    except ProvisionerError as exc:
        retry = getattr(exc, "retry_after", None)
        return reply(exc.to_dict(), exc.status, {"Retry-After": str(retry)} if retry is not None else None)
    except web.HTTPRequestEntityTooLarge:
        return _error(413, "too_large", "the request body is too large")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason.lower().replace(" ", "_"), exc.reason)
    except (asyncio.CancelledError, ConnectionError):
        raise
    except Exception as exc:
        busy = unavailable(exc)  # the database, not this server: 503, try again
        if busy is not None:
            log.warning("database_unavailable", method=request.method, path=request.path, reason=busy.reason)
            return reply(busy.to_dict(), busy.status, {"Retry-After": str(busy.retry_after)})
        log.exception("api_error", method=request.method, path=request.path)
        return _error(500, "server_error", "the server failed to handle this request; it has been logged")


def actor(request: web.Request) -> str:
    """The signed-in user as audit events name them, ``user:NAME``."""
    user = request.get(USER)
    if user is None:
        raise Unauthorized("sign in first: send 'Authorization: Bearer <API token>'")
    return user.actor


def store(request: web.Request) -> Store:
    return request.config_dict[keys.STORE]


async def call(request: web.Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous service in a worker thread. What it commits is in the cache before the
    answer is sent (:func:`provisioner.web.sync_after_writes`)."""
    return await asyncio.to_thread(func, *args, **kwargs)


async def read(request: web.Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous read in a worker thread."""
    return await asyncio.to_thread(func, *args, **kwargs)


def setup(app: web.Application, middlewares: tuple[Any, ...] = ()) -> None:
    """Mount the API as a sub-application under :data:`PREFIX` with its own middleware (``guard``
    first, then ``middlewares``): phone requests never pass through them."""
    from ..subapps import relative
    from . import core, firmware, function_keys, imports, meta, redirect, rentals, resync, security, users

    sub = web.Application(middlewares=[guard, *middlewares])  # the body limit is the root's
    for module in (meta, resync, core, rentals, imports, users, security, redirect, function_keys, firmware):
        sub.add_routes(relative(PREFIX, module.routes))
    app.add_subapp(PREFIX, sub)

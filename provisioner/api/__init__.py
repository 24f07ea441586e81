"""The admin JSON API under ``/api/v1/``.

Every handler is thin: parse the request, call one service (in a worker thread,
the services are synchronous), return JSON. Errors are JSON
``{"error": key, "message": ..., "field": ...}`` with the status of the domain
error (see :mod:`provisioner.errors`).

Until user accounts land, the API is guarded by one bearer token from
``PROVISIONER_ADMIN_TOKEN`` (``--admin-token``); with no token configured the
API answers 403 to everything: no default opens it.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Callable
from typing import Any, TypeVar

from aiohttp import web

from .. import keys
from ..errors import Invalid
from ..store import Store

PREFIX = "/api/v1"
T = TypeVar("T")


@web.middleware
async def guard(request: web.Request, handler):  # type: ignore[no-untyped-def]
    if not request.path.startswith(PREFIX + "/"):
        return await handler(request)
    expected = request.app[keys.SETTINGS].admin_token
    if not expected:
        return web.json_response({"error": "api_disabled",
                                  "message": "the admin API is off: start the server with "
                                             "PROVISIONER_ADMIN_TOKEN set"}, status=403)
    given = request.headers.get("Authorization", "")
    scheme, _, token = given.partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        return web.json_response({"error": "unauthorized", "message": "a valid bearer token is required"},
                                 status=401, headers={"WWW-Authenticate": 'Bearer realm="provisioner"'})
    return await handler(request)


def actor(request: web.Request) -> str:
    return "api:admin-token"


def store(request: web.Request) -> Store:
    return request.app[keys.STORE]


async def call(request: web.Request, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a synchronous service in a worker thread, then let every cache see the change now."""
    result = await asyncio.to_thread(func, *args, **kwargs)
    await request.app[keys.CACHE].sync()
    return result


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        raise Invalid("the request body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise Invalid("the request body must be a JSON object", field="body")
    return data


def setup(app: web.Application) -> None:
    from . import core, imports, rentals, security

    for module in (core, imports, rentals, security):
        app.add_routes(module.routes)

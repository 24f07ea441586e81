"""Mounting the API and the console as aiohttp sub-applications.

Their route tables name full paths (``PREFIX + "/customers"``); a sub-application's routes are
relative to its prefix. Mounted this way a phone request passes only the root application's
middleware, not the API's nor the console's."""

from __future__ import annotations

from collections.abc import Iterable

from aiohttp import web


def relative(prefix: str, table: Iterable[web.AbstractRouteDef]) -> list[web.AbstractRouteDef]:
    """The route definitions of ``table`` that lie under ``prefix``, with the prefix taken off
    (``PREFIX`` itself becomes ``""``, the sub-application's root)."""
    out: list[web.AbstractRouteDef] = []
    for route in table:
        if not isinstance(route, web.RouteDef):
            raise TypeError(f"cannot mount {route!r} under {prefix}: only plain routes")
        if route.path != prefix and not route.path.startswith(prefix + "/"):
            continue
        out.append(web.RouteDef(route.method, route.path[len(prefix) :], route.handler, route.kwargs))
    return out


def outside(prefix: str, table: Iterable[web.AbstractRouteDef]) -> list[web.RouteDef]:
    """The route definitions of ``table`` that do not lie under ``prefix`` (the root's redirect)."""
    return [
        route
        for route in table
        if isinstance(route, web.RouteDef) and route.path != prefix and not route.path.startswith(prefix + "/")
    ]

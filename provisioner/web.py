"""The HTTP side: the application factory, health and metrics, and the phone route.

The phone route is a thin adapter over :class:`provisioner.resolver.Resolver`;
it adds only HTTP's own concerns (ETag/304, HEAD, PUT bodies, status codes).
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable

import structlog
from aiohttp import hdrs, web
from aiohttp.http import HttpVersion11
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import api, console, firmware, keys, lifecycle, wire
from .db import counting_commits, unavailable
from .errors import ProvisionerError, Unavailable
from .redirect import worker as redirect_worker
from .resolver import Reply, Request, Resolver
from .settings import Settings

log = structlog.get_logger("provisioner.web")

Handler = Callable[[web.BaseRequest], Awaitable[web.StreamResponse]]

routes = web.RouteTableDef()
phone_routes = web.RouteTableDef()

# Phones never need a body larger than this; Polycom uploads are bounded again per file.
MAX_BODY = 4 * 1024 * 1024


@web.middleware
async def error_middleware(request: web.Request, handler):  # type: ignore[no-untyped-def]
    try:
        return await handler(request)
    except (asyncio.CancelledError, ConnectionError, web.HTTPException):
        raise
    except Exception as exc:
        return _error_response(exc)


def _error_response(exc: Exception) -> web.Response:
    """The answer to what a handler raised: 503 when the database cannot take it now (try again,
    never a 500), a JSON error for our own; anything else is raised again (aiohttp's 500)."""
    if isinstance(exc, Unavailable):
        return _unavailable(exc)
    if isinstance(exc, ProvisionerError):
        return web.json_response(exc.to_dict(), status=exc.status)
    busy = unavailable(exc)
    if busy is None:
        raise exc
    return _unavailable(busy)


@web.middleware
async def sync_after_writes(request: web.Request, handler):  # type: ignore[no-untyped-def]
    """A console or API request that committed a write syncs this process's config cache before it
    answers (one sync, however many transactions), so the next phone fetch gets the new file.
    Mounted on the API's and the console's sub-applications only: phone requests are not counted,
    their writes (uploads) change no rendered file."""
    with counting_commits() as commits:
        try:
            return await handler(request)
        finally:
            if commits[0]:
                await request.config_dict[keys.CACHE].sync()


def _unavailable(exc: Unavailable) -> web.Response:
    log.warning("database_unavailable", reason=exc.reason)
    # A phone (or a script) retries after Retry-After; the reason is a key, never the driver's text.
    return web.json_response(exc.to_dict(), status=503, headers={"Retry-After": str(exc.retry_after)})


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    """200 when the database can be read and written; 503 with a JSON reason when it cannot
    (unreachable, locked, read-only, disk full)."""
    store = request.app[keys.STORE]
    try:
        await asyncio.to_thread(store.check_writable)
    except Unavailable as exc:
        log.warning("health_check_failed", reason=exc.reason)
        return web.json_response(
            {"status": "error", "database": exc.reason, "message": exc.message},
            status=503,
            headers={"Retry-After": str(exc.retry_after)},
        )
    except Exception:
        log.exception("health_check_failed")
        return web.json_response({"status": "error", "database": "unreachable"}, status=503)
    return web.json_response({"status": "ok", "cached_files": request.app[keys.CACHE].size})


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    await _firmware_gauge(request.app)
    response = web.Response(body=generate_latest())
    response.content_type = CONTENT_TYPE_LATEST.split(";")[0]
    return response


async def _firmware_gauge(app: web.Application) -> None:
    """``provisioner_firmware_upgrading{customer=CODE}`` from this node's upgrade slots (CODE "": phones
    of no customer)."""
    rollout = app[keys.RESOLVER].rollout if keys.RESOLVER in app else None
    slots = rollout.slots_now() if rollout is not None else []
    counts = await asyncio.to_thread(firmware.upgrading, app[keys.STORE], slots) if slots else []
    keys.FIRMWARE_UPGRADING.clear()
    for row in counts:
        keys.FIRMWARE_UPGRADING.labels(row["customer"] or "").set(row["upgrading"])


@phone_routes.route("GET", "/{path:.*}")
@phone_routes.route("PUT", "/{path:.*}")
async def phone_file(request: web.Request) -> web.StreamResponse:
    """The phone route: every path no other route claims. In the server, phones' GET and HEAD come
    to :func:`answer_phone` without it (:func:`phone_first`); PUT (uploads) and the test apps pass here."""
    return await answer_phone(request, request.app[keys.RESOLVER], request.match_info["path"])


async def answer_phone(request: web.BaseRequest, resolver: Resolver, path: str) -> web.StreamResponse:
    if request.method != "PUT":
        response = _warm_response(request, resolver, path)
        if response is not None:
            return response
    return await _resolve_phone(request, resolver, path)


def _warm_response(request: web.BaseRequest, resolver: Resolver, path: str) -> web.StreamResponse | None:
    """A repeat of a request served before (a warm phone, a boot storm), answered from memory; None
    when it must go the whole way (:func:`_resolve_phone`). Not a coroutine: a warm reply costs none.
    A plain GET that keeps its connection gets the reply's prebuilt head (:mod:`provisioner.wire`);
    anything else aiohttp's own response."""
    headers = request.headers
    kept = resolver.warm(path, headers.get(hdrs.USER_AGENT), request.remote or "", "http")
    if kept is None:
        return None
    keys.count_served_http()
    # _prebuilt_fits, inlined: a call more per warm request
    if (
        request.method == "GET"
        and request.version == HttpVersion11
        and request.keep_alive
        and hdrs.IF_NONE_MATCH not in headers
    ):
        head = kept.head
        if head is None:
            head = kept.head = wire.head(kept.reply)
        return wire.Prebuilt(request, head, kept.reply.body)
    return _file_response(request, kept.reply)


async def _resolve_phone(request: web.BaseRequest, resolver: Resolver, path: str) -> web.StreamResponse:
    """The whole way through :meth:`Resolver.resolve` (no warm reply for this request)."""
    method = request.method
    body = await request.read() if method == "PUT" else None
    reply = await resolver.resolve(
        Request(
            path=path,
            client_ip=request.remote or "",
            user_agent=request.headers.get(hdrs.USER_AGENT),
            transport="http",
            method=method,
            body=body,
            authorization=request.headers.get(hdrs.AUTHORIZATION),
            secure=request.secure,
            peer_cert=_peer_cert(request) if request.secure else None,
        )
    )
    keys.count(reply, "http")
    if reply.status != 200:
        headers = {"WWW-Authenticate": reply.challenge} if reply.challenge else None
        return web.Response(status=reply.status, text=_REASONS.get(reply.status, "error") + "\n", headers=headers)
    if reply.file is not None:
        # A firmware image: streamed from disk; Range, If-Range, 206 and 416 come with FileResponse.
        return web.FileResponse(reply.file, headers={"Content-Type": reply.content_type})
    if _prebuilt_fits(request):
        # A first fetch in a boot storm: the same bytes aiohttp would send, without its field-by-field build.
        return wire.Prebuilt(request, wire.head(reply), reply.body)
    return _file_response(request, reply)


def _prebuilt_fits(request: web.BaseRequest) -> bool:
    """Whether a 200 to ``request`` may be a :class:`wire.Prebuilt`: a GET over HTTP/1.1 that keeps its
    connection and asks no conditional question (anything else is aiohttp's own response's to answer)."""
    return (
        request.method == "GET"
        and request.version == HttpVersion11
        and request.keep_alive
        and hdrs.IF_NONE_MATCH not in request.headers
    )


def _file_response(request: web.BaseRequest, reply: Reply) -> web.Response:
    # A device's file holds passwords: no shared cache may keep it.
    etag = reply.etag
    if etag:
        if etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
            return web.Response(status=304, headers={"Cache-Control": "no-store", "ETag": etag})
        headers = {"Cache-Control": "no-store", "ETag": etag, "Content-Type": reply.content_type}
    else:
        headers = {"Cache-Control": "no-store", "Content-Type": reply.content_type}
    return web.Response(body=reply.body, headers=headers)


def phone_first(app: web.Application, handler: Handler) -> Handler:
    """The server's request handler (``runner.server.request_handler``): a GET or HEAD of a path no
    other route claims goes straight to :func:`answer_phone`, past the router and the middlewares
    (what they cost a warm request was most of its time beyond the lookup, issue 19); anything else
    (the console, the API, /healthz, /metrics, PUT uploads, other methods) goes to ``handler``, the
    application's own. Errors are answered as :func:`error_middleware` answers them."""
    claimed = claimed_segments(app)
    resolver = app[keys.RESOLVER]

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method in _FAST_METHODS:
            path = request.path
            end = path.find("/", 1)
            if (path[1:end] if end > 0 else path[1:]) not in claimed:
                # answer_phone, inlined: a warm reply costs no coroutine of its own.
                response = _warm_response(request, resolver, path[1:])
                if response is not None:
                    return response
                try:
                    return await _resolve_phone(request, resolver, path[1:])
                except (asyncio.CancelledError, ConnectionError, web.HTTPException):
                    raise
                except Exception as exc:
                    return _error_response(exc)
        return await handler(request)

    return handle


_FAST_METHODS = frozenset({"GET", "HEAD"})


def claimed_segments(app: web.Application) -> frozenset[str]:
    """The first path segments the application's other routes answer ("" for "/"): a request under
    one of them is not a phone's. Fails when a route's first segment is a variable (nothing could
    tell its requests from a phone's without the router)."""
    claimed = set()
    for resource in app.router.resources():
        if any(route.handler is phone_file for route in resource):
            continue
        first = resource.canonical.partition("/")[2].partition("/")[0]
        if "{" in first:
            raise RuntimeError(f"route {resource.canonical} starts with a variable: phone_first cannot tell it apart")
        claimed.add(first)
    return frozenset(claimed)


_REASONS = {
    201: "stored",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    405: "method not allowed",
    413: "too large",
    500: "server error",
    503: "service unavailable",
}


def _peer_cert(request: web.BaseRequest) -> dict | None:
    """The client certificate the handshake verified (``--client-ca``), or None."""
    transport = request.transport
    tls = transport.get_extra_info("ssl_object") if transport is not None else None
    return (tls.getpeercert() or None) if tls is not None else None


def tls_context(settings: Settings) -> ssl.SSLContext:
    """The server side of HTTPS for phones, from --tls-cert and --tls-key (PEM).

    With --client-ca, a client certificate is asked for but not required (ssl.CERT_OPTIONAL): one
    shown must verify against that bundle (else the handshake fails); a phone's factory certificate
    naming its MAC then proves it during its first-contact window."""
    if not settings.tls_cert or not settings.tls_key:
        raise ValueError("HTTPS needs a certificate and a key")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    # Desk phones in the field still run firmware that stops at TLS 1.2.
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(str(settings.tls_cert), str(settings.tls_key))
    if settings.client_ca:
        context.load_verify_locations(cafile=str(settings.client_ca))
        context.verify_mode = ssl.CERT_OPTIONAL
    return context


def create_app(settings: Settings) -> web.Application:
    # A phone request passes this one middleware; the API and the console bring their own.
    app = web.Application(middlewares=[error_middleware], client_max_size=MAX_BODY)
    app[keys.SETTINGS] = settings
    app.cleanup_ctx.extend([lifecycle.store, lifecycle.tftp, lifecycle.discovery])
    app.cleanup_ctx.append(redirect_worker.serve)  # after the store: it uses it
    app.add_routes(routes)
    api.setup(app, middlewares=(sync_after_writes,))
    console.setup(app, middlewares=(sync_after_writes,))
    app.add_routes(phone_routes)  # last: it answers every other path
    return app

"""A customer's phone settings in the console: the baseline its phones get (time zone, language,
tones, codecs, NTP, when they check for changes, whether a change is pushed at once) and the
phones' admin password (generated or typed, never shown: only whether one is set). The same services
as ``provisioner customer update`` and ``customer admin-password --new`` / ``--set``."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web

from .. import fields, services
from ..errors import Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, say, store, viewer

routes = web.RouteTableDef()

# Fields an empty box sets back to the default (the services' clearable ones); the others are left as
# they are when empty.
CLEARABLE = ("ntp_server", "country", "codecs", "check_hour", "check_interval_hours")
KEPT_WHEN_EMPTY = ("timezone", "language", "sip_transport")


def _url(code: str) -> str:
    return f"{PREFIX}/customers/{code}/settings"


def _data(db: Any, code: str) -> dict[str, Any]:
    customer = services.get_customer(db, code)
    view = {k: v for k, v in customer.items() if k != "admin_password"}  # never sent to a template
    return {"customer": view, "admin_password_set": customer.get("admin_password") is not None}


@routes.get(PREFIX + "/customers/{code}/settings")
async def show(request: web.Request) -> web.Response:
    await viewer(request)
    data = await asyncio.to_thread(_data, store(request), request.match_info["code"])
    code = data["customer"]["code"]
    return page(
        request,
        "customer_settings.html",
        {
            "title": say(request, "Phone settings of {code}", code=code),
            **data,
            "languages": fields.LANGUAGES,
            "countries": fields.COUNTRIES,
            "transports": fields.TRANSPORTS,
            "codecs_known": fields.CODECS,
        },
    )


@routes.post(PREFIX + "/customers/{code}/settings")
async def save(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    data = await form(request)
    user = await acting(request, "customers.write", data)
    values: dict[str, Any] = {k: data.get(k, "") for k in CLEARABLE if k in data}
    values |= {k: data[k] for k in KEPT_WHEN_EMPTY if data.get(k)}
    if data.get("resync_after_change") in ("on", "off", "server"):
        values["resync_after_change"] = data["resync_after_change"]
    try:
        await call(request, services.update_customer, store(request), user.actor, code, **values)
    except (Invalid, NotFound) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(
        request,
        _url(code),
        say(request, "Phone settings of {code} saved: its phones get them at their next check.", code=code),
    )


@routes.post(PREFIX + "/customers/{code}/admin-password")
async def new_admin_password(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    data = await form(request)
    user = await acting(request, "customers.write", data)
    typed = data.get("admin_password") if data.get("how") == "set" else None
    try:
        if typed is not None:
            await call(request, services.admin_password, store(request), user.actor, code, password=typed)
        else:
            await call(request, services.admin_password, store(request), user.actor, code, new=True)
    except (Invalid, NotFound) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    said = (
        "The admin password you typed is set for the phones of {code}; they get it at their next check."
        if typed is not None
        else "A new admin password was generated for the phones of {code}; they get it at their next check."
    )
    return done(request, _url(code), say(request, said, code=code))

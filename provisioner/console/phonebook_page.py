"""A customer's phonebook in the console: its extensions and contacts as the phones show them; add
or remove a contact, import a CSV/XLSX of contacts (all or nothing), export it as CSV. Each form
calls one service of :mod:`provisioner.phonebook`."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from .. import auth, phonebook, services
from ..errors import Invalid, NotFound
from . import PREFIX, acting, call, done, form, page, say, store, viewer

routes = web.RouteTableDef()


def _url(code: str) -> str:
    return f"{PREFIX}/customers/{code}/phonebook"


def _data(db: Any, code: str) -> dict[str, Any]:
    customer = services.get_customer(db, code)
    return {"customer": customer, "entries": phonebook.entries(db, customer["code"])}


@routes.get(PREFIX + "/customers/{code}/phonebook")
async def show(request: web.Request) -> web.Response:
    await viewer(request)
    data = await asyncio.to_thread(_data, store(request), request.match_info["code"])
    code = data["customer"]["code"]
    return page(request, "phonebook.html", {"title": say(request, "Phonebook of {code}", code=code), **data})


@routes.get(PREFIX + "/customers/{code}/phonebook.csv")
async def export(request: web.Request) -> web.Response:
    await viewer(request)
    code = request.match_info["code"]
    text = await asyncio.to_thread(phonebook.export_csv, store(request), code)
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in code)
    return web.Response(
        body=text.encode("utf-8-sig"),
        content_type="text/csv",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="phonebook-{safe}.csv"'},
    )


@routes.post(PREFIX + "/customers/{code}/phonebook")
async def add(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    data = await form(request)
    user = await acting(request, "customers.write", data)
    try:
        await call(
            request,
            phonebook.add,
            store(request),
            user.actor,
            code,
            data.get("name", ""),
            data.get("number", ""),
            data.get("group") or None,
        )
    except (Invalid, NotFound) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(request, _url(code), say(request, "{name} added to the phonebook.", name=data.get("name", "")))


@routes.post(PREFIX + "/customers/{code}/phonebook/remove")
async def remove(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    data = await form(request)
    user = await acting(request, "customers.write", data)
    try:
        count = await call(
            request,
            phonebook.remove,
            store(request),
            user.actor,
            code,
            name=data.get("name") or None,
            num=data.get("number") or None,
        )
    except (Invalid, NotFound) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(request, _url(code), say(request, "{n} contact(s) removed from the phonebook.", n=count))


def _import(db: Any, actor: str, code: str, name: str, body: bytes) -> dict[str, int]:
    suffix = Path(name).suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise Invalid(f"{name or 'the file'} is not a CSV or XLSX file", field="file")
    with tempfile.TemporaryDirectory(prefix="provisioner-phonebook-") as folder:
        path = Path(folder) / ("upload" + suffix)
        path.write_bytes(body)
        return phonebook.import_file(db, actor, code, path)


@routes.post(PREFIX + "/customers/{code}/phonebook/import")
async def import_(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    posted = await request.post()
    token = posted.get(auth.CSRF_FIELD)
    user = await acting(request, "customers.write", {auth.CSRF_FIELD: token if isinstance(token, str) else ""})
    upload = posted.get("file")
    if not isinstance(upload, web.FileField):
        return done(request, _url(code), say(request, "Choose a CSV or XLSX file of contacts to import."), "error")
    body = upload.file.read(phonebook.MAX_FILE_BYTES + 1)
    if len(body) > phonebook.MAX_FILE_BYTES:
        message = f"a phonebook file may be at most {phonebook.MAX_FILE_BYTES:,} bytes"
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=message), "error")
    try:
        counts = await call(request, _import, store(request), user.actor, code, upload.filename or "", body)
    except (Invalid, NotFound) as exc:
        return done(request, _url(code), say(request, "Nothing was changed: {reason}", reason=exc.message), "error")
    return done(
        request,
        _url(code),
        say(
            request,
            "Phonebook imported: {added} contact(s) added, {skipped} already there.",
            added=counts["added"],
            skipped=counts["skipped"],
        ),
    )

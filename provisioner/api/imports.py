"""Spreadsheet imports over HTTP: upload -> plan -> apply.

For signed-in users like the rest of ``/api/v1``: reading a plan needs ``read``, uploading,
applying and forgetting one ``imports``.

``POST /api/v1/imports`` (``multipart/form-data``)
    Fields: ``file`` (the spreadsheet, required), ``sheet`` (optional), ``skip_invalid``
    (``true`` to apply the valid rows and leave out the others). Reads and checks the file and
    plans it against the database; changes nothing. ``201`` with the plan: ``id``,
    ``counts`` (creates, updates and unchanged per customer, device and line), ``changes``
    (with before and after; never a password), ``problems`` (row as the spreadsheet shows it,
    column as written, value, message, fix), ``rejected`` and ``fingerprint``. ``400`` for a
    file that cannot be used at all (unreadable, encrypted, no header row, zip bomb), ``413``
    over the size or row limit (``PROVISIONER_IMPORT_MAX_BYTES``, ``PROVISIONER_IMPORT_MAX_ROWS``).

``GET /api/v1/imports/{id}``
    The plan again.

``GET /api/v1/imports/{id}/report``
    The error report: an XLSX copy of the sheet with an ``errors`` column, bad cells in red.

``POST /api/v1/imports/{id}/apply``
    Plans again inside the write transaction and applies it if it is the plan shown (same
    ``fingerprint``): ``200`` with the plan and ``"applied": true``. ``409 plan_changed`` with
    the new plan when the database changed since (review it, then apply again); ``400`` when
    the plan is rejected (fix the file and upload it again, or upload with ``skip_invalid``).
    An applied plan is gone: applying it again is ``404``.

``DELETE /api/v1/imports/{id}``
    Forgets the plan (``204``).

Plans are kept in this server process's memory (at most :data:`MAX_PLANS` and
:data:`MAX_PLANNED_ROWS` rows, the oldest dropped first, each for :data:`TTL` seconds):
with several nodes, apply on the node that made the plan.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from .. import importing
from ..errors import Invalid, NotFound
from ..importing.reading import size_text
from ..jsonable import dumps
from . import PREFIX, actor, call, store
from . import schemas as s
from .openapi import Answer, Args, ok, operation, path_param

routes = web.RouteTableDef()

MAX_PLANS = 16
MAX_PLANNED_ROWS = 300_000  # rows kept across all plans (a 100,000-row plan holds ~700 MB)
TTL = 30 * 60.0
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass
class Pending:
    id: str
    table: importing.Table
    checked: importing.Checked
    plan: importing.Plan
    skip_invalid: bool
    expires: float


class Plans:
    """Plans awaiting apply: bounded in number, each expiring."""

    def __init__(self) -> None:
        self._items: dict[str, Pending] = {}

    def add(
        self, table: importing.Table, checked: importing.Checked, plan: importing.Plan, skip_invalid: bool
    ) -> Pending:
        self._expire()
        while self._items and (
            len(self._items) >= MAX_PLANS
            or sum(p.plan.rows for p in self._items.values()) + plan.rows > MAX_PLANNED_ROWS
        ):
            self._items.pop(next(iter(self._items)))  # the oldest goes
        pending = Pending(secrets.token_urlsafe(12), table, checked, plan, skip_invalid, time.monotonic() + TTL)
        self._items[pending.id] = pending
        return pending

    def get(self, plan_id: str) -> Pending:
        self._expire()
        pending = self._items.get(plan_id)
        if pending is None:
            raise NotFound(
                f"no import plan {plan_id!r} (plans expire after {TTL / 60:.0f} minutes and are gone "
                f"once applied): upload the file again",
                field="id",
            )
        return pending

    def pop(self, plan_id: str) -> None:
        self._items.pop(plan_id, None)

    def _expire(self) -> None:
        now = time.monotonic()
        for key in [k for k, p in self._items.items() if p.expires < now]:
            del self._items[key]


_plans: weakref.WeakKeyDictionary[web.Application, Plans] = weakref.WeakKeyDictionary()


def plans(request: web.Request) -> Plans:
    app = request.match_info.apps[0]  # the root: the API and the console share one registry
    if app not in _plans:
        _plans[app] = Plans()
    return _plans[app]


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps, headers=headers)


def _view(pending: Pending, *, applied: bool = False) -> dict[str, Any]:
    data = importing.plan_dict(pending.table, pending.plan, applied=applied, dry_run=not applied)
    base = f"{PREFIX}/imports/{pending.id}"
    return {
        "id": pending.id,
        **data,
        "skip_invalid": pending.skip_invalid,
        "links": {"self": base, "apply": base + "/apply", "report": base + "/report"},
    }


def _flag(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


async def _upload(request: web.Request, limits: importing.Limits) -> tuple[bytes, str, dict[str, str]]:
    data, name, fields = await read_upload(request, limits)
    if data is None:
        raise Invalid("no file: send the spreadsheet in a multipart field named 'file'", field="file")
    return data, name, fields


async def read_upload(
    request: web.Request, limits: importing.Limits, *, fields: tuple[str, ...] = ("sheet", "skip_invalid")
) -> tuple[bytes | None, str, dict[str, str]]:
    """(file bytes or None when no file came, file name, the named other fields) of a multipart
    upload, reading no more of the file than the size limit. The console's form uses it too."""
    if not request.content_type.startswith("multipart/"):
        raise Invalid("send the spreadsheet as multipart/form-data, in a field named 'file'", field="file")
    try:
        return await _read_parts(await request.multipart(), limits, fields)
    except (ValueError, HttpProcessingError):  # a broken boundary or part header
        raise Invalid(
            "the upload is not valid multipart/form-data: send the spreadsheet in a field named 'file'", field="file"
        ) from None


async def _read_parts(
    reader: MultipartReader, limits: importing.Limits, wanted: tuple[str, ...]
) -> tuple[bytes | None, str, dict[str, str]]:
    data = None
    name = "upload"
    fields: dict[str, str] = {}
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            continue  # a nested multipart: not something this form sends
        if part.name == "file":
            name = (getattr(part, "filename", None) or "upload").replace("/", "_").replace("\\", "_")[-100:]
            chunks, size = [], 0
            while chunk := await part.read_chunk(256 * 1024):
                size += len(chunk)
                if size > limits.max_bytes:
                    raise importing.FileTooLarge(
                        f"the file is over the {size_text(limits.max_bytes)} limit (split it, or raise "
                        f"PROVISIONER_IMPORT_MAX_BYTES)"
                    )
                chunks.append(chunk)
            data = b"".join(chunks)
        elif part.name in wanted:
            fields[part.name] = (await part.read_chunk(1024)).decode("utf-8", "replace").strip()
    return data, name, fields


_PLAN_ID = path_param("id", s.string(64, min_length=1), "the plan's id")
_PLAN = s.answer(
    {
        "id": s.TEXT,
        "counts": {"type": "object"},
        "changes": {"type": "array"},
        "problems": {"type": "array"},
        "rejected": {"type": "boolean"},
        "fingerprint": s.TEXT,
        "skip_invalid": {"type": "boolean"},
        "links": {"type": "object"},
    },
    ("id", "counts", "problems", "rejected", "fingerprint", "links"),
)
_UPLOAD = {
    "type": "object",
    "required": ["file"],
    "properties": {
        "file": {
            "type": "string",
            "contentMediaType": "application/octet-stream",
            "description": "the spreadsheet: CSV, XLS, XLSX or ODS",
        },
        "sheet": {"type": "string", "maxLength": 100, "description": "the sheet to read (default the first)"},
        "skip_invalid": {
            "type": "string",
            "enum": ["true", "false"],
            "description": "true: apply the valid rows and leave out the others",
        },
    },
}


@operation(
    routes,
    "POST",
    "/imports",
    action="imports",
    tag="imports",
    summary="Upload a spreadsheet: read, check and plan it (changes nothing)",
    multipart=_UPLOAD,
    answers={201: ok(_PLAN, "Planned")},
    errors=(413,),
)
async def upload(request: web.Request, a: Args) -> web.Response:
    limits = importing.Limits.from_env()
    data, name, fields = await _upload(request, limits)
    skip_invalid = _flag(fields.get("skip_invalid") or request.query.get("skip_invalid"))
    sheet = fields.get("sheet") or request.query.get("sheet") or None

    def prepare() -> tuple[importing.Table, importing.Checked, importing.Plan]:
        table = importing.read(data, name, sheet=sheet, limits=limits)
        checked = importing.check(table)
        return table, checked, importing.preview(store(request), checked, skip_invalid=skip_invalid)

    table, checked, plan = await asyncio.to_thread(prepare)
    pending = plans(request).add(table, checked, plan, skip_invalid)
    return _json(_view(pending), 201, {"Location": f"{PREFIX}/imports/{pending.id}"})


@operation(
    routes,
    "GET",
    "/imports/{id}",
    action="imports",
    tag="imports",
    summary="A plan again",
    params=(_PLAN_ID,),
    answers={200: ok(_PLAN)},
    errors=(404,),
)
async def show(request: web.Request, a: Args) -> web.Response:
    return _json(_view(plans(request).get(request.match_info["id"])))


@operation(
    routes,
    "GET",
    "/imports/{id}/report",
    action="imports",
    tag="imports",
    summary="The error report: the sheet with an errors column, bad cells in red (XLSX)",
    params=(_PLAN_ID,),
    answers={200: Answer("The report", {"type": "string"}, (XLSX,), ("Content-Disposition",))},
    errors=(404,),
)
async def report(request: web.Request, a: Args) -> web.Response:
    pending = plans(request).get(request.match_info["id"])
    body = await asyncio.to_thread(importing.error_report, pending.table, pending.plan.problems)
    stem = pending.table.name.rsplit(".", 1)[0]
    return web.Response(
        body=body, content_type=XLSX, headers={"Content-Disposition": f'attachment; filename="{stem}-errors.xlsx"'}
    )


@operation(
    routes,
    "POST",
    "/imports/{id}/apply",
    action="imports",
    tag="imports",
    summary="Apply a plan if the database has not changed since (else 409 with the new plan)",
    params=(_PLAN_ID,),
    answers={200: ok(_PLAN, "Applied")},
    errors=(404, 409),
)
async def apply(request: web.Request, a: Args) -> web.Response:
    registry = plans(request)
    pending = registry.get(request.match_info["id"])
    if pending.plan.rejected:
        count = len(pending.plan.problems)
        raise Invalid(
            f"the file has {count} problem{'s' * (count > 1)} and nothing was applied: fix them and upload "
            f"it again, or upload it with skip_invalid=true",
            field="file",
        )
    try:
        plan, _applied = await call(
            request,
            importing.run,
            store(request),
            pending.checked,
            actor=actor(request),
            skip_invalid=pending.skip_invalid,
            expect=pending.plan.fingerprint,
        )
    except importing.PlanChanged as exc:
        pending.plan = exc.plan
        return _json({**exc.to_dict(), "plan": _view(pending)}, exc.status)
    registry.pop(pending.id)
    pending.plan = plan
    return _json(_view(pending, applied=True))


@operation(
    routes,
    "DELETE",
    "/imports/{id}",
    action="imports",
    tag="imports",
    summary="Forget a plan",
    params=(_PLAN_ID,),
    answers={204: Answer("Forgotten")},
    errors=(404,),
)
async def forget(request: web.Request, a: Args) -> web.Response:
    registry = plans(request)
    registry.get(request.match_info["id"])
    registry.pop(request.match_info["id"])
    return web.Response(status=204)

"""The import page: upload a spreadsheet, review its plan (bad cells highlighted per row), apply it,
download the error report.

Plans wait in the same in-memory registry as the admin API's
(:func:`provisioner.api.imports.plans`): a plan made here can be applied by
either, on the node that made it. Password cells are never sent back to the
browser.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

from aiohttp import web

from .. import accounts, auth, importing
from ..api import imports as registry
from ..importing.problems import HIDDEN
from ..importing.reading import size_text
from ..importing.reports import describe
from . import PREFIX, acting, call, done, form, page, say, store

routes = web.RouteTableDef()

PREVIEW_ROWS = 200  # every row of a file this long is shown; longer files show the rows with problems
SECRET_FIELDS = ("sip_password",)
MAX_CHANGES_LISTED = 200


@routes.get(PREFIX + "/imports")
async def imports_page(request: web.Request) -> web.Response:
    await auth.require(request, "imports")
    limit = size_text(importing.Limits.from_env().max_bytes)
    return page(request, "imports.html", {"title": "Import", "max_size": limit})


@routes.post(PREFIX + "/imports")
async def upload(request: web.Request) -> web.Response:
    limits = importing.Limits.from_env()
    accounts.require(await auth.identify(request), "imports")  # 401/403 before reading a byte of the file
    data, name, fields = await registry.read_upload(request, limits, fields=(auth.CSRF_FIELD, "sheet", "skip_invalid"))
    auth.check_csrf(request, fields.get(auth.CSRF_FIELD) or "")
    if not data:
        return done(request, PREFIX + "/imports", say(request, "Choose a spreadsheet file to upload."), "error")
    skip_invalid = fields.get("skip_invalid", "") in ("1", "on", "true", "yes")

    def prepare() -> tuple[importing.Table, importing.Checked, importing.Plan]:
        table = importing.read(data, name, sheet=fields.get("sheet") or None, limits=limits)
        checked = importing.check(table)
        return table, checked, importing.preview(store(request), checked, skip_invalid=skip_invalid)

    try:
        table, checked, plan = await asyncio.to_thread(prepare)
    except importing.SheetError as exc:
        return done(
            request,
            PREFIX + "/imports",
            say(request, "The file {name} cannot be imported: {reason}", name=name, reason=exc.message),
            "error",
        )
    pending = registry.plans(request).add(table, checked, plan, skip_invalid)
    return done(
        request,
        f"{PREFIX}/imports/{pending.id}",
        say(
            request,
            "{name} read: {rows} row(s), {problems} problem(s). Nothing is changed until you apply.",
            name=name,
            rows=plan.rows,
            problems=len(plan.problems),
        ),
        "error" if plan.rejected else "ok",
    )


def plan_view(pending: Any) -> dict[str, Any]:
    table, plan = pending.table, pending.plan
    header = table.header
    hidden = {header.fields[f] for f in SECRET_FIELDS if f in header.fields}
    by_row: dict[int, list[Any]] = defaultdict(list)
    for problem in plan.problems:
        by_row[problem.row].append(problem)
    columns = sorted(header.titles)
    body = list(table.body())
    shown = body if len(body) <= PREVIEW_ROWS else [(n, r) for n, r in body if n in by_row]
    rows = []
    for number, cells in shown:
        found = by_row.get(number, [])
        bad = {header.fields.get(p.field) for p in found}
        rows.append(
            {
                "number": number,
                "bad": bool(found),
                "cells": [
                    {
                        "value": HIDDEN
                        if col in hidden and col < len(cells) and cells[col] not in (None, "")
                        else ("" if col >= len(cells) or cells[col] is None else str(cells[col])),
                        "bad": col in bad,
                    }
                    for col in columns
                ],
                "problems": found,
            }
        )
    changes = [describe(c) for c in plan.changes[:MAX_CHANGES_LISTED]]
    return {
        "pending": pending,
        "table": table,
        "plan": plan,
        "counts": plan.counts(),
        "headers": [header.titles[c] for c in columns],
        "rows": rows,
        "all_rows": len(body) <= PREVIEW_ROWS,
        "changes": changes,
        "more_changes": max(0, len(plan.changes) - MAX_CHANGES_LISTED),
        "bad_rows": len(by_row),
    }


@routes.get(PREFIX + "/imports/{id}")
async def show(request: web.Request) -> web.Response:
    await auth.require(request, "imports")
    pending = registry.plans(request).get(request.match_info["id"])
    return page(
        request,
        "import_plan.html",
        {"title": say(request, "Import {name}", name=pending.table.name), **plan_view(pending)},
    )


@routes.get(PREFIX + "/imports/{id}/report")
async def report(request: web.Request) -> web.Response:
    await auth.require(request, "imports")
    pending = registry.plans(request).get(request.match_info["id"])
    body = await asyncio.to_thread(importing.error_report, pending.table, pending.plan.problems)
    stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in pending.table.name.rsplit(".", 1)[0])
    return web.Response(
        body=body,
        content_type=registry.XLSX,
        headers={"Content-Disposition": f'attachment; filename="{stem or "import"}-errors.xlsx"'},
    )


def applied_message(request: web.Request, name: str, plan: Any) -> str:
    """What an applied import did, as sentences: what was created and updated, what was left out."""
    counts = plan.counts()
    sentence = say(
        request,
        "{name} applied in one transaction: {customers_new} customer(s) created and "
        "{customers_changed} updated, {devices_new} device(s) created and {devices_changed} "
        "updated, {lines_new} line(s) created and {lines_changed} updated.",
        name=name,
        customers_new=counts["customer"]["create"],
        customers_changed=counts["customer"]["update"],
        devices_new=counts["device"]["create"],
        devices_changed=counts["device"]["update"],
        lines_new=counts["line"]["create"],
        lines_changed=counts["line"]["update"],
    )
    if plan.skipped_rows:
        sentence += " " + say(request, "{n} bad row(s) were left out.", n=len(plan.skipped_rows))
    return sentence


@routes.post(PREFIX + "/imports/{id}/apply")
async def apply(request: web.Request) -> web.Response:
    data = await form(request)
    user = await acting(request, "imports", data)
    plans = registry.plans(request)
    pending = plans.get(request.match_info["id"])
    here = f"{PREFIX}/imports/{pending.id}"
    if pending.plan.rejected:
        count = len(pending.plan.problems)
        return done(
            request,
            here,
            say(
                request,
                "Nothing was applied: the file has {count} problem(s). Fix them "
                "and upload it again, or upload it with 'skip the bad rows'.",
                count=count,
            ),
            "error",
        )
    try:
        plan, _applied = await call(
            request,
            importing.run,
            store(request),
            pending.checked,
            actor=user.actor,
            skip_invalid=pending.skip_invalid,
            expect=pending.plan.fingerprint,
        )
    except importing.PlanChanged as exc:
        pending.plan = exc.plan
        return done(
            request,
            here,
            say(
                request,
                "Nothing was applied: the data changed since this plan was "
                "made. Review the new plan below and apply again.",
            ),
            "error",
        )
    plans.pop(pending.id)
    return done(request, PREFIX + "/imports", applied_message(request, pending.table.name, plan))

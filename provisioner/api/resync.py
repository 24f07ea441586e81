"""Resync: make phones fetch their files now (SIP NOTIFY, :mod:`provisioner.sip.resync`)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ..sip import resync
from . import read, reply, store
from . import schemas as s
from .openapi import Args, ok, operation

routes = web.RouteTableDef()

_TO = s.string(
    262,
    min_length=1,
    pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?$",
    description="HOST or HOST:PORT to send to instead of the phone's last-seen address (port 5060)",
)
_REBOOT = {"type": "boolean", "description": "true: ask the phone to reboot too (check-sync;reboot=true)"}
RESYNC = s.body({"to": s.nullable(_TO), "reboot": _REBOOT})
_OUTCOME_FIELDS = {
    "mac": s.TEXT,
    "target": s.TEXT,
    "event": s.TEXT,
    "ok": {"type": "boolean"},
    "status": s.integer(nullable=True, description="the phone's SIP answer; null when it never answered"),
    "reason": s.TEXT,
    "transmissions": s.integer(0),
}
OUTCOME = s.answer(_OUTCOME_FIELDS, ("mac", "target", "ok", "status", "reason"))
BULK = s.body(
    {
        "customer": s.string(64, min_length=1, nullable=True, description="every phone of this customer"),
        "macs": s.array(s.string(32, min_length=1), max_items=5000),
        "reboot": _REBOOT,
        "rate": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": 1000,
            "description": "phones per second (default 10)",
        },
    }
)
BULK_ANSWER = s.answer(
    {"results": s.array(OUTCOME), "skipped": s.array(s.answer({"mac": s.TEXT, "reason": s.TEXT}))},
    ("results", "skipped"),
)


def _outcome(target: resync.Target, outcome: resync.Outcome) -> dict[str, Any]:
    return {
        "mac": target.mac,
        "target": outcome.target,
        "event": target.event,
        "ok": outcome.ok,
        "status": outcome.status,
        "reason": outcome.reason,
        "transmissions": outcome.transmissions,
    }


@operation(
    routes,
    "POST",
    "/devices/resync",
    action="devices.assign",
    tag="devices",
    summary="NOTIFY many phones (a customer's, or the MACs given), paced, to fetch their files now",
    description="Phones are reached at their last-seen address, port 5060; those never seen are "
    "listed as skipped. The answer comes when every phone has answered or timed out (4 s).",
    body=BULK,
    answers={200: ok(BULK_ANSWER)},
    errors=(404,),
)
async def resync_many(request: web.Request, a: Args) -> web.Response:
    targets, skipped = await read(
        request,
        resync.targets_of,
        store(request),
        customer=a.body.get("customer"),
        macs=a.body.get("macs") or (),
        reboot=bool(a.body.get("reboot")),
    )
    results: list[dict[str, Any]] = []
    await resync.resync_many(
        targets, rate=a.body.get("rate") or resync.RATE, done=lambda t, o: results.append(_outcome(t, o))
    )
    return reply({"results": results, "skipped": [{"mac": m, "reason": r} for m, r in skipped]})


@operation(
    routes,
    "POST",
    "/devices/{mac}/resync",
    action="devices.assign",
    tag="devices",
    summary="Send the phone a SIP NOTIFY so it fetches its files now; the answer says what it replied",
    description="`ok` is true when the phone answered 2xx. 409 when no address is known for it "
    "(it never fetched a file) and none is given in `to`.",
    params=(s.MAC_PARAM,),
    body=RESYNC,
    body_required=False,
    answers={200: ok(OUTCOME)},
    errors=(404, 409),
)
async def resync_one(request: web.Request, a: Args) -> web.Response:
    target = await read(
        request, resync.target_of, store(request), a.path["mac"], to=a.body.get("to"), reboot=bool(a.body.get("reboot"))
    )
    return reply(_outcome(target, await resync.resync(target)))

"""The firmware rollout as this server node runs it: which phones are upgrading now, per customer.

Slots live in memory per node (:mod:`provisioner.firmware_rollout`); the versions phones report and
their targets are read from the store (``GET /devices/{mac}``, ``provisioner devices firmware``).
"""

from __future__ import annotations

from aiohttp import web

from .. import firmware, keys
from . import read, reply, store
from . import schemas as s
from .openapi import Args, ok, operation

routes = web.RouteTableDef()

_PHONE = s.answer(
    {
        "mac": s.TEXT,
        "version": {**s.TEXT, "description": "the version it was told to fetch"},
        "since": {**s.TEXT, "format": "date-time", "description": "when it was first told (UTC)"},
    },
    ("mac", "version", "since"),
)
ROLLOUT = s.answer(
    {
        "max_concurrent": s.integer(0, description="phones of one customer told at once, per node"),
        "slot_timeout": {"type": "number", "description": "seconds after which a slot is freed"},
        "upgrading": s.integer(0, description="phones holding a slot on this node now"),
        "customers": s.array(
            s.answer(
                {
                    "customer": s.nullable(s.TEXT),
                    "customer_name": s.nullable(s.TEXT),
                    "upgrading": s.integer(0),
                    "phones": s.array(_PHONE),
                },
                ("customer", "upgrading", "phones"),
            )
        ),
    },
    ("max_concurrent", "slot_timeout", "upgrading", "customers"),
)


@operation(
    routes,
    "GET",
    "/firmware/rollout",
    action="read",
    tag="devices",
    summary="Phones upgrading now on this server node, per customer (slots are per node, in memory)",
    answers={200: ok(ROLLOUT)},
)
async def rollout(request: web.Request, a: Args) -> web.Response:
    state = request.config_dict[keys.RESOLVER].rollout
    if state is None:
        return reply({"max_concurrent": 0, "slot_timeout": 0, "upgrading": 0, "customers": []})
    slots = state.slots_now()  # on the event loop, where the slots change
    customers = await read(request, firmware.upgrading, store(request), slots)
    return reply(
        {
            "max_concurrent": state.max_concurrent,
            "slot_timeout": state.slot_timeout,
            "upgrading": len(slots),
            "customers": customers,
        }
    )

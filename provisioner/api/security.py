"""Phone-facing security over HTTP: each customer's provisioning rules and a device's downloads.

Thin over :mod:`provisioner.security_services`. No answer holds a secret except the ones a PUT
just made (``new_secrets``, shown once, as the CLI does).

=======  ==============================  ===========================================================
method   path                            body -> answer
=======  ==============================  ===========================================================
GET      /customers/{code}/security      the rules: auth, username, password_set, path_key_set,
                                         window_hours, allow
PUT      /customers/{code}/security      ``{"auth": "digest"|"none", "username", "new_password": true,
                                         "path_key": "new"|"none", "window_hours": 24|null,
                                         "allow": ["203.0.113.0/24"]}`` (each optional)
GET      /devices/{mac}/downloads        ``{"items": [{"at", "file", "ip", "user_agent", "transport",
                                         "count", "last_at", "flagged"}]}`` (repeats of one fetch
                                         are one item: ``count``, ``last_at`` when over 1)
=======  ==============================  ===========================================================
"""

from __future__ import annotations

from aiohttp import web

from .. import access, keys, security_services
from . import actor, call, read, reply, store
from . import schemas as s
from .openapi import Args, ok, operation

routes = web.RouteTableDef()

_RULES = {
    "auth": s.string(enum=access.AUTH_MODES),
    "username": s.string(64, nullable=True),
    "password_set": {"type": "boolean"},
    "path_key_set": {"type": "boolean"},
    "window_hours": s.integer(nullable=True),
    "allow": s.array(s.TEXT),
    "warnings": {
        **s.array(s.TEXT),
        "description": "what staff must know about these rules (e.g. the window is the only rule)",
    },
}
SECURITY = s.answer({"customer": s.TEXT, **_RULES}, ("customer", "auth", "password_set", "path_key_set", "allow"))
SECURITY_SET = s.answer(
    {
        "customer": s.TEXT,
        **_RULES,
        "new_secrets": {
            "type": "object",
            "additionalProperties": s.TEXT,
            "description": "a password or path key this call made, shown once",
        },
        "provisioning_url": {
            **s.TEXT,
            "description": "the URL to give phones at the factory/redirect stage (holds the new secrets)",
        },
    },
    ("customer", "auth", "new_secrets"),
)
SECURITY_UPDATE = s.body(
    {
        "auth": s.string(enum=access.AUTH_MODES),
        "username": s.string(64, min_length=1),
        "new_password": {"type": "boolean", "description": "make a new provisioning password"},
        "path_key": s.string(enum=("new", "none")),
        "window_hours": s.integer(
            1,
            security_services.MAX_WINDOW_HOURS,
            nullable=True,
            description="per-device tokens with this first-contact window; null: off",
        ),
        "allow": s.array(s.string(64), max_items=100),
    }
)
DOWNLOAD = s.answer(
    {
        "at": s.TEXT,
        "file": s.TEXT,
        "ip": s.nullable(s.TEXT),
        "user_agent": s.nullable(s.TEXT),
        "transport": s.TEXT,
        "count": s.integer(
            1,
            description="fetches this item stands for: the same file, address, User-Agent "
            "and transport again within the activity resolution (up to an hour from 'at')",
        ),
        "last_at": {**s.TIME_OR_NULL, "description": "the last of them (null when count is 1)"},
        "flagged": {"type": "boolean"},
    },
    ("at", "file", "transport", "count", "last_at", "flagged"),
)


@operation(
    routes,
    "GET",
    "/customers/{code}/security",
    action="read",
    tag="customers",
    summary="How the customer's phones must prove themselves before they get credentials (no secret)",
    params=(s.CODE_PARAM,),
    answers={200: ok(SECURITY)},
    errors=(404,),
)
async def get_security(request: web.Request, a: Args) -> web.Response:
    return reply(await read(request, security_services.customer_security, store(request), a.path["code"]))


@operation(
    routes,
    "PUT",
    "/customers/{code}/security",
    action="customers.write",
    tag="customers",
    summary="Change the customer's provisioning rules (those given); new secrets are answered once",
    params=(s.CODE_PARAM,),
    body=SECURITY_UPDATE,
    answers={200: ok(SECURITY_SET)},
    errors=(404,),
)
async def put_security(request: web.Request, a: Args) -> web.Response:
    data = dict(a.body)
    kwargs = {"window_hours": data.pop("window_hours")} if "window_hours" in data else {}
    return reply(
        await call(
            request,
            security_services.set_customer_security,
            store(request),
            actor(request),
            a.path["code"],
            base_url=request.config_dict[keys.SETTINGS].provisioning_url,
            **data,
            **kwargs,
        )
    )


@operation(
    routes,
    "GET",
    "/devices/{mac}/downloads",
    action="read",
    tag="devices",
    summary="Every download of the device's files: when, from which address, how; 'flagged' when it "
    "went to two addresses within an hour",
    params=(s.MAC_PARAM,),
    answers={200: ok(s.answer({"items": s.array(DOWNLOAD)}, ("items",)))},
    errors=(404,),
)
async def get_downloads(request: web.Request, a: Args) -> web.Response:
    await request.config_dict[keys.ACTIVITY].flush()  # what was fetched until now, not until the next flush
    return reply({"items": await read(request, security_services.device_downloads, store(request), a.path["mac"])})

"""Phone-facing security over HTTP: each customer's provisioning rules and a device's downloads.

Under ``/api/v1`` behind the admin guard (see :mod:`provisioner.api`); thin over
:mod:`provisioner.security_services`. No answer holds a secret except the ones a PUT just made
(``new_secrets``, shown once, as the CLI does).

=======  ==============================  ===========================================================
method   path                            body -> answer
=======  ==============================  ===========================================================
GET      /customers/{code}/security      the rules: auth, username, password_set, path_key_set,
                                         window_hours, allow
PUT      /customers/{code}/security      ``{"auth": "digest"|"none", "username", "new_password": true,
                                         "path_key": "new"|"none", "window_hours": 24|null,
                                         "allow": ["203.0.113.0/24"]}`` (each optional)
GET      /devices/{mac}/downloads        ``{"items": [{"at", "file", "ip", "user_agent", "transport",
                                         "flagged"}]}``
=======  ==============================  ===========================================================
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from .. import keys, security_services
from ..errors import Invalid
from ..jsonable import dumps
from . import actor, call, json_body, store

routes = web.RouteTableDef()
_FIELDS = ("auth", "username", "new_password", "path_key", "window_hours", "allow")


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, dumps=dumps)


@routes.get("/api/v1/customers/{code}/security")
async def get_security(request: web.Request) -> web.Response:
    return _json(await call(request, security_services.customer_security, store(request),
                            request.match_info["code"]))


@routes.put("/api/v1/customers/{code}/security")
async def put_security(request: web.Request) -> web.Response:
    body = await json_body(request)
    unknown = sorted(set(body) - set(_FIELDS))
    if unknown:
        raise Invalid(f"unknown field(s): {', '.join(unknown)} (known: {', '.join(_FIELDS)})", field=unknown[0])
    if "allow" in body and not (isinstance(body["allow"], list) and all(isinstance(c, str) for c in body["allow"])):
        raise Invalid("allow must be a list of CIDR strings", field="allow")
    if "new_password" in body and not isinstance(body["new_password"], bool):
        raise Invalid("new_password must be true or false", field="new_password")
    kwargs = {k: v for k, v in body.items() if k != "window_hours"}
    if "window_hours" in body:
        kwargs["window_hours"] = body["window_hours"]
    return _json(await call(request, security_services.set_customer_security, store(request), actor(request),
                            request.match_info["code"], base_url=request.app[keys.SETTINGS].provisioning_url,
                            **kwargs))


@routes.get("/api/v1/devices/{mac}/downloads")
async def get_downloads(request: web.Request) -> web.Response:
    await request.app[keys.ACTIVITY].flush()
    return _json({"items": await call(request, security_services.device_downloads, store(request),
                                      request.match_info["mac"])})

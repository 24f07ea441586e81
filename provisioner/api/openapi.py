"""The API's routes and its OpenAPI 3.1 document, declared together.

Each handler is registered with :func:`operation`, which takes what the document says
about it: the action it needs (:data:`provisioner.accounts.PERMISSIONS`), its path and
query parameters and request body as JSON Schema, its answers. The same declaration
checks every request before the handler runs (sign-in and role, then the parameters and
body against their schemas), so the document and the behaviour cannot drift apart:
what the document says is required, typed or bounded is what the server refuses.

Handlers are ``async def handler(request, args) -> web.Response`` where ``args`` holds
the checked ``path``, ``query`` and ``body`` values and the signed-in ``user``.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from .. import auth
from ..accounts import PERMISSIONS, User
from ..errors import Invalid

PREFIX = "/api/v1"
JSON = "application/json"


@dataclass(frozen=True)
class Param:
    name: str
    schema: dict[str, Any]
    description: str = ""
    where: str = "query"  # query | path
    required: bool = False


def path_param(name: str, schema: dict[str, Any], description: str = "") -> Param:
    return Param(name, schema, description, where="path", required=True)


def query(name: str, schema: dict[str, Any], description: str = "", *, required: bool = False) -> Param:
    return Param(name, schema, description, required=required)


@dataclass(frozen=True)
class Answer:
    """One documented response: a JSON schema, files of some media types, or nothing."""

    description: str
    schema: dict[str, Any] | None = None
    media: tuple[str, ...] = (JSON,)
    headers: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"description": self.description}
        if self.schema is not None:
            out["content"] = {
                m: {"schema": self.schema if m == JSON else {"type": "string", "contentMediaType": m}}
                for m in self.media
            }
        if self.headers:
            out["headers"] = {h: {"schema": {"type": "string"}} for h in self.headers}
        return out


def ok(schema: dict[str, Any], description: str = "OK") -> Answer:
    return Answer(description, schema)


def empty(description: str = "Done, nothing to return") -> Answer:
    return Answer(description)


@dataclass
class Args:
    """What a handler gets: the checked inputs and who asks."""

    user: User | None
    path: dict[str, Any]
    query: dict[str, Any]
    body: dict[str, Any]


Handler = Callable[[web.Request, Args], Awaitable[web.StreamResponse]]


@dataclass
class Operation:
    method: str
    path: str  # as in the document: /devices/{mac}
    action: str | None  # None: no sign-in needed
    summary: str
    tag: str
    handler: Handler
    params: tuple[Param, ...] = ()
    body: dict[str, Any] | None = None
    body_required: bool = True
    multipart: dict[str, Any] | None = None
    answers: dict[int, Answer] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    description: str = ""
    operation_id: str = ""

    @property
    def route_path(self) -> str:
        """The aiohttp path: enum path parameters become a regex, so other values never match."""
        out = PREFIX + self.path
        for param in self.params:
            if param.where == "path" and "enum" in param.schema:
                out = out.replace(
                    "{%s}" % param.name, "{%s:%s}" % (param.name, "|".join(re.escape(v) for v in param.schema["enum"]))
                )
        return out

    def matches(self, path: str) -> bool:
        enums = {p.name: p.schema.get("enum") for p in self.params if p.where == "path"}
        pattern = ""
        for part in re.split(r"(\{\w+\})", PREFIX + self.path):
            if part.startswith("{"):
                enum = enums.get(part[1:-1])
                pattern += "(?:%s)" % "|".join(map(re.escape, enum)) if enum else "[^/]+"
            else:
                pattern += re.escape(part)
        return re.fullmatch(pattern, path) is not None


#: Every operation, in registration order (which is also aiohttp's matching order).
OPERATIONS: list[Operation] = []
#: The wrapped handlers aiohttp calls, to tell an API route from the phone route behind it.
HANDLERS: set[Callable[..., Any]] = set()


def operation(
    routes: web.RouteTableDef,
    method: str,
    path: str,
    *,
    action: str | None,
    summary: str,
    tag: str,
    params: Iterable[Param] = (),
    body: dict[str, Any] | None = None,
    body_required: bool = True,
    multipart: dict[str, Any] | None = None,
    answers: dict[int, Answer] | None = None,
    errors: Iterable[int] = (),
    description: str = "",
) -> Callable[[Handler], Handler]:
    """Register ``handler`` for ``method path`` (under :data:`PREFIX`) and describe it."""
    if action is not None and action not in PERMISSIONS:
        raise KeyError(f"unknown action {action!r}")

    def register(handler: Handler) -> Handler:
        op = Operation(
            method.upper(),
            path,
            action,
            summary,
            tag,
            handler,
            tuple(params),
            body,
            body_required,
            multipart,
            dict(answers or {200: ok({"type": "object"})}),
            tuple(errors),
            description,
            handler.__name__,
        )
        for param in op.params:
            if param.where == "path" and "{%s}" % param.name not in path:
                raise ValueError(f"{path}: no path parameter {param.name}")

        async def handle(request: web.Request) -> web.StreamResponse:
            user = await auth.require(request, op.action) if op.action else None
            if user is not None:
                request[USER] = user
            args = Args(user, _path_values(op, request), _query_values(op, request), await _body_values(op, request))
            return await op.handler(request, args)

        handle.__name__ = handle.__qualname__ = handler.__name__
        if op.method == "GET":
            routes.get(op.route_path, allow_head=False)(handle)
        else:
            routes.route(op.method, op.route_path)(handle)
        OPERATIONS.append(op)
        HANDLERS.add(handle)
        return handler

    return register


USER = web.RequestKey("api_user", User)


def allowed_methods(path: str) -> list[str]:
    """The methods the API answers at ``path`` (for a 405), empty when no route matches it."""
    return sorted({op.method for op in OPERATIONS if op.matches(path)})


# --- checking inputs against the declared schemas -----------------------------------------


def _check(schema: dict[str, Any], value: Any, where: str) -> None:
    error = best_match(Draft202012Validator(schema).iter_errors(value))
    if error is not None:
        raise _invalid(error, where)


def _invalid(error: ValidationError, where: str) -> Invalid:
    """A message naming the field and the rule, never repeating the value (it may be a password)."""
    path = [str(p) for p in error.absolute_path]
    name = ".".join(path) or where
    rule, limit = error.validator, error.validator_value
    if rule == "required":
        missing = next(p for p in limit if p not in error.instance)
        name = ".".join([*path, missing])
        return Invalid(f"{name} is required", field=path[0] if path else missing)
    if rule == "additionalProperties":
        extra = sorted(set(error.instance) - set(error.schema.get("properties", {})))
        accepted = ", ".join(error.schema.get("properties", {}))
        name = ".".join([*path, extra[0]])
        return Invalid(f"unknown field {name!r} (accepted: {accepted})", field=path[0] if path else extra[0])
    messages = {
        "type": lambda: f"{name} must be {_kind(limit)}",
        "enum": lambda: f"{name} must be one of: {', '.join(str(v) for v in limit)}",
        "const": lambda: f"{name} must be {limit!r}",
        "maxLength": lambda: f"{name} is longer than {limit} characters",
        "minLength": lambda: f"{name} is required" if limit == 1 else f"{name} must be at least {limit} characters",
        "minimum": lambda: f"{name} must be {limit} or more",
        "maximum": lambda: f"{name} must be {limit} or less",
        "pattern": lambda: f"{name} has characters that are not allowed here",
        "maxItems": lambda: f"{name} has more than {limit} items",
        "minItems": lambda: f"{name} needs at least {limit} item{'s' * (limit != 1)}",
        "uniqueItems": lambda: f"{name} lists the same item twice",
        "maxProperties": lambda: f"{name} has more than {limit} entries",
        "minProperties": lambda: f"{name} must not be empty",
    }
    message = messages.get(rule, lambda: f"{name} is not valid ({rule})")()
    return Invalid(message, field=path[0] if path else where)


def _kind(types: Any) -> str:
    names = {
        "string": "text",
        "integer": "a whole number",
        "number": "a number",
        "boolean": "true or false",
        "object": "an object",
        "array": "a list",
        "null": "null",
    }
    if isinstance(types, str):
        types = [types]
    return " or ".join(names.get(t, t) for t in types)


def _coerce(param: Param, raw: str) -> Any:
    """A query or path value (text) as the type its schema asks for."""
    kind = param.schema.get("type")
    if kind == "integer":
        try:
            return int(raw.strip())
        except ValueError:
            raise Invalid(f"{param.name} must be a whole number", field=param.name) from None
    if kind == "boolean":
        value = raw.strip().lower()
        if value not in ("true", "false", "1", "0"):
            raise Invalid(f"{param.name} must be true or false", field=param.name)
        return value in ("true", "1")
    return raw


def _path_values(op: Operation, request: web.Request) -> dict[str, Any]:
    out = {}
    for param in op.params:
        if param.where == "path":
            value = _coerce(param, request.match_info[param.name])
            _check(param.schema, value, param.name)
            out[param.name] = value
    return out


def _query_values(op: Operation, request: web.Request) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for param in op.params:
        if param.where != "query":
            continue
        raw = request.query.get(param.name)
        if raw is None:
            if param.required:
                raise Invalid(f"{param.name} is required", field=param.name)
            out[param.name] = None
            continue
        value = _coerce(param, raw)
        _check(param.schema, value, param.name)
        out[param.name] = value
    return out


async def _body_values(op: Operation, request: web.Request) -> dict[str, Any]:
    if op.body is None:
        return {}
    if not request.can_read_body:
        if op.body_required:
            raise Invalid("a JSON object is required as the request body", field="body")
        return {}
    try:
        data = await request.json()
    except ValueError:
        raise Invalid("the request body is not valid JSON", field="body") from None
    if not isinstance(data, dict):
        raise Invalid("the request body must be a JSON object", field="body")
    _check(op.body, data, "body")
    return data


# --- the document ---------------------------------------------------------------------

ERROR = {
    "type": "object",
    "required": ["error", "message"],
    "properties": {
        "error": {
            "type": "string",
            "description": "a short key: invalid, not_found, conflict, unauthorized, "
            "forbidden, method_not_allowed, too_large, ...",
        },
        "message": {"type": "string", "description": "what is wrong and what to do"},
        "field": {"type": "string", "description": "the parameter or body field at fault"},
    },
}

_ERRORS = {
    400: "Bad input: the message names the field at fault; nothing was changed",
    401: "No valid API token or session: send `Authorization: Bearer prov_...`",
    403: "The user's role may not do this (the message names the roles that may)",
    404: "Not found: no such record (the field says which input named it)",
    409: "The current state does not allow this; nothing was changed",
    413: "The request body is too large",
}


def document(title: str = "provisioner admin API", version: str = "1") -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _describe(op)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": "Customers, lines, devices, rented-device returns, imports, audit events and "
            "users of a provisioner server. Sign in with a user's API token "
            "(`provisioner user token NAME --label L`).",
        },
        "servers": [{"url": PREFIX}],
        "paths": paths,
        "components": {
            "schemas": {"Error": ERROR},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "a user's API token, `prov_...`"}
            },
        },
        "security": [{"bearer": []}],
        "tags": [{"name": t} for t in dict.fromkeys(op.tag for op in OPERATIONS)],
    }


def _describe(op: Operation) -> dict[str, Any]:
    out: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": [op.tag]}
    description = op.description
    if op.action:
        roles = ", ".join(sorted(PERMISSIONS[op.action]))
        description = (description + "\n\n" if description else "") + f"Action `{op.action}`: roles {roles}."
    else:
        out["security"] = []
    if description:
        out["description"] = description
    if op.params:
        out["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required,
                "schema": p.schema,
                **({"description": p.description} if p.description else {}),
            }
            for p in op.params
        ]
    if op.body is not None:
        out["requestBody"] = {"required": op.body_required, "content": {JSON: {"schema": op.body}}}
    elif op.multipart is not None:
        out["requestBody"] = {"required": True, "content": {"multipart/form-data": {"schema": op.multipart}}}
    responses = {str(status): answer.as_dict() for status, answer in op.answers.items()}
    codes = set(op.errors)
    if op.params or op.body is not None or op.multipart is not None:
        codes.add(400)
    if op.body is not None or op.multipart is not None:
        codes.add(413)
    if op.action:
        codes |= {401, 403}
    for status in sorted(codes):
        entry: dict[str, Any] = {
            "description": _ERRORS[status],
            "content": {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        if status == 401:
            entry["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        responses[str(status)] = entry
    out["responses"] = responses
    return out

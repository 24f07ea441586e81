"""Who may call what: 401 without a valid token, 403 for a role that may not (every write endpoint,
every role), JSON errors for unknown paths, methods and bodies, and the document matching the routes."""

from __future__ import annotations

import pytest

from provisioner import accounts
from provisioner.accounts import PERMISSIONS, ROLES
from provisioner.api import openapi
from provisioner.settings import Settings
from provisioner.web import create_app

from .conftest import ACTOR, API_PASSWORD

create_app(Settings())  # registers every route once, for the parametrization below

SAMPLE_PATH = {
    "mac": "001565000001",
    "code": "ROSSI",
    "extension": "201",
    "name": "viewer-user",
    "id": "nope",
    "token_id": "1",
    "kind": "due",
    "model": "T46U",
    "vendor": "yealink",
    "position": "3",
}


def concrete(path: str) -> str:
    for key, value in SAMPLE_PATH.items():
        path = path.replace("{%s}" % key, value)
    return path


PROTECTED = [op for op in openapi.OPERATIONS if op.action]


def forbidden(role: str) -> list[openapi.Operation]:
    return [op for op in PROTECTED if role not in PERMISSIONS[op.action]]


async def test_every_endpoint_needs_a_token(server):
    assert len(PROTECTED) == len(openapi.OPERATIONS) - 1  # all but the document itself
    for op in PROTECTED:
        response = await server.client.request(op.method, "/api/v1" + concrete(op.path))
        assert response.status == 401, (op.method, op.path)
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        body = await response.json()
        assert body["error"] == "unauthorized" and "Bearer" in body["message"]


@pytest.mark.parametrize("role", ROLES)
async def test_a_role_that_may_not_gets_403_naming_the_role(api, store, role):
    client = api.as_(role)
    before = _event_count(store)
    for op in forbidden(role):
        body = await client.request(op.method, concrete(op.path), expect=403, json={})
        assert body["error"] == "forbidden", (op.method, op.path)
        assert f"role {role!r} may not" in body["message"] and op.action in body["message"]
    assert _event_count(store) == before  # nothing happened
    assert len(forbidden("viewer")) == len([op for op in PROTECTED if op.action != "read"])
    assert forbidden("admin") == []


@pytest.mark.parametrize("role", ROLES)
async def test_a_role_that_may_is_let_through(api, role):
    client = api.as_(role)
    for op in PROTECTED:
        if role in PERMISSIONS[op.action]:
            await client.request(op.method, concrete(op.path), expect=None, json={} if op.method != "GET" else None)
            assert client.last.status not in (401, 403), (op.method, op.path, client.last.status)


def _event_count(store) -> int:
    with store.reading() as tx:
        return tx.last_event_id()


async def test_revoked_tokens_wrong_tokens_and_disabled_users_are_refused(api, api_users, store):
    headers = api_users.headers("support")
    assert (await api.server.client.get("/api/v1/me", headers=headers)).status == 200
    for bad in (
        "Bearer prov_not-a-token",
        "Bearer " + api_users.tokens["support"] + "x",
        "Basic abc",
        api_users.tokens["support"],
    ):
        response = await api.server.client.get("/api/v1/me", headers={"Authorization": bad})
        assert response.status == 401, bad
    record = accounts.get_user(store, "support-user")["tokens"][0]
    accounts.revoke_token(store, ACTOR, "support-user", record["id"])
    assert (await api.server.client.get("/api/v1/me", headers=headers)).status == 401
    accounts.update_user(store, ACTOR, "technician-user", disabled=True)
    response = await api.server.client.get("/api/v1/me", headers=api_users.headers("technician"))
    assert response.status == 401


async def test_me_names_the_user_and_what_they_may_do(api):
    me = await api.as_("support").get("/me")
    assert me["name"] == "support-user" and me["role"] == "support" and me["actor"] == "user:support-user"
    assert me["permissions"] == sorted(a for a, roles in PERMISSIONS.items() if "support" in roles)


async def test_unknown_paths_methods_and_bodies_are_json_errors(api):
    body = await api.get("/nothing/here", expect=404)
    assert body["error"] == "not_found" and "openapi.json" in body["message"]
    body = await api.get("", expect=404)
    assert body["error"] == "not_found"
    body = await api.request("DELETE", "/devices", expect=405)
    assert body["error"] == "method_not_allowed" and "GET, POST" in body["message"]
    assert api.last.headers["Allow"] == "GET, POST"
    assert (await api.request("PUT", "/devices/001565000001", expect=405))["error"] == "method_not_allowed"
    assert (await api.request("HEAD", "/devices", expect=405, json=None)) == b""
    body = await api.post("/customers", data=b"{not json", headers={"Content-Type": "application/json"}, expect=400)
    assert body == {"error": "invalid", "message": "the request body is not valid JSON", "field": "body"}
    body = await api.post("/customers", json=["a", "list"], expect=400)
    assert body["field"] == "body" and "JSON object" in body["message"]
    body = await api.post("/customers", expect=400)
    assert body["field"] == "body"
    big = b'{"name": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    body = await api.post("/customers", data=big, headers={"Content-Type": "application/json"}, expect=413)
    assert body["error"] == "too_large"


@pytest.mark.parametrize(
    ("query", "field", "words"),
    [
        ({"limit": "lots"}, "limit", "whole number"),
        ({"limit": "0"}, "limit", "1 or more"),
        ({"limit": "201"}, "limit", "200 or less"),
        ({"offset": "-1"}, "offset", "0 or more"),
        ({"state": "lost"}, "state", "one of"),
        ({"q": "x" * 101}, "q", "longer than 100"),
    ],
)
async def test_bad_query_values_are_400_naming_the_parameter(api, query, field, words):
    body = await api.get("/devices", params=query, expect=400)
    assert body["error"] == "invalid" and body["field"] == field and words in body["message"], body


async def test_the_document_is_public_and_lists_exactly_the_routes(server):
    response = await server.client.get("/api/v1/openapi.json")
    assert response.status == 200
    doc = await response.json()
    assert doc["openapi"].startswith("3.1")
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    registered = set()
    for route in server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/api/v1"):
            for op in openapi.OPERATIONS:
                if path in (op.route_path, "/api/v1" + op.path) and op.method == route.method:
                    registered.add((op.method, op.path))
                    break
            else:
                registered.add((route.method, path))
    assert registered == documented
    assert doc["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "a user's API token, `prov_...`",
    }
    assert doc["paths"]["/openapi.json"]["get"]["security"] == []
    create = doc["paths"]["/customers"]["post"]
    assert create["requestBody"]["content"]["application/json"]["schema"]["required"] == ["code", "name", "sip_server"]
    assert {"400", "401", "403", "409", "413", "201"} <= set(create["responses"])
    assert "customers.write" in create["description"] and "support" in create["description"]


async def test_a_console_session_works_and_its_changes_need_the_csrf_header(api, server, store):
    user = accounts.authenticate(store, "support-user", API_PASSWORD)
    assert user is not None
    cookie, session = accounts.start_session(store, user, ip="127.0.0.1", user_agent="test")
    jar = {"Cookie": f"provisioner_session={cookie}"}
    me = await server.client.get("/api/v1/me", headers=jar)
    assert me.status == 200 and (await me.json())["actor"] == "user:support-user"
    body = {"code": "ROSSI", "name": "Rossi", "sip_server": "pbx.example.net"}
    forged = await server.client.post("/api/v1/customers", json=body, headers=jar)
    assert forged.status == 403 and (await forged.json())["field"] == "csrf_token"
    wrong = await server.client.post("/api/v1/customers", json=body, headers={**jar, "X-CSRF-Token": "guess"})
    assert wrong.status == 403
    with store.reading() as tx:
        assert tx.list_customers() == []
    made = await server.client.post("/api/v1/customers", json=body, headers={**jar, "X-CSRF-Token": session.csrf_token})
    assert made.status == 201

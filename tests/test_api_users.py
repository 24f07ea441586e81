"""Users and API tokens over the API (admins only): add, list, change role, disable, set a password,
create a token that works at once and revoke it; no password or token in any answer but the one
that creates a token, nor in the audit events."""

from __future__ import annotations

from provisioner import accounts


async def test_admin_manages_users_and_tokens(api, server, store):
    created = await api.post("/users", {"name": "maria", "role": "support", "password": "a good long pass"}, expect=201)
    assert (created["name"], created["role"], created["disabled"]) == ("maria", "support", False)
    assert "password" not in str(created) and "a good long pass" not in await api.last.text()
    listed = await api.get("/users", params={"limit": "2"})
    assert listed["total"] == 5 and [u["name"] for u in listed["items"]] == ["admin-user", "maria"]

    token = await api.post("/users/maria/tokens", {"label": "laptop"}, expect=201)
    assert token["token"].startswith("prov_") and token["label"] == "laptop"
    assert api.last.headers["Cache-Control"] == "no-store"
    as_maria = {"Authorization": f"Bearer {token['token']}"}
    me = await (await server.client.get("/api/v1/me", headers=as_maria)).json()
    assert me["actor"] == "user:maria"
    detail = await api.get("/users/maria")
    assert [t["label"] for t in detail["tokens"]] == ["laptop"] and "token" not in detail["tokens"][0]
    assert token["token"] not in await api.last.text()

    assert (await api.patch("/users/maria", {"role": "viewer"}))["role"] == "viewer"
    refused = await server.client.post("/api/v1/customers", json={}, headers=as_maria)
    assert refused.status == 403 and "'viewer'" in (await refused.json())["message"]
    await api.put("/users/maria/password", {"password": "another long pass"}, expect=204)
    assert accounts.authenticate(store, "maria", "another long pass") is not None
    await api.delete(f"/users/maria/tokens/{token['id']}", expect=204)
    assert (await server.client.get("/api/v1/me", headers=as_maria)).status == 401
    assert (await api.patch("/users/maria", {"disabled": True}))["disabled"] is True

    events = (await api.get("/events", params={"actor": "user:admin-user"}))["items"]
    assert [e["action"] for e in events] == [
        "user.updated",
        "token.revoked",
        "user.password_changed",
        "user.updated",
        "token.created",
        "user.created",
    ]
    text = str(events)
    assert "a good long pass" not in text and "another long pass" not in text and token["token"] not in text


async def test_user_errors_name_the_field(api):
    for body, status, field in [
        ({"name": "x", "role": "boss", "password": "long enough pw"}, 400, "role"),
        ({"name": "x", "role": "viewer", "password": "short"}, 400, "password"),
        ({"name": "bad name", "role": "viewer", "password": "long enough pw"}, 400, "name"),
        ({"role": "viewer", "password": "long enough pw"}, 400, "name"),
        ({"name": "viewer-user", "role": "viewer", "password": "long enough pw"}, 409, "name"),
        ({"name": "sam", "role": "viewer", "password": "long enough pw", "admin": True}, 400, "admin"),
    ]:
        error = await api.post("/users", body, expect=status)
        assert error["field"] == field, (body, error)
        assert "long enough pw" not in error["message"] and "short" not in error["message"]
    assert (await api.get("/users/nobody", expect=404))["field"] == "name"
    last_admin = await api.patch("/users/admin-user", {"role": "viewer"}, expect=409)
    assert "last enabled admin" in last_admin["message"]
    assert (await api.delete("/users/viewer-user/tokens/999999", expect=404))["field"] == "token_id"
    assert (await api.delete("/users/viewer-user/tokens/abc", expect=400))["field"] == "token_id"
    assert (await api.put("/users/viewer-user/password", {"password": "viewer-user"}, expect=400))["field"] == (
        "password"
    )
    assert (await api.post("/users/viewer-user/tokens", {"label": ""}, expect=400))["field"] == "label"


async def test_only_admins_see_users(api):
    for role in ("technician", "support", "viewer"):
        error = await api.as_(role).get("/users", expect=403)
        assert f"role {role!r} may not" in error["message"] and "admin" in error["message"]

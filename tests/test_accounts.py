"""Users, roles, API tokens, sessions and the sign-in limiter (provisioner.accounts, provisioner.auth)."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from aiohttp import web

from provisioner import accounts, auth
from provisioner.accounts import LoginLimiter, User
from provisioner.errors import Conflict, Forbidden, Invalid, NotFound, RateLimited, Unauthorized

PASSWORD = "correct horse battery"


def test_add_and_authenticate(store):
    row = accounts.add_user(store, "test", "alice", role_="support", password=PASSWORD)
    assert (row["name"], row["role"], row["disabled"]) == ("alice", "support", False)
    user = accounts.authenticate(store, "alice", PASSWORD)
    assert user == User(row["id"], "alice", "support")
    assert accounts.authenticate(store, "alice", PASSWORD + "x") is None
    assert accounts.authenticate(store, "nobody", PASSWORD) is None
    assert accounts.list_users(store)[0]["last_login_at"] is not None


def test_the_hash_is_argon2_and_no_event_holds_the_password(store):
    accounts.add_user(store, "test", "alice", role_="admin", password=PASSWORD)
    accounts.set_password(store, "test", "alice", "another long secret")
    with store.reading() as tx:
        assert tx.user_by_name("alice")["password_hash"].startswith("$argon2id$")
        rows = tx.conn.exec_driver_sql("SELECT actor, action, summary, before, after FROM events").fetchall()
    assert [r.action for r in rows] == ["user.created", "user.password_changed"]
    text = json.dumps([list(r) for r in rows])
    assert PASSWORD not in text and "another long secret" not in text and "argon2" not in text
    assert accounts.authenticate(store, "alice", PASSWORD) is None
    assert accounts.authenticate(store, "alice", "another long secret") is not None


@pytest.mark.parametrize(
    ("name", "role", "password", "field", "words"),
    [
        ("", "admin", PASSWORD, "name", "letters"),
        ("bad name", "admin", PASSWORD, "name", "letters"),
        ("bob", "root", PASSWORD, "role", "admin, technician, support, viewer"),
        ("bob", "admin", "short", "password", "at least 10"),
        ("bob", "admin", "bob", "password", "at least"),
        ("bobbobbobbob", "admin", "BOBBOBBOBBOB", "password", "user name"),
        ("bob", "admin", "line\nbreak here", "password", "control"),
    ],
)
def test_bad_input_names_the_field_and_never_the_password(store, name, role, password, field, words):
    with pytest.raises(Invalid) as caught:
        accounts.add_user(store, "test", name, role_=role, password=password)
    assert caught.value.field == field
    assert words in caught.value.message
    if len(password) > 3:
        assert password not in caught.value.message
    assert accounts.list_users(store) == []


def test_duplicate_user_is_a_conflict(store):
    accounts.add_user(store, "test", "alice", role_="viewer", password=PASSWORD)
    with pytest.raises(Conflict):
        accounts.add_user(store, "test", "alice", role_="admin", password=PASSWORD)


def test_the_last_enabled_admin_cannot_be_demoted_or_disabled(store):
    accounts.add_user(store, "test", "root", role_="admin", password=PASSWORD)
    with pytest.raises(Conflict, match="last enabled admin"):
        accounts.update_user(store, "test", "root", role_="viewer")
    with pytest.raises(Conflict, match="last enabled admin"):
        accounts.update_user(store, "test", "root", disabled=True)
    accounts.add_user(store, "test", "second", role_="admin", password=PASSWORD)
    assert accounts.update_user(store, "test", "root", disabled=True)["disabled"] is True
    assert accounts.authenticate(store, "root", PASSWORD) is None


def test_permissions_per_role():
    table = {role: {a for a in accounts.PERMISSIONS if accounts.allowed(role, a)} for role in accounts.ROLES}
    assert table["viewer"] == {"read"}
    assert table["support"] == {"read", "devices.assign", "devices.swap", "returns", "customers.write"}
    assert table["technician"] == {"read", "devices.write", "devices.assign", "devices.swap", "imports"}
    assert table["admin"] == set(accounts.PERMISSIONS)
    with pytest.raises(Forbidden, match="role 'viewer' may not"):
        accounts.require(User(1, "v", "viewer"), "imports")
    with pytest.raises(Unauthorized):
        accounts.require(None, "read")


def test_api_tokens_are_stored_as_digests_and_can_be_revoked(store):
    accounts.add_user(store, "test", "script", role_="technician", password=PASSWORD)
    token, record = accounts.create_token(store, "test", "script", "nightly import")
    assert token.startswith("prov_") and len(token) > 40
    assert accounts.user_for_token(store, token).name == "script"
    used = accounts.get_user(store, "script")["tokens"][0]["last_used_at"]
    assert used is not None
    accounts.user_for_token(store, token)  # within the minute: no write
    assert accounts.get_user(store, "script")["tokens"][0]["last_used_at"] == used
    assert accounts.user_for_token(store, token + "x") is None
    assert accounts.user_for_token(store, "not-a-token") is None
    with store.reading() as tx:
        dump = "\n".join(str(r) for r in tx.conn.exec_driver_sql("SELECT * FROM api_tokens"))
    assert token not in dump and accounts.digest(token) in dump
    accounts.revoke_token(store, "test", "script", record["id"])
    assert accounts.user_for_token(store, token) is None
    with pytest.raises(NotFound):
        accounts.revoke_token(store, "test", "script", 999)


def test_sessions_expire_and_end_with_a_password_change(store):
    accounts.add_user(store, "test", "alice", role_="support", password=PASSWORD)
    user = accounts.authenticate(store, "alice", PASSWORD)
    cookie, session = accounts.start_session(store, user, ip="10.0.0.1", user_agent="Firefox")
    found = accounts.session_for(store, cookie)
    assert found.user == user and found.csrf_token == session.csrf_token
    assert accounts.session_for(store, cookie[:-1]) is None
    short, _ = accounts.start_session(store, user, ip=None, user_agent=None, ttl=timedelta(seconds=-1))
    assert accounts.session_for(store, short) is None
    accounts.set_password(store, "test", "alice", "a brand new secret")
    assert accounts.session_for(store, cookie) is None


def test_limiter_refuses_after_repeated_failures_and_forgets_after_the_window():
    now = [1000.0]
    limiter = LoginLimiter(per_name=3, per_ip=5, window=60, clock=lambda: now[0])
    for _ in range(3):
        limiter.check("10.0.0.1", "alice")
        limiter.failed("10.0.0.1", "alice")
    with pytest.raises(RateLimited) as caught:
        limiter.check("10.0.0.9", "Alice")  # the name is limited from any address
    assert 1 <= caught.value.retry_after <= 61
    limiter.check("10.0.0.1", "bob")  # another name from the same IP: under the IP limit
    limiter.failed("10.0.0.1", "bob")
    limiter.failed("10.0.0.1", "carol")
    with pytest.raises(RateLimited):
        limiter.check("10.0.0.1", "dave")  # five failures from one IP
    now[0] += 61
    limiter.check("10.0.0.1", "alice")


async def test_require_over_http_tokens_sessions_and_csrf(aiohttp_client, store, settings):
    from provisioner import keys

    accounts.add_user(store, "test", "tech", role_="technician", password=PASSWORD)
    accounts.add_user(store, "test", "viewer", role_="viewer", password=PASSWORD)
    token, _ = accounts.create_token(store, "test", "tech", "t")
    viewer_token, _ = accounts.create_token(store, "test", "viewer", "v")
    cookie, session = accounts.start_session(
        store, accounts.authenticate(store, "tech", PASSWORD), ip=None, user_agent=None
    )

    async def handler(request: web.Request) -> web.Response:
        try:
            user = await auth.require(request, "imports")
        except (Unauthorized, Forbidden) as exc:
            return web.json_response(exc.to_dict(), status=exc.status)
        return web.json_response({"user": user.name})

    app = web.Application()
    app[keys.STORE] = store
    app.router.add_post("/x", handler)
    client = await aiohttp_client(app)

    assert (await client.post("/x")).status == 401
    assert (await client.post("/x", headers={"Authorization": "Bearer prov_wrong"})).status == 401
    reply = await client.post("/x", headers={"Authorization": f"Bearer {viewer_token}"})
    assert reply.status == 403 and "viewer" in (await reply.json())["message"]
    reply = await client.post("/x", headers={"Authorization": f"Bearer {token}"})
    assert await reply.json() == {"user": "tech"}
    # By cookie, a change needs the session's CSRF token.
    cookies = {auth.SESSION_COOKIE: cookie}
    reply = await client.post("/x", cookies=cookies)
    assert reply.status == 403 and (await reply.json())["field"] == "csrf_token"
    reply = await client.post("/x", cookies=cookies, headers={auth.CSRF_HEADER: "wrong"})
    assert reply.status == 403
    reply = await client.post("/x", cookies=cookies, headers={auth.CSRF_HEADER: session.csrf_token})
    assert await reply.json() == {"user": "tech"}


def test_cli_user_add_list_token_and_bad_role(run_cli, store):
    result = run_cli("user", "add", "root", "--role", "admin", "--password-stdin", input=PASSWORD + "\n")
    assert "user root added with role admin" in result.output
    assert accounts.authenticate(store, "root", PASSWORD).role == "admin"
    result = run_cli("user", "add", "x", "--role", "boss", "--password-stdin", input=PASSWORD + "\n", ok=False)
    assert result.exit_code == 2 and "boss" in result.output
    result = run_cli("user", "add", "weak", "--role", "viewer", "--password-stdin", input="short\n", ok=False)
    assert result.exit_code == 1 and "at least 10" in result.output and "short\n" not in result.output
    token = run_cli("user", "token", "root", "--label", "ci").stdout.strip().splitlines()[-1]
    assert accounts.user_for_token(store, token).name == "root"
    listed = json.loads(run_cli("user", "list", "--json").output)
    assert [(u["name"], u["role"]) for u in listed] == [("root", "admin")]
    assert "1 (ci)" not in run_cli("user", "revoke", "root", "1").output
    assert accounts.user_for_token(store, token) is None

"""A console or API write is in the server's config cache when its answer is sent: the commit is
counted (provisioner.db.counting_commits) and the request syncs the cache once, only if it wrote.
The periodic sync is an hour away here, so nothing else can make the change visible."""

from __future__ import annotations

import asyncio

import pytest

from provisioner import keys, services
from provisioner.db import counting_commits
from provisioner.settings import Settings

from .conftest import ACTOR, add_customer, add_line, key_path
from .test_console import add_user, post, sign_in

MAC = "001565000201"


@pytest.fixture
def settings(data_dir) -> Settings:
    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=None,
        public_url="http://prov.test:8080/",
        sync_interval=3600,
        flush_interval=0.05,
    )


@pytest.fixture
async def phone(server, store):
    add_customer(store, "ROSSI")
    add_line(store, "ROSSI", "201", "Reception", "Pw-201-secret")
    services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    await server.sync()  # written by another Store, as the CLI would: the server catches up once
    path = f"/{key_path(store, MAC)}{MAC}.cfg"

    async def config() -> bytes:
        resp = await server.client.get(path)
        assert resp.status == 200, resp.status
        return await resp.read()

    assert b"display_name = Reception" in await config()
    return config


def syncs(server) -> int:
    return server.app[keys.CACHE]._syncs_started


async def test_an_api_write_is_served_at_once_and_a_read_syncs_nothing(api, server, phone):
    await api.get("/devices")  # a token's first use records it (a commit, throttled): not counted below
    await api.as_("technician").get("/devices")
    before = syncs(server)
    await api.get("/devices", params={"q": MAC})
    await api.get(f"/devices/{MAC}")
    assert syncs(server) == before  # reads commit nothing: no sync

    await api.as_("technician").patch("/customers/ROSSI/lines/201", {"display_name": "Front desk"})
    assert syncs(server) == before + 1  # one sync for the request's write
    assert b"display_name = Front desk" in await phone()


async def test_a_rejected_api_write_syncs_nothing(api, server, phone):
    await api.as_("technician").get("/devices")  # the token's first use, recorded
    before = syncs(server)
    await api.as_("technician").patch("/customers/ROSSI/lines/999", {"label": "x"}, expect=404)
    assert syncs(server) == before


async def test_a_console_write_is_served_at_once(server, store, phone):
    add_user(store, "tech", "technician")
    client = server.client
    await sign_in(client, "tech")
    before = syncs(server)
    await post(client, f"/console/devices/{MAC}/unassign", {"on": "2020-01-01"})
    assert syncs(server) >= before + 1
    resp = await client.get(f"/{MAC}.cfg")  # taken back: no longer this customer's phone
    assert resp.status != 200 or b"Reception" not in await resp.read()


async def test_commits_are_counted_in_worker_threads_and_rollbacks_are_not(store):
    def write() -> None:
        add_customer(store, "BIANCHI")

    def fail() -> None:
        with store.transaction() as tx:
            tx.insert_customer({"code": "VERDI", "name": "Verdi"})
            raise RuntimeError("rolled back")

    def read() -> None:
        with store.reading() as tx:
            tx.list_customers()

    with counting_commits() as commits:
        await asyncio.to_thread(read)
        assert commits == [0]
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(fail)
        assert commits == [0]
        await asyncio.to_thread(write)
        assert commits[0] >= 1
    after = commits[0]
    await asyncio.to_thread(add_customer, store, "NERI")
    assert commits[0] == after  # outside the block: not counted


async def test_a_phone_request_passes_only_the_error_middleware(api, server, phone):
    """The API and the console are sub-applications: their middlewares (and the commit counting)
    wrap their own routes, never a phone's fetch (issue 19: the phone route's cost)."""
    from aiohttp.test_utils import make_mocked_request

    from provisioner import api as api_module
    from provisioner import console, web

    async def chain(method: str, path: str) -> list:
        match = await server.app.router.resolve(make_mocked_request(method, path, app=server.app))
        return [*server.app.middlewares, *(m for app in match.apps for m in app.middlewares)]

    assert await phone()  # the phone's file is served through that chain
    assert await chain("GET", f"/{MAC}.cfg") == [web.error_middleware]
    assert await chain("PUT", "/001565000201-calls.log") == [web.error_middleware]
    assert await chain("GET", "/api/v1/devices") == [web.error_middleware, api_module.guard, web.sync_after_writes]
    assert await chain("GET", "/api/v1/no-such-thing") == [
        web.error_middleware,
        api_module.guard,
        web.sync_after_writes,
    ]
    assert await chain("POST", "/console/customers") == [
        web.error_middleware,
        web.sync_after_writes,
        console.middleware,
    ]
    before = syncs(server)
    response = await server.client.get("/api/v1/no-such-thing")
    assert response.status == 404 and (await response.json())["error"] == "not_found"
    response = await server.client.get("/", allow_redirects=False)
    assert response.status in (301, 302, 303) and response.headers["Location"] == "/console/"
    assert response.headers["X-Content-Type-Options"] == "nosniff"  # the console's headers, as before
    assert syncs(server) == before

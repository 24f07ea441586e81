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
    return Settings(data_dir=data_dir, host="127.0.0.1", http_port=0, tftp_port=None,
                    public_url="http://prov.test:8080/", sync_interval=3600, flush_interval=0.05)


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

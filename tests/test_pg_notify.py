"""PostgreSQL LISTEN/NOTIFY: a change or a ban committed by one node wakes every other node's sync.

Two server nodes (in-process apps) over one real PostgreSQL, with the polling interval set to an
hour: anything they pick up within the test came by NOTIFY.
"""

from __future__ import annotations

import asyncio
import dataclasses

from provisioner import keys, services
from provisioner.web import create_app
from tests.conftest import ACTOR, Running, add_customer, add_line
from tests.test_postgres import pg_store, postgres_url  # noqa: F401  (a PostgreSQL of this module's own)

MAC = "001565a1b2c3"


async def _nodes(aiohttp_client, settings, url: str, count: int = 2, **changes) -> list[Running]:
    nodes = []
    for _ in range(count):
        node_settings = dataclasses.replace(settings, database_url=url, tftp_port=None, sync_interval=3600.0, **changes)
        app = create_app(node_settings)
        nodes.append(Running(await aiohttp_client(app), app))
    return nodes


async def _until(check, timeout: float = 10.0) -> bool:
    for _ in range(int(timeout / 0.02)):
        if await check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_change_reaches_every_node_by_notify_not_by_polling(pg_store, postgres_url, aiohttp_client, settings):  # noqa: F811
    add_customer(pg_store)
    add_line(pg_store, "ROSSI", "201", "Reception", "Pw-201!")
    services.add_device(pg_store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    nodes = await _nodes(aiohttp_client, settings, postgres_url)
    for node in nodes:
        assert "display_name = Reception" in await (await node.client.get(f"/{MAC}.cfg")).text()
    syncs_before = [node.app[keys.CACHE]._syncs_started for node in nodes]

    services.update_line(pg_store, ACTOR, "ROSSI", "201", display_name="Front desk")  # a third process

    for node in nodes:

        async def updated(node: Running = node) -> bool:
            return "display_name = Front desk" in await (await node.client.get(f"/{MAC}.cfg")).text()

        assert await _until(updated), "the change did not reach a node with polling an hour apart"
    assert all(node.app[keys.CACHE]._syncs_started > before for node, before in zip(nodes, syncs_before, strict=True))


async def test_a_ban_by_one_node_reaches_the_other_by_notify(pg_store, postgres_url, aiohttp_client, settings):  # noqa: F811
    with pg_store.transaction() as tx:
        tx.conn.exec_driver_sql("TRUNCATE bans")
    add_customer(pg_store)
    add_line(pg_store, "ROSSI", "201", "Reception", "Pw-201!")
    services.add_device(pg_store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
    first, second = await _nodes(aiohttp_client, settings, postgres_url, scan_failures=3)
    assert (await second.client.get(f"/{MAC}.cfg")).status == 200
    statuses = [(await first.client.get(f"/00156500009{n}.cfg")).status for n in range(4)]
    assert statuses == [404, 404, 404, 403]  # the first node banned 127.0.0.1

    async def banned_on_second() -> bool:
        return (await second.client.get(f"/{MAC}.cfg")).status == 403

    assert await _until(banned_on_second), "the second node never applied the first one's ban"

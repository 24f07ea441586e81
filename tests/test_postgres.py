"""PostgreSQL: the same schema by the same migrations, and two server nodes sharing one database.

The test starts a real PostgreSQL server (initdb + pg_ctl from the machine's
PostgreSQL packages, which .ci/run installs) in a temporary folder on a free port.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from provisioner import services
from provisioner.db import Store, metadata
from provisioner.sealing import generate_key
from provisioner.web import create_app
from tests.conftest import ACTOR, Running, add_customer, add_line


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@pytest.fixture(scope="module")
def postgres_url():
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        pytest.fail("PostgreSQL server binaries not found: .ci/run installs the postgresql package")
    # Not under pytest's tmp folder: its parents are private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="provisioner-pg-"))
    data = root / "data"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    run_as: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*run_as, initdb, "-D", str(data), "-U", "prov", "--auth=trust", "-E", "UTF8"], check=True, capture_output=True
    )
    subprocess.run(
        [
            *run_as,
            pg_ctl,
            "-D",
            str(data),
            "-l",
            str(root / "log"),
            "-w",
            "-o",
            f"-h 127.0.0.1 -p {port} -k {root} -c fsync=off",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        subprocess.run(
            [
                *run_as,
                _pg_bin("createdb") or "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
                "-U",
                "prov",
                "provisioner",
            ],
            check=True,
            capture_output=True,
        )
        # Nodes sharing one database share its secret key, given by the environment as in production.
        with pytest.MonkeyPatch.context() as env:
            env.setenv("PROVISIONER_SECRET_KEY", generate_key())
            yield f"postgresql://prov@127.0.0.1:{port}/provisioner"
    finally:
        subprocess.run([*run_as, pg_ctl, "-D", str(data), "-m", "fast", "stop"], capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_store(postgres_url):
    store = Store.open(Path("unused"), postgres_url)
    with store.transaction() as tx:  # each test starts from empty tables
        tx.conn.exec_driver_sql(
            "TRUNCATE customers, lines, devices, device_lines, events, unknown_devices, "
            "downloads, uploads RESTART IDENTITY CASCADE"
        )
    yield store
    store.close()


def test_migrations_build_the_declared_schema_on_postgres(pg_store):
    assert pg_store.engine.dialect.name == "postgresql"
    with pg_store.engine.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []


async def test_two_nodes_share_one_database(pg_store, postgres_url, aiohttp_client, settings):
    add_customer(pg_store)
    add_line(pg_store, "ROSSI", "201", "Rossi & Figli <Reception>", "Pw-201!")
    services.add_device(pg_store, ACTOR, "001565A1B2C3", model="T46U", customer="ROSSI", lines=["201"])
    nodes = []
    for _ in range(2):
        app = create_app(settings.__class__(**{**settings.__dict__, "database_url": postgres_url, "tftp_port": None}))
        nodes.append(Running(await aiohttp_client(app), app))
    bodies = [await (await node.client.get("/001565a1b2c3.cfg")).text() for node in nodes]
    assert bodies[0] == bodies[1]
    assert "account.1.display_name = Rossi & Figli <Reception>" in bodies[0]
    # A change written by a third process (here: another Store) reaches both nodes' caches.
    services.update_line(pg_store, ACTOR, "ROSSI", "201", display_name="Front desk")
    for node in nodes:
        await node.sync()
        assert "account.1.display_name = Front desk" in await (await node.client.get("/001565a1b2c3.cfg")).text()


def test_passwords_are_sealed_on_postgres(pg_store):
    services.add_customer(pg_store, "test", "ROSSI", name="Rossi", sip_server="pbx.example.net")
    services.add_line(pg_store, "test", "ROSSI", "200", display_name="Desk", password="x" * 255)  # the longest
    with pg_store.reading() as tx:
        raw = tx.conn.exec_driver_sql("SELECT password FROM lines").scalar_one()
        assert raw.startswith("g1.") and "x" * 20 not in raw and len(raw) > 255
        assert tx.lines_of_customer(tx.customer_by_code("ROSSI")["id"])[0]["password"] == "x" * 255


def test_two_swaps_into_the_same_new_phone_at_once_one_lands_the_other_is_a_conflict(pg_store):
    import threading

    from provisioner import rental_services
    from provisioner.errors import Conflict

    for code, ext, mac in (("ROSSI", "201", "001565000A01"), ("VERDI", "301", "001565000B01")):
        services.add_customer(pg_store, "test", code, name=code, sip_server="pbx.example.net")
        services.add_line(pg_store, "test", code, ext, display_name=code, password=f"pw-{code}-secret")
        services.add_device(pg_store, "test", mac, model="T46U", customer=code, lines=[ext])
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def swap(old: str) -> None:
        start.wait()
        try:
            outcomes[old] = rental_services.swap(pg_store, "test", old, "001565000C01")
        except Conflict as exc:
            outcomes[old] = exc

    threads = [threading.Thread(target=swap, args=(m,)) for m in ("001565000A01", "001565000B01")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    conflicts = [o for o in outcomes.values() if isinstance(o, Conflict)]
    assert len(outcomes) == 2 and len(conflicts) == 1, outcomes
    assert "secret" not in conflicts[0].message
    winner = next(m for m, o in outcomes.items() if not isinstance(o, Conflict))
    loser = next(m for m in outcomes if m != winner)
    new = services.show_device(pg_store, "001565000C01")
    assert [ln["extension"] for ln in new["lines"]] == (["201"] if winner == "001565000A01" else ["301"])
    assert services.show_device(pg_store, loser)["state"] == "deployed"  # the loser changed nothing

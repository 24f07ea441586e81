"""Nothing lost with PostgreSQL stopped (``pg_ctl stop``) and started again (issue 12).

A PostgreSQL server of this module's own (not tests/test_postgres.py's, which other tests share):
these tests stop it.
"""

from __future__ import annotations

import dataclasses
import os
import pwd
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from provisioner import keys, services
from provisioner.db import Store
from provisioner.sealing import generate_key
from provisioner.web import create_app
from tests import tftp_client
from tests.conftest import ACTOR, Running, add_customer, add_line
from tests.test_postgres import _pg_bin

ROOT = Path(__file__).resolve().parent.parent


class Postgres:
    def __init__(self) -> None:
        initdb, self.pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not (initdb and self.pg_ctl):
            pytest.fail("PostgreSQL server binaries not found: .ci/run installs the postgresql package")
        self.root = Path(tempfile.mkdtemp(prefix="provisioner-pg-"))
        self.data = self.root / "data"
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        subprocess.run(
            [*self.run_as, initdb, "-D", str(self.data), "-U", "prov", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        self.start()
        # A name of its own: once stopped, its port may go to another test's PostgreSQL, which must not
        # be taken for it.
        name = f"provisioner_{secrets.token_hex(6)}"
        subprocess.run(
            [
                *self.run_as,
                _pg_bin("createdb") or "createdb",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "prov",
                name,
            ],
            check=True,
            capture_output=True,
        )
        self.url = f"postgresql://prov@127.0.0.1:{self.port}/{name}"

    def start(self) -> None:
        subprocess.run(
            [
                *self.run_as,
                self.pg_ctl,
                "-D",
                str(self.data),
                "-l",
                str(self.root / "log"),
                "-w",
                "-o",
                f"-h 127.0.0.1 -p {self.port} -k {self.root} -c fsync=off",
                "start",
            ],
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop"],
            check=True,
            capture_output=True,
        )

    def remove(self) -> None:
        subprocess.run(
            [*self.run_as, self.pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture
def postgres(monkeypatch):
    monkeypatch.setenv("PROVISIONER_SECRET_KEY", generate_key())
    pg = Postgres()
    try:
        yield pg
    finally:
        pg.remove()


MAC, OTHER = "001565A1B2C3", "001565A1B2C4"


async def test_with_postgres_stopped_cached_files_are_served_and_every_download_is_stored_later(
    postgres, aiohttp_client, settings
):
    store = Store.open(Path("unused"), postgres.url)
    try:
        add_customer(store)
        add_line(store, "ROSSI", "201", "Reception", "Pw-201!")
        add_line(store, "ROSSI", "202", "Office", "Pw-202!")
        services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
        services.add_device(store, ACTOR, OTHER, model="T46U", customer="ROSSI", lines=["202"])
        # No pre-warm: OTHER must still be uncached when the database goes away.
        app = create_app(dataclasses.replace(settings, database_url=postgres.url, prewarm=False))
        node = Running(await aiohttp_client(app), app)
        activity = app[keys.ACTIVITY]
        await node.sync()  # the events of the setup seen (on PostgreSQL, recent ones are read again once)
        assert (await node.client.get("/001565a1b2c3.cfg")).status == 200  # cached from now on
        assert await activity.flush() is True

        postgres.stop()
        for _ in range(39):
            assert (await node.client.get("/001565a1b2c3.cfg")).status == 200
        uncached = await node.client.get("/001565a1b2c4.cfg")
        assert uncached.status == 503 and int(uncached.headers["Retry-After"]) > 0
        assert (await uncached.json())["reason"] == "unreachable"
        cached_tftp = await tftp_client.fetch(("127.0.0.1", node.tftp_port), "001565a1b2c3.cfg")
        assert cached_tftp.error is None and b"Pw-201!" in cached_tftp.data
        uncached_tftp = await tftp_client.fetch(("127.0.0.1", node.tftp_port), "001565a1b2c4.cfg")
        assert uncached_tftp.error is not None and "try again" in uncached_tftp.error[1]
        health = await node.client.get("/healthz")
        assert health.status == 503 and (await health.json())["database"] == "unreachable"
        assert await activity.flush() is False
        assert len(activity._downloads) == 1 and len(activity._repeats) == 1  # the TFTP row, the HTTP row's count

        postgres.start()
        assert await activity.flush() is True
        with store.reading() as tx:
            rows = tx.downloads_of_device(MAC)
        # Repeats of one fetch are one row: 40 over HTTP (1 before the stop, 39 during it), 1 over TFTP.
        assert sorted((d["transport"], d["count"]) for d in rows) == [("http", 40), ("tftp", 1)]
        assert (await node.client.get("/healthz")).status == 200
        assert (await node.client.get("/001565a1b2c4.cfg")).status == 200
    finally:
        store.close()


def _wait_for(proc: subprocess.Popen, text: str, *, count: int = 1, timeout: float = 60.0) -> str:
    """The process's output until ``text`` appeared ``count`` times (fails after ``timeout``)."""
    # Read the pipe's file descriptor itself: a buffered readline() can pull several lines into
    # Python's buffer, where select() no longer sees them, and the wait would miss the last one.
    seen = ""
    fd = proc.stdout.fileno()
    selector = selectors.DefaultSelector()
    selector.register(fd, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    while seen.count(text) < count:
        assert time.monotonic() < deadline, seen
        if selector.select(timeout=1):
            chunk = os.read(fd, 65536)
            assert chunk, f"the server exited: {seen}"
            seen += chunk.decode("utf-8", "replace")
    return seen


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _serve(url: str, data_dir: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "server.py",
            "--database-url",
            url,
            "--data-dir",
            str(data_dir),
            "--http-port",
            str(_free_port()),
            "--tftp-port",
            "off",
            "--host",
            "127.0.0.1",
            "--public-url",
            "http://prov.test/",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PROVISIONER_LOG_FORMAT": "json"},
    )


def test_a_node_started_before_its_database_waits_and_starts_when_it_is_up(postgres, tmp_path):
    Store.open(Path("unused"), postgres.url).close()  # migrated
    postgres.stop()
    proc = _serve(postgres.url, tmp_path)
    try:
        out = _wait_for(proc, "database_unavailable_at_start", count=2)
        assert '"attempt": 2' in out and "Traceback" not in out
        postgres.start()
        _wait_for(proc, "http_listening")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_while_waiting_for_the_database_exits_cleanly(tmp_path, monkeypatch):
    monkeypatch.setenv("PROVISIONER_SECRET_KEY", generate_key())
    port = _free_port()  # a port nobody listens on: a database that is down
    proc = _serve(f"postgresql://prov@127.0.0.1:{port}/provisioner", tmp_path)
    try:
        _wait_for(proc, "database_unavailable_at_start")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        rest = proc.stdout.read()
        assert "Traceback" not in rest and "stopped_while_waiting_for_database" in rest
    finally:
        if proc.poll() is None:
            proc.kill()

"""``serve --workers 2``: two server processes on the same HTTP and TFTP ports over one SQLite file.

Real ``python server.py`` children, real sockets. Which worker answered is read from /metrics
(``provisioner_worker{worker=...}``, one per process) and from the supervisor's log lines.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from provisioner import services
from provisioner.db import Store

from .conftest import ACTOR, add_customer, add_line, key_path

ROOT = Path(__file__).resolve().parents[1]
MAC = "001565000001"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Workers:
    """``python server.py --workers N`` with its JSON log lines collected as they come."""

    def __init__(self, data_dir: Path, *args: str, workers: int = 2):
        self.http_port = free_port(socket.SOCK_STREAM)
        self.logs: list[dict] = []
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "server.py",
                "--host",
                "127.0.0.1",
                "--http-port",
                str(self.http_port),
                "--tftp-port",
                "0",
                "--data-dir",
                str(data_dir),
                "--public-url",
                "http://prov.test:8080/",
                "--workers",
                str(workers),
                *args,
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        try:  # a busy machine can take long to spawn two workers; a start that fails leaves no process
            ready = self.wait_for(lambda e: e["event"] == "workers_ready", timeout=120.0)
        except BaseException:
            self.stop()
            raise
        self.tftp_port = ready["tftp_port"]
        self.pids = ready["pids"]

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("{"):
                self.logs.append(json.loads(line))

    def wait_for(self, match, *, after: int = 0, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for entry in self.logs[after:]:
                if match(entry):
                    return entry
            assert self.proc.poll() is None or self.logs, "the server exited"
            time.sleep(0.05)
        raise AssertionError(f"no such log line in {[e['event'] for e in self.logs]}")

    def get(self, path: str) -> tuple[int, bytes]:
        """One request on a new connection (the kernel picks the worker)."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}{path}", timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def metrics_by_worker(self, tries: int = 60) -> dict[str, str]:
        """The /metrics text of each worker, scraped over new connections until each one answered."""
        seen: dict[str, str] = {}
        for _ in range(tries):
            _, body = self.get("/metrics")
            text = body.decode()
            worker = re.search(r'^provisioner_worker\{pid="\d+",worker="(\d+)"\} 1\.0$', text, re.M)
            assert worker, "no provisioner_worker line in /metrics"
            seen[worker.group(1)] = text
            if len(seen) == len(self.pids):
                break
        return seen

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=40)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def tftp_get(port: int, filename: str) -> bytes:
    """An RFC 1350 read from a new client port (the kernel picks the worker by the address pair)."""
    body = b""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.sendto(b"\x00\x01" + filename.encode() + b"\x00octet\x00", ("127.0.0.1", port))
        while True:
            packet, peer = sock.recvfrom(600)
            assert packet[:2] == b"\x00\x03", packet
            body += packet[4:]
            sock.sendto(b"\x00\x04" + packet[2:4], peer)
            if len(packet) - 4 < 512:
                return body


def phone_counts(metrics: str, transport: str) -> int:
    return sum(
        int(float(m.group(1)))
        for m in re.finditer(
            rf'^provisioner_phone_requests_total\{{[^}}]*transport="{transport}"[^}}]*\}} (\S+)$', metrics, re.M
        )
    )


@pytest.fixture
def phone(data_dir: Path) -> str:
    """A Yealink with one line, in the data folder's SQLite: the path it fetches."""
    store = Store.open(data_dir)
    try:
        add_customer(store, "ROSSI")
        add_line(store, "ROSSI", "201", "Reception", "Pw-201-secret")
        services.add_device(store, ACTOR, MAC, model="T46U", customer="ROSSI", lines=["201"])
        return f"{key_path(store, MAC)}{MAC}.cfg"
    finally:
        store.close()


def test_two_workers_answer_on_one_http_and_one_tftp_port_and_stop_on_sigterm(data_dir, phone):
    server = Workers(data_dir)
    try:
        assert len(server.pids) == 2
        for _ in range(40):
            status, body = server.get("/" + phone)
            assert status == 200 and b"Reception" in body
            assert b"Reception" in tftp_get(server.tftp_port, phone)
        metrics = server.metrics_by_worker()
        assert sorted(metrics) == ["0", "1"]  # both processes answer on the one HTTP port
        http_counts = {w: phone_counts(m, "http") for w, m in metrics.items()}
        tftp_counts = {w: phone_counts(m, "tftp") for w, m in metrics.items()}
        assert sum(http_counts.values()) == 40 and all(http_counts.values()), http_counts
        assert sum(tftp_counts.values()) == 40 and all(tftp_counts.values()), tftp_counts
        # Jobs that must run once: the NOTIFY after a change is worker 0's only.
    finally:
        status = server.stop()
    assert status == 0
    for pid in server.pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert any(e["event"] == "workers_stopped" and e["exit_status"] == 0 for e in server.logs)


def test_a_change_made_by_the_cli_is_served_by_every_worker(data_dir, phone, run_cli):
    server = Workers(data_dir)
    try:
        assert all(b"Reception" in server.get("/" + phone)[1] for _ in range(10))  # both caches warm
        run_cli("line", "update", "ROSSI", "201", "--name", "Front desk")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            bodies = [server.get("/" + phone)[1] for _ in range(20)] + [
                tftp_get(server.tftp_port, phone) for _ in range(20)
            ]
            if all(b"Front desk" in body for body in bodies):
                break
            time.sleep(0.1)
        assert all(b"Front desk" in body and b"Reception" not in body for body in bodies)
    finally:
        assert server.stop() == 0


def test_a_ban_made_by_one_worker_is_applied_by_the_other(data_dir, phone):
    server = Workers(data_dir, "--scan-failures", "3", "--scan-exempt", "")
    try:
        assert all(server.get("/" + phone)[0] == 200 for _ in range(10))
        # One keep-alive connection: one worker counts the failures and bans 127.0.0.1.
        conn = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=10)
        statuses = []
        for n in range(4):
            conn.request("GET", f"/00156500009{n}.cfg")
            resp = conn.getresponse()
            resp.read()
            statuses.append(resp.status)
        conn.close()
        assert statuses == [404, 404, 404, 403]
        # The other worker counted nothing; it bans from the shared table, within its sync tick.
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            answers = [server.get("/" + phone)[0] for _ in range(20)]
            if set(answers) == {403}:
                break
            time.sleep(0.1)
        assert set(answers) == {403}, answers
        assert [e["event"] for e in server.logs].count("phone_ip_banned") == 1  # one ban, shared
    finally:
        assert server.stop() == 0


def test_a_killed_worker_is_started_again(data_dir, phone):
    server = Workers(data_dir)
    try:
        mark = len(server.logs)
        os.kill(server.pids[1], signal.SIGKILL)
        died = server.wait_for(lambda e: e["event"] == "worker_died", after=mark)
        assert died["worker"] == 1 and died["exit_code"] == -signal.SIGKILL
        again = server.wait_for(lambda e: e["event"] == "worker_started" and e["worker"] == 1, after=mark)
        assert again["pid"] != server.pids[1]
        server.wait_for(lambda e: e["event"] == "http_listening" and e.get("worker") == 1, after=mark)
        server.pids = [server.pids[0], again["pid"]]
        assert sorted(server.metrics_by_worker()) == ["0", "1"]
        assert f'pid="{again["pid"]}"' in server.metrics_by_worker()["1"]
    finally:
        assert server.stop() == 0


def test_a_worker_that_cannot_start_stops_everything_with_status_1(data_dir, phone):
    taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no SO_REUSEPORT: the workers cannot share it
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        proc = subprocess.run(
            [
                sys.executable,
                "server.py",
                "--host",
                "127.0.0.1",
                "--http-port",
                str(taken.getsockname()[1]),
                "--tftp-port",
                "0",
                "--data-dir",
                str(data_dir),
                "--workers",
                "2",
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        taken.close()
    assert proc.returncode == 1
    assert "worker_failed_to_start" in proc.stderr


async def test_a_window_closed_by_one_process_is_closed_on_the_other(aiohttp_client, settings, store):
    """Two servers over one SQLite file (as two workers): the phone's first fetch on one closes its
    first-contact window; the other sees it closed (the write's event syncs its cache) and refuses
    the same MAC asked from another address."""
    from provisioner import keys, security_services
    from provisioner.web import create_app
    from tests.test_phone_security import has_password, session
    from tests.test_phones import PHONES, provision

    phone = PHONES["yealink"][0]
    add_customer(store)
    provision(store, phone, 200)
    security_services.set_customer_security(store, ACTOR, "ROSSI", window_hours=24)
    first, second = [await aiohttp_client(create_app(settings)) for _ in range(2)]
    path = "/" + phone.files[-1]
    async with session("127.0.0.2") as office:
        resp = await office.get(f"http://127.0.0.1:{first.server.port}{path}", headers={"User-Agent": phone.user_agent})
        assert resp.status == 200 and has_password(await resp.read())
    await first.app[keys.ACTIVITY].flush()  # the close is written (each second in production)
    await second.app[keys.CACHE].sync()  # what the second one's sync tick does
    async with session("127.0.0.3") as stranger:
        resp = await stranger.get(
            f"http://127.0.0.1:{second.server.port}{path}", headers={"User-Agent": phone.user_agent}
        )
        assert resp.status == 403 and not has_password(await resp.read())


def test_a_database_that_cannot_be_opened_stops_the_supervisor_before_any_worker(data_dir):
    (data_dir / "provisioner.sqlite3").write_bytes(b"not a database " * 20)
    proc = subprocess.run(
        [
            sys.executable,
            "server.py",
            "--http-port",
            str(free_port(socket.SOCK_STREAM)),
            "--tftp-port",
            "off",
            "--data-dir",
            str(data_dir),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "cannot open or migrate the database: DatabaseError" in proc.stderr
    assert "worker_started" not in proc.stderr  # migrations run once, in the supervisor, first

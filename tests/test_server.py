"""`python server.py` as an operator runs it: starts on the embedded SQLite, answers, stops on SIGTERM."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_server_py_starts_serves_and_stops_on_sigterm(tmp_path):
    http_port, tftp_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    data_dir = tmp_path / "data"
    proc = subprocess.Popen(
        [
            sys.executable,
            "server.py",
            "--host",
            "127.0.0.1",
            "--http-port",
            str(http_port),
            "--tftp-port",
            str(tftp_port),
            "--data-dir",
            str(data_dir),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        health = None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and health is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{http_port}/healthz", timeout=1) as resp:
                    health = json.load(resp)
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()
                time.sleep(0.1)
        assert health and health["status"] == "ok"
        assert (data_dir / "provisioner.sqlite3").is_file()
        # A TFTP request for a file nobody has gets error 1 from the same process.
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(5)
            sock.sendto(b"\x00\x01001565000000.cfg\x00octet\x00", ("127.0.0.1", tftp_port))
            packet, _ = sock.recvfrom(600)
        assert packet[:4] == b"\x00\x05\x00\x01"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    logs = [json.loads(line) for line in proc.stderr.read().decode().splitlines() if line.startswith("{")]
    events = {entry["event"] for entry in logs}
    assert {"store_opened", "tftp_listening", "no_users_yet"} <= events
    assert all("level" in entry and "timestamp" in entry for entry in logs)


def test_bad_flag_is_one_clear_line(tmp_path):
    proc = subprocess.run(
        [sys.executable, "server.py", "--tftp-port", "sixty"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2
    assert "'sixty' is not a port number or 'off'" in proc.stderr

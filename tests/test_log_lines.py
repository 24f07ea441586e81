"""Several worker processes write JSON log lines to one stderr: every line stays whole.

``serve --workers N`` gives every worker the supervisor's stderr. With ``PYTHONUNBUFFERED=1`` (as in
many containers) a log line written as two writes (the text, then the newline) interleaves with
another process's line; each line must go out in one write, which a pipe keeps whole (< PIPE_BUF)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

WRITER = """
import structlog
from provisioner import logs
logs.configure("info", "json")
log = structlog.get_logger("provisioner.test")
for n in range(2000):
    log.info("line", n=n, worker=WORKER, pad="x" * 150)
"""


def test_two_processes_logging_at_once_give_only_whole_json_lines():
    read, write = os.pipe()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER.replace("WORKER", str(w))], stderr=write, stdout=subprocess.DEVNULL, env=env
        )
        for w in (1, 2)
    ]
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        out = pipe.read()
    for proc in procs:
        assert proc.wait(timeout=60) == 0
    lines = out.decode().splitlines()
    parsed = [json.loads(line) for line in lines]  # a torn or merged line fails here
    assert sorted((p["worker"], p["n"]) for p in parsed) == [(w, n) for w in (1, 2) for n in range(2000)]

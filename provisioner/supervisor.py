"""``serve --workers N``: N server processes on the same ports over the same database.

The supervisor (the process ``provisioner serve`` started) runs the migrations once, picks the ports
(a port 0 becomes a real one, which every worker then shares), and starts N workers with the
``spawn`` method. Each worker binds its own HTTP(S) and TFTP sockets with ``SO_REUSEPORT``: Linux
spreads connections and datagrams over them. Each worker has its own config cache, kept in sync from
the audit events (:mod:`provisioner.shared_sync`), and shares scan-defence bans through the database.
Jobs that must run once (PnP responder, mDNS, the NOTIFY after a change) run in worker 0.

A worker that dies is started again (after 1 s, doubling up to 30 s while it keeps dying). SIGTERM or
SIGINT is passed to every worker; the supervisor exits 0 once all stopped cleanly. A worker that
cannot start at all (a port taken, a bad certificate) stops everything with exit status 1.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.connection import Connection, wait
from typing import Any

import structlog

from .settings import Settings

log = structlog.get_logger("provisioner")

RESTART_FIRST = 1.0
RESTART_MAX = 30.0
STABLE_AFTER = 60.0  # a worker up this long that dies is restarted after RESTART_FIRST again
STOP_TIMEOUT = 20.0  # seconds a worker has to stop after SIGTERM, then it is killed
START_TIMEOUT = 120.0  # seconds a worker has to open its store and listen


def default_workers() -> int:
    return os.cpu_count() or 1


def claim_ports(settings: Settings) -> tuple[Settings, list[socket.socket]]:
    """Settings with each port 0 replaced by a free one, and the sockets holding those ports (bound
    with SO_REUSEPORT, never listening or read) until the workers have bound theirs."""
    held: list[socket.socket] = []
    changes: dict[str, Any] = {}
    for field, kind in (
        ("http_port", socket.SOCK_STREAM),
        ("https_port", socket.SOCK_STREAM),
        ("tftp_port", socket.SOCK_DGRAM),
    ):
        if getattr(settings, field) != 0:
            continue
        family, _, _, _, address = socket.getaddrinfo(
            settings.host or "0.0.0.0", 0, type=kind, flags=socket.AI_PASSIVE
        )[0]
        sock = socket.socket(family, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(address)
        held.append(sock)
        changes[field] = sock.getsockname()[1]
    return dataclasses.replace(settings, **changes), held


def worker_settings(settings: Settings, index: int) -> Settings:
    if index == 0:
        return dataclasses.replace(settings, worker=0, reuse_port=True)
    return dataclasses.replace(settings, worker=index, reuse_port=True, pnp=False, mdns=False)


def _worker_main(settings: Settings, index: int, ready: Connection) -> None:
    """A worker process (spawned): one server on the shared ports until SIGTERM."""
    import asyncio

    from . import logs
    from .http_server import run
    from .web import create_app, tls_context

    logs.configure(settings.log_level, settings.log_format)
    structlog.contextvars.bind_contextvars(worker=index)
    _register_worker_metric(index)
    ssl_context = tls_context(settings) if settings.https_port is not None else None
    asyncio.run(run(create_app(settings), settings, ssl_context, ready=lambda: ready.send("ready")))


def _register_worker_metric(index: int) -> None:
    """``provisioner_worker{worker, pid} 1`` in /metrics: which worker answered a scrape."""
    from prometheus_client import Gauge

    Gauge("provisioner_worker", "This process's worker number (serve --workers)", ["worker", "pid"]).labels(
        str(index), str(os.getpid())
    ).set(1)


@dataclasses.dataclass
class _Worker:
    index: int
    process: Any = None
    ready: Connection | None = None
    started: float = 0.0
    up: bool = False
    delay: float = RESTART_FIRST
    restart_at: float | None = None


class Supervisor:
    def __init__(self, settings: Settings, count: int):
        self.settings = settings
        self.count = count
        self.context = multiprocessing.get_context("spawn")
        self.workers = [_Worker(i) for i in range(count)]
        self.stopping = False

    def _start(self, worker: _Worker) -> None:
        receive, send = self.context.Pipe(duplex=False)
        worker.process = self.context.Process(
            target=_worker_main,
            args=(worker_settings(self.settings, worker.index), worker.index, send),
            name=f"provisioner-worker-{worker.index}",
        )
        worker.process.start()
        send.close()
        worker.ready, worker.started, worker.up, worker.restart_at = receive, time.monotonic(), False, None
        log.info("worker_started", worker=worker.index, pid=worker.process.pid)

    def _stop_signal(self, _signum: int, _frame: Any) -> None:
        self.stopping = True

    def run(self, held: list[socket.socket]) -> int:
        """Start the workers and keep them running until SIGTERM/SIGINT; the exit status."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop_signal)
        for worker in self.workers:
            self._start(worker)
        status = self._wait_ready()
        for sock in held:  # every worker holds the ports now: a held UDP socket would take datagrams
            sock.close()
        if status == 0:
            log.info(
                "workers_ready",
                workers=self.count,
                pids=[w.process.pid for w in self.workers],
                http_port=self.settings.http_port,
                https_port=self.settings.https_port,
                tftp_port=self.settings.tftp_port,
            )
            self._supervise()
        return self._stop_all(status)

    def _wait_ready(self) -> int:
        deadline = time.monotonic() + START_TIMEOUT
        while not self.stopping and not all(w.up for w in self.workers):
            waiting = [w for w in self.workers if not w.up]
            objects: list[Any] = [w.ready for w in waiting] + [w.process.sentinel for w in waiting]
            for _ in wait(objects, timeout=0.2):
                pass
            for worker in waiting:
                if self._poll_ready(worker):
                    continue
                if not worker.process.is_alive():
                    log.error(
                        "worker_failed_to_start",
                        worker=worker.index,
                        exit_code=worker.process.exitcode,
                        fix="see the worker's error above; nothing is served",
                    )
                    return 1
            if time.monotonic() > deadline:
                log.error("workers_not_ready", timeout_s=START_TIMEOUT)
                return 1
        return 0

    def _poll_ready(self, worker: _Worker) -> bool:
        assert worker.ready is not None
        try:
            if worker.ready.poll() and worker.ready.recv() == "ready":
                worker.up = True
        except (EOFError, OSError):
            pass
        return worker.up

    def _supervise(self) -> None:
        while not self.stopping:
            objects: list[Any] = [w.process.sentinel for w in self.workers if w.restart_at is None]
            objects += [w.ready for w in self.workers if w.restart_at is None and not w.up]
            wait(objects, timeout=0.2)
            now = time.monotonic()
            for worker in self.workers:
                if self.stopping:
                    break
                if worker.restart_at is not None:
                    if now >= worker.restart_at:
                        self._start(worker)
                    continue
                if not worker.up:
                    self._poll_ready(worker)
                if worker.process.is_alive():
                    continue
                if now - worker.started > STABLE_AFTER:
                    worker.delay = RESTART_FIRST
                log.error(
                    "worker_died",
                    worker=worker.index,
                    pid=worker.process.pid,
                    exit_code=worker.process.exitcode,
                    restart_in=worker.delay,
                )
                worker.restart_at = now + worker.delay
                worker.delay = min(RESTART_MAX, worker.delay * 2)

    def _stop_all(self, status: int) -> int:
        running = [w for w in self.workers if w.process is not None and w.restart_at is None]
        for worker in running:
            if worker.process.is_alive():
                os.kill(worker.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for worker in running:
            worker.process.join(max(0.0, deadline - time.monotonic()))
            if worker.process.is_alive():
                log.error("worker_killed", worker=worker.index, pid=worker.process.pid, after_s=STOP_TIMEOUT)
                worker.process.kill()
                worker.process.join()
                status = 1
            elif worker.process.exitcode != 0 and status == 0 and self.stopping:
                log.error("worker_stopped_uncleanly", worker=worker.index, exit_code=worker.process.exitcode)
                status = 1
        log.info("workers_stopped", exit_status=status)
        return status


def serve(settings: Settings, count: int) -> int:
    """Run ``count`` workers (the migrations are already done); the process's exit status."""
    settings, held = claim_ports(settings)
    return Supervisor(settings, count).run(held)

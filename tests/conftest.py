"""Shared fixtures: a data folder, a store, the real server on free ports, the CLI."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import structlog
from click.testing import CliRunner, Result

from provisioner import keys, services
from provisioner.cli import cli
from provisioner.db import Store
from provisioner.settings import Settings
from provisioner.web import create_app, phone_first

# Servers the tests start (server.py in a subprocess, `serve` in-process) never bind the SIP
# plug-and-play port 5060 (not a port the tests picked) nor announce by mDNS on the machine's real
# interfaces: tests of those features turn them on with their own ports and 127.0.0.1.
os.environ.setdefault("PROVISIONER_PNP", "off")
os.environ.setdefault("PROVISIONER_MDNS", "off")
# One server process, not one per core (serve --workers): tests of the workers ask for them.
os.environ.setdefault("PROVISIONER_WORKERS", "1")


@pytest.fixture(autouse=True)
def _uncached_loggers(monkeypatch):
    """``serve`` run in-process (CliRunner) configures structlog with cached loggers, and a cached
    logger no longer reaches ``structlog.testing.capture_logs`` in a later test: keep them uncached
    here, and put structlog back as it was after each test."""
    real = structlog.configure
    monkeypatch.setattr(structlog, "configure", lambda **kwargs: real(**{**kwargs, "cache_logger_on_first_use": False}))
    yield
    structlog.reset_defaults()


SAMPLES = Path(__file__).resolve().parent / "data"  # copies of the technicians' sheets (shared/samples)
ACTOR = "test"


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def store(data_dir: Path):
    db = Store.open(data_dir)
    yield db
    db.close()


@pytest.fixture
def settings(data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=0,
        public_url="http://prov.test:8080/",
        sync_interval=0.05,
        flush_interval=0.05,
    )


class Running:
    """The real server, started on free ports: HTTP through ``client``, TFTP at ``tftp_port``."""

    def __init__(self, client: Any, app: Any):
        self.client = client
        self.app = app

    @property
    def tftp_port(self) -> int:
        return self.app[keys.TFTP_PORT]

    @property
    def http_port(self) -> int:
        return self.client.server.port

    async def sync(self) -> None:
        """Make the server see changes written by another Store (the CLI, a test) now."""
        await self.app[keys.CACHE].sync()

    async def flush(self) -> None:
        await self.app[keys.ACTIVITY].flush()


@pytest.fixture
async def server(aiohttp_client: Callable, settings: Settings) -> Running:
    app = create_app(settings)
    client = await aiohttp_client(app, server_kwargs={"host": "127.0.0.1"})
    # As `provisioner serve` runs it: phones' GET and HEAD past the router (provisioner.web.phone_first).
    low_level = client.server.runner.server
    low_level.request_handler = phone_first(app, low_level.request_handler)
    # The start's pre-warm pass done before the test goes on: its log line, written while a test
    # runs the CLI in a thread (click's CliRunner swaps sys.stdout), landed in the CLI's output.
    await asyncio.wait_for(app[keys.PREWARM].idle.wait(), 30)
    return Running(client, app)


@pytest.fixture
def run_cli(data_dir: Path) -> Callable[..., Result]:
    runner = CliRunner(env={"PROVISIONER_DATA_DIR": str(data_dir)})

    def run(*args: str, input: str | None = None, ok: bool = True) -> Result:
        result = runner.invoke(cli, list(args), input=input, catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return run


def add_customer(store: Store, code: str = "ROSSI", **kw: Any) -> dict[str, Any]:
    data = {"name": "Studio Rossi & Associati", "sip_server": "pbx.rossi.example.net", **kw}
    return services.add_customer(store, ACTOR, code, **data)


def key_path(store: Store, mac: str) -> str:
    """``p/<key>/`` when the device's customer has a path key (new customers get one from the CLI,
    the API and imports), else ``""``: what a phone puts in front of its file names."""
    with store.reading() as tx:
        device = tx.device(mac)
        rules = tx.customer_security(device["customer_id"]) if device and device["customer_id"] else None
    return f"p/{rules['path_key']}/" if rules and rules.get("path_key") else ""


def add_line(store: Store, customer: str, ext: str, name: str, password: str, **kw: Any) -> dict[str, Any]:
    return services.add_line(store, ACTOR, customer, ext, display_name=name, password=password, **kw)


def load_expected() -> dict[str, Any]:
    return json.loads((SAMPLES / "EXPECTED.json").read_text())


# --- admin API: one user per role, each with an API token (tests/test_api_*.py) ----------------

API_PASSWORD = "correct horse battery"


class ApiUsers:
    """Users ``<role>-user`` for every role, each with an API token, in the server's database."""

    def __init__(self, tokens: dict[str, str]):
        self.tokens = tokens

    def name(self, role: str) -> str:
        return f"{role}-user"

    def headers(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def api_users(store: Store, monkeypatch: pytest.MonkeyPatch) -> ApiUsers:
    from argon2 import PasswordHasher

    from provisioner import accounts

    # Real argon2id, with the lowest cost it allows: four users per test at the default cost take long.
    monkeypatch.setattr(accounts, "_hasher", PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))
    tokens = {}
    for role in accounts.ROLES:
        accounts.add_user(store, ACTOR, f"{role}-user", role_=role, password=API_PASSWORD)
        tokens[role], _ = accounts.create_token(store, ACTOR, f"{role}-user", "tests")
    return ApiUsers(tokens)


class ApiClient:
    """The real server's ``/api/v1`` as one role: ``await api.get("/devices", expect=200)`` -> decoded body."""

    def __init__(self, server: Running, users: ApiUsers, role: str = "admin", shared: dict | None = None):
        self.server = server
        self.users = users
        self.role = role
        self._shared = shared if shared is not None else {}

    def as_(self, role: str) -> ApiClient:
        return ApiClient(self.server, self.users, role, self._shared)

    @property
    def last(self) -> Any:
        """The last response, whichever role made it."""
        return self._shared["last"]

    async def request(
        self, method: str, path: str, *, expect: int | None = 200, headers: dict | None = None, **kw: Any
    ) -> Any:
        response = await self.server.client.request(
            method, "/api/v1" + path, headers={**self.users.headers(self.role), **(headers or {})}, **kw
        )
        raw = await response.read()
        body: Any = json.loads(raw) if raw and response.content_type == "application/json" else raw
        if expect is not None:
            assert response.status == expect, (method, path, response.status, body)
        self._shared["last"] = response
        return body

    async def get(self, path: str, **kw: Any) -> Any:
        return await self.request("GET", path, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.request("POST", path, json=json, **kw)

    async def patch(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.request("PATCH", path, json=json, **kw)

    async def put(self, path: str, json: Any = None, **kw: Any) -> Any:
        return await self.request("PUT", path, json=json, **kw)

    async def delete(self, path: str, **kw: Any) -> Any:
        return await self.request("DELETE", path, **kw)


@pytest.fixture
async def api(server: Running, api_users: ApiUsers) -> ApiClient:
    return ApiClient(server, api_users)

"""Shared fixtures: a data folder, a store, the real server on free ports, the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from provisioner import keys, services
from provisioner.cli import cli
from provisioner.settings import Settings
from provisioner.store import Store
from provisioner.web import create_app

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples"
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
    return Settings(data_dir=data_dir, host="127.0.0.1", http_port=0, tftp_port=0,
                    public_url="http://prov.test:8080/", sync_interval=0.05, flush_interval=0.05)


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


def add_line(store: Store, customer: str, ext: str, name: str, password: str, **kw: Any) -> dict[str, Any]:
    return services.add_line(store, ACTOR, customer, ext, display_name=name, password=password, **kw)


def load_expected() -> dict[str, Any]:
    return json.loads((SAMPLES / "EXPECTED.json").read_text())

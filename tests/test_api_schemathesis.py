"""schemathesis against the live server's /api/v1/openapi.json: no server error, and every status,
content type and body as the document says. The server runs in a thread on a free port with a
fresh data folder; schemathesis calls it as the admin, with a bounded number of examples."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from provisioner import accounts
from provisioner.db import Store
from provisioner.settings import Settings
from provisioner.web import create_app

from .conftest import ACTOR, add_customer, add_line

EXAMPLES = 15
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class LiveServer:
    """The real application served from its own thread and event loop, on a port the OS chose."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.runner = web.AppRunner(create_app(settings), access_log=None)
        self.port = 0
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="live-server", daemon=True)

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self._ready.set()
        self.loop.run_forever()

    async def _start(self) -> None:
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.port = self.runner.addresses[0][1]

    def __enter__(self) -> LiveServer:
        self._thread.start()
        assert self._ready.wait(30), "the server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(30)
        self.loop.close()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, dict[str, str]]]:
    data_dir: Path = tmp_path_factory.mktemp("schemathesis") / "data"
    data_dir.mkdir()
    store = Store.open(data_dir)
    accounts.add_user(store, ACTOR, "fuzz-admin", role_="admin", password="a long enough password")
    token, _ = accounts.create_token(store, ACTOR, "fuzz-admin", "schemathesis")
    add_customer(store, "ROSSI")  # something real to find among the random inputs
    add_line(store, "ROSSI", "201", "Reception <script>", "Pw-201-secret")
    store.close()
    config = Settings(
        data_dir=data_dir,
        host="127.0.0.1",
        http_port=0,
        tftp_port=None,
        public_url="http://prov.test:8080/",
        sync_interval=0.05,
        flush_interval=0.05,
    )
    with LiveServer(config) as server:
        yield server, {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def api_schema(live: tuple[LiveServer, dict[str, str]]) -> schemathesis.BaseSchema:
    server, _ = live
    return schemathesis.openapi.from_url(f"{server.base}/api/v1/openapi.json")


def _operations() -> list[tuple[str, str]]:
    from provisioner.api import openapi
    from provisioner.settings import Settings as _Settings

    create_app(_Settings())  # registers every route once
    return [
        pytest.param(op.method, op.path, mode, id=f"{op.method} {op.path} {mode.value}")
        for op in openapi.OPERATIONS
        for mode in GenerationMode
        # an operation that takes no input has no wrong input to try
        if mode is GenerationMode.POSITIVE or op.params or op.body is not None or op.multipart is not None
    ]


# One test per operation and generation mode. (schemathesis' own pytest loader for a schema from a
# fixture does not run under pytest 9 yet, so the test draws cases from the operation's strategy.)
@pytest.mark.parametrize(("method", "path", "mode"), _operations())
def test_api_conforms_to_its_document(
    method: str, path: str, mode: GenerationMode, api_schema, live: tuple[LiveServer, dict[str, str]]
) -> None:
    server, headers = live
    operation = api_schema[path][method]

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck)
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(base_url=f"{server.base}/api/v1", headers=headers, checks=CHECKS)

    check()


def test_the_served_document_is_valid_openapi_3_1(api_schema) -> None:
    api_schema.validate()  # against the OpenAPI 3.1 meta-schema; raises on the first violation
    assert api_schema.raw_schema["openapi"] == "3.1.0"
    served = {(method.upper(), path) for path, item in api_schema.raw_schema["paths"].items() for method in item}
    assert served == {(method, path) for method, path, _ in _operation_ids()}


def _operation_ids() -> list[tuple[str, str, str]]:
    return sorted({(p.values[0], p.values[1], "") for p in _operations()})

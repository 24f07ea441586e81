"""What our own code costs a warm phone request, in-process, beside a bare aiohttp handler (issue 19).

Builds the real objects the server builds (an SQLite store seeded as ``boot_storm.py`` seeds it, the
config cache, the activity recorder, the scan guard, the resolver, the application and its
``phone_first`` handler), fetches every device once (renders: every reply is warm), then times, in
alternating rounds of the same run:

- ``warm``: ``Resolver.warm()`` of each device's own file with its real User-Agent;
- ``handle``: the whole handler ``phone_first(...)`` returns, on a request built as aiohttp builds
  it (``make_mocked_request`` with a plain protocol whose peer is 10.0.0.7), then the response sent
  as aiohttp's request handler sends it (``prepare()`` and ``write_eof()`` into aiohttp's own
  StreamWriter, over a transport that drops the bytes): dispatch check, warm(), activity, remember,
  count, the response built and serialized;

and a bare aiohttp handler returning a Response of a body the size of a phone's file, sent the same
way; prints microseconds per request (median of the rounds) and our code's cost (handler minus
bare). aiohttp's parsing, its request object and task are the same for both and not timed. To compare
two revisions, run it in a checkout of each, one after the other (it kept a frozen copy of an older
warm path until the internals that copy read changed shape).

    python benchmarks/warm_handler.py [--devices 10000] [--rounds 7]

Not a test: figures depend on the machine; compare the lines of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from aiohttp import web  # noqa: E402
from aiohttp.http_writer import StreamWriter  # noqa: E402
from aiohttp.test_utils import make_mocked_request  # noqa: E402
from warm_request import reset_recorded, seeded_resolver  # noqa: E402

from provisioner import keys, wire  # noqa: E402
from provisioner.phone_reply import Request  # noqa: E402
from provisioner.settings import Settings  # noqa: E402
from provisioner.web import create_app, phone_first  # noqa: E402

PEER = ("10.0.0.7", 5060)


# ---- the run ----


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": PEER, "sockname": ("10.0.0.1", 80)}.get(name, default)

    def is_closing(self) -> bool:
        return False

    def write(self, data: bytes) -> None:
        self.sent += len(data)

    sent = 0


class _Protocol:
    """What a request reads of aiohttp's RequestHandler (a Mock would make every access slow)."""

    max_field_size = 8190
    max_line_length = 8190
    max_headers = 128
    peername = PEER
    sockname = ("10.0.0.1", 80)
    ssl_context = None
    _paused = False  # the StreamWriter's drain() reads it

    def __init__(self) -> None:
        self.transport = _Transport()
        self.writer = None


_BODY = b"x" * 1400


async def _bare(request: web.BaseRequest) -> web.StreamResponse:
    """What bare aiohttp costs for the same request: a Response of a body the size of a phone's file."""
    return web.Response(body=_BODY, content_type="text/plain")


async def _other(request: web.BaseRequest) -> web.StreamResponse:
    raise AssertionError(f"{request.path} left the phone path")


async def run(devices: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        pairs, store, _cache, activity, resolver = await seeded_resolver(data, devices)
        app = create_app(Settings(data_dir=data, tftp_port=None))
        app[keys.RESOLVER] = resolver
        for path, ua in pairs:
            reply = await resolver.resolve(Request(path.lstrip("/"), PEER[0], ua))
            assert reply.status == 200, (path, reply.reason)
        protocol = _Protocol()
        transport = protocol.transport
        loop = asyncio.get_running_loop()

        def made() -> list[web.BaseRequest]:
            """The requests of one pass, each with its own writer (aiohttp makes one per request)."""
            return [
                make_mocked_request(
                    "GET", path, headers={"User-Agent": ua}, app=app, protocol=protocol, transport=transport,
                    writer=StreamWriter(protocol, loop),  # type: ignore[arg-type]
                )
                for path, ua in pairs
            ]  # fmt: skip

        handlers = {"ours": phone_first(app, _other), "bare": _bare}
        for req in made()[:50]:  # a phone's file, not a fallback
            response = await handlers["ours"](req)
            sent = protocol.transport.sent
            await response.prepare(req)
            await response.write_eof()
            assert response.status == 200 and protocol.transport.sent - sent > 1000, req.path
        results: dict[tuple[str, str], list[float]] = {}
        calls = [(path.lstrip("/"), ua) for path, ua in pairs]
        hits = resolver.warm_hits
        for _ in range(rounds):
            for side in ("bare", "ours"):
                if side == "ours":
                    warm = resolver.warm
                    t0 = time.perf_counter()
                    for path, ua in calls:
                        warm(path, ua, PEER[0], "http")
                    results.setdefault(("warm", side), []).append((time.perf_counter() - t0) / len(calls) * 1e6)
                    reset_recorded(activity)
                handle = handlers[side]
                requests = made()
                t0 = time.perf_counter()
                for req in requests:
                    response = await handle(req)
                    await response.prepare(req)
                    await response.write_eof()
                results.setdefault(("handle", side), []).append((time.perf_counter() - t0) / len(requests) * 1e6)
                reset_recorded(activity)
        assert resolver.warm_hits - hits == rounds * len(calls) * 2, "every timed request was a warm hit"
        assert isinstance(response, wire.Prebuilt), "a warm GET over HTTP/1.1 was sent from its prebuilt head"
        print(f"\n{devices} devices, {rounds} rounds, bare and ours alternating; us per request (median, best)")
        warm_t, ours_t, bare_t = results[("warm", "ours")], results[("handle", "ours")], results[("handle", "bare")]
        print(f"Resolver.warm()                  {statistics.median(warm_t):6.2f}  ({min(warm_t):.2f})")
        print(f"phone_first handler and sending  {statistics.median(ours_t):6.2f}  ({min(ours_t):.2f})")
        print(f"bare aiohttp handler and sending {statistics.median(bare_t):6.2f}  ({min(bare_t):.2f})")
        ours = statistics.median(ours_t) - statistics.median(bare_t)
        print(f"our code's cost (handler - bare) {ours:6.2f}")
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.rounds))


if __name__ == "__main__":
    main()

"""What our own code costs a warm phone request, in-process, against the code it replaced (issue 19).

Builds the real objects the server builds (an SQLite store seeded as ``boot_storm.py`` seeds it, the
config cache, the activity recorder, the scan guard, the resolver, the application and its
``phone_first`` handler), fetches every device once (renders: every reply is warm), then times, in
alternating rounds of the same run:

- ``warm``: ``Resolver.warm()`` of each device's own file with its real User-Agent;
- ``handle``: the whole handler ``phone_first(...)`` returns, on a request built as aiohttp builds
  it (``make_mocked_request`` with a plain protocol whose peer is 10.0.0.7), up to the Response
  object (dispatch check, warm(), activity, remember, count, response build; aiohttp's own sending
  is the same for both and not timed);

each for ``before`` (main at 98af4e9, kept below as the baseline) and ``after`` (the code as it
is), and prints microseconds per request (median of the rounds) and the ratio.

    python benchmarks/warm_handler.py [--devices 10000] [--rounds 7]

Not a test: figures depend on the machine; compare the two columns of one run.
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

from aiohttp import hdrs, web  # noqa: E402
from aiohttp.test_utils import make_mocked_request  # noqa: E402
from warm_request import seeded_resolver  # noqa: E402

from provisioner import keys  # noqa: E402
from provisioner.activity import Activity, Fetch  # noqa: E402
from provisioner.phone_reply import Reply, Request  # noqa: E402
from provisioner.resolver import MAX_REMEMBERED_FETCHES, Resolver  # noqa: E402
from provisioner.settings import Settings  # noqa: E402
from provisioner.web import claimed_segments, create_app, phone_first  # noqa: E402

PEER = ("10.0.0.7", 5060)


# ---- before: the warm path as main had it at 98af4e9 (the baseline, kept verbatim) ----


def before_warm(self: Resolver, path: str, user_agent: str | None, client_ip: str, transport: str) -> Reply | None:
    mac = self._warm_macs.get(path)
    if mac is None:
        return None
    devices = self.cache._devices  # ConfigCache.cached() as it was
    entry = devices.get(mac)
    if entry is None:
        return None
    devices.move_to_end(mac)
    hit = entry.warm.get(path)
    if hit is None or hit.user_agent != user_agent:
        return None
    guard = self.guard
    if guard.banned(client_ip) or guard.slowed(client_ip):
        return None
    if hit.networks and not entry.access.policy.allows(client_ip):  # type: ignore[union-attr]
        return None
    if hit.rollout and self.rollout is not None and self.rollout.active:
        return None
    self.activity.fetched(Fetch(mac, hit.name, client_ip, user_agent, hit.firmware, transport), download=True)
    before_remember_fetch(self, mac, client_ip)
    self.warm_hits += 1
    return hit.reply


def before_remember_fetch(self: Resolver, mac: str, ip: str) -> None:
    fetched = self._fetched
    if mac in fetched:
        fetched.move_to_end(mac)
    elif len(fetched) >= MAX_REMEMBERED_FETCHES:
        fetched.popitem(last=False)
    fetched[mac] = (ip, self.clock())


_counts: dict[tuple[str, int, str], int] = {}
_HTTP_SERVED = ("http", 200, "served")


def before_count_served_http() -> None:
    try:
        _counts[_HTTP_SERVED] += 1
    except KeyError:
        _counts[_HTTP_SERVED] = 1


def before_file_response(request: web.BaseRequest, reply: Reply) -> web.Response:
    etag = reply.etag
    if etag:
        if etag in request.headers.get(hdrs.IF_NONE_MATCH, ""):
            return web.Response(status=304, headers={"Cache-Control": "no-store", "ETag": etag})
        headers = {"Cache-Control": "no-store", "ETag": etag, "Content-Type": reply.content_type}
    else:
        headers = {"Cache-Control": "no-store", "Content-Type": reply.content_type}
    return web.Response(body=reply.body, headers=headers)


def before_phone_first(app: web.Application, handler: Any) -> Any:
    claimed = claimed_segments(app)
    resolver = app[keys.RESOLVER]
    served = before_count_served_http
    warm = before_warm

    async def handle(request: web.BaseRequest) -> web.StreamResponse:
        if request.method in _FAST_METHODS:
            path = request.path
            end = path.find("/", 1)
            if (path[1:end] if end > 0 else path[1:]) not in claimed:
                reply = warm(resolver, path[1:], request.headers.get(hdrs.USER_AGENT), request.remote or "", "http")
                if reply is not None:
                    served()
                    return before_file_response(request, reply)
                raise AssertionError("a cold request in the warm benchmark")
        return await handler(request)

    return handle


_FAST_METHODS = frozenset({"GET", "HEAD"})


# ---- the run ----


class _Transport:
    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": PEER, "sockname": ("10.0.0.1", 80)}.get(name, default)

    def is_closing(self) -> bool:
        return False


class _Protocol:
    """What a request reads of aiohttp's RequestHandler (a Mock would make every access slow)."""

    max_field_size = 8190
    max_line_length = 8190
    max_headers = 128
    peername = PEER
    sockname = ("10.0.0.1", 80)
    ssl_context = None

    def __init__(self) -> None:
        self.transport = _Transport()
        self.writer = None


_BODY = b"x" * 1400


async def _bare(request: web.BaseRequest) -> web.StreamResponse:
    """What bare aiohttp costs for the same request: a Response of a body the size of a phone's file."""
    return web.Response(body=_BODY, content_type="text/plain")


async def _other(request: web.BaseRequest) -> web.StreamResponse:
    raise AssertionError(f"{request.path} left the phone path")


async def run(devices: int, rounds: int, ablate: Any = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        pairs, store, _cache, activity, resolver = await seeded_resolver(data, devices)
        app = create_app(Settings(data_dir=data, tftp_port=None))
        app[keys.RESOLVER] = resolver
        for path, ua in pairs:
            reply = await resolver.resolve(Request(path.lstrip("/"), PEER[0], ua))
            assert reply.status == 200, (path, reply.reason)
        protocol = _Protocol()
        requests = [
            make_mocked_request("GET", path, headers={"User-Agent": ua}, app=app, protocol=protocol, writer=object())
            for path, ua in pairs
        ]
        handlers = {"before": before_phone_first(app, _other), "after": phone_first(app, _other), "bare": _bare}
        warms = {"before": lambda p, u, c, t: before_warm(resolver, p, u, c, t), "after": resolver.warm}
        # The same bytes either way (what aiohttp would send: status, headers, body).
        for req in requests[:50]:
            a, b = await handlers["before"](req), await handlers["after"](req)
            assert (a.status, list(a.headers.items()), a.body) == (b.status, list(b.headers.items()), b.body)
        results: dict[tuple[str, str], list[float]] = {}
        calls = [(path.lstrip("/"), ua) for path, ua in pairs]
        if ablate is not None:
            ablate(resolver, activity)
        for _ in range(rounds):
            for side in ("bare", "before", "after"):
                if side != "bare":
                    warm = warms[side]
                    t0 = time.perf_counter()
                    for path, ua in calls:
                        warm(path, ua, PEER[0], "http")
                    results.setdefault(("warm", side), []).append((time.perf_counter() - t0) / len(calls) * 1e6)
                    _reset(activity)
                handle = handlers[side]
                t0 = time.perf_counter()
                for req in requests:
                    await handle(req)
                results.setdefault(("handle", side), []).append((time.perf_counter() - t0) / len(requests) * 1e6)
                _reset(activity)
        assert resolver.warm_hits >= rounds * len(calls) * 2, "every timed request was a warm hit"
        print(f"\n{devices} devices, {rounds} rounds, bare, before and after alternating; us per request")
        print(f"{'timed':<8} {'before':>8} {'after':>8} {'after/before':>13}   (median; best before/after)")
        for what in ("warm", "handle"):
            b, a = results[(what, "before")], results[(what, "after")]
            mb, ma = statistics.median(b), statistics.median(a)
            print(f"{what:<8} {mb:>8.2f} {ma:>8.2f} {ma / mb:>13.2f}   ({min(b):.2f} / {min(a):.2f})")
        bare = statistics.median(results[("handle", "bare")])
        ours_b = statistics.median(results[("handle", "before")]) - bare
        ours_a = statistics.median(results[("handle", "after")]) - bare
        print(f"bare aiohttp handler (a Response of the same body): {bare:.2f} us")
        print(f"our code's cost (handle - bare): before {ours_b:.2f} us, after {ours_a:.2f} us: {ours_a / ours_b:.2f}x")
        store.close()


def _reset(activity: Activity) -> None:
    """Drop what the fetches recorded (no flush): each pass records into the same steady state."""
    activity._seen.clear()
    activity._downloads.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.rounds))


if __name__ == "__main__":
    main()

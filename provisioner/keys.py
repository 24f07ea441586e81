"""The application's typed state keys and its phone-facing metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Counter

from .activity import Activity
from .cache import ConfigCache
from .db import Store
from .prewarm import Prewarmer
from .resolver import Reply, Resolver
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
CACHE = web.AppKey("cache", ConfigCache)
ACTIVITY = web.AppKey("activity", Activity)
RESOLVER = web.AppKey("resolver", Resolver)
TFTP_PORT = web.AppKey("tftp_port", int)
PREWARM = web.AppKey("prewarm", Prewarmer)

PHONE_REQUESTS = Counter(
    "provisioner_phone_requests", "Phone file requests by transport and outcome", ["transport", "status", "reason"]
)
_counters: dict[tuple[str, int, str], Counter] = {}


def count(reply: Reply, transport: str) -> None:
    key = (transport, reply.status, reply.reason)
    counter = _counters.get(key)
    if counter is None:
        counter = _counters[key] = PHONE_REQUESTS.labels(transport, str(reply.status), reply.reason)
    counter.inc()

"""The application's typed state keys and its phone-facing metrics."""

from __future__ import annotations

from aiohttp import web
from prometheus_client import Counter, Gauge

from .activity import Activity
from .cache import ConfigCache
from .db import Store
from .resolver import Reply, Resolver
from .settings import Settings

SETTINGS = web.AppKey("settings", Settings)
STORE = web.AppKey("store", Store)
CACHE = web.AppKey("cache", ConfigCache)
ACTIVITY = web.AppKey("activity", Activity)
RESOLVER = web.AppKey("resolver", Resolver)
TFTP_PORT = web.AppKey("tftp_port", int)

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


# Set from the rollout's slots when /metrics is read (they are per node, in memory).
FIRMWARE_UPGRADING = Gauge(
    "provisioner_firmware_upgrading", "Phones told to upgrade and not yet done, on this node, by customer", ["customer"]
)

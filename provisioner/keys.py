"""The application's typed state keys and its phone-facing metrics."""

from __future__ import annotations

from collections.abc import Iterator

from aiohttp import web
from prometheus_client import Gauge
from prometheus_client.core import REGISTRY, CounterMetricFamily
from prometheus_client.registry import Collector

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

# Phone requests by (transport, status, reason): plain ints on the request path, turned into the
# provisioner_phone_requests counter when /metrics is scraped (no lock, no label lookup per request).
_counts: dict[tuple[str, int, str], int] = {}


_HTTP_SERVED = ("http", 200, "served")


def count_served_http() -> None:
    """:func:`count` of a 200 over HTTP (the warm path's), with no key built."""
    try:
        _counts[_HTTP_SERVED] += 1
    except KeyError:
        _counts[_HTTP_SERVED] = 1


def count(reply: Reply, transport: str) -> None:
    key = (transport, reply.status, reply.reason)
    try:
        _counts[key] += 1
    except KeyError:
        _counts[key] = 1


class _PhoneRequests(Collector):
    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "provisioner_phone_requests",
            "Phone file requests by transport and outcome",
            labels=["transport", "status", "reason"],
        )
        for (transport, status, reason), n in list(_counts.items()):
            family.add_metric([transport, str(status), reason], n)
        yield family


REGISTRY.register(_PhoneRequests())


# Set from the rollout's slots when /metrics is read (they are per node, in memory).
FIRMWARE_UPGRADING = Gauge(
    "provisioner_firmware_upgrading", "Phones told to upgrade and not yet done, on this node, by customer", ["customer"]
)

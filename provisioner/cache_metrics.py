"""The config cache's figures in /metrics, read from its plain counters when scraped.

Nothing is counted per request here: the cache and the pre-warm keep ints, and this collector
turns them into gauges and counters at scrape time. With several servers in one process (the
tests) the last one started is the one exported.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator

from prometheus_client.core import REGISTRY, CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from .cache import ConfigCache
from .prewarm import Prewarmer

_watched: list[weakref.ReferenceType] = []


class _CacheCollector(Collector):
    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        if not _watched:
            return
        cache, prewarmer = _watched[0](), _watched[1]()
        if cache is None or prewarmer is None:
            return
        devices = len(cache._devices)
        yield GaugeMetricFamily(
            "provisioner_cache_bytes", "Bytes the config cache counts toward its bound", cache.bytes
        )
        yield GaugeMetricFamily(
            "provisioner_cache_max_bytes", "The config cache's bound (--cache-max-bytes)", cache.max_bytes
        )
        yield GaugeMetricFamily("provisioner_cache_devices", "Devices in the config cache", devices)
        yield GaugeMetricFamily(
            "provisioner_cache_bytes_per_device",
            "Mean bytes per cached device",
            cache.bytes / devices if devices else 0,
        )
        yield CounterMetricFamily("provisioner_cache_renders", "Files rendered by the config cache", cache.renders)
        yield CounterMetricFamily(
            "provisioner_cache_loads", "Devices read from the store by the config cache", cache.loads
        )
        yield CounterMetricFamily(
            "provisioner_cache_evictions", "Devices dropped to keep the cache under its bound", cache.evictions
        )
        yield CounterMetricFamily(
            "provisioner_prewarm_devices", "Devices rendered before their phones asked", prewarmer.rendered
        )


REGISTRY.register(_CacheCollector())


def watch(cache: ConfigCache, prewarmer: Prewarmer) -> None:
    """Export this cache's figures (replacing the server's before)."""
    _watched[:] = [weakref.ref(cache), weakref.ref(prewarmer)]

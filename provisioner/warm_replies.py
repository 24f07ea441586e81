"""A phone's repeat request answered from what the resolver worked out the last time (issue 19).

A phone asks for the same path with the same User-Agent at every boot, and a boot storm asks for it
again and again. The first request goes through the whole :meth:`Resolver.resolve` (path split,
name matched, User-Agent parsed, the device looked up, the customer's rules checked, the file
picked); when the answer depended on nothing but that path and that User-Agent, it is kept on the
device's cache entry (:class:`Warm`), and the next identical request is answered with the same
:class:`Reply` after only the checks that can change between two requests:

- the scan guard (the address banned or slowed since);
- the customer's allowlist, when it has one (it depends on the client address);
- a firmware rollout started since, when the file would carry its directive.

Everything else is tied to the cache entry: a change to the device or its customer drops the entry
(and what it kept) and the next request goes the whole way again. Never kept: a request refused or
not found, an upload, a PUT, a trusted (CLI) request, a device whose file changes at a known
instant (a contract end), a customer asking for Digest credentials (each request carries its own
nonce), and a request that passed through a first-contact window (it closes; the token in the path
is what lets a later one in, and that is static). A device's entry keeps at most :data:`MAX_PATHS`
paths; a path keeps the last User-Agent that asked it.

A mixin of :class:`provisioner.resolver.Resolver`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from . import access
from .access import ScanGuard
from .activity import Activity
from .cache import ConfigCache, DeviceEntry
from .firmware_rollout import UPGRADE_TEMPLATES, Rollout
from .phone_reply import Reply, Request
from .vendors import ConfigFile

# Paths kept per device (its file's name in a few spellings, with or without a key or token).
MAX_PATHS = 8
# A User-Agent longer than this is no phone's (the resolver's parse cache keeps none either).
MAX_USER_AGENT = 400
# What one kept reply costs (its path and User-Agent, the tuples, the dict slots, the path's entry in
# the path -> MAC map): ~460 bytes measured with tracemalloc, counted toward --cache-max-bytes.
WARM_BYTES = 500
# Paths whose device is known (path -> MAC): past this many the map starts again (re-learnt).
MAX_WARM_PATHS = 200_000


class Warm(NamedTuple):
    user_agent: str | None  # the request's User-Agent, as sent: another one goes the whole way
    reply: Reply
    name: str  # the file name asked (for the activity record)
    firmware: str | None  # the version the User-Agent reports
    networks: bool  # the customer has an allowlist: the client address is checked per request
    rollout: bool  # the file would carry a firmware directive: kept only while no target is set


class WarmRoute:
    cache: ConfigCache
    activity: Activity
    guard: ScanGuard
    rollout: Rollout | None
    _warm_macs: dict[str, str]
    _remember_fetch: Callable[[str, str], None]
    warm_hits: int  # requests answered by warm() (tests and /metrics read it)

    def warm(self, path: str, user_agent: str | None, client_ip: str, transport: str) -> Reply | None:
        """The reply to a GET (or HEAD, or TFTP read) of ``path`` served before with the same
        User-Agent, recorded as a fetch like any other; None when the request must go through
        :meth:`resolve` (first of its kind, or anything that could change the answer)."""
        mac = self._warm_macs.get(path)
        if mac is None:
            return None
        entry = self.cache.cached(mac)
        if entry is None:
            return None
        hit = entry.warm.get(path)
        if hit is None or hit.user_agent != user_agent:
            return None
        guard = self.guard
        if guard.banned(client_ip) or guard.slowed(client_ip):
            return None
        _, reply, name, firmware, networks, rollout = hit  # unpacked once (a field access is a call)
        if networks and not entry.access.policy.allows(client_ip):  # type: ignore[union-attr]
            return None
        if rollout and self.rollout is not None and self.rollout.active:
            return None
        self.activity.repeat(mac, name, client_ip, user_agent, firmware, transport)
        self._remember_fetch(mac, client_ip)
        self.warm_hits += 1
        return reply

    def _keep_warm(
        self,
        req: Request,
        entry: DeviceEntry,
        spec: ConfigFile,
        name: str,
        firmware: str | None,
        token: str | None,
        reply: Reply,
    ) -> None:
        """Keep a served reply for :meth:`warm` when nothing but the path and User-Agent decided it."""
        user_agent = req.user_agent
        if req.trusted or req.method == "PUT" or entry.data.valid_until is not None:
            return
        if user_agent is not None and len(user_agent) > MAX_USER_AGENT:
            return  # not a phone's: not kept (each such request goes the whole way)
        rules = entry.access
        networks = False
        if rules is not None:
            policy = rules.policy
            if policy.auth == "digest":
                return
            # Through a first-contact window (open or closed) only with the token in the path: the
            # window's state is not the path's.
            if policy.window_hours is not None and not (token is not None and access.same(token, rules.token)):
                return
            networks = bool(policy.networks)
        data = entry.data
        rollout = (
            self.rollout is not None and not data.deprovisioned and spec.template == UPGRADE_TEMPLATES.get(data.vendor)
        )
        kept = entry.warm
        if req.path not in kept:
            if len(kept) >= MAX_PATHS:
                return
            self.cache.count_bytes(entry, WARM_BYTES)
        kept[req.path] = Warm(user_agent, reply, name, firmware, networks, rollout)
        macs = self._warm_macs
        if len(macs) >= MAX_WARM_PATHS and req.path not in macs:
            macs.clear()
        macs[req.path] = data.mac

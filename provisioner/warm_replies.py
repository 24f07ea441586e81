"""A phone's repeat request answered from what the resolver worked out the last time (issue 19).

A phone asks for the same path with the same User-Agent at every boot, and a boot storm asks for it
again and again. The first request goes through the whole :meth:`Resolver.resolve` (path split,
name matched, User-Agent parsed, the device looked up, the customer's rules checked, the file
picked); when the answer depended on nothing but that path and that User-Agent, it is kept on the
device's cache entry and in the cache's path map (:class:`Warm`), and the next identical request is
answered with the same :class:`Reply` after only the checks that can change between two requests:

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

from . import access
from .access import Policy, ScanGuard
from .activity import Activity, Repeat
from .cache import ConfigCache, DeviceEntry
from .firmware_rollout import UPGRADE_TEMPLATES, Rollout
from .phone_reply import Reply, Request
from .upload_route import REMEMBER_PRECISION
from .vendors import ConfigFile

# Paths kept per device (its file's name in a few spellings, with or without a key or token).
MAX_PATHS = 8
# A User-Agent longer than this is no phone's (the resolver's parse cache keeps none either).
MAX_USER_AGENT = 400
# What one kept reply costs, measured with tracemalloc: ~440 bytes (the Warm 152, its Reply 120, the
# path 67, its slots in the cache's path map and the entry's list ~66), and ~190 more once a GET made
# its HTTP head (provisioner.wire: a 147-character head is a 180-byte bytes object); counted toward
# --cache-max-bytes.
WARM_BYTES = 650


class Warm(Repeat):
    """A reply kept for its path and User-Agent, with what its repeats are recorded against
    (:class:`Repeat`: the device's activity record and open download row; the upload rule's record
    of the last fetch): found by one lookup of the path, a repeat then looks nothing else up."""

    __slots__ = ("entry", "fetched", "head", "path", "policy", "reply", "rollout")

    def __init__(
        self,
        path: str,
        entry: DeviceEntry,
        name: str,
        user_agent: str | None,
        firmware: str | None,
        reply: Reply,
        policy: Policy | None,
        rollout: bool,
        fetched: list,
    ):
        # user_agent: as sent, another one goes the whole way; name: the file asked (the activity
        # record); firmware: the version the User-Agent reports.
        super().__init__(entry.data.mac, name, user_agent, firmware)
        self.path = path
        self.reply = reply
        self.entry = entry
        self.policy = policy  # the customer's, when it has an allowlist: the address is checked per request
        self.rollout = rollout  # the file would carry a firmware directive: kept only while no target is set
        self.fetched = fetched  # [ip, time] of the last fetch remembered for uploads (UploadRoute)
        self.head: bytes | None = None  # the HTTP head of the reply, made at its first warm GET (provisioner.wire)


class WarmRoute:
    cache: ConfigCache
    activity: Activity
    guard: ScanGuard
    rollout: Rollout | None
    clock: Callable[[], float]
    _remember_fetch: Callable[[str, str], list]
    warm_hits: int  # requests answered by warm() (tests and /metrics read it)

    def warm(self, path: str, user_agent: str | None, client_ip: str, transport: str) -> Warm | None:
        """The kept reply (``.reply``) to a GET (or HEAD, or TFTP read) of ``path`` served before
        with the same User-Agent, recorded as a fetch like any other; None when the request must go
        through :meth:`resolve` (first of its kind, or anything that could change the answer)."""
        kept = self.cache.warm.get(path)
        if kept is None or kept.user_agent != user_agent:
            return None
        guard = self.guard
        if guard.banned(client_ip) or guard.slowed(client_ip):
            return None
        policy = kept.policy
        if policy is not None and not policy.allows(client_ip):
            return None
        if kept.rollout and self.rollout is not None and self.rollout.active:
            return None
        kept.entry.used = True  # the cache's recency (see ConfigCache._evict)
        self.activity.repeat(kept, client_ip, transport)
        fetched = kept.fetched  # what _remember_fetch would store again, it stores again
        if fetched[0] != client_ip or self.clock() - fetched[1] >= REMEMBER_PRECISION:
            kept.fetched = self._remember_fetch(kept.mac, client_ip)
        self.warm_hits += 1
        return kept

    def _keep_warm(
        self,
        req: Request,
        entry: DeviceEntry,
        spec: ConfigFile,
        name: str,
        firmware: str | None,
        token: str | None,
        reply: Reply,
        fetched: list,
    ) -> None:
        """Keep a served reply for :meth:`warm` when nothing but the path and User-Agent decided it
        (``fetched``: what :meth:`_remember_fetch` returned for this request)."""
        user_agent = req.user_agent
        if req.trusted or req.method == "PUT" or entry.data.valid_until is not None:
            return
        if user_agent is not None and len(user_agent) > MAX_USER_AGENT:
            return  # not a phone's: not kept (each such request goes the whole way)
        rules = entry.access
        policy = None
        if rules is not None:
            if rules.policy.auth == "digest":
                return
            # Through a first-contact window (open or closed) only with the token in the path: the
            # window's state is not the path's.
            if rules.policy.window_hours is not None and not (token is not None and access.same(token, rules.token)):
                return
            if rules.policy.networks:
                policy = rules.policy
        data = entry.data
        rollout = (
            self.rollout is not None and not data.deprovisioned and spec.template == UPGRADE_TEMPLATES.get(data.vendor)
        )
        kept = Warm(req.path, entry, name, user_agent, firmware, reply, policy, rollout, fetched)
        self.cache.keep_warm(entry, kept, WARM_BYTES, MAX_PATHS)

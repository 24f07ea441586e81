"""One function behind every transport: which file is this, for which phone?

HTTP and TFTP are thin adapters over :meth:`Resolver.resolve`; a file served
over one is byte-identical over the other. The phone is identified by the MAC
in the file name and by its User-Agent; where both carry a MAC they must agree.

Outcomes (``Reply.reason`` is the short key that logs and metrics use):

==========  ================  =====================================================
status      reason            when
==========  ================  =====================================================
200         served            a device's file or a common file
404         bad-name          traversal, absolute path, odd characters, overlong
404         no-such-file      no vendor asks for a file of that name
404         unknown-device    MAC not in the store (recorded as an unknown device)
404         absent            a file the phone may ask for and we do not keep
403         ua-mismatch       the User-Agent names another MAC than the path
403         banned            the client IP (IPv6: its /64) failed too often lately (scan defence), any path
403         slowed            unknown-MAC answers to all addresses together are over budget and this
                              address failed lately (a distributed scan), any path
403         ip-not-allowed    the customer's allowlist does not hold the client IP
403         path-key          the customer wants /p/<key>/ and the key is missing or wrong
403         token             the device wants /d/<token>/ (window over) or the token is wrong
403         auth-tftp         the customer wants HTTP credentials and this is TFTP
403         upload-refused    an upload (PUT or GET) by a request that was not given the device's
                              config: for a customer without rules, from another address than the one
                              that fetched it in the last 10 minutes; or a deprovisioned device's
400         bad-upload        an override file that is not the format the phone writes
401         auth-required     no (or stale) credentials: a Digest challenge (not a failure)
401         bad-credentials   wrong credentials: a new challenge
405         method            a write to a file that is not an upload
413         too-large         an upload over the size bound
500         render-error      a template failed for this device (logged with MAC)
==========  ================  =====================================================

Failures that prove nothing about the phone (unknown-device, ua-mismatch, path-key, token,
auth-tftp, bad-credentials, upload-refused, bad-upload) count toward a ban of the client IP (:class:`access.ScanGuard`);
a known phone's successful fetch and the first, credential-less request of the Digest exchange
never do. Every check reads memory only: the customer's rules sit in the cache next to the files.

Paths: ``<file>``, ``p/<path key>/<file>``, ``d/<device token>/<file>`` or ``p/<key>/d/<token>/<file>``.
"""

from __future__ import annotations

import asyncio
import functools
import re
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import NamedTuple

import structlog

from . import access, firmware_rollout, vendors
from .access import Digest, ScanGuard, Verdict
from .activity import Activity, Fetch
from .cache import ConfigCache, DeviceEntry
from .db import Store, utcnow
from .errors import RenderError
from .firmware_rollout import ImageRequest, Rollout
from .firmware_serving import FirmwareRoute
from .phone_reply import Reply, Request
from .upload_route import MAX_REMEMBERED_FETCHES as MAX_REMEMBERED_FETCHES
from .upload_route import REMEMBER_PRECISION as REMEMBER_PRECISION
from .upload_route import UPLOAD_AFTER_FETCH as UPLOAD_AFTER_FETCH
from .upload_route import UploadRoute
from .vendors import ConfigFile, FileKind, UserAgent, Vendor
from .warm_replies import WarmRoute

log = structlog.get_logger("provisioner.resolver")

MAX_NAME = 128
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_SECRET = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PHONEBOOK_DIR = re.compile(r"pb[0-9A-Fa-f]{12}")
# Looked up once here, not through the enum's class on every request.
_UPLOAD = FileKind.UPLOAD
_ABSENT = FileKind.ABSENT
# Reasons counted toward a ban of the client IP.
FAILURES = frozenset(
    {
        "unknown-device",
        "ua-mismatch",
        "path-key",
        "token",
        "auth-tftp",
        "bad-credentials",
        "upload-refused",
        "bad-upload",
    }
)
# Windows taken by another address already reported (an audit event each): at most this many kept.
MAX_REPORTED_THEFTS = 10_000


def split_path(path: str) -> tuple[str | None, str | None, str | None]:
    """(path key, device token, file name) of a request path; the name is None when unusable."""
    parts = path.lstrip("/").split("/")
    key = token = None
    if len(parts) >= 3 and parts[0] == "p":
        key, parts = parts[1], parts[2:]
    if len(parts) >= 3 and parts[0] == "d":
        token, parts = parts[1], parts[2:]
    if len(parts) == 2 and parts[1].lower() == "phonebook.xml" and _PHONEBOOK_DIR.fullmatch(parts[0]):
        # Grandstream fetches "phonebook.xml" under the folder its config names (P331): pb<mac>/.
        parts = [f"{parts[0][2:]}-phonebook.xml"]
    if len(parts) != 1 or any(v is not None and not _SECRET.fullmatch(v) for v in (key, token)):
        return None, None, None
    return key, token, file_name(parts[0])


def file_name(path: str) -> str | None:
    """The requested file name, or None when the path is not one we could serve."""
    name = path[1:] if path.startswith("/") else path
    if not name or len(name) > MAX_NAME or not _NAME.fullmatch(name) or ".." in name:
        return None
    return name


class Route(NamedTuple):
    """A request path, split and checked once per distinct path (:func:`_route`)."""

    image: ImageRequest | None  # a firmware image's path
    key: str | None
    token: str | None
    name: str | None  # None: not a name we could serve


class Match(NamedTuple):
    """What a file name is, worked out once per distinct name (:func:`_candidates`)."""

    candidates: tuple[tuple[Vendor, ConfigFile, re.Match[str]], ...]
    # The candidates for a fixed name (000000000000.cfg): they win over a per-device pattern.
    common: tuple[tuple[Vendor, ConfigFile, re.Match[str]], ...]
    mac: str | None  # the MAC a per-device name carries (upper case)
    specs: dict[str, ConfigFile]  # vendor name -> the first of its specs that name fits


# Paths up to this long are remembered (a scanner's longer ones are split each time).
MAX_ROUTE_PATH = 256


@functools.lru_cache(maxsize=100_000)
def _route_cached(path: str) -> Route:
    image = firmware_rollout.parse_path(path)
    if image is not None:
        return Route(image, None, None, None)
    return Route(None, *split_path(path))


def _route(path: str) -> Route:
    if len(path) <= MAX_ROUTE_PATH:
        return _route_cached(path)
    image = firmware_rollout.parse_path(path)
    return Route(image, None, None, None) if image is not None else Route(None, *split_path(path))


# A warm phone asks for the same name with the same User-Agent at every boot: both parsed once per
# distinct value (bounded: a scanner's random names and headers evict, they do not grow memory).
@functools.lru_cache(maxsize=100_000)
def _candidates(name: str) -> Match:
    found = []
    for vendor in vendors.all_vendors():
        hit = vendor.match_file(name)
        if hit is not None:
            found.append((vendor, *hit))
    common = tuple(c for c in found if "mac" not in c[2].groupdict())
    mac = None
    if found and not common:
        mac = found[0][2].group("mac").upper()
    specs: dict[str, ConfigFile] = {}
    for vendor, spec, _match in found:
        specs.setdefault(vendor.name, spec)
    return Match(tuple(found), common, mac, specs)


_parse_cached = functools.lru_cache(maxsize=100_000)(vendors.parse_user_agent)


def _parse_user_agent(header: str | None) -> UserAgent | None:
    # Only headers of a phone's length are kept: 100,000 of them at most 40 MB.
    return _parse_cached(header) if header is None or len(header) <= 400 else vendors.parse_user_agent(header)


class Resolver(UploadRoute, FirmwareRoute, WarmRoute):
    def __init__(
        self,
        store: Store,
        cache: ConfigCache,
        activity: Activity,
        *,
        upload_max_bytes: int = 1024 * 1024,
        guard: ScanGuard | None = None,
        now: Callable[[], datetime] = utcnow,
        digest: Digest | None = None,
        rollout: Rollout | None = None,
    ):
        self.store = store
        self.rollout = rollout  # firmware targets and upgrade slots (None: phones are never told)
        self.cache = cache
        self.activity = activity
        self.upload_max_bytes = upload_max_bytes
        self.guard = guard if guard is not None else ScanGuard()
        self.now = now  # the wall clock of first-contact windows (tests move it)
        self._digest = digest
        # MAC -> (client IP, monotonic time) of the last config file served to it (uploads check it).
        self._fetched: OrderedDict[str, list] = OrderedDict()
        # MAC -> client IP whose request closed the device's first-contact window (this process).
        self._window_closed_by: OrderedDict[str, str] = OrderedDict()
        self._thefts_reported: OrderedDict[tuple[str, str], None] = OrderedDict()
        self.warm_hits = 0
        self.clock: Callable[[], float] = time.monotonic

    @property
    def digest(self) -> Digest:
        if self._digest is None:
            if not self.cache.secret:
                raise RuntimeError("the cache has not read the shared secret yet (sync it first)")
            self._digest = Digest(self.cache.secret)
        return self._digest

    async def resolve(self, req: Request) -> Reply:
        trusted = req.trusted
        if not trusted:
            guard = self.guard
            if guard.banned(req.client_ip):
                return Reply(403, "banned")
            if guard.slowed(req.client_ip):
                return Reply(403, "slowed")
        reply = await self._resolve(req)
        if reply.status == 200 or trusted:
            return reply
        if reply.reason == "unknown-device":
            self.guard.unknown_answered()
        if reply.reason in FAILURES:
            self.guard.failed(req.client_ip, reply.reason)
        return reply

    async def _resolve(self, req: Request) -> Reply:
        route = _route(req.path)
        if route.image is not None:
            return await self._firmware_image(req, route.image, _parse_user_agent(req.user_agent))
        name = route.name
        if name is None:
            return Reply(404, "bad-name")
        match = _candidates(name)
        if not match.candidates:
            return Reply(404, "no-such-file")
        ua = _parse_user_agent(req.user_agent)
        # A fixed name (000000000000.cfg) wins over a per-device pattern it happens to fit.
        # Common files hold no secret: served whatever the path key (see README).
        if match.common:
            return self._common_file(req, name, match.common, ua)
        return await self._device_file(req, name, match, ua, route.key, route.token)

    def _refused(
        self,
        req: Request,
        entry: DeviceEntry,
        key: str | None,
        token: str | None,
        mac: str,
        ua: UserAgent | None = None,
    ) -> Reply | None:
        """The customer's rules, in memory: None when the request may have the device's files."""
        rules = entry.access
        if rules is None or req.trusted:
            return None
        policy = rules.policy
        if not policy.allows(req.client_ip):
            return Reply(403, "ip-not-allowed", mac=mac)
        token_ok = token is not None and access.same(token, rules.token)
        if token is not None and not token_ok:
            return Reply(403, "token", mac=mac)
        if policy.path_key and not token_ok and not access.same(key, policy.path_key):
            return Reply(403, "path-key", mac=mac)
        by_window = policy.window_hours is not None and not token_ok
        if by_window and (not rules.window_open(self.now()) or self.activity.window_closing(mac)):
            if self._names_mac(req, ua, mac):
                return Reply(403, "window-taken", mac=mac)  # reported by _device_file
            return Reply(403, "token", mac=mac)
        if policy.auth == "digest":
            if req.transport != "http":
                return Reply(403, "auth-tftp", mac=mac)
            verdict = self.digest.check(
                req.authorization, method=req.method, policy=policy, secure=req.secure, path=req.path
            )
            if verdict is Verdict.MISSING:
                return Reply(401, "auth-required", mac=mac, challenge=self.digest.challenge())
            if verdict is Verdict.STALE:
                return Reply(401, "auth-required", mac=mac, challenge=self.digest.challenge(stale=True))
            if verdict is Verdict.BAD:
                return Reply(401, "bad-credentials", mac=mac, challenge=self.digest.challenge())
        if (
            by_window
            and not self._names_mac(req, ua, mac)
            and not (policy.path_key or policy.networks or policy.auth == "digest")
        ):
            # The window is the only rule and the request does not show it comes from that phone:
            # whoever asked first would take the window (and the passwords) from the real phone.
            return Reply(403, "window-proof", mac=mac)
        return None

    @staticmethod
    def _names_mac(req: Request, ua: UserAgent | None, mac: str) -> bool:
        """The request names the device's MAC itself: in its User-Agent (Yealink, Grandstream, Snom
        since 8.x), or in the factory certificate it showed over HTTPS (verified against --client-ca)."""
        if ua is not None and ua.mac == mac:
            return True
        return req.peer_cert is not None and mac in access.certificate_macs(req.peer_cert)

    async def _device_file(
        self,
        req: Request,
        name: str,
        match: Match,
        ua: UserAgent | None,
        key: str | None = None,
        token: str | None = None,
    ) -> Reply:
        mac = match.mac
        assert mac is not None
        fetch = Fetch(mac, name, req.client_ip, req.user_agent, ua.firmware if ua else None, req.transport)
        if ua is not None and ua.mac is not None and ua.mac != mac:
            log.warning(
                "user_agent_mac_mismatch",
                path_mac=mac,
                ua_mac=ua.mac,
                ip=req.client_ip,
                file=name,
                transport=req.transport,
            )
            return Reply(403, "ua-mismatch", mac=mac)
        entry = await self.cache.device(mac)
        if entry is None:
            candidates = match.candidates
            guess = ua.vendor if ua else (candidates[0][0].name if len(candidates) == 1 else None)
            if guess is None:
                hinted = vendors.vendor_for_mac(mac)
                guess = hinted.name if hinted else None
            self.activity.unknown(fetch, vendor=guess, model=ua.model if ua else None)
            log.debug("unknown_device", mac=mac, ip=req.client_ip, file=name, transport=req.transport)
            return Reply(404, "unknown-device", mac=mac)
        spec = match.specs.get(entry.data.vendor)
        if spec is None:
            self.activity.fetched(fetch, download=False)
            return Reply(404, "no-such-file", mac=mac)
        refused = None if entry.access is None else self._refused(req, entry, key, token, mac, ua)
        if refused is not None:
            if refused.reason == "window-proof":
                # Never a silent lock-out: say why, and what the operator can do.
                log.warning(
                    "phone_refused",
                    mac=mac,
                    ip=req.client_ip,
                    file=name,
                    reason=refused.reason,
                    transport=req.transport,
                    user_agent=(req.user_agent or "")[:200],
                    fix="during the first-contact window a phone must name its MAC in its User-Agent "
                    "or show its factory certificate (--client-ca); Polycom, older Snom and TFTP "
                    "cannot: give the customer a path key, an allowlist or Digest credentials",
                )
            elif refused.reason == "window-taken":
                await self._window_taken(req, entry, mac, name)
            elif refused.status == 403:
                log.info(
                    "phone_refused",
                    mac=mac,
                    ip=req.client_ip,
                    file=name,
                    reason=refused.reason,
                    transport=req.transport,
                )
            return refused
        kind = spec.kind
        if kind is _UPLOAD:
            return await self._upload(req, fetch, name, spec, entry)
        if req.method == "PUT":
            return Reply(405, "method", mac=mac)
        if kind is _ABSENT:
            self.activity.fetched(fetch, download=False)
            return Reply(404, "absent", mac=mac)
        firmware_url = self._firmware_url(entry, spec, ua)
        try:
            rendered = self.cache.device_file(entry, spec, name, firmware_url=firmware_url)
        except RenderError as exc:
            log.error("render_failed", mac=mac, file=name, template=spec.template, error=str(exc))
            return Reply(500, "render-error", mac=mac, detail=str(exc))
        rules = entry.access
        if (
            rules is not None
            and rules.window_until is not None
            and not req.trusted
            and (rendered.credentials or access.same(token, rules.token))
        ):
            # The first download of credentials, or the first request with the token (Snom's list
            # file already points at the token URL), closes the window: here at once, for every
            # node at the next flush (an event the caches see).
            rules.window_until = None
            self.activity.window_used(mac, entry.data.customer_id)
            _remember(self._window_closed_by, mac, req.client_ip, MAX_REMEMBERED_FETCHES)
        reply = Reply(200, "served", rendered.body, rendered.content_type, rendered.etag, mac)  # Reply.of, inlined
        if not req.trusted:
            self.activity.fetched(fetch, download=True)
            fetched = self._remember_fetch(mac, req.client_ip)
            if firmware_url is None:
                self._keep_warm(req, entry, spec, name, fetch.firmware, token, reply, fetched)
        return reply

    async def _window_taken(self, req: Request, entry: DeviceEntry, mac: str, name: str) -> None:
        """The device's window is closed and a request naming its MAC asks without the token: the
        phone reset to factory settings, or someone else took its window first. Loud when the window
        was closed from another address: a warning, and once per (device, address) an audit event."""
        closed_by = self._window_closed_by.get(mac)
        if closed_by is None or closed_by == req.client_ip:
            log.info(
                "phone_refused",
                mac=mac,
                ip=req.client_ip,
                file=name,
                reason="window-taken",
                transport=req.transport,
                closed_from=closed_by,
                fix=f"a phone reset to factory settings needs `provisioner device reopen {mac}`",
            )
            return
        log.warning(
            "window_taken_from_another_address",
            mac=mac,
            ip=req.client_ip,
            closed_from=closed_by,
            file=name,
            transport=req.transport,
            fix=f"check who fetched from {closed_by} (`provisioner device downloads {mac}`), "
            f"then `provisioner device reopen {mac}` gives the phone a new window and token",
        )
        key = (mac, req.client_ip)
        if key in self._thefts_reported:
            return
        _remember(self._thefts_reported, key, None, MAX_REPORTED_THEFTS)
        try:
            await asyncio.to_thread(self._record_theft, mac, closed_by, req.client_ip, req.user_agent)
        except Exception:
            log.exception("window_taken_not_recorded", mac=mac)

    def _record_theft(self, mac: str, closed_by: str, ip: str, user_agent: str | None) -> None:
        with self.store.transaction() as tx:
            tx.add_event(
                actor="phone",
                action="device.window_taken",
                device_mac=mac,
                summary=f"the first-contact window of {mac} was closed by {closed_by}; "
                f"{ip} now asks with the MAC and no token",
                after={"closed_from": closed_by, "asked_from": ip, "user_agent": (user_agent or "")[:200]},
            )

    def _common_file(
        self,
        req: Request,
        name: str,
        candidates: Sequence[tuple[Vendor, ConfigFile, re.Match[str]]],
        ua: UserAgent | None,
    ) -> Reply:
        if ua is not None:
            candidates = sorted(candidates, key=lambda c: c[0].name != ua.vendor)
        vendor, spec, match = candidates[0]
        if req.method == "PUT":
            return Reply(405, "method")
        if spec.kind is not FileKind.COMMON:
            return Reply(404, "absent")
        model = None
        raw_model = match.groupdict().get("model")
        if raw_model:
            model = vendor.normalize_model(raw_model)
            if model not in vendor.models:
                return Reply(404, "no-such-file")
        try:
            return Reply.of(self.cache.common_file(vendor, spec, name, model), None)
        except RenderError as exc:
            log.error("render_failed", file=name, template=spec.template, error=str(exc))
            return Reply(500, "render-error", detail=str(exc))


def _remember(mapping: OrderedDict, key, value, limit: int) -> None:  # type: ignore[no-untyped-def]
    if key in mapping:
        mapping.move_to_end(key)
    elif len(mapping) >= limit:
        mapping.popitem(last=False)
    mapping[key] = value

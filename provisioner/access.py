"""Who may have a phone's file: the checks a request must pass before it gets credentials.

Pure code, no I/O: the resolver calls it with what the cache holds in memory.

- :class:`ScanGuard` counts, per client IP, the requests that prove nothing (an unknown MAC, a
  User-Agent naming another MAC, wrong credentials, a wrong or missing path key or device token)
  in a sliding window and bans the IP for a while once it has too many. Memory is bounded.
- :class:`Policy` is one customer's rules: HTTP Digest credentials (RFC 7616, MD5, qop=auth; Basic
  too, over HTTPS only), a secret path key (``/p/<key>/<file>``), per-device tokens with a
  first-contact window (``/d/<token>/<file>``) and an IP allowlist.
- :class:`Digest` makes and checks challenges. Nonces are an HMAC of their time under a secret
  every node shares, so any node can check a nonce another one gave.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from collections import OrderedDict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import structlog

log = structlog.get_logger("provisioner.access")

REALM = "provisioner"
AUTH_MODES = ("none", "digest")
KEY_BYTES = 16  # path keys and device tokens: 128 bits
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{22,64}")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


# --- scan defence ---------------------------------------------------------------------


@dataclass(frozen=True)
class ScanSettings:
    failures: int = 10  # this many failures ...
    window: float = 600.0  # ... within this many seconds ...
    ban: float = 3600.0  # ... ban the IP for this long
    max_tracked: int = 100_000  # IPs with recent failures kept; the least recently failing go first
    enabled: bool = True
    # Networks never counted nor banned: the provider's own workshop, where technicians boot
    # phones before they are imported.
    exempt: tuple[Network, ...] = ()
    # Unknown-MAC answers, all addresses together: a scan spread over many addresses must slow down.
    # Once this budget (a token bucket: so many per second, so many at once) is spent, addresses
    # with a recent failure are refused everything (403 "slowed"); addresses without (known phones) are not.
    unknown_rate: float = 20.0
    unknown_burst: int = 200


class ScanGuard:
    """Per-IP failure counts in a sliding window, and bans.

    Each tracked IP keeps at most ``failures`` timestamps (a deque), and at most ``max_tracked``
    IPs are tracked (and as many banned): memory stays bounded whatever a scanner sends.
    """

    def __init__(self, settings: ScanSettings | None = None, *, clock: Callable[[], float] = time.monotonic):
        self.settings = settings or ScanSettings()
        self.clock = clock
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()
        self._banned: OrderedDict[str, float] = OrderedDict()
        self._unknown_tokens = float(self.settings.unknown_burst)
        self._unknown_at = clock()

    def _refill(self) -> float:
        s = self.settings
        now = self.clock()
        self._unknown_tokens = min(float(s.unknown_burst), self._unknown_tokens + (now - self._unknown_at) * s.unknown_rate)
        self._unknown_at = now
        return self._unknown_tokens

    def unknown_answered(self) -> None:
        """One unknown-MAC answer spent from the budget every address shares."""
        if self.settings.enabled:
            self._refill()
            self._unknown_tokens = max(self._unknown_tokens - 1.0, 0.0)

    def slowed(self, ip: str) -> bool:
        """The shared unknown-MAC budget is spent and ``ip`` (its /64 for IPv6) failed lately."""
        if not self.settings.enabled or not self._failures or _bucket(ip) not in self._failures:
            return False
        return self._refill() < 1.0

    def banned(self, ip: str) -> bool:
        ip = _bucket(ip)
        until = self._banned.get(ip)
        if until is None:
            return False
        if self.clock() < until:
            return True
        del self._banned[ip]
        return False

    def failed(self, ip: str, reason: str) -> bool:
        """Count one failure of ``ip``; True when this one got it banned."""
        s = self.settings
        if not s.enabled or not ip or (s.exempt and _within(ip, s.exempt)):
            return False
        ip = _bucket(ip)  # an IPv6 client has a whole /64 to hop within: counted as one
        now = self.clock()
        stamps = self._failures.get(ip)
        if stamps is None:
            if len(self._failures) >= s.max_tracked:
                self._failures.popitem(last=False)
            stamps = self._failures[ip] = deque(maxlen=s.failures)
        else:
            self._failures.move_to_end(ip)
        stamps.append(now)
        if len(stamps) < s.failures or now - stamps[0] > s.window:
            return False
        del self._failures[ip]
        if len(self._banned) >= s.max_tracked:
            self._banned.popitem(last=False)
        self._banned[ip] = now + s.ban
        # One stable line per ban, for fail2ban (see README, "Securing provisioning").
        log.warning("phone_ip_banned", ip=ip, failures=s.failures, window_s=int(s.window), ban_s=int(s.ban),
                    last_reason=reason)
        return True

    def unban(self, ip: str) -> None:
        ip = _bucket(ip)
        self._banned.pop(ip, None)
        self._failures.pop(ip, None)

    @property
    def tracked(self) -> int:
        return len(self._failures)

    @property
    def banned_count(self) -> int:
        return len(self._banned)


@lru_cache(maxsize=65536)
def _bucket(ip: str) -> str:
    """What failures are counted against: the IPv4 address, or the /64 of an IPv6 address."""
    if ":" not in ip:
        return ip
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return ip
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.ip_network(f"{address}/64", strict=False))


def _within(ip: str, networks: tuple[Network, ...]) -> bool:
    try:
        address = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


def networks(text: str, where: str = "--scan-exempt") -> tuple[Network, ...]:
    """CIDRs separated by commas or spaces; ValueError naming the bad one."""
    found = []
    for item in text.replace(",", " ").split():
        try:
            found.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ValueError(f"{where}: {item!r} is not an IP network (like 192.0.2.0/24)") from None
    return tuple(found)


# --- per-customer rules ------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    """One customer's rules, as the cache holds them next to its devices' files."""

    auth: str = "none"  # "none" | "digest"
    username: str | None = None
    password: str | None = None
    path_key: str | None = None
    window_hours: int | None = None  # None: no device tokens
    networks: tuple[Network, ...] = ()
    ha1: str = field(default="", repr=False)

    @classmethod
    def from_row(cls, row: dict[str, Any] | None) -> Policy | None:
        if row is None:
            return None
        networks = tuple(ipaddress.ip_network(c, strict=False) for c in (row.get("allow") or ()))
        policy = cls(auth=row.get("auth") or "none", username=row.get("username"), password=row.get("password"),
                     path_key=row.get("path_key"), window_hours=row.get("window_hours"), networks=networks)
        if policy.auth == "digest" and policy.username and policy.password:
            object.__setattr__(policy, "ha1", _md5(f"{policy.username}:{REALM}:{policy.password}"))
        if not policy.active:
            return None
        return policy

    @property
    def active(self) -> bool:
        return self.auth != "none" or bool(self.path_key) or self.window_hours is not None or bool(self.networks)

    def allows(self, ip: str) -> bool:
        if not self.networks:
            return True
        address = _address(ip)
        return address is not None and any(address in net for net in self.networks)


@lru_cache(maxsize=4096)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass
class DeviceAccess:
    """A device's own part: its token and its first-contact window (the end, or None: closed)."""

    policy: Policy
    token: str | None = None
    window_until: datetime | None = None

    def window_open(self, now: datetime) -> bool:
        return self.window_until is not None and now < self.window_until


def device_token(secret: str, mac: str, customer_id: int, assigned_at: datetime | None) -> str:
    """The device's token: fixed while it stays with one customer, new at each assignment, the same
    on every node (an HMAC under the shared secret; nothing stored)."""
    stamp = assigned_at.isoformat() if assigned_at is not None else "-"
    digest = hmac.new(secret.encode(), f"token:{mac}:{customer_id}:{stamp}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:KEY_BYTES]).decode().rstrip("=")


def window_end(policy: Policy, assigned_at: datetime | None, closed_at: datetime | None) -> datetime | None:
    """When the device's first-contact window ends; None when it has none or it is closed."""
    if policy.window_hours is None or assigned_at is None:
        return None
    if closed_at is not None and closed_at >= assigned_at:
        return None
    return assigned_at + timedelta(hours=policy.window_hours)


def new_secret() -> str:
    """A path key or password: 128 random bits, URL-safe."""
    return secrets.token_urlsafe(KEY_BYTES)


def valid_secret(value: str) -> bool:
    return bool(_SECRET_CHARS.fullmatch(value))


def same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


# A MAC inside a certificate's name, in any common spelling: 001565abcdef, 00:15:65:AB:CD:EF,
# 00-15-65-ab-cd-ef, 0015.65ab.cdef (vendors write their factory certificates' CN differently).
_CERT_MAC = re.compile(r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
                       r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![0-9A-Fa-f])")


def certificate_macs(cert: dict[str, Any] | None) -> frozenset[str]:
    """The MACs (canonical) a verified peer certificate names in its subject CN or its SANs.

    ``cert`` is :meth:`ssl.SSLSocket.getpeercert`'s dict: only a certificate the TLS handshake
    verified against the ``--client-ca`` bundle is ever one (an unverified one fails the handshake)."""
    if not cert:
        return frozenset()
    texts = [value for rdn in cert.get("subject", ()) for key, value in rdn if key == "commonName"]
    texts += [value for _kind, value in cert.get("subjectAltName", ())]
    found = set()
    for text in texts:
        for match in _CERT_MAC.finditer(str(text)):
            found.add(re.sub(r"[^0-9A-Fa-f]", "", match.group(0)).upper())
    return frozenset(found)


def provisioning_url(base: str, policy: Policy | None, token: str | None) -> str:
    """The URL written into a device's config: the device token or path key in the path, the
    customer's credentials (if any) in the user-info part, which each vendor turns into its own
    provisioning user and password settings."""
    if policy is None:
        return base
    url = urlsplit(base)
    path = url.path if url.path.endswith("/") else url.path + "/"
    if token:
        path += f"d/{token}/"
    elif policy.path_key:
        path += f"p/{policy.path_key}/"
    netloc = url.netloc.rpartition("@")[2]
    if policy.auth == "digest" and policy.username and policy.password:
        netloc = f"{quote(policy.username, safe='')}:{quote(policy.password, safe='')}@{netloc}"
    return urlunsplit((url.scheme, netloc, path, url.query, url.fragment))


def device_url(base: str, policy: Policy | None, token: str | None, *, deprovisioned: bool) -> str:
    """The provisioning URL a device's files carry: its token (when its customer uses tokens) or
    the path key, and the credentials; the plain ``base`` for a deprovisioned device."""
    if policy is None or deprovisioned:
        return base
    return provisioning_url(base, policy, token if policy.window_hours is not None else None)


# --- HTTP authentication -------------------------------------------------------------------


class Verdict(Enum):
    OK = "ok"
    MISSING = "missing"  # no credentials: challenge (every phone's first request; not a failure)
    STALE = "stale"  # a good response on an expired nonce: challenge again with stale=true
    BAD = "bad"  # wrong user, password or a forged nonce: a failure


# name=value or name="quoted \"value\"" (the quoted part unrolled: Python's re is slow on alternations)
_PARAM = re.compile(r'([A-Za-z0-9_-]+)[ \t]*=[ \t]*(?:"([^"\\]*(?:\\.[^"\\]*)*)"|([^\s,]*))')
_ESCAPE = re.compile(r"\\(.)")


def parse_params(text: str) -> dict[str, str]:
    out = {}
    for name, quoted, bare in _PARAM.findall(text):
        if quoted and "\\" in quoted:
            quoted = _ESCAPE.sub(r"\1", quoted)
        out[name.lower()] = quoted or bare
    return out


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324  (RFC 7616 MD5: what phones do)


class Digest:
    """RFC 7616 Digest with MD5 and qop=auth; Basic over TLS only."""

    def __init__(self, secret: str, *, nonce_lifetime: float = 300.0, clock: Callable[[], float] = time.time):
        self._key = hmac.new(secret.encode(), b"digest-nonce", hashlib.sha256).digest()
        self.nonce_lifetime = nonce_lifetime
        self.clock = clock

    def nonce(self) -> str:
        stamp = f"{int(self.clock()):x}"
        mac = hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        return f"{stamp}.{mac}"

    def challenge(self, *, stale: bool = False) -> str:
        return (f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{self.nonce()}", '
                f'opaque="{REALM}"' + (", stale=true" if stale else ""))

    def _nonce_state(self, nonce: str) -> Verdict:
        stamp, _, mac = nonce.partition(".")
        expected = hmac.new(self._key, stamp.encode(), hashlib.sha256).hexdigest()[:32]
        if not hmac.compare_digest(mac.encode(), expected.encode()):
            return Verdict.BAD
        try:
            age = self.clock() - int(stamp, 16)
        except ValueError:
            return Verdict.BAD
        return Verdict.OK if -60 <= age <= self.nonce_lifetime else Verdict.STALE

    def check(self, header: str | None, *, method: str, policy: Policy, secure: bool,
              path: str | None = None) -> Verdict:
        """``path``: the request's own path; a response computed for another URI is refused."""
        if not header:
            return Verdict.MISSING
        scheme, _, rest = header.strip().partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            if not secure:
                return Verdict.MISSING  # never over plain HTTP: answer with a Digest challenge
            try:
                user, _, password = base64.b64decode(rest.strip(), validate=True).decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                return Verdict.BAD
            return Verdict.OK if same(user, policy.username) and same(password, policy.password) else Verdict.BAD
        if scheme != "digest":
            return Verdict.MISSING
        p = parse_params(rest)
        needed = ("username", "realm", "nonce", "uri", "response")
        if any(k not in p for k in needed) or p["realm"] != REALM:
            return Verdict.BAD
        if p.get("algorithm", "MD5").upper() != "MD5" or not same(p["username"], policy.username) or not policy.ha1:
            return Verdict.BAD
        if path is not None and _uri_path(p["uri"]) != "/" + path.lstrip("/"):
            return Verdict.BAD
        ha2 = _md5(f"{method}:{p['uri']}")
        qop = p.get("qop")
        if qop == "auth":
            if "nc" not in p or "cnonce" not in p:
                return Verdict.BAD
            expected = _md5(f"{policy.ha1}:{p['nonce']}:{p['nc']}:{p['cnonce']}:auth:{ha2}")
        elif qop is None:  # RFC 2069 style, still sent by old firmware
            expected = _md5(f"{policy.ha1}:{p['nonce']}:{ha2}")
        else:
            return Verdict.BAD
        if not hmac.compare_digest(expected.encode(), p["response"].lower().encode()):
            return Verdict.BAD
        return self._nonce_state(p["nonce"])


def _uri_path(uri: str) -> str:
    """The path of a Digest ``uri`` (origin form "/a/b?q" or, from some clients, absolute form)."""
    if "://" in uri:
        uri = urlsplit(uri).path or "/"
    return unquote(uri.partition("?")[0])


def parse_networks(values: Sequence[str], field_name: str = "allow") -> list[str]:
    """CIDR strings, normalised; raises ValueError naming the bad one."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{field_name}: {value!r} is not an IP network (e.g. 203.0.113.0/24)") from None
    return out

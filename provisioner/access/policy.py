"""Per-customer rules and per-device tokens: who may have a phone's file.

:class:`Policy` is one customer's rules: HTTP Digest credentials (checked by
:mod:`provisioner.access.digest`), a secret path key (``/p/<key>/<file>``), per-device tokens with
a first-contact window (``/d/<token>/<file>``) and an IP allowlist. Also here: the device token,
the URL written into a device's files, and the MACs a client certificate proves.

Pure code, no I/O: the cache builds these from rows, the resolver checks them.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from .cidr import Network, _address
from .digest import REALM, _md5

AUTH_MODES = ("none", "digest")
KEY_BYTES = 16  # path keys and device tokens: 128 bits
_SECRET_CHARS = re.compile(r"[A-Za-z0-9_-]{22,64}")


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
        policy = cls(
            auth=row.get("auth") or "none",
            username=row.get("username"),
            password=row.get("password"),
            path_key=row.get("path_key"),
            window_hours=row.get("window_hours"),
            networks=networks,
        )
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


@dataclass(slots=True)
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


# A MAC inside a certificate's name, in any common spelling: 001565abcdef, 00:15:65:AB:CD:EF,
# 00-15-65-ab-cd-ef, 0015.65ab.cdef (vendors write their factory certificates' CN differently).
_CERT_MAC = re.compile(
    r"(?<![0-9A-Fa-f])(?:[0-9A-Fa-f]{2}([:-]?)(?:[0-9A-Fa-f]{2}\1){4}[0-9A-Fa-f]{2}"
    r"|[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4}\.[0-9A-Fa-f]{4})(?![0-9A-Fa-f])"
)


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

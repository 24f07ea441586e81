"""HTTP authentication of phones: RFC 7616 Digest (MD5, qop=auth), and Basic over HTTPS only.

:class:`Digest` makes and checks challenges. Nonces are an HMAC of their time under a secret
every node shares, so any node can check a nonce another one gave.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from .policy import Policy

REALM = "provisioner"


def same(a: str | None, b: str | None) -> bool:
    return a is not None and b is not None and hmac.compare_digest(a.encode(), b.encode())


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
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # RFC 7616 MD5: what phones do


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
        return f'Digest realm="{REALM}", qop="auth", algorithm=MD5, nonce="{self.nonce()}", opaque="{REALM}"' + (
            ", stale=true" if stale else ""
        )

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

    def check(
        self, header: str | None, *, method: str, policy: Policy, secure: bool, path: str | None = None
    ) -> Verdict:
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

"""Secrets at rest: SIP and provisioning passwords are sealed with AES-256-GCM before they reach
the database, so a copied database file or a backup reveals none of them.

A sealed value is ``g1.<key id>.<base64url(nonce | ciphertext | tag)>``: a random 96-bit nonce per
value, the tag authenticates it, and the key id (the first 8 hex digits of the key's SHA-256) says
which key opens it without trying each. AES-GCM from ``cryptography`` is used rather than Fernet
(AES-128-CBC + HMAC in Python): sealing 100,000 imported passwords takes 0.2 s instead of 1.1 s.

The keys come from ``PROVISIONER_SECRET_KEY`` (one or more keys, comma separated, the first one
seals) or else from ``<data dir>/secret.key`` (one key per line, the first one seals), which is
created with mode 0600 on first start. A key is 32 random bytes in url-safe base64 (44 characters;
``provisioner secrets generate``). Every key listed can open a value, which is what lets
:func:`provisioner.security_services.rotate` re-seal every row under a new key while the old one
still opens them.

The store applies a :class:`Sealer` at its boundary (the ``Sealed`` column type in store.py):
services, imports and rendering see plaintext and never call this module.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ENV = "PROVISIONER_SECRET_KEY"
KEY_FILE = "secret.key"
SCHEME = "g1"  # AES-256-GCM, 96-bit random nonce
_NONCE = 12
_URLSAFE = bytes.maketrans(b"+/", b"-_")  # standard base64 -> url-safe (what urlsafe_b64encode does)
_FROM_URLSAFE = bytes.maketrans(b"-_", b"+/")  # and back (what urlsafe_b64decode does)


class SealError(Exception):
    """A sealed value cannot be opened with any key we hold. Carries no secret."""


def _key_bytes(key: str) -> bytes | None:
    try:
        raw = base64.urlsafe_b64decode(key.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError):
        return None
    return raw if len(raw) == 32 else None


def _parse_keys(text: str, where: str) -> list[bytes]:
    keys = [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]
    if not keys:
        raise SealError(f"{where} holds no key")
    for n, key in enumerate(keys, 1):
        if _key_bytes(key) is None:
            raise SealError(
                f"{where}: key {n} is not a secret key (32 bytes in url-safe base64, 44 characters; "
                "make one with `provisioner secrets generate`)"
            )
    return [k.encode("ascii") for k in keys]


def key_id(key: bytes) -> str:
    """The short public name of a key, written in front of every value it seals."""
    return hashlib.sha256(key).hexdigest()[:8]


class Sealer:
    """Seals and opens text with the keys of one source (environment or key file)."""

    def __init__(self, keys: list[bytes], *, source: Path | None = None):
        self._lock = threading.Lock()
        self.source = source  # the key file; None when the keys came from the environment
        self._set(keys)

    def _set(self, keys: list[bytes]) -> None:
        self.keys = list(keys)
        ciphers: dict[str, AESGCM] = {}
        for key in keys:
            raw = _key_bytes(key.decode("ascii"))
            assert raw is not None  # checked by _parse_keys
            ciphers.setdefault(key_id(raw), AESGCM(raw))
        self._ciphers = ciphers
        self._current = key_id(_key_bytes(keys[0].decode("ascii")))  # type: ignore[arg-type]
        self._prefix = f"{SCHEME}.{self._current}."

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, create: bool = True) -> Sealer:
        env = os.environ.get(ENV)
        if env:
            return cls(_parse_keys(env, ENV))
        path = data_dir / KEY_FILE
        if not path.exists():
            if not create:
                raise SealError(f"no key: set {ENV} or create {path}")
            write_key_file(path, [generate_key().encode("ascii")])
        return cls(_parse_keys(path.read_text(encoding="ascii"), str(path)), source=path)

    def seal(self, plaintext: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._ciphers[self._current].encrypt(nonce, plaintext.encode("utf-8"), None)
        return self._prefix + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def seal_many(self, plaintexts: Sequence[str]) -> list[str]:
        """``[seal(t) for t in plaintexts]``, in bulk (an import seals 100,000 passwords): the same
        form, each value with its own random nonce (all drawn from one ``os.urandom`` call), and
        the base64 made url-safe once for all of them instead of once per value."""
        count = len(plaintexts)
        if not count:
            return []
        nonces = os.urandom(_NONCE * count)
        encrypt = self._ciphers[self._current].encrypt
        to_base64 = binascii.b2a_base64  # standard alphabet, padded, "\n" after each value
        prefix = self._prefix.encode("ascii")
        sealed = b"".join(
            [
                prefix + to_base64(nonce + encrypt(nonce, text.encode("utf-8"), None))
                for nonce, text in zip(
                    [nonces[i : i + _NONCE] for i in range(0, _NONCE * count, _NONCE)], plaintexts, strict=True
                )
            ]
        )
        return sealed.translate(_URLSAFE).decode("ascii").split("\n")[:count]

    def open(self, token: str) -> str:
        scheme, _, rest = token.partition(".")
        kid, _, body = rest.partition(".")
        if scheme != SCHEME or not body:
            raise SealError("a stored secret is not in a sealed form this server knows")
        cipher = self._ciphers.get(kid)
        # Another process may have rotated the key file since we read it: read it once more.
        if cipher is None and self.source is not None and self._reload():
            cipher = self._ciphers.get(kid)
        if cipher is not None:
            try:
                # urlsafe_b64decode's work without its three Python calls (a cache load opens every line's password).
                raw = binascii.a2b_base64(body.encode("ascii").translate(_FROM_URLSAFE))
                return cipher.decrypt(raw[:_NONCE], raw[_NONCE:], None).decode("utf-8")
            except (InvalidTag, binascii.Error, ValueError):
                pass
        raise SealError(f"a sealed value cannot be opened with the configured key(s); check {ENV} or {KEY_FILE}")

    def reseal(self, token: str) -> str:
        """The value sealed again under the first key (opened with any key)."""
        return self.seal(self.open(token))

    def _reload(self) -> bool:
        with self._lock:
            assert self.source is not None
            try:
                keys = _parse_keys(self.source.read_text(encoding="ascii"), str(self.source))
            except (OSError, SealError):
                return False
            if keys == self.keys:
                return False
            self._set(keys)
            return True


def write_key_file(path: Path, keys: list[bytes]) -> None:
    """Write ``keys`` (first one seals) to ``path`` with mode 0600, atomically."""
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, b"".join(k + b"\n" for k in keys))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def generate_key() -> str:
    """A new key: 32 random bytes in url-safe base64."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode("ascii")

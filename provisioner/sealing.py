"""Secrets at rest: SIP and provisioning passwords are sealed with Fernet before they reach the
database, so a copied database file or a backup reveals none of them.

The keys come from ``PROVISIONER_SECRET_KEY`` (one or more Fernet keys, comma separated, the first
one seals) or else from ``<data dir>/secret.key`` (one key per line, the first one seals), which is
created with mode 0600 on first start. Every key listed can open a value (MultiFernet), which is
what lets :func:`rotate` re-seal every row under a new key while the old one still opens them.

The store applies a :class:`Sealer` at its boundary (the ``Sealed`` column type in store.py):
services, imports and rendering see plaintext and never call this module.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

ENV = "PROVISIONER_SECRET_KEY"
KEY_FILE = "secret.key"


class SealError(Exception):
    """A sealed value cannot be opened with any key we hold. Carries no secret."""


def _parse_keys(text: str, where: str) -> list[bytes]:
    keys = [k.strip() for k in text.replace(",", "\n").splitlines() if k.strip()]
    if not keys:
        raise SealError(f"{where} holds no key")
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except (ValueError, TypeError):
            raise SealError(f"{where}: key {n} is not a Fernet key (44 characters of url-safe base64; "
                            "make one with `provisioner secrets generate`)") from None
    return [k.encode("ascii") for k in keys]


class Sealer:
    """Seals and opens text with the keys of one source (environment or key file)."""

    def __init__(self, keys: list[bytes], *, source: Path | None = None):
        self._lock = threading.Lock()
        self.source = source  # the key file; None when the keys came from the environment
        self._set(keys)

    def _set(self, keys: list[bytes]) -> None:
        self.keys = list(keys)
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    @classmethod
    def for_data_dir(cls, data_dir: Path, *, create: bool = True) -> Sealer:
        env = os.environ.get(ENV)
        if env:
            return cls(_parse_keys(env, ENV))
        path = data_dir / KEY_FILE
        if not path.exists():
            if not create:
                raise SealError(f"no key: set {ENV} or create {path}")
            write_key_file(path, [Fernet.generate_key()])
        return cls(_parse_keys(path.read_text(encoding="ascii"), str(path)), source=path)

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
        except InvalidToken:
            # Another process may have rotated the key file since we read it: read it once more.
            if self.source is not None and self._reload():
                try:
                    return self._fernet.decrypt(token.encode("ascii")).decode("utf-8")
                except InvalidToken:
                    pass
            raise SealError("a sealed value cannot be opened with the configured key(s); "
                            f"check {ENV} or {KEY_FILE}") from None

    def reseal(self, token: str) -> str:
        """The value sealed again under the first key (opened with any key)."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken:
            raise SealError("a sealed value cannot be opened with the configured key(s)") from None

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
    path.parent.mkdir(parents=True, exist_ok=True)
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
    return Fernet.generate_key().decode("ascii")

"""MAC addresses: every common spelling in, one canonical form out.

Canonical form is 12 uppercase hex digits with no separators (``001565ABCDEF``).
Vendor file names want other spellings; ``lower()``/``colon()`` give them.
"""

from __future__ import annotations

import re

import netaddr

_HEX12 = re.compile(r"[0-9A-Fa-f]{12}")
# Six two-digit groups, one separator (00:15:65:ab:cd:ef, as Yealink and Grandstream User-Agents
# carry it): the separators dropped give the canonical form without netaddr (~3 us a MAC).
_PAIRS = re.compile(r"[0-9A-Fa-f]{2}([:-])[0-9A-Fa-f]{2}(?:\1[0-9A-Fa-f]{2}){4}")
# The spellings people and phones use; netaddr alone also takes partial forms like "00:15:65".
_SHAPES = re.compile(
    r"[0-9A-Fa-f]{1,2}([:-])[0-9A-Fa-f]{1,2}(\1[0-9A-Fa-f]{1,2}){4}"  # 00:15:65:ab:cd:ef, 00-15-...
    r"|[0-9A-Fa-f]{4}([.:-])[0-9A-Fa-f]{4}\3[0-9A-Fa-f]{4}"  # 0015.65ab.cdef
    r"|[0-9A-Fa-f]{6}-[0-9A-Fa-f]{6}"  # 001565-abcdef
)


class InvalidMAC(ValueError):
    """A value that is not a MAC address in any spelling we accept."""


def parse_mac(value: object) -> str:
    """Return the canonical form of ``value`` or raise :class:`InvalidMAC`.

    Accepts ``00:15:65:AB:CD:EF``, ``00-15-65-ab-cd-ef``, ``0015.65ab.cdef``,
    ``001565abcdef`` and the other spellings netaddr knows.
    """
    if not isinstance(value, str):
        raise InvalidMAC(f"not a MAC address: {value!r}")
    text = value.strip()
    if _HEX12.fullmatch(text):
        return text.upper()
    if _PAIRS.fullmatch(text):
        return text.replace(text[2], "").upper()
    if not _SHAPES.fullmatch(text):
        raise InvalidMAC(f"not a MAC address: {value!r}")
    try:
        eui = netaddr.EUI(text, version=48)
    except (netaddr.AddrFormatError, TypeError, ValueError):
        raise InvalidMAC(f"not a MAC address: {value!r}") from None
    return format(int(eui), "012X")


def try_parse_mac(value: object) -> str | None:
    try:
        return parse_mac(value)
    except InvalidMAC:
        return None


def oui(mac: str) -> str:
    """The six-hex-digit vendor prefix of a canonical MAC."""
    return mac[:6]


def colon(mac: str) -> str:
    return ":".join(mac[i : i + 2] for i in range(0, 12, 2))

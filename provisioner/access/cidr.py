"""IP networks: parsing the CIDRs an operator types, and testing an address against them.

Pure code, no I/O: used by the scan guard (exempt networks) and by a customer's allowlist.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from functools import lru_cache

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


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


@lru_cache(maxsize=4096)
def _address(ip: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def parse_networks(values: Sequence[str], field_name: str = "allow") -> list[str]:
    """CIDR strings, normalised; raises ValueError naming the bad one."""
    out = []
    for value in values:
        try:
            out.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{field_name}: {value!r} is not an IP network (e.g. 203.0.113.0/24)") from None
    return out
